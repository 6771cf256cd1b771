import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { writeGguf } from "../../src/gguf/file.js";
import { quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { writeSafetensors } from "../../src/io/safetensors.js";
import { HfTokenizer } from "../../src/model/formats/hf-tokenizer.js";
import { HF_NAMES } from "../../src/model/formats/hf.js";
import { loadModel } from "../../src/model/formats/load.js";
import { openModelSource } from "../../src/model/formats/source.js";
import { LINEAR_NAMES, type LlamaModel } from "../../src/model/llama.js";
import { randomModel, TINY } from "./helpers.js";
import { llamaCppModel } from "./llamacpp.js";

const LLAMA3 = join(import.meta.dirname, "..", "..", "node_modules", "@lenml", "tokenizer-llama3", "models");
const json = (f: string) => JSON.parse(readFileSync(join(LLAMA3, f), "utf8"));
let cached: HfTokenizer | null = null;
const llama3 = () => (cached ??= new HfTokenizer(json("tokenizer.json"), json("tokenizer_config.json")));

// Ids as Meta's Llama 3 tokenizer (tiktoken, and transformers on this tokenizer.json) gives them.
const KNOWN: [string, number[]][] = [
  ["Hello, world!", [9906, 11, 1917, 0]],
  ["Hello World", [9906, 4435]],
  [" The quick brown fox", [578, 4062, 14198, 39935]],
  ["1234567", [4513, 10961, 22]],
];

test("the Llama 3 tokenizer.json loads as a byte-level BPE and tokenizes known strings to their known ids", () => {
  const tok = llama3();
  assert.equal(tok.kind, "byte-level");
  assert.equal(tok.vocabSize, 128256);
  assert.equal(tok.bos, 128000, "bos_token <|begin_of_text|> from tokenizer_config.json");
  assert.equal(tok.eos, 128001);
  assert.equal(tok.addBos, true);
  for (const [s, ids] of KNOWN) {
    assert.deepEqual(tok.encode(s), ids, s);
    assert.deepEqual(tok.encode(s, { bos: true }), [128000, ...ids], s);
    assert.equal(tok.decode(ids), s);
  }
  assert.deepEqual(tok.encode("<|begin_of_text|>Hi"), [128000, 13347], "special tokens in the text are their ids");
  assert.equal(tok.decode([128000, 13347]), "Hi", "control tokens vanish from decoded text");
  assert.throws(() => tok.decode([128256]), /token id 128256 is outside the vocabulary 0\.\.128255/);
});

test("the GGUF keys of a byte-level vocabulary are llama.cpp's gpt2 model with merges and the llama-bpe pre-tokenizer", () => {
  const tok = llama3();
  const meta = tok.ggufMetadata();
  const value = (k: string) => meta.get(k)?.value;
  assert.equal(value("tokenizer.ggml.model"), "gpt2");
  assert.equal(value("tokenizer.ggml.pre"), "llama-bpe");
  assert.equal((value("tokenizer.ggml.tokens") as string[]).length, 128256);
  assert.equal((value("tokenizer.ggml.tokens") as string[])[9906], "Hello");
  assert.equal((value("tokenizer.ggml.merges") as string[])[0], "Ġ Ġ");
  const types = value("tokenizer.ggml.token_type") as Int32Array;
  assert.equal(types[9906], 1);
  assert.equal(types[128000], 3, "special added tokens are control tokens");
  assert.equal(value("tokenizer.ggml.bos_token_id"), 128000);
  assert.equal(meta.has("tokenizer.ggml.scores"), false);
});

test("BOS, EOS and padding follow tokenizer_config.json and config.json", () => {
  const noBos = new HfTokenizer(json("tokenizer.json"), { ...json("tokenizer_config.json"), add_bos_token: false }, { vocabSize: 128300 });
  assert.equal(noBos.addBos, false);
  assert.equal(noBos.ggufMetadata().get("tokenizer.ggml.add_bos_token")?.value, false);
  assert.equal(noBos.vocabSize, 128300, "padded to the model's vocab_size");
  assert.equal(noBos.piece(128299), "[PAD128299]");
  assert.equal(noBos.tokenTypes[128299], 5);
  // no bos_token at all (as Qwen2): windows start with the end-of-text token
  const { bos_token: _, ...cfg } = json("tokenizer_config.json");
  const qwenLike = new HfTokenizer(json("tokenizer.json"), cfg);
  assert.equal(qwenLike.addBos, false);
  assert.equal(qwenLike.bos, 128001);
  assert.throws(() => new HfTokenizer(json("tokenizer.json"), json("tokenizer_config.json"), { vocabSize: 1000, label: "t.json" }),
    (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && /t\.json has 128256 tokens but config\.json's vocab_size is 1000/.test(e.message));
  assert.throws(() => new HfTokenizer({ model: { type: "WordPiece", vocab: {} } }, {}, { label: "bert.json" }),
    (e: unknown) => e instanceof QuantLabError && e.code === "UNSUPPORTED" && /bert\.json has a 'WordPiece' model/.test(e.message) && !e.message.includes("\n"));
});

/** `m` as a Hugging Face folder (one safetensors file; q/k rows left as they are: only tokens matter here). */
async function writeHfFolder(dir: string, m: LlamaModel): Promise<void> {
  const t = new Map<string, { dtype: "F32"; shape: number[]; data: Float32Array }>();
  const c = m.config;
  t.set("model.embed_tokens.weight", { dtype: "F32", shape: [c.vocabSize, c.dim], data: m.tokenEmbedding.data });
  t.set("model.norm.weight", { dtype: "F32", shape: [c.dim], data: m.outputNorm });
  m.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    t.set(p + "input_layernorm.weight", { dtype: "F32", shape: [c.dim], data: l.attnNorm });
    t.set(p + "post_attention_layernorm.weight", { dtype: "F32", shape: [c.dim], data: l.ffnNorm });
    for (const n of LINEAR_NAMES) t.set(`${p}${HF_NAMES[n]}.weight`, { dtype: "F32", shape: [l[n].rows, l[n].cols], data: l[n].data });
  });
  await writeSafetensors(join(dir, "model.safetensors"), t);
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    model_type: "llama", hidden_size: c.dim, intermediate_size: c.hiddenDim, num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength, rms_norm_eps: c.rmsEps, rope_theta: c.ropeTheta, tie_word_embeddings: true,
  }));
}

