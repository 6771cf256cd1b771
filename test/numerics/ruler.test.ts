import { test } from "node:test";
import assert from "node:assert/strict";
import { ruler } from "../../src/numerics/ruler.js";
import { quantize } from "../../src/numerics/rtn.js";
import { resolveSpec } from "../../src/numerics/spec.js";
import { explain } from "../../src/numerics/explain.js";
import { matrix } from "../../src/numerics/matrix.js";
import { QuantLabError } from "../../src/errors.js";
import { gaussian } from "../helpers/random.js";

const ROW = [0.1, -0.3, 0.7, -1.0, 0.5];
const D = Symbol.for("Jupyter.display");

test("the course's worked example: INT8 asymmetric min-max, exactly (in FP32, as engines compute)", () => {
  const r = ruler({ bits: 8, scheme: "asymmetric" });
  const fit = r.fit(ROW);
  assert.equal(fit.scale, Math.fround(1.7 / 255));
  assert.equal(fit.min, -1);
  const q = r.quantize(ROW);
  assert.deepEqual(Array.from(q.codes), [165, 105, 255, 0, 225]);
  assert.equal(q.codes[0], 165);
  assert.ok(Math.abs(q.dequantized[0]! - 0.1) <= fit.scale / 2);
  assert.ok(Math.abs(q.report.bound - 0.00333) < 5e-6, `bound ${q.report.bound}`);
  for (let i = 0; i < ROW.length; i++) assert.ok(Math.abs(q.dequantized[i]! - ROW[i]!) <= q.report.bound + 1e-9);
});

test("zero-point form: zero = round(-min/scale), same codes here, x̂ = (q - z)·scale", () => {
  const q = ruler({ bits: 8, convention: "zero-point" }).quantize(ROW);
  assert.equal(q.zeros[0], 150);
  assert.deepEqual(Array.from(q.codes), [165, 105, 255, 0, 225]);
  assert.equal(q.dequantized[3], Math.fround((0 - 150) * q.scales[0]!));
});

test("the two asymmetric forms differ when -min/scale is not an integer", () => {
  const row = [0.33, -0.41, 0.9, -0.07];
  const course = ruler({ bits: 4 }).quantize(row);
  const zp = ruler({ bits: 4, convention: "zero-point" }).quantize(row);
  assert.notEqual(course.zeros[0], zp.zeros[0]);
  assert.ok(!Number.isInteger(course.zeros[0]));
  assert.ok(Array.from(course.dequantized).some((v, i) => v !== zp.dequantized[i]));
});

test("symmetric absmax: scale = max|x| / 127, signed codes, zero point 0", () => {
  const q = ruler({ bits: 8, scheme: "symmetric" }).quantize(ROW);
  assert.equal(q.scales[0], Math.fround(1 / 127));
  assert.deepEqual(Array.from(q.codes), [13, -38, 89, -127, 64]);
  assert.equal(q.zeros[0], 0);
});

test("GPTQ convention: the range includes 0; symmetric zero = (maxq+1)/2", () => {
  const pos = [0.2, 0.5, 0.9];
  const g = quantize(pos, { bits: 4, convention: "gptq" });
  assert.equal(g.scales[0], Math.fround(0.9 / 15)); // min forced to 0
  assert.equal(g.zeros[0], 0);
  const s = quantize(ROW, { bits: 4, scheme: "symmetric", convention: "gptq" });
  assert.equal(s.zeros[0], 8);
  assert.equal(s.scales[0], Math.fround(2 / 15));
});

test("AWQ convention: the range is not forced to include 0; scale clamped at 1e-5", () => {
  const pos = [0.2, 0.5, 0.9];
  const a = quantize(pos, { bits: 4, convention: "awq" });
  assert.equal(a.scales[0], Math.fround((Math.fround(0.9) - Math.fround(0.2)) / 15));
  assert.equal(a.zeros[0], Math.min(Math.max(-Math.round(0.2 / a.scales[0]!), 0), 15));
  const c = quantize([0.3, 0.3, 0.3], { bits: 4, convention: "awq" });
  assert.equal(c.scales[0], Math.fround(1e-5 / 15));
});

