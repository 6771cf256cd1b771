/**
 * The three affine primitives every quantizer shares, as torchao's `quant_primitives.py` has them:
 * parameters from a range (`paramsFromRange`, and `fitGroup` which finds the range and applies a learner's
 * own scale or zero-point rule), quantize one value (`encode`) and dequantize one code (`decode`).
 * RTN, GPTQ, AWQ and `explain` make every rounding decision through these, under a resolved spec.
 */
import { check } from "../errors.js";
import { nearestIndex } from "./formats.js";
import { roundHalfEven } from "./round.js";
import type { ResolvedSpec, ScaleContext } from "./spec.js";

/** Scale and zero point of one group, with the range they came from. */
export interface GroupParams {
  scale: number;
  /** Zero point (zero-point conventions; may be fractional only with a user rule). 0 for symmetric. */
  zero: number;
  /** The group minimum (the course form's offset). */
  min: number;
  max: number;
}

const scratch = { min: 0, max: 0 };
function minMax(data: ArrayLike<number>, runs: ArrayLike<number>, r0: number, r1: number): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let r = r0; r < r1; r++) {
    const off = runs[2 * r]!;
    const end = off + runs[2 * r + 1]!;
    for (let i = off; i < end; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  scratch.min = lo;
  scratch.max = hi;
}

function gather(data: ArrayLike<number>, runs: ArrayLike<number>, r0: number, r1: number): Float32Array {
  let n = 0;
  for (let r = r0; r < r1; r++) n += runs[2 * r + 1]!;
  const out = new Float32Array(n);
  let k = 0;
  for (let r = r0; r < r1; r++) {
    const off = runs[2 * r]!;
    for (let i = 0; i < runs[2 * r + 1]!; i++) out[k++] = data[off + i]!;
  }
  return out;
}

/** Scale and zero point of one group from its min and max, by the spec's convention. */
export function paramsFromRange(rs: ResolvedSpec, min: number, max: number): GroupParams {
  const { qmax, scheme, convention } = rs;
  if (rs.grid) {
    const amax = Math.max(Math.abs(min), Math.abs(max));
    return { scale: Math.fround(amax > 0 ? amax / rs.gridMax : 1), zero: 0, min, max };
  }
  if (convention === "gptq") {
    let lo = Math.min(min, 0);
    let hi = Math.max(max, 0);
    if (scheme === "symmetric") {
      hi = Math.max(Math.abs(lo), hi);
      if (lo < 0) lo = -hi;
    }
    if (lo === 0 && hi === 0) {
      lo = -1;
      hi = 1;
    }
    const scale = Math.fround((hi - lo) / qmax);
    const zero = scheme === "symmetric" ? (qmax + 1) / 2 : roundHalfEven(-lo / scale) + 0; // + 0 turns −0 into 0
    return { scale, zero, min, max };
  }
  if (convention === "awq") {
    if (scheme === "symmetric") {
      const amax = Math.max(Math.abs(min), Math.abs(max), 1e-5);
      return { scale: Math.fround(amax / rs.qmax), zero: 0, min, max };
    }
    const scale = Math.fround(Math.max(max - min, 1e-5) / qmax);
    const zero = Math.min(Math.max(-roundHalfEven(min / scale) + 0, 0), qmax);
    return { scale, zero, min, max };
  }
  if (scheme === "symmetric") {
    const amax = Math.max(Math.abs(min), Math.abs(max));
    return { scale: Math.fround(amax > 0 ? amax / rs.qmax : 1), zero: 0, min, max };
  }
  // course and zero-point forms share the scale; a constant group gets scale 1 so every code is 0
  const scale = Math.fround(max > min ? (max - min) / qmax : 1);
  const zero = convention === "zero-point" ? Math.min(Math.max(roundHalfEven(-min / scale), 0), qmax) : -min / scale;
  return { scale, zero, min, max };
}

/** Fits scale and zero point for one group (`runs`: (offset, length) pairs into `data`; default the whole array). */
export function fitGroup(rs: ResolvedSpec, data: ArrayLike<number>, runs?: ArrayLike<number>, r0 = 0, r1?: number): GroupParams {
  const rr = runs ?? [0, data.length];
  const end = r1 ?? rr.length / 2;
  minMax(data, rr, r0, end);
  const p = paramsFromRange(rs, scratch.min, scratch.max);
  if (rs.scale || rs.zeroPoint) {
    const values = gather(data, rr, r0, end);
    const ctx: ScaleContext = { bits: rs.bits, qmin: rs.qmin, qmax: rs.qmax, scheme: rs.scheme };
    if (rs.scale) {
      const s = rs.scale(values, ctx);
      check(Number.isFinite(s) && s > 0, "BAD_VALUE", `your scale rule returned ${s}: a scale must be a positive finite number`);
      p.scale = s;
      if (!rs.grid && rs.scheme === "asymmetric" && rs.convention !== "course") {
        p.zero = rs.convention === "gptq" ? roundHalfEven(-Math.min(p.min, 0) / s) : Math.min(Math.max(roundHalfEven(-p.min / s), 0), rs.qmax);
      } else if (rs.convention === "course" && rs.scheme === "asymmetric") {
        p.zero = -p.min / s;
      }
    }
    if (rs.zeroPoint) {
      const z = rs.zeroPoint(values, p.scale, ctx);
      check(Number.isFinite(z), "BAD_VALUE", `your zero-point rule returned ${z}: it must be a finite number`);
      p.zero = z;
    }
  }
  return p;
}

/** One value → its code under params p. */
export function encode(rs: ResolvedSpec, x: number, p: GroupParams): number {
  if (rs.grid) return nearestIndex(rs.grid, x / p.scale);
  const q = rs.convention === "course" && rs.scheme === "asymmetric" && !rs.zeroPoint
    ? rs.round((x - p.min) / p.scale)
    : rs.round(x / p.scale) + p.zero;
  return q < rs.qmin ? rs.qmin : q > rs.qmax ? rs.qmax : q;
}

/** One code → its value under params p. */
export function decode(rs: ResolvedSpec, q: number, p: GroupParams): number {
  if (rs.grid) return rs.grid[q]! * p.scale;
  if (rs.convention === "course" && rs.scheme === "asymmetric" && !rs.zeroPoint) return p.min + q * p.scale;
  return (q - p.zero) * p.scale;
}
