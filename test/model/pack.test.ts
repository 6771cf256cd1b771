import { test } from "node:test";
import assert from "node:assert/strict";
import { packQ4_1 } from "../../src/model/quantize/pack.js";
import { dequantize } from "../../src/gguf/quants.js";
import { mulberry32 } from "../helpers/random.js";

test("a 3-bit asymmetric grid stored as Q4_1 decodes to (q − z)·s (FP16-exact scales)", () => {
  const rows = 3, cols = 64, gs = 32;
  const rnd = mulberry32(5);
  const codes = Array.from({ length: rows * cols }, () => Math.floor(rnd() * 8));
  // scales and zero·scale chosen exactly representable in FP16, so the decode is exact
  const scales = [0.25, 0.5, 0.125, 1, 0.0625, 2];
  const zeros = [3, 4, 0, 7, 2, 5];
  const bytes = packQ4_1(codes, scales, zeros, rows, cols, gs);
  assert.equal(bytes.length, rows * 2 * 20);
  const got = dequantize("Q4_1", bytes, rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const g = Math.floor(i / gs);
    assert.equal(got[i], (codes[i] - zeros[g]) * scales[g]);
  }
});

test("groups of 64 repeat their scale in both 32-blocks; bad inputs are refused", () => {
  const codes = new Array(64).fill(15);
  const got = dequantize("Q4_1", packQ4_1(codes, [0.5], [1], 1, 64, 64), 64);
  assert.ok(got.every((x) => x === 7));
  assert.throws(() => packQ4_1(new Array(48).fill(0), [1], [0], 1, 48, 48), /multiples of 32/);
  assert.throws(() => packQ4_1([16, ...new Array(31).fill(0)], [1], [0], 1, 32, 32), /does not fit 4 bits/);
});
