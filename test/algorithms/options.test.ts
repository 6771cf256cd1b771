// One vocabulary: GPTQ and AWQ take `scheme` like every other QuantLab function, the model workflow's
// MethodSpec passes it through unchanged, and a layer's spec is resolved once with its true granularity.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hessian } from "../../src/algorithms/hessian.js";
import { gptq } from "../../src/algorithms/gptq.js";
import { awq } from "../../src/algorithms/awq.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { describeSpec } from "../../src/numerics/spec.js";
import { inputs, weights } from "./helpers.js";

test("scheme: \"symmetric\" means the same through the workflow's MethodSpec as in gptq and awq", async () => {
  const W = weights(16, 64, 3);
  const X = inputs(128, 64, 4);
  const job = { layer: 0, names: ["attn_q"] as const, weights: [W], inputs: X, hessian: () => hessian(X) }; // attn_q: AWQ's clip search is off
  const a = await gptq(W, X, { bits: 4, groupSize: 32, scheme: "symmetric", skipOutputError: true });
  const [b] = await quantizerFor({ method: "gptq", bits: 4, groupSize: 32, scheme: "symmetric" })(job);
  assert.deepEqual(a.codes, b!.grouped!.codes);
  assert.equal(a.zeros[0], 8); // GPTQ's symmetric zero point (maxq + 1) / 2
  const c = await awq(W, X, { bits: 4, groupSize: 32, scheme: "symmetric", clip: false, skipOutputError: true });
  const [d] = await quantizerFor({ method: "awq", bits: 4, groupSize: 32, scheme: "symmetric" })(job);
  assert.deepEqual(c.codes, d!.grouped!.codes);
});

test("a layer's spec carries its real group size, so results describe themselves", async () => {
  const W = weights(8, 64, 5);
  const X = inputs(64, 64, 6);
  const g = await gptq(W, X, { bits: 3, groupSize: 32, skipOutputError: true });
  assert.deepEqual(g.spec.granularity, { kind: "group", size: 32 });
  assert.equal(describeSpec(g.spec), "INT3 asymmetric (gptq), per group of 32");
  const a = await awq(W, X, { bits: 4, groupSize: "channel", clip: false, skipOutputError: true });
  assert.deepEqual(a.spec.granularity, { kind: "channel" });
  assert.equal(a.scales.length, 8);
});
