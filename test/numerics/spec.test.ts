// The spec vocabulary resolved once: defaults, the true granularity and what it implies for storage, and
// the way back from a resolved spec to the options that produce it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { perBlock } from "../../src/numerics/granularity.js";
import { reportFromSums, errorReport } from "../../src/numerics/metrics.js";
import { roundHalfEven, TIES_EVEN_SHIFT } from "../../src/numerics/round.js";
import { bitsPerWeight, describeSpec, groupLength, resolveSpec, specOf } from "../../src/numerics/spec.js";
import { mulberry32 } from "../helpers/random.js";

test("groupLength is the nominal group of every granularity, and bitsPerWeight spreads scale and zero over it", () => {
  assert.equal(groupLength(resolveSpec({ groupSize: 128 }), 16, 4096), 128);
  assert.equal(groupLength(resolveSpec({ groupSize: "channel" }), 16, 4096), 4096);
  assert.equal(groupLength(resolveSpec({ groupSize: "tensor" }), 16, 4096), 16 * 4096);
  assert.equal(groupLength(resolveSpec({ groupSize: perBlock(4, 64) }), 16, 4096), 256);
  const rs = resolveSpec({ bits: 4, groupSize: 128 });
  assert.equal(bitsPerWeight(rs, groupLength(rs, 16, 4096)), 4 + (16 + 4) / 128);
  assert.equal(bitsPerWeight(resolveSpec({ bits: 4, scheme: "symmetric", groupSize: 128 }), 128), 4 + 16 / 128);
});

test("specOf gives back options that resolve to the same spec", () => {
  for (const spec of [{ bits: 3, groupSize: 32, convention: "gptq" as const }, { format: "nf4" as const, groupSize: 64 }, { bits: 8, scheme: "symmetric" as const }]) {
    const rs = resolveSpec(spec);
    const again = resolveSpec(specOf(rs));
    assert.deepEqual({ ...again, round: null }, { ...rs, round: null });
    assert.equal(describeSpec(again), describeSpec(rs));
  }
});

test("the branch-free ties-to-even shift rounds as roundHalfEven does", () => {
  const rnd = mulberry32(3);
  const xs = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.49999, 1e6 + 0.5, ...Array.from({ length: 2000 }, () => (rnd() - 0.5) * 600)];
  for (const x of xs) assert.equal(x + TIES_EVEN_SHIFT - TIES_EVEN_SHIFT + 0, roundHalfEven(x) + 0, `x = ${x}`);
});

test("the report from a fused loop's sums equals the report from the arrays", () => {
  const x = [0.1, -0.3, 0.7, -1, 0.5];
  const y = [0.125, -0.25, 0.75, -1, 0.5];
  let se = 0, ss = 0, mx = 0;
  for (let i = 0; i < x.length; i++) { se += (x[i]! - y[i]!) ** 2; ss += x[i]! ** 2; mx = Math.max(mx, Math.abs(x[i]! - y[i]!)); }
  assert.deepEqual(reportFromSums(se, ss, mx, x.length, { bitsPerWeight: 4 }), errorReport(x, y, { bitsPerWeight: 4 }));
  assert.equal(reportFromSums(0, 0, 0, 3).relError, 0);
  assert.equal(reportFromSums(0, 1, 0, 3).sqnrDb, Infinity);
});
