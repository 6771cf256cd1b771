/**
 * Round-to-nearest: the baseline every method is compared with, and the fast path sweeps use.
 *
 *   quantize(W, spec)  (alias rtn)       → Quantized (the shared group-wise shape, plus RTN's mins)
 *   rtnKernel(m, rs)                      → the bare arrays and error sums, for callers (AWQ) that loop
 *
 * Built-in integer grids take one loop family: one pass per group for the range, one pass that codes,
 * dequantizes and accumulates the error, over typed arrays with no per-element calls, for every
 * granularity (a group is a list of runs of consecutive weights, so a block is several runs). A codebook
 * or float grid, or a learner's own scale, zero-point or rounding rule, goes through the affine
 * primitives (fitGroup / encode / decode) one weight at a time. Both give the same parameters (from
 * `paramsFromRange`), the same division and the same summation order.
 *
 * Floor for 4096 × 4096 FP32: reading 64 MiB and writing 32 MiB of codes plus 64 MiB of dequantized
 * values; one division per weight. NumPy does the same work in ~8 separate passes over temporaries.
 */
import { decode, encode, fitGroup, paramsFromRange } from "./affine.js";
import { groupLayout, type GroupLayout } from "./granularity.js";
import type { GroupQuantized } from "./grouped.js";
import type { Matrix } from "./matrix.js";
import { assertFinite, errorReport, reportFromSums, reportRows } from "./metrics.js";
import { fmt, keyValueBundle, withDisplay, type Bundle } from "./present.js";
import { TIES_EVEN_SHIFT } from "./round.js";
import { bitsPerWeight, describeSpec, resolveSpec, type QuantSpec, type ResolvedSpec } from "./spec.js";

/**
 * The result of round-to-nearest on a matrix or row: the shared group-wise shape (codes, each group's
 * scale and zero point, the reconstruction `dequantized`, the error report) plus each group's minimum.
 */
export interface Quantized extends GroupQuantized {
  /** RTN's groups are always contiguous runs of its granularity. */
  gIdx: null;
  /** Per group minimum (the course form's offset). */
  mins: Float32Array;
  /** Number of groups in each row (0 for tensor and block granularity). */
  groupsPerRow: number;
}

export interface RtnKernelOutput {
  codes: Int16Array;
  scales: Float32Array;
  zeros: Float32Array;
  mins: Float32Array;
  /** Empty when the caller asked not to store it (it can be rebuilt from the codes: see `quantize`). */
  dequantized: Float32Array;
  groupsPerRow: number;
  /** Weights per group (the nominal length; a padded last group may be shorter). */
  groupLength: number;
  sumSqError: number;
  sumSq: number;
  maxError: number;
  /** Largest scale/2 over the groups: the worst-case rounding error of the grid. */
  bound: number;
  /** Index of the first NaN/±Inf weight, or -1. */
  firstNonFinite: number;
}

/** The course's asymmetric form decodes as min + q·scale; every other integer form as (q − zero)·scale. */
const courseForm = (rs: ResolvedSpec) => !rs.grid && rs.convention === "course" && rs.scheme === "asymmetric" && !rs.zeroPoint;

/**
 * RTN over a matrix for a resolved spec, or null when the spec needs the per-weight path (a codebook or
 * float grid, a user scale/zero/round formula). Throws nothing about the data itself: a non-finite weight
 * is reported in `firstNonFinite` so the caller words the error.
 */
