/**
 * The ruler: how a group of real numbers becomes integer codes and back.
 *
 * API used by every quantizer (RTN, GPTQ, AWQ, the CLI):
 *   resolveSpec(spec)                 → ResolvedSpec (defaults filled in, checked)
 *   fitGroup(rs, values, runs?)       → GroupParams { scale, zero, min } for one group
 *   encode(rs, x, p) / decode(rs, q, p) → one code / one value with those params
 *   quantize(W, spec)  (alias rtn)     → Quantized: codes, per-group params, dequantized, report
 *   ruler(spec)                        → a notebook object: .fit(row), .quantize(row), .explain(row, i)
 *
 * Conventions (the `convention` option; REFERENCE.md §1, §4, §5):
 *   "course"      asymmetric min–max as the course writes it: scale = (max − min)/(2^b − 1),
 *                 q = round((x − min)/scale), x̂ = min + q·scale.
 *   "zero-point"  the integer-zero-point form: zero = round(−min/scale), q = clamp(round(x/scale) + zero),
 *                 x̂ = (q − zero)·scale. Differs from "course" when −min/scale is not an integer.
 *   "gptq"        GPTQ's quantizer: the range always includes 0; symmetric puts zero = (maxq + 1)/2.
 *   "awq"         AWQ's: zero-point form, range not forced to include 0, range clamped to ≥ 1e-5.
 * Symmetric (absmax) under "course"/"zero-point": scale = max|x| / (2^(b−1) − 1), signed codes, zero 0.
 * Non-uniform grids (NF4, FP4, FP8, a custom codebook): scale = max|x| / max|grid| per group, the code is
 * the nearest grid value of x/scale.
 * Rounding is half to even unless the spec passes its own `round`.
 */
import { check } from "../errors.js";
import { format as lookupFormat, nearestIndex, type CodebookFormatName, type FormatName, type IntFormatName } from "./formats.js";
import { describeGranularity, granularity, groupLayout, type Granularity, type GroupSize } from "./granularity.js";
import type { Matrix } from "./matrix.js";
import { assertFinite, errorReport, reportRows, type ErrorReport } from "./metrics.js";
import { fmt, keyValueBundle, tableBundle, withDisplay, type Bundle } from "./present.js";
import { roundHalfEven, type RoundingRule } from "./round.js";
import { rtnFast } from "./rtn.js";

/**
 * How a group's range maps onto the codes: "asymmetric" (min–max, with a zero point) or "symmetric"
 * (absmax, centred on 0, no zero point). Asymmetric wastes no codes on a skewed group; symmetric is
 * cheaper to store and to multiply.
 */
export type Scheme = "asymmetric" | "symmetric";
/**
 * Whose formulas the ruler uses for scale and zero point: "course" (the course's min–max form, the
 * default), "zero-point" (an integer zero point), "gptq" or "awq" (the papers' code, to match their codes
 * bit for bit). They differ in small details, such as whether the range must include 0.
 */
export type Convention = "course" | "zero-point" | "gptq" | "awq";

export interface ScaleContext {
  bits: number;
  /** Smallest and largest code of the grid. */
  qmin: number;
  qmax: number;
  scheme: Scheme;
}
/** A learner's own scale formula: values of one group → the scale. */
export type ScaleRule = (x: Float32Array, ctx: ScaleContext) => number;
/** A learner's own zero-point formula: values of one group and its scale → the zero point. */
export type ZeroPointRule = (x: Float32Array, scale: number, ctx: ScaleContext) => number;

/**
 * The options of a quantizer: bits, scheme, format, granularity, and your own scale, zero-point or
 * rounding rule. Every field has a default (8-bit asymmetric, one scale per tensor, round half to even),
 * so `{ bits: 4, groupSize: 128 }` is a complete spec. `ruler`, `quantize` and the sweeps all take one.
 */
export type QuantSpec = IntQuantSpec | GridQuantSpec;

