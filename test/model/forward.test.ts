import { test } from "node:test";
import assert from "node:assert/strict";
import { KvCache, LlamaRuntime } from "../../src/model/runtime/forward.js";
import { randomModel, referenceForward, TINY } from "./helpers.js";

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("tfjs forward pass matches a plain-loop reference (GQA, tied output)", async () => {
  const m = randomModel(TINY, 3, true);
  const rt = await LlamaRuntime.create(m);
  const tokens = [1, 5, 7, 19, 0, 3, 3, 12, 8];
  const got = rt.forward(tokens).dataSync() as Float32Array;
  const want = referenceForward(m, tokens);
  assert.equal(got.length, tokens.length * TINY.vocabSize);
  assert.ok(maxAbsDiff(got, want) < 1e-4, `max diff ${maxAbsDiff(got, want)}`);
  rt.dispose();
});

test("separate output matrix and multi-head attention without grouping", async () => {
  const c = { ...TINY, nKvHeads: 4 };
  const m = randomModel(c, 4, false);
  const rt = await LlamaRuntime.create(m);
  const tokens = [2, 4, 6, 8, 10, 12];
  assert.ok(maxAbsDiff(rt.forward(tokens).dataSync() as Float32Array, referenceForward(m, tokens)) < 1e-4);
  rt.dispose();
});

test("incremental decoding with a KV cache gives the same logits as one pass", async () => {
  const m = randomModel(TINY, 5);
  const rt = await LlamaRuntime.create(m);
  const tokens = [1, 9, 2, 17, 4, 4, 11];
  const full = rt.forward(tokens).dataSync() as Float32Array;
  const cache = new KvCache(TINY.nLayers);
  const a = rt.forward(tokens.slice(0, 4), {}, cache).dataSync() as Float32Array;
  const parts = [a];
  for (const t of tokens.slice(4)) parts.push(rt.forward([t], {}, cache).dataSync() as Float32Array);
  assert.equal(cache.length, tokens.length);
  assert.deepEqual(cache.k[0]!.shape, [TINY.nKvHeads, tokens.length, TINY.dim / TINY.nHeads]);
  const inc = new Float32Array(full.length);
  let o = 0;
  for (const p of parts) { inc.set(p, o); o += p.length; }
  assert.ok(maxAbsDiff(inc, full) < 1e-4, `max diff ${maxAbsDiff(inc, full)}`);
  cache.dispose();
  rt.dispose();
});

test("forward rejects out-of-vocabulary ids and windows beyond the context", async () => {
  const rt = await LlamaRuntime.create(randomModel());
  assert.throws(() => rt.forward([1, 20]), /token id 20 is outside the vocabulary 0..19/);
  assert.throws(() => rt.forward(new Array(33).fill(1)), /33 positions exceed the model's context of 32/);
  rt.dispose();
});
