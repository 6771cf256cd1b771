/**
 * The layer-major block and head on QuantLab's GEMM (src/model/runtime/gemm-forward.ts) against the tfjs
 * block they replace at real sizes: the same perplexity and KL divergence up to summation order, with
 * windows of different lengths in one product, grouped-query heads, q/k/v biases and the like-llama-cpp
 * hooks. The models are small, so the kernel is asked for by name ("auto" keeps them on tfjs).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { modelLayers, sourceLayers } from "../../src/model/runtime/layer-source.js";
import { klDivergenceLayerMajor, perplexityLayerMajor } from "../../src/model/runtime/layer-major.js";
import { llamaCppHooks } from "../../src/model/runtime/like-llama-cpp.js";
import { modelFromSource, openModelSource } from "../../src/model/formats/source.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { LINEAR_NAMES } from "../../src/model/llama.js";
import { gemmModule } from "../../src/backend/gemm-kernel.js";
import { GemmStages } from "../../src/model/runtime/gemm-forward.js";
import { randomModel, sharedFile, TINY } from "./helpers.js";

const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const noKernel = gemmModule() ? false : "dist/wasm/gemm.wasm is not built (npm run build)";
const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a / b - 1) < tol, `${what}: ${a} vs ${b}`);

test("perplexity on the GEMM equals the tfjs block's, from memory and from the file's head rows", { skip: model.skip || val.skip || noKernel }, async () => {
  const src = await openModelSource(model.path);
  try {
    const m = await modelFromSource(src);
    const ids = m.tokenizer!.encode(readFileSync(val.path, "utf8").slice(0, 6000));
    // windows of 100 positions over 600 tokens: six full ones and a short last one in the same products
    const opts = { maxTokens: 600, window: 100 };
    const tfjs = await perplexityLayerMajor(modelLayers(m), m.tokenizer!.bos, ids, { ...opts, kernel: "tfjs" });
    const mem = await perplexityLayerMajor(modelLayers(m), m.tokenizer!.bos, ids, { ...opts, kernel: "gemm" });
    const file = await perplexityLayerMajor(await sourceLayers(src), m.tokenizer!.bos, ids, { ...opts, kernel: "gemm" });
    assert.equal(mem.tokens, tfjs.tokens);
    assert.equal(mem.windows, 7);
    near(mem.perplexity, tfjs.perplexity, 1e-5, "perplexity");
    assert.equal(file.perplexity, mem.perplexity);
  } finally {
    await src.close();
  }
});

test("q/k/v biases and grouped-query heads run on the GEMM as on tfjs", { skip: noKernel }, async () => {
  const m = randomModel({ ...TINY, nLayers: 3 }, 51, false);
  let s = 7;
  const rnd = (n: number) => Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const kv = (TINY.dim / TINY.nHeads) * TINY.nKvHeads;
  for (const l of m.layers) l.bias = { attn_q: rnd(TINY.dim), attn_k: rnd(kv), attn_v: rnd(kv) };
  const ids = Array.from({ length: 70 }, (_, i) => 3 + ((i * 5) % 16));
  const tfjs = await perplexityLayerMajor(modelLayers(m), 1, ids, { window: 24, kernel: "tfjs" });
  const gemm = await perplexityLayerMajor(modelLayers(m), 1, ids, { window: 24, kernel: "gemm" });
  assert.equal(gemm.windows, tfjs.windows);
  near(gemm.perplexity, tfjs.perplexity, 1e-5, "perplexity");
});

test("KL divergence with the like-llama-cpp hooks agrees between the GEMM and tfjs", { skip: model.skip || val.skip || noKernel }, async () => {
  const src = await openModelSource(model.path);
  try {
    const base = await modelFromSource(src);
    const ids = base.tokenizer!.encode(readFileSync(val.path, "utf8").slice(0, 3000));
    const q = await quantizeModel(base, { calibration: calibrationWindows(ids, 1, 2, 12), quantizer: quantizerFor({ method: "rtn", bits: 4, groupSize: 32 }) });
    // Q8_0 rounding of every linear's input (dim 64 is two blocks) and the F16 KV cache
    const types = new Map(base.layers.flatMap((_, i) => LINEAR_NAMES.map((n) => [`blk.${i}.${n}.weight`, "Q4_0"] as [string, string])));
    const hooks = llamaCppHooks({ storedTypes: types });
    const opts = { maxTokens: 300, window: 128, hooks };
    const tfjs = await klDivergenceLayerMajor(modelLayers(base), modelLayers(q.model), ids, 1, { ...opts, kernel: "tfjs" });
    const gemm = await klDivergenceLayerMajor(modelLayers(base), modelLayers(q.model), ids, 1, { ...opts, kernel: "gemm" });
    assert.ok(tfjs.kld.mean > 0);
    near(gemm.kld.mean, tfjs.kld.mean, 1e-3, "KLD");
    near(gemm.perplexity, tfjs.perplexity, 1e-4, "perplexity");
    assert.ok(Math.abs(gemm.sameTopPercent - tfjs.sameTopPercent) < 1, `same top ${gemm.sameTopPercent} vs ${tfjs.sameTopPercent}`);
  } finally {
    await src.close();
  }
});

test("the quantization workflow's stages on the GEMM, in blocks of windows, match the tfjs block's", { skip: noKernel }, async () => {
  const m = randomModel({ ...TINY, nLayers: 2 }, 52, false);
  let s = 11;
  const rnd = (n: number) => Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const kv = (TINY.dim / TINY.nHeads) * TINY.nKvHeads;
  for (const l of m.layers) l.bias = { attn_q: rnd(TINY.dim), attn_k: rnd(kv), attn_v: rnd(kv) };
  const text = Array.from({ length: 200 }, (_, i) => 3 + ((i * 7) % 16));
  const calib = calibrationWindows(text, 1, 5, 30);
  const seen = (kernel: "tfjs" | "gemm") => {
    const inputs: Float32Array[] = [];
    const run = quantizeModel(m, {
      calibration: calib, kernel,
      quantizer: (job) => {
        inputs.push(job.inputs.data.slice());
        return quantizerFor({ method: "rtn", bits: 4, groupSize: 8 })(job);
      },
    });
    return run.then((q) => ({ q, inputs }));
  };
  const t = await seen("tfjs"), g = await seen("gemm");
  assert.equal(g.inputs.length, 8);
  for (const [k, x] of g.inputs.entries()) {
    let d = 0, n = 0;
    for (let j = 0; j < x.length; j++) (d += (x[j]! - t.inputs[k]![j]!) ** 2), (n += t.inputs[k]![j]! ** 2);
    assert.ok(Math.sqrt(d / n) < 1e-5, `group ${k}: relative difference ${Math.sqrt(d / n)}`);
  }
  for (const [k, e] of g.q.errors.entries()) near(e.relOutputError, t.q.errors[k]!.relOutputError, 1e-3, `blk.${e.layer}.${e.name}`);
  // blocks of two windows (60 rows) give the same rows as one block of all five
  const one = new GemmStages({ ...TINY, nLayers: 2 }, calib.map((w) => w.length), 1 << 20);
  const two = new GemmStages({ ...TINY, nLayers: 2 }, calib.map((w) => w.length), 60);
  const L = m.layers[0]!, x = rnd(150 * TINY.dim), h = one.norm(x, L.attnNorm);
  assert.deepEqual(await two.attend(L, h.slice()), await one.attend(L, h.slice()));
  assert.deepEqual(await two.ffnAct(L, x, L.ffnNorm), await one.ffnAct(L, x, L.ffnNorm));
  assert.deepEqual(await two.residual(x.slice(), h, L.attn_output), await one.residual(x.slice(), h, L.attn_output));
});
