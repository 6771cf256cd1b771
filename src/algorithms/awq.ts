/**
 * AWQ (Lin et al., MLSys 2024; mit-han-lab/llm-awq auto_scale.py / auto_clip.py; REFERENCE §5) on tfjs.
 *
 *   awq(W, X, options)          → AwqResult: one linear layer
 *   awqBlock([W1, W2…], X, o)   → AwqBlockResult: linears sharing one input (q/k/v, gate/up), scaled together
 *
 * Scale search: for r = k/grid (k = 0…grid−1) s = clamp(mean|x|^r, 1e-4) (AutoAWQ "duo":
 * mean|x|^r / (mean ŵ^(1−r) + 1e-4)), normalised s /= √(max s · min s); quantize W·s per group, divide
 * back by s, and keep the r with the lowest mean squared output error of the block's linears on the
 * search tokens. r = 0 gives s = 1: the RTN point, so (on the same tokens) AWQ never loses to RTN.
 * Clip search (per linear, per output row and group): max_val = amax·(1 − i/20), i < 10, minimising the
 * error of the group's partial dot products on up to 512 sampled tokens — computed as dᵀ·G_g·d with the
 * group's Gram block G_g, which equals llm-awq's mean over tokens of (Σ_k x_k·(w_k − q_k))².
 * Every rounding goes through the numeric core (convention "awq"): its RTN kernel, or the affine primitives
 * for a learner's own rules. `inputScales` s is what the previous operation divides by (RMSNorm weight, or
 * the previous linear's rows); the effective weight is Q(W·s)/s.
 *
 * FLOP floor (out × in, T search tokens, grid 20): 20 × 2·T·in·out for the search (T = 512: 344 GFLOP at
 * 4096²), 10 × 2·out·in·g for the clip (43 GFLOP at g = 128), plus quantization of 30 × out·in weights
 * (the searches are awq-search.ts: WebAssembly on the GEMM memory on wasm, else JavaScript). The
 * output-error report (excluded from the time) is outputErrors' trace form at tokens ≳ in/3: 4096² with
 * 4096 tokens costs 3 symmetric products, 206 GFLOP, against 274 for the direct form's two products by X.
 */
import { check } from "../errors.js";
import type { Matrix } from "../numerics/matrix.js";
import { assertFinite, errorReport, reportRows, type ErrorReport } from "../numerics/metrics.js";
import { fmt, keyValueBundle, withDisplay } from "../numerics/present.js";
import type { GroupQuantized } from "../numerics/grouped.js";
import { bitsPerWeight, describeSpec, type ResolvedSpec } from "../numerics/spec.js";
import { ensureBackend } from "../backend/index.js";
import { meanAbs, outputErrorOf } from "./hessian.js";
import { gram } from "./matmul.js";
import { layerSpec, type LayerQuantOptions } from "./layer-spec.js";
import { clipSearch, quantizeGroups, scaleLosses } from "./awq-search.js";

/** Options of awq() and awqBlock(): bits, grouping, ratio grid, duo scaling, clip search, token sampling. */
export interface AwqOptions extends LayerQuantOptions {
  /** Ratios tried: k/grid for k = 0…grid−1 (default 20). */
  grid?: number;
  /** AutoAWQ's "duo" scaling: mean|x|^r / (mean ŵ^(1−r) + 1e-4). */
  duo?: boolean;
  /** Run the clip search (default true); in awqBlock one flag per linear is allowed (llm-awq skips q/k). */
  clip?: boolean | boolean[];
  /** Tokens the scale search measures its loss on: evenly strided, at most this many (default 512; Infinity = all). */
  searchTokens?: number;
  /** Tokens the clip search uses (default 512, as llm-awq). */
  clipTokens?: number;
}

/** AWQ's report: the shared error metrics plus the search loss, the chosen ratio, backend and time. */
export interface AwqReport extends ErrorReport {
  /** Mean squared output error of the chosen scales on the search tokens (the search's loss). */
  loss: number;
  backend: string;
  seconds: number;
  /** The ratio r chosen by the scale search. */
  ratio: number;
}

/**
 * One AWQ-quantized linear in the shared group-wise shape, whose codes, scales and zeros describe W·s
 * (clipped), plus the input scales s to fold into the previous op and the clip bounds.
 */
