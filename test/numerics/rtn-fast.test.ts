/**
 * The fast RTN kernel (rtn.ts) against the per-weight path through the affine primitives: a user rounding
 * rule that is the default one (half to even) forces the per-weight loop, so every code, parameter, x̂ and
 * report field must come out identical for every convention, scheme, bit width and granularity.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { perBlock } from "../../src/numerics/granularity.js";
import { matrix } from "../../src/numerics/matrix.js";
import { quantize, rtn } from "../../src/numerics/rtn.js";
import type { QuantSpec } from "../../src/numerics/spec.js";
import { roundHalfEven } from "../../src/numerics/round.js";
import { QuantLabError } from "../../src/errors.js";
import { randt } from "../helpers/random.js";

const W = matrix(24, 96, randt(24 * 96, 7, 3, 0.05));

function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string) {
  assert.equal(a.length, b.length, what);
  // +0 folds −0 into 0: the generic loop may write −0 where the kernel writes +0 (same value)
  for (let i = 0; i < a.length; i++) assert.equal(a[i]! + 0, b[i]! + 0, `${what}[${i}]`);
}

test("fast kernel equals the generic loop for every convention, scheme, bits and row-wise granularity", () => {
  let cases = 0;
  for (const convention of ["course", "zero-point", "gptq", "awq"] as const) {
    for (const scheme of ["asymmetric", "symmetric"] as const) {
      for (const groupSize of [8, 32, 40, "channel", "tensor"] as const) {
        for (const bits of [2, 3, 4, 8]) {
          const spec: QuantSpec = { convention, scheme, groupSize, bits, pad: true };
          const fast = quantize(W, spec);
          const slow = quantize(W, { ...spec, round: roundHalfEven });
          const tag = JSON.stringify(spec);
          for (const k of ["codes", "scales", "zeros", "mins", "dequantized"] as const) same(fast[k], slow[k], `${tag} ${k}`);
          for (const k of ["mse", "maxError", "sqnrDb", "relError", "bitsPerWeight", "bound", "count"] as const) {
            assert.equal(fast.report[k], slow.report[k], `${tag} report.${k}`);
          }
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 160);
});

test("the one kernel also covers blocks: equal to the per-weight path for r × c tiles", () => {
  let cases = 0;
  for (const convention of ["course", "zero-point", "gptq", "awq"] as const) {
    for (const scheme of ["asymmetric", "symmetric"] as const) {
      for (const groupSize of [perBlock(8, 32), perBlock(24, 8), perBlock(5, 40)]) {
        const spec: QuantSpec = { convention, scheme, groupSize, bits: 4, pad: true };
        const fast = quantize(W, spec);
        const slow = quantize(W, { ...spec, round: roundHalfEven });
        const tag = JSON.stringify(spec);
        for (const k of ["codes", "scales", "zeros", "mins", "dequantized"] as const) same(fast[k], slow[k], `${tag} ${k}`);
        // a block's weights are not consecutive: the kernel sums errors tile by tile, the per-weight report
        // in index order, so the sums may differ in the last bit (max, bound and counts cannot)
        for (const k of ["maxError", "bitsPerWeight", "bound", "count"] as const) assert.equal(fast.report[k], slow.report[k], `${tag} report.${k}`);
        for (const k of ["mse", "sqnrDb", "relError"] as const) {
          assert.ok(Math.abs(fast.report[k] - slow.report[k]) <= 1e-12 * Math.abs(slow.report[k]), `${tag} report.${k}`);
        }
        assert.equal(fast.groupsPerRow, 0);
        cases++;
      }
    }
  }
  assert.equal(cases, 24);
});

test("rtn is quantize; x̂ read later equals the error the report measured", () => {
  assert.equal(rtn, quantize);
  const q = rtn(W, { bits: 4, groupSize: 32, convention: "zero-point" });
  let se = 0;
  for (let i = 0; i < W.data.length; i++) se += (W.data[i]! - q.dequantized[i]!) ** 2;
  assert.equal(q.report.mse, se / W.data.length);
  assert.equal(q.dequantized, q.dequantized, "x̂ is built once and kept");
});

test("fast path: NaN/Inf errors name the first bad index, group sizes are checked", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const data = Float32Array.from(W.data);
    data[1000] = bad;
    data[2000] = bad;
    assert.throws(() => rtn(matrix(24, 96, data), { bits: 4, groupSize: 32 }),
      (e: unknown) => e instanceof QuantLabError && e.code === "BAD_VALUE" && /index 1000\b/.test(e.message));
  }
  assert.throws(() => rtn(W, { bits: 4, groupSize: 40 }), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_SHAPE");
  assert.throws(() => rtn([], { bits: 4 }), (e: unknown) => e instanceof QuantLabError && /empty/.test(e.message));
});
