/**
 * The fast path of round-to-nearest for row-wise granularities (tensor, channel, group of n): one pass
 * per group for the range, one pass that codes, dequantizes and accumulates the error, all over typed
 * arrays with no per-element calls. `quantize`/`rtn` in ruler.ts take this path whenever the spec has
 * no user formula and a uniform integer grid; the results are bit-identical to the generic loop
 * (same parameters from `paramsFromRange`, same division, same summation order).
 *
 * Floor for 4096 × 4096 FP32: reading 64 MiB and writing 32 MiB of codes plus 64 MiB of dequantized
 * values; one division per weight. NumPy does the same work in ~8 separate passes over temporaries.
 */
import type { Matrix } from "./matrix.js";
import { assertFinite, type ErrorReport } from "./metrics.js";
import { bitsPerWeight, paramsFromRange, type Quantized, type ResolvedSpec } from "./ruler.js";

// 1.5 · 2^52: for |v| < 2^51, (v + ROUNDER) − ROUNDER is v rounded to an integer, ties to even (the FPU's
// own rounding mode), with no branch. Larger |v| only happen for out-of-range codes, which are clamped.
const ROUNDER = 6755399441055744;

/** Tensor: one group over the whole (row-major, contiguous) data; channel: a row; group: `size` along a row. */
function rowGroups(m: Matrix, rs: ResolvedSpec): { rowLen: number; nRows: number; size: number; perRow: number } {
  const g = rs.granularity;
  const n = m.rows * m.cols;
  const rowLen = g.kind === "tensor" ? n : m.cols;
  const size = g.kind === "group" ? g.size : rowLen;
  return { rowLen, nRows: g.kind === "tensor" ? 1 : m.rows, size, perRow: Math.ceil(rowLen / size) };
}