export interface AwqResult extends GroupQuantized {
  /** AWQ's groups are contiguous runs of the group size. */
  gIdx: null;
  /** Per input channel: fold into the previous op (divide its output by s); W·s is what is quantized. */
  inputScales: Float32Array;
  /** The effective weight Q(W·s)/s, comparable with W (X·Qᵀ ≈ X·Wᵀ). */
  dequantized: Float32Array;
  /** Per (row, group) clipping bound chosen (Infinity where the clip search was off). */
  clipMax: Float32Array;
  report: AwqReport;
}

/** AWQ of linears sharing one input: the shared scales, the chosen ratio, loss per ratio and each linear. */
export interface AwqBlockResult {
  inputScales: Float32Array;
  ratio: number;
  /** Loss per ratio tried (index k ↔ r = k/grid). */
  lossByRatio: Float64Array;
  layers: AwqResult[];
  seconds: number;
  backend: string;
}

/** Rows of X at an even stride, at most `limit` of them. */
function sampleRows(X: Matrix, limit: number): Matrix {
  if (!(limit < X.rows)) return X;
  const step = Math.ceil(X.rows / limit);
  const n = Math.ceil(X.rows / step);
  const data = new Float32Array(n * X.cols);
  for (let i = 0; i < n; i++) data.set(X.data.subarray(i * step * X.cols, (i * step + 1) * X.cols), i * X.cols);
  return { rows: n, cols: X.cols, data };
}

function checkInputs(Ws: Matrix[], X: Matrix, opts: AwqOptions): { gs: number; rs: ResolvedSpec } {
  check(Ws.length > 0, "BAD_ARGUMENT", "awqBlock needs at least one weight matrix");
  const cols = X.cols;
  Ws.forEach((W, i) => {
    check(W.cols === cols, "BAD_SHAPE", `calibration X has ${cols} features but weight ${i} has ${W.cols} input columns: linears of a block share one input [tokens, in_features]`);
    assertFinite(W.data, `weight ${i}`);
  });
  assertFinite(X.data, "the calibration inputs X");
  const grid = opts.grid ?? 20;
  check(Number.isInteger(grid) && grid > 0, "BAD_ARGUMENT", `grid must be a positive integer, got ${grid}`);
  return layerSpec(cols, opts, "awq");
}

/** Σᵢⱼ A_ij·B_ij in float64 (= tr(A·B) for symmetric A and B). */
function frobeniusDot(A: Float32Array, B: Float32Array): number {
  let s = 0;
  for (let i = 0; i < A.length; i++) s += A[i]! * B[i]!;
  return s;
}

/** Above this, the trace form's two in × in matrices would outweigh the direct form's outputs: it is not used. */
const TRACE_MAX_BYTES = 1 << 30;

/**
 * The relative output errors ‖X·Dᵀ‖² / ‖X·Wᵀ‖² (D = W − Q) of linears sharing X, by the cheaper exact form.
 * Trace form: ‖X·Aᵀ‖² = tr(A·H·Aᵀ) = Σ H∘(AᵀA) with H = XᵀX, so H is one symmetric product for the
 * block (tokens·in² FLOPs) and each linear two more, WᵀW and DᵀD (out·in² each), against the direct
 * form's two products by X per linear (2·tokens·in·out each). At 4096² with 4096 tokens that is 206 against
 * 274 GFLOP; with few tokens the direct form is cheaper and is used. Both agree to float32 rounding
 * (test/algorithms/awq-report.test.ts).
 */