/** Options every spec shares, whatever its grid. */
export interface QuantSpecCommon {
  /** Which weights share a scale: a group length, "channel", "tensor" or a Granularity (default "tensor"). */
  groupSize?: GroupSize | Granularity;
  /** Let the last group of a row be shorter when the group size does not divide the row. */
  pad?: boolean;
  /** Your scale formula (replaces the convention's). */
  scale?: ScaleRule;
  /** Your rounding rule (default round half to even). */
  round?: RoundingRule;
  /** Bits stored per scale (default 16: an FP16 scale). */
  scaleBits?: number;
}

/** A uniform integer grid: INT-b codes with a scale and (asymmetric) a zero point. */
export interface IntQuantSpec extends QuantSpecCommon {
  /** "int" (the default), or an integer format name such as "int4" or "uint8" (which sets the bits). */
  format?: "int" | IntFormatName;
  /** Bits per code, 2–8 (default 8). */
  bits?: number;
  /** "asymmetric" (min–max, default) or "symmetric" (absmax). */
  scheme?: Scheme;
  /** Whose formulas (default "course"); see the module comment. */
  convention?: Convention;
  /** Your zero-point formula (zero-point conventions only). */
  zeroPoint?: ZeroPointRule;
  /** Bits stored per zero point (default: `bits` for asymmetric grids, 0 for symmetric). */
  zeroBits?: number;
}

/**
 * A non-uniform grid scaled by absmax: NF4, FP4, FP8 or your own codebook. These have no zero point,
 * so `scheme: "asymmetric"` or a `zeroPoint` rule here is a type error.
 */
export interface GridQuantSpec extends QuantSpecCommon {
  /** "nf4", "fp4-bnb", "fp8-e4m3", "fp8-e5m2", "fp4-e2m1", or your own codebook values. */
  format: CodebookFormatName | "fp8-e4m3" | "fp8-e5m2" | "fp4-e2m1" | readonly number[];
  /** Only for a custom codebook: bits per code to count in storage (default ceil(log2(length))). */
  bits?: number;
  scheme?: "symmetric";
  convention?: never;
  zeroPoint?: never;
  zeroBits?: never;
}

export interface ResolvedSpec {
  bits: number;
  scheme: Scheme;
  convention: Convention;
  /** null for the uniform integer grid; else the grid's values (a codebook or a float format's finite values). */
  grid: Float64Array | null;
  gridName: string;
  gridMax: number;
  granularity: Granularity;
  pad: boolean;
  qmin: number;
  qmax: number;
  scale: ScaleRule | undefined;
  zeroPoint: ZeroPointRule | undefined;
  round: RoundingRule;
  /** true when no user formula is set, so the fast loops apply. */
  builtin: boolean;
  scaleBits: number;
  zeroBits: number;
}

export interface GroupParams {
  scale: number;
  /** Zero point (zero-point conventions; may be fractional only with a user rule). 0 for symmetric. */
  zero: number;
  /** The group minimum (the course form's offset). */
  min: number;
  max: number;
}

function floatGrid(name: FormatName): Float64Array {
  const f = lookupFormat(name);
  const values = new Set<number>();
  const limit = f.kind === "codebook" ? 16 : 2 ** f.bits;
  for (let c = 0; c < limit; c++) {
    const v = f.decode(c);
    if (Number.isFinite(v)) values.add(v === 0 ? 0 : v);
  }
  return Float64Array.from([...values].sort((a, b) => a - b));
}

/**
 * Fills in the defaults of a QuantSpec and checks it; every quantizer starts here.
 * Use it to see what a short spec means in full, e.g. the code range.
 * @example
 * ```ts
 * const rs = resolveSpec({ bits: 4 });
 * [rs.qmin, rs.qmax, rs.scheme]                           // [0, 15, "asymmetric"]
 * resolveSpec({ bits: 4, scheme: "symmetric" }).qmin      // -8
 * ```
 */