export function rtnKernel(m: Matrix, rs: ResolvedSpec, storeDequantized = true, layout?: GroupLayout): RtnKernelOutput | null {
  if (!rs.builtin || rs.grid) return null;
  const { data } = m;
  const n = data.length;
  const { runs, runStart, count, perRow, size } = layout ?? groupLayout(m.rows, m.cols, rs.granularity, rs.pad);
  const codes = new Int16Array(n);
  const deq = storeDequantized ? new Float32Array(n) : null;
  const scales = new Float32Array(count);
  const zeros = new Float32Array(count);
  const mins = new Float32Array(count);
  const { qmin, qmax } = rs;
  const course = courseForm(rs);
  const range = new Float64Array(2);
  const acc = new Float64Array(3); // Σe², Σx², max|e|, carried from group to group in index order
  let bound = 0;
  for (let g = 0; g < count; g++) {
    const r0 = runStart[g]!;
    const r1 = runStart[g + 1]!;
    groupRange(data, runs, r0, r1, range);
    const p = paramsFromRange(rs, range[0]!, range[1]!);
    scales[g] = p.scale;
    zeros[g] = p.zero;
    mins[g] = p.min;
    if (p.scale / 2 > bound) bound = p.scale / 2;
    for (let r = r0; r < r1; r++) {
      const off = runs[2 * r]!;
      const end = off + runs[2 * r + 1]!;
      if (course) codeCourse(data, codes, deq, off, end, p.scale, p.min, qmin, qmax, acc);
      else codeZeroPoint(data, codes, deq, off, end, p.scale, p.zero, qmin, qmax, acc);
    }
  }
  const se = acc[0]!;
  const ss = acc[1]!;
  // NaN and ±Inf need no test in the loops: they make Σx² NaN or Inf (finite FP32 squares cannot overflow
  // a double), and only then is the data scanned for the first bad index.
  let firstNonFinite = -1;
  if (!Number.isFinite(ss)) {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(data[i]!)) {
        firstNonFinite = i;
        break;
      }
    }
  }
  return {
    codes, scales, zeros, mins, dequantized: deq ?? new Float32Array(0), groupsPerRow: perRow,
    groupLength: Math.min(size, n), sumSqError: se, sumSq: ss, maxError: acc[2]!, bound, firstNonFinite,
  };
}

// The loops live in small functions called once per group: they are hot after the first few groups, so
// the JIT optimises them as whole functions at once instead of on-stack-replacing one giant loop nest,
// which ran the first five 4096×4096 calls at half speed.

function groupRange(data: Float32Array, runs: Int32Array, r0: number, r1: number, out: Float64Array): void {
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
  out[0] = lo;
  out[1] = hi;
}

/** Course form: q = round((x − min)/scale), x̂ = min + q·scale. */
function codeCourse(data: Float32Array, codes: Int16Array, deq: Float32Array | null, off: number, end: number,
  scale: number, min: number, qmin: number, qmax: number, acc: Float64Array): void {
  const R = TIES_EVEN_SHIFT; // a local: a module-level binding costs a hole check per use
  let se = acc[0]!;
  let ss = acc[1]!;
  let mx = acc[2]!;
  for (let i = off; i < end; i++) {
    const v = data[i]!;
    let q = (v - min) / scale + R - R;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    codes[i] = q;
    const d = Math.fround(min + q * scale);
    if (deq !== null) deq[i] = d;
    const e = v - d;
    se += e * e;
    ss += v * v;
    const ae = Math.abs(e); // branch-free: a sign test here mispredicts half the time (3× slower)
    if (ae > mx) mx = ae;
  }
  acc[0] = se;
  acc[1] = ss;
  acc[2] = mx;
}

/** Zero-point forms: q = round(x/scale) + zero, x̂ = (q − zero)·scale. */
function codeZeroPoint(data: Float32Array, codes: Int16Array, deq: Float32Array | null, off: number, end: number,
  scale: number, zero: number, qmin: number, qmax: number, acc: Float64Array): void {
  const R = TIES_EVEN_SHIFT;
  let se = acc[0]!;
  let ss = acc[1]!;
  let mx = acc[2]!;
  // a division, not a reciprocal multiply, so codes match torch.round(x / scale) bit for bit
  for (let i = off; i < end; i++) {
    const v = data[i]!;
    let q = v / scale + R - R + zero;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    codes[i] = q;
    const d = Math.fround((q - zero) * scale);
    if (deq !== null) deq[i] = d;
    const e = v - d;
    se += e * e;
    ss += v * v;
    const ae = Math.abs(e);
    if (ae > mx) mx = ae;
  }
  acc[0] = se;
  acc[1] = ss;
  acc[2] = mx;
}

