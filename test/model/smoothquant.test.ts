/**
 * SmoothQuant: the smoothed model computes the full-precision model's function at every α (α = 0
 * included), α = 0.5 balances activation and weight maxima per channel, α = 1 leaves every
 * activation channel with maximum 1, and the refusals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { activationChannelMax, smoothingScales, smoothQuant } from "../../src/model/runtime/smoothquant.js";
import { QuantLabError } from "../../src/errors.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randomModel, TINY } from "./helpers.js";

const TOKENS = [1, 4, 8, 15, 16, 2, 3, 9, 11, 7];

test("the smoothed model's logits equal the original's to 1e-5 at α = 0, 0.5, 1 (with and without the down projection)", async () => {
  const m = randomModel(TINY, 21);
  const rt = await LlamaRuntime.create(m);
  const base = rt.forward(TOKENS).dataSync() as Float32Array;
  const xMax = activationChannelMax(rt, [TOKENS]);
  rt.dispose();
  for (const alpha of [0, 0.5, 1])
    for (const down of [false, true]) {
      const s = await LlamaRuntime.create(smoothQuant(m, xMax, alpha, { down }));
      const l = s.forward(TOKENS).dataSync() as Float32Array;
      const scale = Math.max(...Array.from(base, Math.abs));
      l.forEach((v, i) => assert.ok(Math.abs(v - base[i]) <= 1e-5 * scale, `α=${alpha} down=${down} logit ${i}: ${v} vs ${base[i]}`));
      s.dispose();
    }
});

test("α = 0.5 balances max|X_j| and max|W_j| at their geometric mean; α = 1 flattens the activation maxima to 1", async () => {
  const m = randomModel(TINY, 22);
  const rt = await LlamaRuntime.create(m);
  const xMax = activationChannelMax(rt, [TOKENS]);
  rt.dispose();
  for (const [alpha, check] of [[0.5, "balance"], [1, "flat"]] as const) {
    const sm = smoothQuant(m, xMax, alpha);
    const s = await LlamaRuntime.create(sm);
    const after = activationChannelMax(s, [TOKENS]).get("0:attn_q")!;
    s.dispose();
    const l = sm.layers[0];
    for (let j = 0; j < after.length; j++) {
      let w = 0;
      for (const W of [l.attn_q, l.attn_k, l.attn_v]) for (let r = 0; r < W.rows; r++) w = Math.max(w, Math.abs(W.data[r * W.cols + j]));
      if (check === "balance") assert.ok(Math.abs(after[j] / w - 1) < 1e-4, `channel ${j}: ${after[j]} vs ${w}`);
      else assert.ok(Math.abs(after[j] - 1) < 1e-4, `channel ${j}: ${after[j]}`);
    }
  }
});

test("smoothing scales: a dead channel keeps 1; α outside [0, 1] and missing calibration are refused", () => {
  const W = matrix(2, 3, [1, 0, -4, 2, 0, 1]);
  const s = smoothingScales(Float32Array.from([4, 5, 0]), [W], 0.5);
  assert.ok(Math.abs(s[0] - Math.SQRT2) < 1e-6);  // √4 / √max(1, 2)
  assert.equal(s[1], 1);
  assert.equal(s[2], 1);
  assert.throws(() => smoothingScales(Float32Array.from([1, 1, 1]), [W], 1.5), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT");
  assert.throws(() => smoothQuant(randomModel(TINY, 1), new Map(), 0.5), /activationChannelMax/);
});
