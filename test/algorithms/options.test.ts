// One vocabulary: GPTQ and AWQ take `scheme` like every other QuantLab function (and `sym` as the papers' name).
import { test } from "node:test";
import assert from "node:assert/strict";
import { gptq } from "../../src/algorithms/gptq.js";
import { awq } from "../../src/algorithms/awq.js";
import { inputs, weights } from "./helpers.js";

test("scheme: \"symmetric\" means the same as sym: true for GPTQ and AWQ", async () => {
  const W = weights(16, 64, 3);
  const X = inputs(128, 64, 4);
  const a = await gptq(W, X, { bits: 4, groupSize: 32, scheme: "symmetric", skipOutputError: true });
  const b = await gptq(W, X, { bits: 4, groupSize: 32, sym: true, skipOutputError: true });
  assert.deepEqual(a.codes, b.codes);
  assert.equal(a.zeros[0], 8); // GPTQ's symmetric zero point (maxq + 1) / 2
  const c = await awq(W, X, { bits: 4, groupSize: 32, scheme: "symmetric", clip: false, skipOutputError: true });
  const d = await awq(W, X, { bits: 4, groupSize: 32, sym: true, clip: false, skipOutputError: true });
  assert.deepEqual(c.codes, d.codes);
});