/** x̂ from the codes and per-group params of a kernel result (the kernel's own arithmetic). */
function dequantizeGroups(rs: ResolvedSpec, layout: GroupLayout, out: RtnKernelOutput): Float32Array {
  const { codes, scales, zeros, mins } = out;
  const { runs, runStart, count } = layout;
  const deq = new Float32Array(codes.length);
  const course = courseForm(rs);
  for (let g = 0; g < count; g++) {
    const scale = scales[g]!;
    const zero = zeros[g]!;
    const min = mins[g]!;
    for (let r = runStart[g]!; r < runStart[g + 1]!; r++) {
      const off = runs[2 * r]!;
      const end = off + runs[2 * r + 1]!;
      if (course) for (let i = off; i < end; i++) deq[i] = min + codes[i]! * scale;
      else for (let i = off; i < end; i++) deq[i] = (codes[i]! - zero) * scale;
    }
  }
  return deq;
}

function asMatrix(W: Matrix | ArrayLike<number>): Matrix {
  if ((W as Matrix).data instanceof Float32Array && typeof (W as Matrix).rows === "number") return W as Matrix;
  const arr = W as ArrayLike<number>;
  return { rows: 1, cols: arr.length, data: arr instanceof Float32Array ? arr : Float32Array.from(arr) };
}

/** Built-in integer grids: the kernel, with x̂ rebuilt on first read. */
function quantizeFast(m: Matrix, rs: ResolvedSpec, layout: GroupLayout, t0: number): Quantized | null {
  const out = rtnKernel(m, rs, false, layout);
  if (!out) return null;
  if (out.firstNonFinite >= 0) assertFinite(m.data, "the weights"); // throws, naming the first bad index
  const report = reportFromSums(out.sumSqError, out.sumSq, out.maxError, m.data.length,
    { bitsPerWeight: bitsPerWeight(rs, out.groupLength), bound: out.bound, seconds: (performance.now() - t0) / 1000 });
  const q = {
    spec: rs, rows: m.rows, cols: m.cols, codes: out.codes, scales: out.scales, zeros: out.zeros, gIdx: null, mins: out.mins,
    groupsPerRow: out.groupsPerRow, report,
  } as Quantized;
  // x̂ was computed (the report measures it) but not stored: most sweeps read only the report, and 64 MiB
  // of writes is a third of the run. The first read rebuilds it, bit-identical, from codes and params.
  let deq: Float32Array | null = null;
  Object.defineProperty(q, "dequantized", {
    enumerable: true,
    configurable: true,
    get: () => (deq ??= dequantizeGroups(rs, layout, out)),
    set: (v: Float32Array) => { deq = v; },
  });
  return q;
}

/** Codebook and float grids, and a learner's own formulas: the affine primitives one weight at a time. */
function quantizeEach(m: Matrix, rs: ResolvedSpec, layout: GroupLayout, t0: number): Quantized {
  assertFinite(m.data, "the weights");
  const { data } = m;
  const n = data.length;
  const codes = new Int16Array(n);
  const deq = new Float32Array(n);
  const scales = new Float32Array(layout.count);
  const zeros = new Float32Array(layout.count);
  const mins = new Float32Array(layout.count);
  const { runs, runStart } = layout;
  let bound = 0;
  for (let g = 0; g < layout.count; g++) {
    const r0 = runStart[g]!;
    const r1 = runStart[g + 1]!;
    const p = fitGroup(rs, data, runs, r0, r1);
    scales[g] = p.scale;
    zeros[g] = p.zero;
    mins[g] = p.min;
    if (!rs.grid) bound = Math.max(bound, p.scale / 2);
    for (let r = r0; r < r1; r++) {
      const off = runs[2 * r]!;
      const end = off + runs[2 * r + 1]!;
      for (let i = off; i < end; i++) {
        const q = encode(rs, data[i]!, p);
        codes[i] = q;
        deq[i] = decode(rs, q, p);
      }
    }
  }
  const report = errorReport(data, deq, { bitsPerWeight: bitsPerWeight(rs, Math.min(layout.size, n)), bound: rs.grid ? NaN : bound });
  report.seconds = (performance.now() - t0) / 1000;
  return { spec: rs, rows: m.rows, cols: m.cols, codes, scales, zeros, gIdx: null, mins, groupsPerRow: layout.perRow, dequantized: deq, report };
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
  const result = quantizeFast(m, rs, layout, t0) ?? quantizeEach(m, rs, layout, t0);
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
