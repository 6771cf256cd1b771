import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { generate, perplexity, sampleToken, windows } from "../../src/model/runtime/eval.js";
import { Tokenizer } from "../../src/model/formats/tokenizer.js";
import { randomModel, referenceForward, TINY } from "./helpers.js";

function logSoftmaxAt(logits: Float32Array, row: number, V: number, id: number): number {
  const r = logits.subarray(row * V, (row + 1) * V);
  const m = Math.max(...r);
  const z = r.reduce((s, x) => s + Math.exp(x - m), 0);
  return r[id] - m - Math.log(z);
}

test("windows: BOS-led, non-overlapping, every text token scored once", () => {
  assert.deepEqual(windows([5, 6, 7, 8, 9], 1, 3), [[1, 5, 6], [1, 7, 8], [1, 9]]);
  assert.deepEqual(windows([5, 6, 7, 8, 9], 1, 3, 3), [[1, 5, 6], [1, 7]]);
  assert.throws(() => windows([5], 1, 1), /window 1 is too small/);
});

test("perplexity is exp of the mean NLL over all windows (checked against the reference pass)", async () => {
  const m = randomModel(TINY, 7);
  const rt = await LlamaRuntime.create(m);
  const text = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const r = perplexity(rt, { bos: 1 }, text, { window: 4 });
  let sum = 0;
  for (const w of windows(text, 1, 4)) {
    const lg = referenceForward(m, w);
    for (let t = 0; t + 1 < w.length; t++) sum -= logSoftmaxAt(lg, t, TINY.vocabSize, w[t + 1]);
  }
  assert.equal(r.tokens, 10);
  assert.equal(r.windows, 4);
  assert.ok(Math.abs(r.meanNll - sum / 10) < 1e-4, `${r.meanNll} vs ${sum / 10}`);
  assert.ok(Math.abs(r.perplexity / Math.exp(sum / 10) - 1) < 1e-4);
  assert.throws(() => perplexity(rt, { bos: 1 }, text, { window: 64 }), /window 64 exceeds the model's context 32/);
  rt.dispose();
});

test("greedy generation picks the argmax at every step; sampling is seeded", async () => {
  const m = randomModel(TINY, 8);
  const pieces = Array.from({ length: TINY.vocabSize }, (_, i) => (i < 3 ? ["<unk>", "<s>", "</s>"][i] : `▁t${i}`));
  const tok = new Tokenizer({ pieces, scores: new Array(pieces.length).fill(0), bos: 1, eos: 2 });
  const rt = await LlamaRuntime.create(m);
  const g = generate(rt, tok, [1], { maxTokens: 6, stopAt: [] });
  assert.equal(g.tokens.length, 6);
  const seq = [1];
  for (const t of g.tokens) {
    const lg = referenceForward(m, seq);
    const last = lg.subarray((seq.length - 1) * TINY.vocabSize);
    assert.equal(t, last.indexOf(Math.max(...last)));
    seq.push(t);
  }
  const a = generate(rt, tok, [1], { maxTokens: 8, temperature: 1, seed: 3, stopAt: [] });
  const b = generate(rt, tok, [1], { maxTokens: 8, temperature: 1, seed: 3, stopAt: [] });
  assert.deepEqual(a.tokens, b.tokens);
  rt.dispose();
});

test("sampleToken: temperature 0 is argmax, top-k 1 is argmax at any temperature", () => {
  const l = Float32Array.from([0.1, 2, -1, 1.9]);
  assert.equal(sampleToken(l, 0, 0, Math.random), 1);
  assert.equal(sampleToken(l, 5, 1, Math.random), 1);
});
