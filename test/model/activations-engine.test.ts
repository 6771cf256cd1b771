/**
 * Engine recipes: the empty recipe and the rotation alone cost nothing (KLD ≈ 0, same perplexity),
 * fewer bits cost more, per-token activations beat per-tensor static ones on a model with an
 * outlier channel, the labels and the KV bytes per token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { engineStudy, prepareEngine, recipeLabel } from "../../src/model/runtime/engine.js";
import type { LlamaModel } from "../../src/model/llama.js";
import { randomModel, TINY } from "./helpers.js";

const IDS = Array.from({ length: 60 }, (_, i) => (i * 7 + 3) % TINY.vocabSize);

/** Channel 2 of the residual stream gets a 40× embedding: an outlier channel every linear reading the stream sees. */
function withOutlier(m: LlamaModel): LlamaModel {
  const E = Float32Array.from(m.tokenEmbedding.data, (v, i) => (i % TINY.dim === 2 ? v * 40 : v));
  return { ...m, tokenEmbedding: { ...m.tokenEmbedding, data: E } };
}

test("the empty recipe and the rotation alone leave the model as it is; W4 costs more than W8", async () => {
  const m = randomModel(TINY, 31);
  const r = await engineStudy(m, IDS, 1, [{}, { rotate: "hadamard" }, { weights: { bits: 8 } }, { weights: { bits: 4 } }], { window: 16 });
  const [none, rot, w8, w4] = r.rows;
  assert.ok(Math.abs(none.perplexity / r.basePerplexity - 1) < 1e-6);
  assert.ok(none.kld < 1e-7 && rot.kld < 1e-7, `${none.kld} ${rot.kld}`);
  assert.ok(Math.abs(rot.perplexity / r.basePerplexity - 1) < 1e-5);
  assert.ok(w8.kld > 0 && w4.kld > w8.kld, `${w8.kld} ${w4.kld}`);
  assert.equal(none.kvBytesPerToken, 2 * TINY.nLayers * TINY.nKvHeads * (TINY.dim / TINY.nHeads) * 2);
});

test("FP8 W8A8: FP8 E4M3 weights per channel cost little, E5M2 more (two fewer mantissa bits); an integer format is refused", async () => {
  const m = randomModel(TINY, 34);
  const r = await engineStudy(m, IDS, 1, [{ weights: { bits: 8, format: "fp8-e4m3" } }, { weights: { bits: 8, format: "fp8-e5m2" } },
    { weights: { bits: 8, format: "fp8-e4m3" }, activations: "fp8-e4m3:tensor:static" }], { window: 16 });
  const [e4, e5, both] = r.rows;
  assert.ok(e4.kld > 0 && e5.kld > e4.kld && both.kld > e4.kld, `${e4.kld} ${e5.kld} ${both.kld}`);
  await assert.rejects(prepareEngine(m, { weights: { bits: 8, format: "int8" } }, []), /not FP8/);
});

test("on a model with an outlier channel per-tensor static INT8 costs more than per-token dynamic INT8", async () => {
  const m = withOutlier(randomModel(TINY, 32));
  const r = await engineStudy(m, IDS, 1, [{ activations: "int8:tensor:static" }, { activations: "int8:token:dynamic" }, { activations: "int4:tensor:dynamic" }], { window: 16 });
  const [tensor, token, int4] = r.rows;
  assert.ok(tensor.kld > token.kld, `${tensor.kld} vs ${token.kld}`);
  assert.ok(int4.kld > tensor.kld);
});

test("recipes are labelled as the table shows them; the KV cache sets the bytes per token", async () => {
  assert.equal(recipeLabel({ weights: { bits: 4, groupSize: 32 }, activations: "int8:token:dynamic", rotate: "hadamard" }), "W4 g32 · int8:token:dynamic · Hadamard");
  assert.equal(recipeLabel({ label: "mine" }), "mine");
  assert.equal(recipeLabel({ weights: { bits: 8, format: "fp8-e4m3" }, activations: "fp8-e4m3:tensor:static" }), "W fp8-e4m3 · fp8-e4m3:tensor:static");
  const e = await prepareEngine(randomModel(TINY, 33), { kvCache: "int8:token,int8:token" }, []);
  // Per layer and token: 2 × (8 int8 values + one FP16 scale).
  assert.equal(e.kvBytesPerToken, TINY.nLayers * 2 * (8 + 2));
  await assert.rejects(prepareEngine(randomModel(TINY, 33), { smoothquant: 0.5 }, []), /calibration/);
});
