/**
 * explain()'s LaTeX: numbers in scientific notation as "m × 10^{k}" (TeX would set the e of "2.5e-8"
 * as an italic variable), and every step of the plain text is there: the division, the zero point's
 * rounding and the ≤ scale/2 bound.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "../../src/numerics/explain.js";

const row = [0.1, -0.3, 0.7, -1.0, 0.5];

test("course convention: the division inside round() and the bound, no e-notation", () => {
  const e = explain({ bits: 8 }, row, 0);
  assert.doesNotMatch(e.latex, /\de[-+]?\d/);
  assert.match(e.latex, /\|x - \\hat\{x\}\| &= 2\.514571 \\times 10\^\{-8\} \\le s\/2 = 0\.003333333/);
  assert.match(e.latex, /\\frac\{1\.1\}\{0\.006666667\}/);
  assert.match(e.latex, /x_\{\\min\} \+ q\\,s = -1 \+ 165 \\cdot 0\.006666667 = 0\.1/);
  // one LaTeX line per plain step
  assert.equal(e.latex.split("\\\\\n").length, e.steps.length);
});

test("zero-point convention: the zero point's rounding appears as in the plain text", () => {
  const e = explain({ bits: 4, convention: "zero-point" }, row, 0);
  const zStep = e.steps.find((s) => s.startsWith("zero point"));
  assert.ok(zStep, e.steps.join("\n"));
  assert.match(e.latex, /z &= \\operatorname\{round\}\(-x_\{\\min\}\/s\) = \\operatorname\{round\}\([\d.]+\) = \d+/);
  assert.match(e.latex, /\\le s\/2/);
  assert.equal(e.latex.split("\\\\\n").length, e.steps.length);
});

test("tiny values: mantissa without trailing zeros times a power of ten", () => {
  const e = explain({ bits: 8, scheme: "symmetric" }, [1e-7, -3e-7, 2e-8, 5e-7], 2);
  assert.match(e.latex, /x &= 2 \\times 10\^\{-8\}/);
  assert.match(e.latex, /s &= \\frac\{\\max\|x\|\}\{2\^\{7\} - 1\} = \\frac\{5 \\times 10\^\{-7\}\}\{127\} = 3\.937008 \\times 10\^\{-9\}/);
  assert.doesNotMatch(e.latex, /\de-/);
});
