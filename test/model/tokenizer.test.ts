import { test } from "node:test";
import assert from "node:assert/strict";
import { Tokenizer } from "../../src/model/formats/tokenizer.js";

// A toy SentencePiece vocabulary: control tokens, byte pieces for "\n" and "é", then scored merges.
function toy(): Tokenizer {
  const pieces = ["<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "<0xA9>", "▁", "a", "b", "c", "ab", "bc", "▁a", "▁ab", "abc"];
  const scores = [0, 0, 0, 0, 0, 0, -1, -2, -3, -4, -5, -0.5, -6, -7, -8];
  const types = [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1];
  return new Tokenizer({ pieces, scores, types, bos: 1, eos: 2 });
}

test("merges the highest-scoring pair first", () => {
  const t = toy();
  // "▁abc": candidates ▁a (-6), ab (-5), bc (-0.5): bc wins, then ▁a (-6); "▁abc" is no piece → [▁a, bc].
  assert.deepEqual(t.encode("abc"), [12, 11]);
  // "▁ab": ▁a (-6) vs ab (-5): ab first, then "▁"+"ab" = ▁ab (-7).
  assert.deepEqual(t.encode("ab"), [13]);
});

test("spaces become ▁ with a dummy prefix, BOS on request", () => {
  const t = toy();
  assert.deepEqual(t.encode("a a", { bos: true }), [1, 12, 12]);
  assert.deepEqual(t.encode(""), []);
});

test("characters outside the vocabulary fall back to their UTF-8 bytes", () => {
  const t = toy();
  assert.deepEqual(t.encode("a\né"), [12, 3, 4, 5]);
  // an ASCII character with no byte piece is unknown, as a longer one is
  assert.deepEqual(t.encode("d"), [6, 0]);
  assert.equal(t.decode([1, 12, 3, 4, 5, 2]), "a\né");
});

test("control pieces in the text are not produced by merging", () => {
  const t = toy();
  // "<s>" spelled in the text has no characters in this vocabulary: it must become bytes/unk, never id 1.
  assert.ok(!t.encode("<s>").includes(1));
});

test("decode rejects ids outside the vocabulary", () => {
  assert.throws(() => toy().decode([99]), /token id 99 is outside the vocabulary 0..14/);
});

test("ties between equal scores merge the leftmost pair", () => {
  const pieces = ["<unk>", "<s>", "</s>", "▁", "a", "aa"];
  const t = new Tokenizer({ pieces, scores: [0, 0, 0, -1, -2, -3], types: [2, 3, 3, 1, 1, 1], bos: 1, eos: 2, addSpacePrefix: false });
  assert.deepEqual(t.encode("aaa"), [5, 4]);
});
