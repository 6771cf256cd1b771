/**
 * FP8 and FP4 rounding against a brute-force oracle written independently of formats.ts: the nearest of
 * all finite codes, a tie going to the even code, and beyond the largest finite the overflow policy
 * (E4M3 has no Inf, so NaN; E2M1 has neither, so it saturates). Probes every code value, every midpoint
 * between neighbours (the ties) and points just either side of them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { format } from "../../src/numerics/formats.js";
import { f32ToF16Bits } from "../../src/numerics/float-bits.js";

interface Spec { name: string; e: number; m: number; bias: number; special: "ieee" | "fn" | "none" }
const SPECS: Spec[] = [
  { name: "fp8-e4m3", e: 4, m: 3, bias: 7, special: "fn" },
  { name: "fp8-e5m2", e: 5, m: 2, bias: 15, special: "ieee" },
  { name: "fp4-e2m1", e: 2, m: 1, bias: 1, special: "none" },
];

/** Non-negative finite values by magnitude code, decoded straight from the bit layout. */
function positives(s: Spec): number[] {
  const out: number[] = [];
  for (let c = 0; c < 1 << (s.e + s.m); c++) {
    const e = c >> s.m;
    const f = c & ((1 << s.m) - 1);
    const top = (1 << s.e) - 1;
    if (s.special === "ieee" && e === top) break;
    if (s.special === "fn" && e === top && f === (1 << s.m) - 1) break;
    out.push(e === 0 ? f * 2 ** (1 - s.bias - s.m) : (1 + f / 2 ** s.m) * 2 ** (e - s.bias));
  }
  return out;
}

/** The oracle: the value RNE gives for |x|, as a magnitude code, or "over" when it rounds past the max. */
function oracle(vals: number[], a: number): number | "over" {
  const max = vals[vals.length - 1]!;
  if (a === Infinity) return "over";
  // the next step above max (the code after it, were it finite) decides overflow, as in IEEE
  const next = max + (max - vals[vals.length - 2]!);
  const grid = [...vals, next];
  let best = 0;
  for (let c = 1; c < grid.length; c++) {
    const d = Math.abs(grid[c]! - a) - Math.abs(grid[best]! - a);
    if (d < 0 || (d === 0 && (c & 1) === 0)) best = c;
  }
  return best === grid.length - 1 ? "over" : best;
}

test("FP8 E4M3, E5M2 and FP4 E2M1 round to nearest, ties to even, at every value and midpoint", () => {
  for (const s of SPECS) {
    const f = format(s.name);
    const vals = positives(s);
    const signBit = 1 << (s.e + s.m);
    const probes: number[] = [];
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i]!;
      const step = i + 1 < vals.length ? vals[i + 1]! - v : v - vals[i - 1]!;
      probes.push(v, v + step / 2, v + step / 2 - step / 1024, v + step / 2 + step / 1024, v + step / 3);
    }
    probes.push(vals[vals.length - 1]! * 4, Infinity);
    let checked = 0;
    for (const a of probes) {
      for (const sign of [1, -1]) {
        const x = sign * a;
        const want = oracle(vals, a);
        const sb = sign < 0 ? signBit : 0;
        const maxCode = vals.length - 1;
        const sat = f.encode(x, "saturate");
        const ieee = f.encode(x, "inf");
        if (want === "over") {
          assert.equal(sat, sb | maxCode, `${s.name} ${x} saturate`);
          if (s.special === "ieee") assert.equal(f.decode(ieee), sign * Infinity, `${s.name} ${x} → ±Inf`);
          else if (s.special === "fn") assert.ok(Number.isNaN(f.decode(ieee)), `${s.name} ${x} → NaN`);
          else assert.equal(ieee, sb | maxCode, `${s.name} ${x} saturates (no specials)`);
        } else {
          assert.equal(sat, sb | want, `${s.name} ${x} saturate`);
          assert.equal(ieee, sb | want, `${s.name} ${x}`);
        }
        checked++;
      }
    }
    assert.ok(checked > 10 * vals.length, `${s.name}: ${checked} probes`);
  }
});

test("the overflow midpoint is a tie: E4M3 464 → 448 (even), E5M2 61440 → Inf (odd), like FP16 65520 → Inf", () => {
  const e4 = format("fp8-e4m3");
  assert.equal(e4.round(464), 448);
  assert.ok(Number.isNaN(e4.round(464.5)));
  assert.equal(e4.round(464.5, "saturate"), 448);
  const e5 = format("fp8-e5m2");
  assert.equal(e5.round(61440), Infinity);
  assert.equal(e5.round(61439), 57344);
  assert.equal(f32ToF16Bits(65520), 0x7c00);
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(65520, "saturate"), 0x7bff);
});