export function resolveSpec(spec: QuantSpec = {}): ResolvedSpec {
  const fmtOpt = spec.format ?? "int";
  let grid: Float64Array | null = null;
  let gridName = "int";
  let bits = spec.bits ?? 8;
  if (Array.isArray(fmtOpt) || ArrayBuffer.isView(fmtOpt)) {
    const arr = Array.from(fmtOpt as readonly number[]);
    check(arr.length >= 2 && arr.every(Number.isFinite), "BAD_ARGUMENT", "a codebook needs at least two finite values, e.g. [-1, -0.5, 0, 0.5, 1]");
    grid = Float64Array.from(arr);
    gridName = `codebook(${arr.length})`;
    bits = spec.bits ?? Math.ceil(Math.log2(arr.length));
  } else if (fmtOpt !== "int") {
    const f = lookupFormat(fmtOpt as string);
    if (f.kind === "int") {
      bits = f.bits;
    } else {
      check(f.kind !== "block", "BAD_ARGUMENT", `${f.name} carries its own block scales: use blockQuantize("${f.name}", row) instead of a ruler`);
      check(f.name !== "fp32" && f.name !== "fp16" && f.name !== "bf16", "BAD_ARGUMENT",
        `${f.name} needs no scale: use castTo("${f.name}", values) to round into it`);
      grid = floatGrid(f.name);
      gridName = f.name;
      bits = f.bits;
    }
  }
  check(Number.isInteger(bits) && bits >= 2 && bits <= 8, "BAD_ARGUMENT", `bits must be an integer from 2 to 8, got ${bits}: use 4 for INT4, 8 for INT8`);
  const scheme = spec.scheme ?? (grid ? "symmetric" : "asymmetric");
  check(scheme === "asymmetric" || scheme === "symmetric", "BAD_ARGUMENT", `scheme must be "asymmetric" or "symmetric", got ${String(scheme)}`);
  if (grid) {
    check(scheme === "symmetric", "BAD_ARGUMENT", `${gridName} is scaled by absmax and has no zero point: use scheme "symmetric" (the default for ${gridName})`);
    check(!spec.zeroPoint, "BAD_ARGUMENT", `${gridName} has no zero point: drop the zeroPoint rule`);
  }
  const convention = spec.convention ?? "course";
  check(["course", "zero-point", "gptq", "awq"].includes(convention), "BAD_ARGUMENT",
    `convention must be "course", "zero-point", "gptq" or "awq", got ${String(convention)}`);
  let qmin: number;
  let qmax: number;
  if (grid) {
    qmin = 0;
    qmax = grid.length - 1;
  } else if (scheme === "asymmetric" || convention === "gptq") {
    qmin = 0;
    qmax = 2 ** bits - 1;
  } else {
    qmin = -(2 ** (bits - 1));
    qmax = 2 ** (bits - 1) - 1;
  }
  let gridMax = 0;
  if (grid) for (const v of grid) gridMax = Math.max(gridMax, Math.abs(v));
  const asymInt = !grid && scheme === "asymmetric";
  return {
    bits, scheme, convention, grid, gridName, gridMax,
    granularity: granularity(spec.groupSize),
    pad: spec.pad ?? false, qmin, qmax,
    scale: spec.scale, zeroPoint: spec.zeroPoint, round: spec.round ?? roundHalfEven,
    builtin: !spec.scale && !spec.zeroPoint && !spec.round,
    scaleBits: spec.scaleBits ?? 16,
    zeroBits: spec.zeroBits ?? (asymInt || (convention === "gptq" && !grid) ? bits : 0),
  };
}

