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

test("weights uploaded transposed ([in, out]) give the logits of the caller's [out, in] tensors, also after setLinear", async () => {
  const { tf } = await import("../../src/model/runtime/tf.js");
  for (const tied of [true, false]) {
    const m = randomModel({ ...TINY, vocabSize: 37 }, 9, tied);
    const rt = await LlamaRuntime.create(m);
    assert.equal(rt.weightLayout, "in-out");
    const up = (x: { rows: number; cols: number; data: Float32Array }) => tf.tensor2d(x.data, [x.rows, x.cols]);
    const plain = LlamaRuntime.fromTensors(m.config, {
      tokenEmbedding: up(m.tokenEmbedding),
      layers: m.layers.map((l) => ({
        attnNorm: tf.tensor1d(l.attnNorm), ffnNorm: tf.tensor1d(l.ffnNorm),
        w: { attn_q: up(l.attn_q), attn_k: up(l.attn_k), attn_v: up(l.attn_v), attn_output: up(l.attn_output), ffn_gate: up(l.ffn_gate), ffn_up: up(l.ffn_up), ffn_down: up(l.ffn_down) },
      })),
      outputNorm: tf.tensor1d(m.outputNorm), output: m.output ? up(m.output) : null,
    });
    assert.equal(plain.weightLayout, "out-in");
    const tokens = [2, 36, 5, 11, 0, 8];
    const same = () => {
      const a = rt.forward(tokens), b = plain.forward(tokens);
      const d = maxAbsDiff(a.dataSync() as Float32Array, b.dataSync() as Float32Array);
      a.dispose();
      b.dispose();
      return d;
    };
    assert.ok(same() < 1e-5, `tied ${tied}: ${same()}`);
    const w = m.layers[1]!.ffn_up;
    const w2 = { rows: w.rows, cols: w.cols, data: w.data.map((x, i) => x * (1 + (i % 3))) };
    rt.setLinear(1, "ffn_up", w2);
    plain.setLinear(1, "ffn_up", w2);
    assert.ok(same() < 1e-5, `after setLinear: ${same()}`);
    assert.throws(() => rt.setLinear(0, "attn_k", { rows: w.cols, cols: w.rows, data: w.data }), /blk\.0\.attn_k is 8 × 16, the replacement is 16 × 24/);
    rt.dispose();
    plain.dispose();
  }
});