export async function outputErrors(X: Matrix, Ws: Matrix[], Qs: Float32Array[]): Promise<number[]> {
  const N = X.rows;
  const k = X.cols;
  const R = Ws.reduce((n, W) => n + W.rows, 0);
  const trace = N * k * k + 2 * R * k * k;
  const direct = 4 * N * k * R;
  if (!(trace < direct) || 2 * k * k * 4 > Math.max(TRACE_MAX_BYTES, 2 * N * R * 4)) {
    const out: number[] = [];
    for (let i = 0; i < Ws.length; i++) out.push(await (await outputErrorOf(X, Ws[i]!))(Qs[i]!));
    return out;
  }
  const H = await gram(X.data, N, k);
  const G = new Float32Array(k * k);
  const out: number[] = [];
  for (let i = 0; i < Ws.length; i++) {
    const W = Ws[i]!;
    const Q = Qs[i]!;
    check(Q.length === W.data.length, "BAD_SHAPE", `the quantized weight has ${Q.length} values, W has ${W.data.length}`);
    const den = frobeniusDot(H, await gram(W.data, W.rows, k, G));
    const D = new Float32Array(Q.length);
    for (let j = 0; j < D.length; j++) D[j] = W.data[j]! - Q[j]!;
    const num = Math.max(0, frobeniusDot(H, await gram(D, W.rows, k, G)));
    out.push(den <= 0 ? (num === 0 ? 0 : Infinity) : num / den);
  }
  return out;
}

/**
 * AWQ for linears that share one input X (tokens × in): one set of input scales for all of them.
 * @example
 * ```ts
 * const b = await awqBlock([Wq, Wk, Wv], X, { bits: 4, groupSize: 128, clip: [false, false, true] });
 * b.inputScales   // divide the RMSNorm weight by these
 * ```
 */