/** Storage per weight: the code bits plus each group's scale and zero point spread over its weights. */
export function bitsPerWeight(rs: ResolvedSpec, groupLength: number): number {
  return rs.bits + (rs.scaleBits + rs.zeroBits) / groupLength;
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

/**
 * The result of quantizing a matrix or row: the codes, each group's scale and zero point, the
 * reconstruction x̂ (`dequantized`) and the error report comparing it with the original.
 */
export interface Quantized {
  spec: ResolvedSpec;
  rows: number;
  cols: number;
  /** One code per weight (unsigned for asymmetric and codebook grids, signed for symmetric integers). */
  codes: Int16Array;
  /** Per group, in group order (row-major over the group layout). */
  scales: Float32Array;
  zeros: Float32Array;
  /** Per group minimum (the course form's offset). */
  mins: Float32Array;
  /** Number of groups in each row (0 for tensor and block granularity). */
  groupsPerRow: number;
  dequantized: Float32Array;
  report: ErrorReport;
}

function asMatrix(W: Matrix | ArrayLike<number>): Matrix {
  if ((W as Matrix).data instanceof Float32Array && typeof (W as Matrix).rows === "number") return W as Matrix;
  const arr = W as ArrayLike<number>;
  return { rows: 1, cols: arr.length, data: arr instanceof Float32Array ? arr : Float32Array.from(arr) };
}

/**
 * Round-to-nearest quantization of a matrix (or one row) under a spec: the baseline every method is
 * compared with, and the fast path sweeps use. `rtn` is the same function.
 * @example
 * ```ts
 * const W = matrix(2, 4, [0.1, -0.3, 0.7, -1, 0.5, 0.2, -0.1, 0.05]);
 * const q = quantize(W, { bits: 4, groupSize: "channel" });
 * q.report.mse
 * ```
 */
export function quantize(W: Matrix | ArrayLike<number>, spec: QuantSpec = {}): Quantized {
  const t0 = performance.now();
  const m = asMatrix(W);
  const rs = resolveSpec(spec);
  if (m.data.length === 0) assertFinite(m.data, "the weights"); // names the empty input before shapes do
  const layout = groupLayout(m.rows, m.cols, rs.granularity, rs.pad); // also checks the group size
  const fast = rtnFast(m, rs, t0); // tight loops for built-in integer grids by row (rtn.ts)
  if (fast) return withDisplay(fast, () => quantizedBundle(fast));
  assertFinite(m.data, "the weights");
  const { data } = m;
  const n = data.length;
  const codes = new Int16Array(n);
  const deq = new Float32Array(n);
  const scales = new Float32Array(layout.count);
  const zeros = new Float32Array(layout.count);
  const mins = new Float32Array(layout.count);
  const { runs, runStart } = layout;
  const { qmin, qmax } = rs;
  const courseForm = !rs.grid && rs.convention === "course" && rs.scheme === "asymmetric" && !rs.zeroPoint;
  let bound = 0;
  let se = 0;
  let ss = 0;
  let maxErr = 0;
  for (let g = 0; g < layout.count; g++) {
    const r0 = runStart[g]!;
    const r1 = runStart[g + 1]!;
    let p: GroupParams;
    if (rs.builtin && r1 - r0 === 1) {
      // one contiguous run (tensor, channel, group): min/max inline, no generic walk
      const off = runs[2 * r0]!;
      const end = off + runs[2 * r0 + 1]!;
      let lo = data[off]!;
      let hi = lo;
      for (let i = off + 1; i < end; i++) {
        const v = data[i]!;
        if (v < lo) lo = v;
        else if (v > hi) hi = v;
      }
      p = paramsFromRange(rs, lo, hi);
    } else {
      p = fitGroup(rs, data, runs, r0, r1);
    }
    scales[g] = p.scale;
    zeros[g] = p.zero;
    mins[g] = p.min;
    if (!rs.grid) bound = Math.max(bound, p.scale / 2);
    for (let r = r0; r < r1; r++) {
      const off = runs[2 * r]!;
      const end = off + runs[2 * r + 1]!;
      if (rs.grid || !rs.builtin) {
        for (let i = off; i < end; i++) {
          const q = encode(rs, data[i]!, p);
          codes[i] = q;
          deq[i] = decode(rs, q, p);
        }
      } else {
        // the hot loop of RTN, with the error sums fused in (one pass over the weights).
        // Course form: q = round((x − min)/s), x̂ = min + q·s; zero-point forms: q = round(x/s) + z, x̂ = (q − z)·s.
        // A division (not a reciprocal multiply) keeps codes bit-for-bit with torch and numpy.
        const scale = p.scale;
        const shift = courseForm ? p.min : 0;
        const zero = courseForm ? 0 : p.zero;
        for (let i = off; i < end; i++) {
          const x = data[i]!;
          const v = (x - shift) / scale;
          let q = Math.round(v);
          if (q - v === 0.5 && (q & 1) !== 0) q--;
          q += zero;
          q = q < qmin ? qmin : q > qmax ? qmax : q;
          codes[i] = q;
          const y = Math.fround(shift + (q - zero) * scale);
          deq[i] = y;
          const d = x - y;
          se += d * d;
          ss += x * x;
          const ad = Math.abs(d); // branch-free: a sign test mispredicts half the time
          if (ad > maxErr) maxErr = ad;
        }
      }
    }
  }
  const groupLength = Math.min(layout.size, n);
  const extra = { bitsPerWeight: bitsPerWeight(rs, groupLength), bound: rs.grid ? NaN : bound, seconds: 0 };
  const report = rs.grid || !rs.builtin
    ? errorReport(data, deq, extra)
    : {
      mse: se / n, maxError: maxErr, sqnrDb: se === 0 ? Infinity : 10 * Math.log10(ss / se),
      relError: ss === 0 ? (se === 0 ? 0 : Infinity) : Math.sqrt(se / ss), bitsPerWeight: extra.bitsPerWeight, bound: extra.bound, count: n,
    } as ErrorReport;
  report.seconds = (performance.now() - t0) / 1000;
  const result: Quantized = { spec: rs, rows: m.rows, cols: m.cols, codes, scales, zeros, mins, groupsPerRow: layout.perRow, dequantized: deq, report };
  return withDisplay(result, () => quantizedBundle(result));
}

/**
 * Round to nearest: the same function as `quantize`, under the name the papers use.
 * @example
 * ```ts
 * rtn([0.10, -0.30, 0.70, -1.00, 0.50], { bits: 4 }).codes   // [10, 6, 15, 0, 13]
 * ```
 */
export const rtn = quantize;

/**
 * A resolved spec in one line of course language, as tables and reports title it.
 * @example
 * ```ts
 * describeSpec(resolveSpec({ bits: 4, groupSize: 128 }))      // "INT4 asymmetric (course), per group of 128"
 * describeSpec(resolveSpec({ format: "nf4", groupSize: 64 })) // "NF4 absmax, per group of 64"
 * ```
 */
export function describeSpec(rs: ResolvedSpec): string {
  const grid = rs.grid ? rs.gridName.toUpperCase() : `INT${rs.bits}`;
  const conv = rs.grid ? "absmax" : rs.scheme === "symmetric" ? `symmetric (${rs.convention})` : `asymmetric (${rs.convention})`;
  return `${grid} ${conv}, ${describeGranularity(rs.granularity)}`;
}

const preview = (a: ArrayLike<number>, n = 8, f: (v: number) => string = fmt) =>
  Array.from({ length: Math.min(n, a.length) }, (_, i) => f(a[i]!)).join(", ") + (a.length > n ? `, … (${a.length})` : "");

function quantizedBundle(q: Quantized): Bundle {
  const rows: [string, string][] = [
    ["spec", describeSpec(q.spec)],
    ["shape", `${q.rows} × ${q.cols}`],
    ["groups", String(q.scales.length)],
    ["scales", preview(q.scales)],
  ];
  if (!q.spec.grid && q.spec.scheme === "asymmetric") {
    rows.push(q.spec.convention === "course" ? ["min (offset)", preview(q.mins)] : ["zero points", preview(q.zeros)]);
  }
  rows.push(["codes", preview(q.codes, 12, String)], ["dequantized", preview(q.dequantized)], ...reportRows(q.report));
  return keyValueBundle("quantized", rows);
}

/** A fitted group's parameters, as `ruler(...).fit(row)` returns them. */
export interface Fit extends GroupParams {
  bits: number;
  qmin: number;
  qmax: number;
  zeroPoint: number;
}

/**
 * A quantization spec you can use on data: `fit` a row to see its scale and zero point, `quantize` to get
 * codes and the error report, `dequantize` for the reconstruction. Made by `ruler(spec)`.
 */
export interface Ruler {
  spec: ResolvedSpec;
  /** Scale, zero point, min and max of a row (one group: the ruler's granularity applies in quantize). */
  fit(row: ArrayLike<number>): Fit;
  /** Codes, dequantized values and the error report of a row or matrix. */
  quantize(x: Matrix | ArrayLike<number>): Quantized;
  /** The reconstruction x̂ of a row or matrix. */
  dequantize(x: Matrix | ArrayLike<number>): Float32Array;
}

/**
 * A ruler: a quantization spec you can fit, apply and explain. The course's INT8 example:
 * @example
 * ```ts
 * const row = [0.10, -0.30, 0.70, -1.00, 0.50];
 * const int8 = ruler({ bits: 8, scheme: "asymmetric" });
 * int8.fit(row).scale        // 1.70 / 255 = 0.0066667
 * int8.quantize(row).codes   // 165 for 0.10
 * const mine = ruler({ bits: 4, scheme: "symmetric", scale: (x) => Math.max(...x.map(Math.abs)) / 7 });
 * mine.quantize(row).report.maxError
 * ```
 */
export function ruler(spec: QuantSpec = {}): Ruler {
  const rs = resolveSpec(spec);
  const r: Ruler = {
    spec: rs,
    fit(row) {
      const data = row instanceof Float32Array ? row : Float32Array.from(row);
      assertFinite(data, "the row");
      const p = fitGroup(rs, data);
      const fit: Fit = { ...p, bits: rs.bits, qmin: rs.qmin, qmax: rs.qmax, zeroPoint: p.zero };
      return withDisplay(fit, () => keyValueBundle(`${describeSpec(rs)}: fitted`, [
        ["min", fmt(p.min)], ["max", fmt(p.max)], ["scale", fmt(p.scale)],
        ["zero point", fmt(p.zero)], ["codes", `${rs.qmin} … ${rs.qmax}`],
        ...(rs.grid ? [] : [["worst error (scale/2)", fmt(p.scale / 2)] as [string, string]]),
      ]));
    },
    quantize: (x) => quantize(x, { ...specOf(rs) }),
    dequantize: (x) => quantize(x, { ...specOf(rs) }).dequantized,
  };
  return withDisplay(r, () => keyValueBundle("ruler", [["spec", describeSpec(rs)], ["levels", String(rs.qmax - rs.qmin + 1)]]));
}

/** Back from a resolved spec to the options that produce it (for re-use with other data). */
export function specOf(rs: ResolvedSpec): QuantSpec {
  const common = {
    groupSize: rs.granularity, pad: rs.pad, scaleBits: rs.scaleBits,
    ...(rs.scale ? { scale: rs.scale } : {}), ...(rs.builtin ? {} : { round: rs.round }),
  };
  if (rs.grid) {
    const format = rs.gridName.startsWith("codebook") ? Array.from(rs.grid) : (rs.gridName as GridQuantSpec["format"]);
    return { ...common, format, bits: rs.bits, scheme: "symmetric" };
  }
  return {
    ...common, format: "int", bits: rs.bits, scheme: rs.scheme, convention: rs.convention, zeroBits: rs.zeroBits,
    ...(rs.zeroPoint ? { zeroPoint: rs.zeroPoint } : {}),
  };
}

/** The codes of a quantized layer as a table of rows (for small examples). */
export function codesTable(q: Quantized, maxRows = 8): Bundle {
  const rows: string[][] = [];
  for (let r = 0; r < Math.min(q.rows, maxRows); r++) {
    rows.push([String(r), Array.from(q.codes.subarray(r * q.cols, Math.min((r + 1) * q.cols, r * q.cols + 16))).join(" ")]);
  }
  return tableBundle("codes", ["row", "codes"], rows);
}
