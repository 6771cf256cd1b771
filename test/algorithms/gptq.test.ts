import { test } from "node:test";
import assert from "node:assert/strict";
import { gptq } from "../../src/algorithms/gptq.js";
import { outputError } from "../../src/algorithms/hessian.js";
import { useBackend } from "../../src/backend/index.js";
import { decode } from "../../src/numerics/affine.js";
import { quantize } from "../../src/numerics/rtn.js";
import { QuantLabError } from "../../src/errors.js";
import { inputs, mismatch, naiveGptq, weights } from "./helpers.js";

await useBackend("wasm");

function identity(n: number, v = 1): Float32Array {
  const H = new Float32Array(n * n);
  for (let i = 0; i < n; i++) H[i * n + i] = v;
  return H;
}

/** Every dequantized value is decode(code) under the parameters its group index names. */
function assertConsistent(g: Awaited<ReturnType<typeof gptq>>): void {
  const ng = g.scales.length / g.rows;
  for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) {
    const j = r * ng + g.gIdx[c]!;
    const v = decode(g.spec, g.codes[r * g.cols + c]!, { scale: g.scales[j]!, zero: g.zeros[j]!, min: 0, max: 0 });
    if (Math.abs(v - g.dequantized[r * g.cols + c]!) > 1e-7) assert.fail(`(${r}, ${c}): decode gives ${v}, dequantized holds ${g.dequantized[r * g.cols + c]}`);
  }
}

for (const groupSize of [32, 128, "channel"] as const) {
  for (const sym of [false, true]) {
    test(`H = identity gives exactly the RTN codes (group ${groupSize}, ${sym ? "sym" : "asym"})`, async () => {
      const W = weights(24, 256, 3);
      const g = await gptq(W, { H: identity(256) }, { bits: 4, groupSize, scheme: sym ? "symmetric" : "asymmetric" });
      const r = quantize(W, { bits: 4, groupSize, convention: "gptq", scheme: sym ? "symmetric" : "asymmetric" });
      assert.deepEqual(g.codes, r.codes);
      assert.deepEqual(g.dequantized, r.dequantized);
      assert.deepEqual(g.scales, r.scales);
    });
  }
}

test("correlated inputs: GPTQ's output error is below RTN's, and act-order lowers it further with outlier channels", async () => {
  const W = weights(64, 256, 4);
  const X = inputs(512, 256, 5, { mix: 0.6, every: 50 });
  const r = quantize(W, { bits: 3, groupSize: 64, convention: "gptq" });
  const eR = await outputError(X, W, r.dequantized);
  const g = await gptq(W, X, { bits: 3, groupSize: 64 });
  const a = await gptq(W, X, { bits: 3, groupSize: 64, actOrder: true });
  assert.ok(g.report.outputError! < 0.8 * eR, `gptq ${g.report.outputError} vs rtn ${eR}`);
  assert.ok(a.report.outputError! < g.report.outputError!, `act-order ${a.report.outputError} vs ${g.report.outputError}`);
  assert.ok(g.report.loss > 0 && Number.isFinite(g.report.loss));
  assert.equal(g.report.backend, "wasm");
});

for (const groupSize of [32, 64, 128]) {
  test(`group size ${groupSize} against block size 64 matches the naive column-by-column GPTQ`, async () => {
    const W = weights(16, 256, 6);
    const X = inputs(256, 256, 7, { mix: 0.5, every: 37 });
    const g = await gptq(W, X, { bits: 4, groupSize, blockSize: 64 });
    const ref = naiveGptq(W, X, 4, groupSize, 64);
    // float32 blocked vs float64 naive: a handful of codes may sit on a rounding tie
    assert.ok(mismatch(g.codes, ref.codes) < 0.01, `codes differ at ${mismatch(g.codes, ref.codes)}`);
    assert.deepEqual(Array.from(g.gIdx), Array.from({ length: 256 }, (_, c) => Math.floor(c / groupSize)));
    assert.equal(g.scales.length, 16 * (256 / groupSize));
    assertConsistent(g);
  });
}

test("act-order: the permutation is undone (diagonal H, per channel: RTN codes in W's column order)", async () => {
  const W = weights(8, 128, 8);
  const H = identity(128);
  for (let i = 0; i < 128; i++) H[i * 128 + i] = 1 + ((i * 37) % 128);
  const g = await gptq(W, { H }, { bits: 4, groupSize: "channel", actOrder: true });
  assert.ok(g.perm);
  // perm is by descending diag(H)
  for (let i = 1; i < 128; i++) assert.ok(H[g.perm![i - 1]! * 129]! >= H[g.perm![i]! * 129]!);
  const r = quantize(W, { bits: 4, groupSize: "channel", convention: "gptq" });
  assert.deepEqual(g.codes, r.codes);
  assert.deepEqual(g.dequantized, r.dequantized);
});