test("user formulas: a scale rule, a zero-point rule and a rounding rule take effect", () => {
  const mine = ruler({ bits: 4, scheme: "symmetric", scale: (x) => Math.max(...Array.from(x, Math.abs)) / 7 });
  assert.equal(mine.fit(ROW).scale, 1 / 7);
  const floor = quantize(ROW, { bits: 8, round: Math.floor });
  const nearest = quantize(ROW, { bits: 8 });
  assert.ok(Array.from(floor.codes).some((c, i) => c !== nearest.codes[i]));
  const z = quantize(ROW, { bits: 8, convention: "zero-point", zeroPoint: () => 128 });
  assert.equal(z.zeros[0], 128);
  assert.throws(() => ruler({ bits: 4, scale: () => 0 }).quantize(ROW), /scale rule returned 0/);
});

test("round half to even everywhere: 0.5 → 0, 1.5 → 2, 2.5 → 2", () => {
  const q = quantize([0.5, 1.5, 2.5, -0.5, -1.5, 7], { bits: 8, scheme: "symmetric", scale: () => 1 });
  assert.deepEqual(Array.from(q.codes), [0, 2, 2, -0, -2, 7].map((v) => v + 0));
});

test("NF4 and FP4 codebooks: absmax blocks, codes index the codebook", () => {
  const q = quantize(ROW, { format: "nf4" });
  assert.equal(q.scales[0], 1);
  assert.deepEqual(Array.from(q.codes), [8, 4, 14, 0, 12]);
  // NF4 with a zero point is a type error; from plain JavaScript it is a clear runtime error
  // @ts-expect-error -- "asymmetric" is not allowed with a codebook format
  assert.throws(() => resolveSpec({ format: "nf4", scheme: "asymmetric" }), /no zero point/);
  // @ts-expect-error -- a zero-point rule is not allowed with a codebook format
  assert.throws(() => resolveSpec({ format: "nf4", zeroPoint: () => 1 }), /no zero point/);
  const custom = quantize(ROW, { format: [-1, -0.5, 0, 0.5, 1] });
  assert.deepEqual(Array.from(custom.dequantized), [0, -0.5, 0.5, -1, 0.5]);
});

test("INT4 vs NF4 on Gaussian weights: NF4 has the lower error (seeded)", () => {
  const g = gaussian(7);
  const W = matrix(64, 256, Array.from({ length: 64 * 256 }, () => g() * 0.02));
  const int4 = quantize(W, { bits: 4, scheme: "symmetric", groupSize: 64 });
  const nf4 = quantize(W, { format: "nf4", groupSize: 64 });
  assert.ok(nf4.report.mse < int4.report.mse, `nf4 ${nf4.report.mse} vs int4 ${int4.report.mse}`);
});

test("bad input: NaN/Inf name the index; bits out of range; empty; non-dividing group", () => {
  assert.throws(() => quantize([1, 2, NaN, 4]), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_VALUE" && /index 2/.test(e.message));
  assert.throws(() => quantize([1, Infinity]), /Infinity at index 1/);
  assert.throws(() => quantize([1, 2], { bits: 1 }), /bits must be an integer from 2 to 8/);
  assert.throws(() => quantize([1, 2], { bits: 9 }), /bits must be an integer from 2 to 8/);
  assert.throws(() => quantize([]), /empty/);
  const W = matrix(2, 10, Array.from({ length: 20 }, (_, i) => i));
  assert.throws(() => quantize(W, { groupSize: 4 }), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_SHAPE" && /does not divide the row length 10/.test(e.message));
  const padded = quantize(W, { groupSize: 4, pad: true });
  assert.equal(padded.scales.length, 2 * 3);
});

test("explain writes the arithmetic of the worked example, in text and LaTeX", () => {
  const e = explain(ruler({ bits: 8 }), ROW, 0);
  assert.equal(e.code, 165);
  const text = (e as never as Record<symbol, () => Record<string, string>>)[D]!();
  assert.match(text["text/plain"]!, /scale = \(max − min\) \/ \(2\^8 − 1\) = 1\.7 \/ 255 = 0\.006666667/);
  assert.match(text["text/plain"]!, /round\(165\) = 165/);
  assert.match(text["text/latex"]!, /\\begin\{aligned\}/);
  assert.throws(() => explain({ bits: 8 }, ROW, 9), /index 9 is outside/);
});

test("results render as tables in the kernel", () => {
  const q = ruler({ bits: 8 }).quantize(ROW) as never as Record<symbol, () => Record<string, string>>;
  const b = q[D]!();
  assert.match(b["text/plain"]!, /165, 105, 255, 0, 225/);
  assert.match(b["text/html"]!, /<table>/);
});