export interface RtnKernelOutput {
  codes: Int16Array;
  scales: Float32Array;
  zeros: Float32Array;
  mins: Float32Array;
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

/**
 * RTN over a matrix for a resolved spec, or null when the spec needs the generic path (block
 * granularity, a codebook or float grid, a user scale/zero/round formula). Throws nothing itself:
 * a non-finite weight is reported in `firstNonFinite` so the caller words the error.
 */
export function rtnKernel(m: Matrix, rs: ResolvedSpec, storeDequantized = true): RtnKernelOutput | null {
  const g = rs.granularity;
  if (!rs.builtin || rs.grid || g.kind === "block") return null;
  const { data } = m;
  const n = data.length;
  const { rowLen, nRows, size, perRow } = rowGroups(m, rs);
  const count = nRows * perRow;
  const codes = new Int16Array(n);
  const deq = storeDequantized ? new Float32Array(n) : null;
  const scales = new Float32Array(count);
  const zeros = new Float32Array(count);
  const mins = new Float32Array(count);
  const { qmin, qmax } = rs;
  const courseForm = rs.convention === "course" && rs.scheme === "asymmetric";
  const range = new Float64Array(2);
  const acc = new Float64Array(3); // Σe², Σx², max|e|, carried from group to group in index order
  let bound = 0;
  for (let r = 0, k = 0; r < nRows; r++) {
    for (let j = 0; j < perRow; j++, k++) {
      const off = r * rowLen + j * size;
      const end = off + Math.min(size, rowLen - j * size);
      groupRange(data, off, end, range);
      const p = paramsFromRange(rs, range[0]!, range[1]!);
      scales[k] = p.scale;
      zeros[k] = p.zero;
      mins[k] = p.min;
      if (p.scale / 2 > bound) bound = p.scale / 2;
      if (courseForm) codeCourse(data, codes, deq, off, end, p.scale, p.min, qmin, qmax, acc);
      else codeZeroPoint(data, codes, deq, off, end, p.scale, p.zero, qmin, qmax, acc);
    }
  }
  const se = acc[0]!;
  const ss = acc[1]!;
  const maxErr = acc[2]!;
  // NaN and ±Inf need no test in the loops: they make Σx² NaN or Inf (finite FP32 squares cannot overflow
  // a double), and only then is the data scanned for the first bad index.
  if (!Number.isFinite(ss)) {
    for (let i = 0; i < n; i++) if (!Number.isFinite(data[i]!)) return { ...empty(), firstNonFinite: i };
  }
  return {
    codes, scales, zeros, mins, dequantized: deq ?? new Float32Array(0), groupsPerRow: g.kind === "tensor" ? 0 : perRow,
    groupLength: Math.min(size, n), sumSqError: se, sumSq: ss, maxError: maxErr, bound, firstNonFinite: -1,
  };
}

// The loops live in small functions called once per group: they are hot after the first few groups, so
// the JIT optimises them as whole functions at once instead of on-stack-replacing one giant loop nest,
// which ran the first five 4096×4096 calls at half speed.

function groupRange(data: Float32Array, off: number, end: number, out: Float64Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = off; i < end; i++) {
    const v = data[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  out[0] = lo;
  out[1] = hi;
}

/** Course form: q = round((x − min)/scale), x̂ = min + q·scale. */
function codeCourse(data: Float32Array, codes: Int16Array, deq: Float32Array | null, off: number, end: number,
  scale: number, min: number, qmin: number, qmax: number, acc: Float64Array): void {
  const R = ROUNDER; // a local: a module-level const costs a hole check per use
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
  const R = ROUNDER;
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

/**
 * `quantize(W, spec)` through the kernel, as the plain Quantized record (ruler.ts adds the display),
 * or null when the spec needs the generic path. `t0` is when the caller started (for `seconds`).
 */
export function rtnFast(m: Matrix, rs: ResolvedSpec, t0 = performance.now()): Quantized | null {
  const out = rtnKernel(m, rs, false);
  if (!out) return null;
  if (out.firstNonFinite >= 0) assertFinite(m.data, "the weights"); // throws, naming the first bad index
  const n = m.data.length;
  const se = out.sumSqError;
  const ss = out.sumSq;
  const report: ErrorReport = {
    mse: se / n,
    maxError: out.maxError,
    sqnrDb: se === 0 ? Infinity : 10 * Math.log10(ss / se),
    relError: ss === 0 ? (se === 0 ? 0 : Infinity) : Math.sqrt(se / ss),
    bitsPerWeight: bitsPerWeight(rs, out.groupLength),
    bound: out.bound,
    count: n,
    seconds: (performance.now() - t0) / 1000,
  };
  const q = {
    spec: rs, rows: m.rows, cols: m.cols, codes: out.codes, scales: out.scales, zeros: out.zeros, mins: out.mins,
    groupsPerRow: out.groupsPerRow, report,
  } as Quantized;
  // x̂ was computed (the report measures it) but not stored: most sweeps read only the report, and 64 MiB
  // of writes is a third of the run. The first read rebuilds it, bit-identical, from codes and params.
  let deq: Float32Array | null = null;
  Object.defineProperty(q, "dequantized", {
    enumerable: true,
    configurable: true,
    get: () => (deq ??= dequantizeRows(m, rs, out)),
    set: (v: Float32Array) => { deq = v; },
  });
  return q;
}

/** x̂ from the codes and per-group params of a row-wise RTN result (the kernel's own arithmetic). */
function dequantizeRows(m: Matrix, rs: ResolvedSpec, out: RtnKernelOutput): Float32Array {
  const { rowLen, nRows, size, perRow } = rowGroups(m, rs);
  const { codes, scales, zeros, mins } = out;
  const deq = new Float32Array(codes.length);
  const courseForm = rs.convention === "course" && rs.scheme === "asymmetric";
  for (let r = 0, k = 0; r < nRows; r++) {
    for (let j = 0; j < perRow; j++, k++) {
      const off = r * rowLen + j * size;
      const end = off + Math.min(size, rowLen - j * size);
      const scale = scales[k]!;
      const zero = zeros[k]!;
      const min = mins[k]!;
      if (courseForm) for (let i = off; i < end; i++) deq[i] = min + codes[i]! * scale;
      else for (let i = off; i < end; i++) deq[i] = (codes[i]! - zero) * scale;
    }
  }
  return deq;
}

function empty(): RtnKernelOutput {
  return {
    codes: new Int16Array(0), scales: new Float32Array(0), zeros: new Float32Array(0), mins: new Float32Array(0),
    dequantized: new Float32Array(0), groupsPerRow: 0, groupLength: 0, sumSqError: 0, sumSq: 0, maxError: 0, bound: 0,
    firstNonFinite: -1,
  };
}