test("act-order with groups: gIdx follows the processing order and decodes every weight", async () => {
  const W = weights(12, 256, 9);
  const X = inputs(300, 256, 10, { every: 23 });
  const g = await gptq(W, X, { bits: 4, groupSize: 64, actOrder: true });
  for (let i = 0; i < 256; i++) assert.equal(g.gIdx[g.perm![i]!], Math.floor(i / 64));
  assertConsistent(g);
  const s = await gptq(W, X, { bits: 4, groupSize: 64, actOrder: true, staticGroups: true });
  assert.deepEqual(Array.from(s.gIdx), Array.from({ length: 256 }, (_, c) => Math.floor(c / 64)));
  assertConsistent(s);
});

test("deterministic for a given input", async () => {
  const W = weights(8, 128, 11);
  const X = inputs(200, 128, 12, { mix: 0.3 });
  const a = await gptq(W, X, { bits: 4, groupSize: 32, actOrder: true });
  const b = await gptq(W, X, { bits: 4, groupSize: 32, actOrder: true });
  assert.deepEqual(a.codes, b.codes);
  assert.equal(a.report.loss, b.report.loss);
});

test("wasm and cpu agree to float tolerance", async () => {
  const W = weights(16, 256, 13);
  const X = inputs(256, 256, 14, { mix: 0.5, every: 40 });
  const w = await gptq(W, X, { bits: 4, groupSize: 64, backend: "wasm" });
  const c = await gptq(W, X, { bits: 4, groupSize: 64, backend: "cpu" });
  await useBackend("wasm");
  assert.equal(c.report.backend, "cpu");
  assert.ok(mismatch(w.codes, c.codes) < 0.005, `codes differ at ${mismatch(w.codes, c.codes)}`);
  assert.ok(Math.abs(w.report.loss - c.report.loss) / c.report.loss < 1e-3);
  assert.ok(Math.abs(w.report.outputError! - c.report.outputError!) / c.report.outputError! < 1e-3);
});

test("a Hessian that is not positive definite is retried with more damping, and the report says so", async () => {
  const n = 64;
  const H = identity(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j]! -= 0.05; // eigenvalue 1 − 0.05·64 < 0
  const g = await gptq(weights(4, n, 15), { H }, { bits: 4, groupSize: 32 });
  assert.ok(g.report.dampRetries > 0);
  assert.ok(g.report.percdamp > 0.01);
  assert.match(g.report.warnings[0]!, /not positive definite/);
  await assert.rejects(gptq(weights(4, n, 15), { H }, { bits: 4, groupSize: 32, dampRetries: 1 }),
    (e: QuantLabError) => e.code === "NUMERICAL" && /percdamp/.test(e.message));
});

test("dead input channels are zeroed and counted", async () => {
  const W = weights(4, 64, 16);
  const X = inputs(100, 64, 17);
  for (let t = 0; t < 100; t++) X.data[t * 64 + 5] = 0;
  const g = await gptq(W, X, { bits: 4, groupSize: 32 });
  assert.equal(g.report.deadColumns, 1);
  for (let r = 0; r < 4; r++) assert.equal(Math.abs(g.dequantized[r * 64 + 5]!), 0);
});

test("bad input gets a clear error", async () => {
  const W = weights(4, 64, 18);
  await assert.rejects(gptq(W, inputs(10, 32, 1), { groupSize: 32 }), (e: QuantLabError) => e.code === "BAD_SHAPE" && /X must be \[tokens, 64\]/.test(e.message));
  const X = inputs(10, 64, 1);
  X.data[17] = NaN;
  await assert.rejects(gptq(W, X, { groupSize: 32 }), (e: QuantLabError) => e instanceof QuantLabError && /calibration inputs X/.test(e.message));
  await assert.rejects(gptq(W, inputs(10, 64, 1), { groupSize: 48 }), (e: QuantLabError) => e.code === "BAD_ARGUMENT" && /48 does not divide in_features 64/.test(e.message));
  await assert.rejects(gptq(W, { H: new Float32Array(9) }, { groupSize: 32 }), (e: QuantLabError) => e.code === "BAD_SHAPE" && /64 × 64/.test(e.message));
});

test("the reported output error (trace form, from the sweep's loss) equals the direct ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖²", async () => {
  const W = weights(24, 192, 19);
  const X = inputs(300, 192, 20, { mix: 0.5, every: 31 });
  for (let t = 0; t < 300; t++) X.data[t * 192 + 7] = 0; // a dead input: it drops out of both forms
  for (const o of [{ groupSize: 64 }, { groupSize: 32, actOrder: true }, { bits: 3, groupSize: "channel" as const }, { groupSize: 64, staticGroups: true, actOrder: true }]) {
    const g = await gptq(W, X, { bits: 4, ...o });
    const direct = await outputError(X, W, g.dequantized);
    assert.ok(Math.abs(g.report.outputError! - direct) / direct < 1e-4, `${JSON.stringify(o)}: trace ${g.report.outputError} vs direct ${direct}`);
  }
  assert.equal((await gptq(W, X, { bits: 4, groupSize: 64, skipOutputError: true })).report.outputError, undefined);
});
