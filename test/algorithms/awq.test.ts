import { test } from "node:test";
import assert from "node:assert/strict";
import { awq, awqBlock } from "../../src/algorithms/awq.js";
import { outputError } from "../../src/algorithms/hessian.js";
import { useBackend } from "../../src/backend/index.js";
import { decode } from "../../src/numerics/affine.js";
import { quantize } from "../../src/numerics/rtn.js";
import { QuantLabError } from "../../src/errors.js";
import { inputs, weights } from "./helpers.js";

await useBackend("wasm");

test("ratio 0 is the RTN point: grid 1 gives exactly RTN under the awq convention", async () => {
  const W = weights(16, 256, 21);
  const X = inputs(128, 256, 22, { every: 30 });
  const a = await awq(W, X, { grid: 1, clip: false });
  const r = quantize(W, { bits: 4, groupSize: 128, convention: "awq" });
  assert.equal(a.report.ratio, 0);
  assert.ok(a.inputScales.every((s) => s === 1));
  assert.deepEqual(a.codes, r.codes);
  assert.deepEqual(a.dequantized, r.dequantized);
});

test("the scale search never loses to RTN on its tokens, and beats it with outlier channels", async () => {
  const W = weights(32, 256, 23);
  const X = inputs(256, 256, 24, { every: 25 });
  const a = await awq(W, X, { clip: false, searchTokens: Infinity });
  const r = quantize(W, { bits: 4, groupSize: 128, convention: "awq" });
  const eR = await outputError(X, W, r.dequantized);
  assert.ok(a.report.outputError! <= eR, `awq ${a.report.outputError} vs rtn ${eR}`);
  assert.ok(a.report.outputError! < 0.8 * eR);
  assert.ok(a.report.ratio > 0);
});

test("the block API scales linears sharing one input together; the search loss at r = 0 is RTN's", async () => {
  const X = inputs(256, 128, 25, { every: 16 });
  const Ws = [weights(16, 128, 26), weights(8, 128, 27)];
  const b = await awqBlock(Ws, X, { groupSize: 64, clip: [false, true], searchTokens: Infinity });
  assert.equal(b.layers.length, 2);
  assert.equal(b.layers[0]!.inputScales, b.layers[1]!.inputScales);
  assert.equal(b.lossByRatio.length, 20);
  assert.ok(b.lossByRatio[Math.round(b.ratio * 20)]! <= b.lossByRatio[0]!);
  // the r = 0 loss is the mean squared output error of both RTN'd linears
  let se = 0;
  let n = 0;
  for (const W of Ws) {
    const q = quantize(W, { bits: 4, groupSize: 64, convention: "awq" }).dequantized;
    for (let t = 0; t < X.rows; t++) for (let o = 0; o < W.rows; o++) {
      let y = 0;
      for (let c = 0; c < 128; c++) y += X.data[t * 128 + c]! * (W.data[o * 128 + c]! - q[o * 128 + c]!);
      se += y * y;
      n++;
    }
  }
  assert.ok(Math.abs(b.lossByRatio[0]! - se / n) / (se / n) < 1e-3);
  assert.ok(b.layers[0]!.clipMax.every((v) => v === Infinity));
  assert.ok(b.layers[1]!.clipMax.every((v) => Number.isFinite(v) && v > 0));
  assert.equal(b.layers[0]!.dequantized.length, 16 * 128);
});

test("the clip search bounds each group and the effective weight folds the scales back", async () => {
  const W = weights(16, 256, 28);
  const X = inputs(256, 256, 29, { every: 20 });
  const a = await awq(W, X, { clip: true });
  const ng = 2;
  for (let r = 0; r < 16; r++) for (let g = 0; g < ng; g++) {
    let amax = 0;
    for (let c = g * 128; c < (g + 1) * 128; c++) amax = Math.max(amax, Math.abs(W.data[r * 256 + c]! * a.inputScales[c]!));
    const m = a.clipMax[r * ng + g]!;
    assert.ok(m <= amax * (1 + 1e-6) && m >= amax * 0.55 * (1 - 1e-6), `clip ${m} vs amax ${amax}`);
  }
  const noClip = await awq(W, X, { clip: false });
  assert.ok(a.report.outputError! < 1.05 * noClip.report.outputError!);
  // the effective weight is decode(code) / s: X·Qᵀ is directly comparable with X·Wᵀ
  for (let r = 0; r < 16; r++) for (let c = 0; c < 256; c++) {
    const j = r * ng + Math.floor(c / 128);
    const v = decode(a.spec, a.codes[r * 256 + c]!, { scale: a.scales[j]!, zero: a.zeros[j]!, min: 0, max: 0 });
    assert.ok(Math.abs(v / a.inputScales[c]! - a.dequantized[r * 256 + c]!) <= 1e-6 * Math.abs(v / a.inputScales[c]!) + 1e-12);
  }
});

test("duo scaling runs and stays at or below RTN", async () => {
  const W = weights(16, 256, 30);
  const X = inputs(256, 256, 31, { every: 25 });
  const a = await awq(W, X, { duo: true, clip: false, searchTokens: Infinity });
  const eR = await outputError(X, W, quantize(W, { bits: 4, groupSize: 128, convention: "awq" }).dequantized);
  assert.ok(a.report.outputError! <= eR);
});

test("wasm and cpu agree to float tolerance", async () => {
  const W = weights(16, 128, 32);
  const X = inputs(128, 128, 33, { every: 10 });
  const w = await awq(W, X, { groupSize: 64, backend: "wasm" });
  const c = await awq(W, X, { groupSize: 64, backend: "cpu" });
  await useBackend("wasm");
  assert.equal(w.report.ratio, c.report.ratio);
  assert.ok(Math.abs(w.report.outputError! - c.report.outputError!) / c.report.outputError! < 1e-3);
});

test("bad input gets a clear error", async () => {
  const W = weights(4, 64, 34);
  await assert.rejects(awq(W, inputs(10, 32, 1), { groupSize: 32 }), (e: QuantLabError) => e.code === "BAD_SHAPE" && /64 input columns/.test(e.message));
  const X = inputs(10, 64, 1);
  X.data[3] = NaN;
  await assert.rejects(awq(W, X, { groupSize: 32 }), (e: QuantLabError) => e instanceof QuantLabError && /calibration inputs X/.test(e.message));
  await assert.rejects(awq(W, inputs(10, 64, 1), { groupSize: 48 }), (e: QuantLabError) => e.code === "BAD_ARGUMENT" && /48 does not divide in_features 64/.test(e.message));
  await assert.rejects(awqBlock([], inputs(10, 64, 1)), (e: QuantLabError) => e.code === "BAD_ARGUMENT");
});