test("a Hugging Face folder with the Llama 3 tokenizer loads with it, and the GGUF written from it tokenizes alike in llama.cpp", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf-tok-"));
  try {
    await writeHfFolder(dir, randomModel({ ...TINY, vocabSize: 128256 }, 51, true));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) writeFileSync(join(dir, f), readFileSync(join(LLAMA3, f)));
    const m = await loadModel(dir);
    assert.ok(m.tokenizer instanceof HfTokenizer);
    assert.deepEqual(m.tokenizer.encode("Hello, world!"), KNOWN[0]![1]);
    const src = await openModelSource(dir);
    const gguf = join(dir, "model.gguf");
    try {
      await writeGguf(gguf, (await quantizeTensorSource(src, "F32")).content);
    } finally {
      await src.close();
    }
    const ref = await llamaCppModel(gguf);
    try {
      for (const [s, ids] of KNOWN) assert.deepEqual(Array.from(ref.tokenize(s), Number), ids, `llama.cpp on ${JSON.stringify(s)}`);
      assert.equal(Number(ref.tokens.bos), 128000);
    } finally {
      await ref.dispose();
    }
    // QuantLab reads the byte-level vocabulary back from the GGUF, to the same ids
    const back = await loadModel(gguf);
    assert.ok(back.tokenizer instanceof HfTokenizer);
    assert.equal(back.tokenizer.bos, 128000);
    for (const [s, ids] of KNOWN) assert.deepEqual(back.tokenizer.encode(s), ids, `QuantLab's GGUF reader on ${JSON.stringify(s)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a SentencePiece-style tokenizer.json: byte fallback, space prefix from Prepend or Metaspace, GGUF 'llama' keys with scores from the merge order", () => {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  for (const p of ["\u2581", "a", "b", "ab", "\u2581ab"]) vocab[p] = Object.keys(vocab).length;
  const model = { type: "BPE", vocab, merges: [["a", "b"], ["\u2581", "ab"]], byte_fallback: true, fuse_unk: true, unk_token: "<unk>" };
  const added = ["<unk>", "<s>", "</s>"].map((content, id) => ({ id, content, special: true }));
  const cfg = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_bos_token: true };
  const decoder = { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] };
  const llama2 = new HfTokenizer({ model, added_tokens: added, decoder,
    normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] } }, cfg);
  assert.equal(llama2.kind, "sentencepiece");
  assert.equal(llama2.addSpacePrefix, true);
  const ab = vocab["\u2581ab"]!;
  assert.deepEqual(llama2.encode("ab ab"), [ab, ab]);
  assert.deepEqual(llama2.encode("é"), [vocab["\u2581"], 3 + 0xc3, 3 + 0xa9], "characters outside the vocabulary as their UTF-8 bytes");
  assert.equal(llama2.decode(llama2.encode("ab ab")), "ab ab");
  const meta = llama2.ggufMetadata();
  assert.equal(meta.get("tokenizer.ggml.model")?.value, "llama");
  const scores = meta.get("tokenizer.ggml.scores")?.value as Float32Array;
  assert.ok(scores[vocab["ab"]!]! > scores[ab]!, "the earlier merge scores higher");
  assert.equal((meta.get("tokenizer.ggml.token_type")?.value as Int32Array)[3 + 0x41], 6, "byte pieces have the byte type");
  assert.equal(meta.get("tokenizer.ggml.unknown_token_id")?.value, 0);
  const never = new HfTokenizer({ model, added_tokens: added, decoder, pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "never", split: false } }, cfg);
  assert.equal(never.addSpacePrefix, false);
  assert.equal(never.ggufMetadata().get("tokenizer.ggml.add_space_prefix")?.value, false);
  const first = new HfTokenizer({ model, added_tokens: added, decoder, pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false } }, cfg);
  assert.equal(first.addSpacePrefix, true);
  // without add_bos_token, the post-processor's template decides
  const { add_bos_token: _, ...noFlag } = cfg;
  const template = (single: object[]) => new HfTokenizer({ model, added_tokens: added, decoder, pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first" },
    post_processor: { type: "TemplateProcessing", single, pair: [], special_tokens: {} } }, noFlag);
  assert.equal(template([{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }]).addBos, true);
  assert.equal(template([{ Sequence: { id: "A", type_id: 0 } }]).addBos, false);
  assert.deepEqual(first.encode("ab"), [ab]);
});