export async function awqBlock(Ws: Matrix[], X: Matrix, opts: AwqOptions = {}): Promise<AwqBlockResult> {
  const t0 = performance.now();
  const backend = await ensureBackend(opts.backend);
  const { gs, rs } = checkInputs(Ws, X, opts);
  const cols = X.cols;
  const grid = opts.grid ?? 20;
  const R = Ws.reduce((n, W) => n + W.rows, 0);
  const Wall = new Float32Array(R * cols);
  let off = 0;
  for (const W of Ws) {
    Wall.set(W.data, off);
    off += W.data.length;
  }
  const xMean = meanAbs(X);
  let wMean: Float32Array | null = null;
  if (opts.duo) {
    // AutoAWQ: |w| / group absmax, averaged over the output rows of all linears
    const acc = new Float64Array(cols);
    const ng = Math.ceil(cols / gs);
    for (let r = 0; r < R; r++) {
      for (let g = 0; g < ng; g++) {
        const c0 = g * gs;
        const c1 = Math.min(cols, c0 + gs);
        let m = 0;
        for (let c = c0; c < c1; c++) m = Math.max(m, Math.abs(Wall[r * cols + c]!));
        for (let c = c0; c < c1; c++) acc[c]! += Math.abs(Wall[r * cols + c]!) / (m + 1e-6);
      }
    }
    wMean = Float32Array.from(acc, (v) => v / R);
  }

  // scale search
  const Xs = sampleRows(X, opts.searchTokens ?? 512);
  const candidates: Float32Array[] = [];
  for (let k = 0; k < grid; k++) {
    const ratio = k / grid;
    const s = new Float32Array(cols);
    let mx = -Infinity;
    let mn = Infinity;
    for (let c = 0; c < cols; c++) {
      let v = xMean[c]! ** ratio;
      if (wMean) v = v / (wMean[c]! ** (1 - ratio) + 1e-4);
      v = Math.max(v, 1e-4);
      s[c] = v;
      mx = Math.max(mx, s[c]!);
      mn = Math.min(mn, s[c]!);
    }
    const norm = Math.sqrt(mx * mn);
    for (let c = 0; c < cols; c++) s[c]! /= norm;
    candidates.push(s);
  }
  const lossByRatio = await scaleLosses(rs, Wall, R, cols, gs, Xs, candidates);
  let bestLoss = Infinity;
  let bestRatio = 0;
  let bestS: Float32Array = new Float32Array(cols).fill(1);
  for (let k = 0; k < grid; k++) {
    if (lossByRatio[k]! < bestLoss) {
      bestLoss = lossByRatio[k]!;
      bestRatio = k / grid;
      bestS = candidates[k]!;
    }
  }

  // clip search and the final quantization, per linear
  const clipFlags = Ws.map((_, i) => (Array.isArray(opts.clip) ? opts.clip[i] ?? true : opts.clip ?? true));
  let Xc: Matrix | null = null;
  if (clipFlags.some(Boolean)) {
    const sample = sampleRows(X, opts.clipTokens ?? 512);
    const data = new Float32Array(sample.data.length);
    for (let t = 0; t < sample.rows; t++) for (let c = 0; c < cols; c++) data[t * cols + c] = sample.data[t * cols + c]! / bestS[c]!;
    Xc = { rows: sample.rows, cols, data };
  }
  const ng = Math.ceil(cols / gs);
  const quantized: { q: ReturnType<typeof quantizeGroups>; eff: Float32Array; clipMax: Float32Array; seconds: number }[] = [];
  for (let i = 0; i < Ws.length; i++) {
    const W = Ws[i]!;
    const Wsc = new Float32Array(W.data.length);
    for (let r = 0; r < W.rows; r++) for (let c = 0; c < cols; c++) Wsc[r * cols + c] = W.data[r * cols + c]! * bestS[c]!;
    const clipMax = clipFlags[i] ? await clipSearch(rs, Wsc, W.rows, cols, gs, Xc!) : new Float32Array(W.rows * ng).fill(Infinity);
    const q = quantizeGroups(rs, Wsc, W.rows, cols, gs, clipFlags[i] ? clipMax : null, true);
    const eff = new Float32Array(W.data.length);
    for (let r = 0; r < W.rows; r++) for (let c = 0; c < cols; c++) eff[r * cols + c] = q.deq[r * cols + c]! / bestS[c]!;
    quantized.push({ q, eff, clipMax, seconds: (performance.now() - t0) / 1000 });
  }
  // the method's time stops here: the reports come after every linear, so no linear's seconds holds another's report
  const seconds = (performance.now() - t0) / 1000;
  const outErrs = opts.skipOutputError ? null : await outputErrors(X, Ws, quantized.map((l) => l.eff));
  const layers: AwqResult[] = [];
  for (let i = 0; i < Ws.length; i++) {
    const W = Ws[i]!;
    const { q, eff, clipMax } = quantized[i]!;
    const outErr = outErrs?.[i];
    const base = errorReport(W.data, eff, { bitsPerWeight: bitsPerWeight(rs, gs), seconds: quantized[i]!.seconds, ...(outErr === undefined ? {} : { outputError: outErr }) });
    const report: AwqReport = { ...base, loss: bestLoss, backend, seconds: quantized[i]!.seconds, ratio: bestRatio };
    const layer: AwqResult = {
      rows: W.rows, cols, spec: rs, inputScales: bestS,
      codes: q.codes!, scales: q.scales!, zeros: q.zeros!, gIdx: null, dequantized: eff, clipMax, report,
    };
    layers.push(withDisplay(layer, () => keyValueBundle(`AWQ ${describeSpec(rs)}`, [
      ["shape", `${W.rows} × ${cols}`], ["ratio", fmt(bestRatio)], ["search loss", fmt(bestLoss)], ["RTN loss (r = 0)", fmt(lossByRatio[0])],
      ...reportRows(base), ["clip search", clipFlags[i] ? "on" : "off"], ["backend", backend],
    ])));
  }
  const result: AwqBlockResult = { inputScales: bestS, ratio: bestRatio, lossByRatio, layers, seconds, backend };
  return withDisplay(result, () => keyValueBundle(`AWQ block of ${Ws.length} linears`, [
    ["ratio", fmt(bestRatio)], ["loss", fmt(bestLoss)], ["RTN loss (r = 0)", fmt(lossByRatio[0])],
    ...layers.map((l, i) => [`linear ${i} output error`, fmt(l.report.outputError)] as [string, string]),
    ["seconds", fmt(seconds)], ["backend", backend],
  ]));
}

/**
 * AWQ for one linear layer W (out × in) with calibration inputs X (tokens × in).
 * @example
 * ```ts
 * const a = await awq(W, X, { bits: 4, groupSize: 128 });
 * a.report.outputError; a.inputScales
 * ```
 */
export async function awq(W: Matrix, X: Matrix, opts: AwqOptions = {}): Promise<AwqResult> {
  const b = await awqBlock([W], X, { ...opts, clip: Array.isArray(opts.clip) ? opts.clip[0] ?? true : opts.clip });
  return b.layers[0]!;
}
