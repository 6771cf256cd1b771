import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../../src/io/safetensors.js";
import { HF_NAMES, modelFromHf, readHfModel, type HfConfig } from "../../src/model/formats/hf.js";
import { LINEAR_NAMES, permuteHalfToInterleaved, type LlamaModel } from "../../src/model/llama.js";
import type { Matrix } from "../../src/numerics/matrix.js";
import { randomModel, TINY } from "./helpers.js";

// Inverse of the loader's permutation: interleaved pairs (2i, 2i+1) back to halves (i, i + d/2).
function interleavedToHalf(w: Matrix, heads: number): Matrix {
  const hd = w.rows / heads, out = new Float32Array(w.data.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < hd / 2; i++) {
      out.set(w.data.subarray((h * hd + 2 * i) * w.cols, (h * hd + 2 * i + 1) * w.cols), (h * hd + i) * w.cols);
      out.set(w.data.subarray((h * hd + 2 * i + 1) * w.cols, (h * hd + 2 * i + 2) * w.cols), (h * hd + i + hd / 2) * w.cols);
    }
  return { rows: w.rows, cols: w.cols, data: out };
}

function asHf(m: LlamaModel): Map<string, { shape: number[]; data: Float32Array }> {
  const t = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (n: string, x: Matrix) => t.set(n, { shape: [x.rows, x.cols], data: x.data });
  put("model.embed_tokens.weight", m.tokenEmbedding);
  t.set("model.norm.weight", { shape: [m.config.dim], data: m.outputNorm });
  if (m.output) put("lm_head.weight", m.output);
  m.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    t.set(p + "input_layernorm.weight", { shape: [m.config.dim], data: l.attnNorm });
    t.set(p + "post_attention_layernorm.weight", { shape: [m.config.dim], data: l.ffnNorm });
    for (const n of LINEAR_NAMES) {
      const w = n === "attn_q" ? interleavedToHalf(l[n], m.config.nHeads) : n === "attn_k" ? interleavedToHalf(l[n], m.config.nKvHeads) : l[n];
      put(`${p}${HF_NAMES[n]}.weight`, w);
    }
  });
  return t;
}

const cfg = (tied: boolean): HfConfig => ({
  hidden_size: TINY.dim, intermediate_size: TINY.hiddenDim, num_hidden_layers: TINY.nLayers, num_attention_heads: TINY.nHeads,
  num_key_value_heads: TINY.nKvHeads, vocab_size: TINY.vocabSize, max_position_embeddings: TINY.contextLength,
  rms_norm_eps: TINY.rmsEps, rope_theta: TINY.ropeTheta, tie_word_embeddings: tied, model_type: "llama",
});

test("permutation half → interleaved moves row i to 2i and i + d/2 to 2i+1, per head", () => {
  const w = { rows: 8, cols: 1, data: Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]) };
  assert.deepEqual(Array.from(permuteHalfToInterleaved(w, 2).data), [0, 2, 1, 3, 10, 12, 11, 13]);
});

for (const tied of [true, false]) {
  test(`Hugging Face layout loads to the same logits (${tied ? "tied" : "separate"} head)`, async () => {
    const m = randomModel(TINY, 41, tied);
    const t = asHf(m);
    const h = modelFromHf(cfg(tied), (n) => t.get(n), "test.safetensors");
    assert.deepEqual(h.config, TINY);
    const a = await LlamaRuntime.create(m), b = await LlamaRuntime.create(h);
    const toks = [1, 4, 9, 16, 3];
    const x = a.forward(toks).dataSync(), y = b.forward(toks).dataSync();
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-5);
    a.dispose();
    b.dispose();
  });
}

test("missing tensors and foreign architectures are named", () => {
  const t = asHf(randomModel(TINY, 42));
  t.delete("model.layers.1.mlp.up_proj.weight");
  assert.throws(() => modelFromHf(cfg(true), (n) => t.get(n), "x.safetensors"), /x.safetensors has no tensor 'model.layers.1.mlp.up_proj.weight'/);
  assert.throws(() => modelFromHf({ ...cfg(true), model_type: "gpt2" }, (n) => t.get(n), "x"), /model_type 'gpt2'/);
});

test("a Hugging Face folder (config.json + model.safetensors, F16 weights) reads from disk", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf-"));
  try {
    const m = randomModel(TINY, 43, false);
    const t = asHf(m);
    await writeSafetensors(join(dir, "model.safetensors"),
      new Map([...t].map(([n, v]) => [n, { dtype: "F16" as const, shape: v.shape, data: v.data }])));
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg(false)));
    const h = await readHfModel(dir);
    assert.equal(h.output!.rows, TINY.vocabSize);
    // F16 storage: weights within FP16 rounding of the originals
    const a = m.layers[1].ffn_up.data, b = h.layers[1].ffn_up.data;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= Math.abs(a[i]) * 2 ** -10 + 1e-7);
    rmSync(join(dir, "config.json"));
    await assert.rejects(readHfModel(dir), /no config.json beside/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
