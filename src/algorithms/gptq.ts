/**
 * GPTQ (Frantar et al., ICLR 2023; REFERENCE §4) on the tfjs backend.
 *
 *   gptq(W, X | { H }, options) → GptqResult: the shared group-wise shape (spec, codes, scales, zeros,
 *                                 gIdx, dequantized, report) plus the act-order permutation
 *
 * Every rounding decision goes through the numeric core's affine primitives under the "gptq" convention
 * (fitGroup / paramsFromRange / encode / decode), so with H = identity the codes are exactly RTN's, and a
 * user's own `scale`, `zeroPoint` or `round` rule flows through unchanged.
 *
 * FLOP floor for W out × in, N tokens: Hessian 2·N·in² (half of it computed: H is symmetric), Hinv
 * ≈ 2·in³/3 (one Cholesky + one triangular inverse, J·H·J trick in linalg.ts), lazy-batch updates
 * ≈ out·in², output-error report out·in² (one triangular product, traceOutputError; 2·N·in·out per
 * product by X when H was passed in). 4096² with 4096 tokens ≈ 69 + 46 + 69 GFLOP (+ 69 for the report).
 * The sweep itself is gptq-sweep.ts (WebAssembly on wasm, device operations on webgpu, else JavaScript).
 */
import { check, QuantLabError } from "../errors.js";
import type { Matrix } from "../numerics/matrix.js";
import { assertFinite, errorReport, reportRows, type ErrorReport } from "../numerics/metrics.js";
import { fmt, keyValueBundle, withDisplay } from "../numerics/present.js";
import { fitGroup, type GroupParams } from "../numerics/affine.js";
import type { GroupQuantized } from "../numerics/grouped.js";
import { bitsPerWeight, describeSpec, type ResolvedSpec } from "../numerics/spec.js";
import { ensureBackend } from "../backend/index.js";
import { HessianAccumulator, outputErrorOf } from "./hessian.js";
import { layerSpec, type LayerQuantOptions } from "./layer-spec.js";
import { NotPositiveDefinite, upperCholeskyOfInverseWithFactor } from "./linalg.js";
import { matmul, transpose } from "./matmul.js";
import { sweepJs, sweepTf, sweepWasm, type SweepInput } from "./gptq-sweep.js";

/** Options of gptq(): bits, grouping, act-order, damping, range search and backend. */
export interface GptqOptions extends LayerQuantOptions {
  /** Process columns by descending diag(H) (desc_act); undone at the end, with gIdx. */
  actOrder?: boolean;
  /** Group parameters fixed up front on the unpermuted W (default false). */
  staticGroups?: boolean;
  /** Columns per lazy batch (default 128). */
  blockSize?: number;
  /** Damping as a fraction of mean(diag H) (default 0.01). */
  percdamp?: number;
  /** Retries with 4× the damping when H is not positive definite (default 8). */
  dampRetries?: number;
  /** Search the clipping range per group (shrink 1 − i/100, i < 80, error norm 2.4). */
  mse?: boolean;
}

/** GPTQ's report: the shared error metrics plus the reference's loss, damping used, backend and time. */
export interface GptqReport extends ErrorReport {
  /** The reference's loss Σ (w − q)² / Hinv[i,i]² / 2. */
  loss: number;
  backend: string;
  /** Seconds of the algorithm (Hessian included, report excluded). */
  seconds: number;
  /** The damping finally used (fraction of mean diag H). */
  percdamp: number;
  /** How many times damping was raised because H was not positive definite. */
  dampRetries: number;
  /** Input columns with diag(H) = 0 (their weights are zeroed). */
  deadColumns: number;
  warnings: string[];
}

/**
 * A GPTQ-quantized layer in the shared group-wise shape: codes (rows × cols in W's column order), per
 * (row, group) scales and zero points, the group of every input column, the dequantized weight, the report.
 */
export interface GptqResult extends GroupQuantized {
  /** Group of each input column (act-order makes it non-monotonic); always present. */
  gIdx: Int32Array;
  /** Column processing order under act-order, else null. */
  perm: Int32Array | null;
  report: GptqReport;
}

/** Calibration for GPTQ: activations X (tokens × in_features) or a prepared Hessian. */
export type GptqCalibration = Matrix | { H: Float32Array; X?: Matrix };

function isMatrix(c: GptqCalibration): c is Matrix {
  return (c as Matrix).data instanceof Float32Array && typeof (c as Matrix).rows === "number";
}

/**
 * ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² without a product by X: with H = 2/N·XᵀX and H_d = H + damp·I = U⁻¹·U⁻ᵀ,
 * the sweep leaves W − Q = E·U (E its scaled errors), so tr(ΔW·H_d·ΔWᵀ) = ‖E‖² = 2·loss; and
 * tr(W·H_d·Wᵀ) = ‖(W·J)·L‖² with the factor L of J·H_d·J: one product by a triangular matrix (half the
 * FLOPs of X·Wᵀ at tokens = in, and none for the numerator). Both sides then drop the damping's
 * damp·‖·‖². Dead inputs drop out on both sides (their columns are zero in Wd and Q, as in X). Equal to
 * the direct form up to float32 rounding (test/algorithms/gptq.test.ts holds them to 1e-4 relative).
 */
async function traceOutputError(WrT: Float32Array, L: Float32Array, rows: number, cols: number, damp: number, loss: number, Wd: Float32Array, deq: Float32Array): Promise<number> {
  const Y = await matmul(WrT, rows, cols, L, cols, undefined, { transA: true, lowerB: true });
  let wHw = 0;
  for (let i = 0; i < Y.length; i++) wHw += Y[i]! * Y[i]!;
  let ww = 0;
  let dd = 0;
  for (let i = 0; i < Wd.length; i++) {
    const w = Wd[i]!;
    const d = w - deq[i]!;
    ww += w * w;
    dd += d * d;
  }
  const num = Math.max(0, 2 * loss - damp * dd);
  const den = wHw - damp * ww;
  return den <= 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

/**
 * GPTQ-quantizes W (out × in) with calibration activations X (tokens × in) or a prepared Hessian.
 * @example
 * ```ts
 * const g = await gptq(W, X, { bits: 4, groupSize: 128, actOrder: true });
 * g.report.outputError   // ‖XWᵀ − XQᵀ‖² / ‖XWᵀ‖²
 * ```
 */
export async function gptq(W: Matrix, calib: GptqCalibration, opts: GptqOptions = {}): Promise<GptqResult> {
  const t0 = performance.now();
  const backend = await ensureBackend(opts.backend);
  const { rows, cols } = W;
  assertFinite(W.data, "the weights W");
  if (isMatrix(calib)) check(calib.cols === cols, "BAD_SHAPE", `calibration X has ${calib.cols} features but W has ${cols} input columns: X must be [tokens, ${cols}]`);
  const { gs, rs } = layerSpec(cols, opts, "gptq");
  const blockSize = opts.blockSize ?? 128;
  check(Number.isInteger(blockSize) && blockSize > 0, "BAD_ARGUMENT", `blockSize must be a positive integer, got ${blockSize}`);
  const warnings: string[] = [];

  // Hessian
  let H: Float32Array;
  const X = isMatrix(calib) ? calib : calib.X;
  if (isMatrix(calib)) {
    check(calib.cols === cols, "BAD_SHAPE", `calibration X has ${calib.cols} features but W has ${cols} input columns: X must be [tokens, ${cols}]`);
    const acc = new HessianAccumulator(cols);
    await acc.add(calib);
    H = acc.H;
  } else {
    check(calib.H.length === cols * cols, "BAD_SHAPE", `the Hessian has ${calib.H.length} values: it must be ${cols} × ${cols} for W with ${cols} input columns`);
    assertFinite(calib.H, "the Hessian H");
    // the caller's H is read, not written: copied only if a dead input must be marked (a 5632-wide
    // Hessian is 127 MB, and the workflow shares one between a group's linears and their error reports)
    H = calib.H;
  }

  // dead inputs, then W in column-major working form (Wt: in × out), permuted under act-order
  const Wd = Float32Array.from(W.data);
  let deadColumns = 0;
  for (let i = 0; i < cols; i++) {
    if (H[i * cols + i] === 0) {
      if (!isMatrix(calib) && H === calib.H) H = Float32Array.from(H);
      H[i * cols + i] = 1;
      for (let r = 0; r < rows; r++) Wd[r * cols + i] = 0;
      deadColumns++;
    }
  }
  const ng = Math.ceil(cols / gs);
  const scales = new Float32Array(rows * ng);
  const zeros = new Float32Array(rows * ng);
  const gIdx = new Int32Array(cols);
  const staticParams: GroupParams[][] = [];
  if (opts.staticGroups && gs < cols) {
    for (let g = 0; g < ng; g++) {
      const c0 = g * gs;
      const c1 = Math.min(cols, c0 + gs);
      staticParams.push(Array.from({ length: rows }, (_, r) => {
        const p = fitGroup(rs, Wd.subarray(r * cols + c0, r * cols + c1));
        scales[r * ng + g] = p.scale;
        zeros[r * ng + g] = p.zero;
        return p;
      }));
    }
  }
  let perm: Int32Array | null = null;
  if (opts.actOrder) {
    const diag = Float32Array.from({ length: cols }, (_, i) => H[i * cols + i]!);
    perm = Int32Array.from(Array.from({ length: cols }, (_, i) => i).sort((a, b) => diag[b]! - diag[a]! || a - b));
    const Hp = new Float32Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) Hp[i * cols + j] = H[perm[i]! * cols + perm[j]!]!;
    H = Hp;
  }
  const WtNat = transpose(Wd, rows, cols);
  const Wt = perm ? new Float32Array(cols * rows) : WtNat;
  if (perm) for (let i = 0; i < cols; i++) Wt.set(WtNat.subarray(perm[i]! * rows, (perm[i]! + 1) * rows), i * rows);

  // damping, raised until H is positive definite
  let meanDiag = 0;
  for (let i = 0; i < cols; i++) meanDiag += H[i * cols + i]!;
  meanDiag /= cols;
  let percdamp = opts.percdamp ?? 0.01;
  check(percdamp >= 0 && Number.isFinite(percdamp), "BAD_ARGUMENT", `percdamp must be a non-negative number, got ${percdamp}`);
  const maxRetries = opts.dampRetries ?? 8;
  let retries = 0;
  let U: Float32Array;
  let L: Float32Array | null = null;
  let damp = 0;
  for (;;) {
    damp = percdamp * meanDiag;
    try {
      // damped as the factorization reads H: no damped copy of H to hold beside it
      ({ U, L } = await upperCholeskyOfInverseWithFactor(H, cols, damp));
      break;
    } catch (e) {
      if (!(e instanceof NotPositiveDefinite)) throw e;
      if (retries >= maxRetries) {
        throw new QuantLabError("NUMERICAL", `the Hessian is not positive definite even with percdamp ${percdamp} after ${retries} retries: check the calibration inputs (NaN, all-zero or too few tokens) or pass a larger percdamp`);
      }
      const next = percdamp === 0 ? 0.01 : percdamp * 4;
      warnings.push(`H was not positive definite with percdamp ${percdamp}: retried with ${next}`);
      percdamp = next;
      retries++;
    }
  }

  // the output error from the sweep's own quantities (see traceOutputError), when H came from X itself;
  // W's columns reversed (J) in processing order, taken before the JavaScript sweep updates Wt in place
  const traced = isMatrix(calib) && !opts.skipOutputError;
  const WrT = traced ? new Float32Array(cols * rows) : null;
  if (WrT) for (let i = 0; i < cols; i++) WrT.set(Wt.subarray(i * rows, (i + 1) * rows), (cols - 1 - i) * rows);
  if (!traced) L = null;

  // the column sweep in lazy batches: WebAssembly on the shared GEMM memory where it can
  const sweep: SweepInput = {
    rows, cols, rs, gs, ng, blockSize, mse: opts.mse ?? false, Wt, U, perm, staticParams, scales, zeros, gIdx,
    label: `gptq ${rows}×${cols} columns`,
  };
  // on a GPU the sweep stays on the device as tfjs operations; on cpu plain JavaScript is the faster
  const { codesT, Qt, loss } = (await sweepWasm(sweep)) ?? (backend === "webgpu" ? await sweepTf(sweep) : null) ?? (await sweepJs(sweep));

  // back to W's column order (the kernel's path decodes here: (q − zero)·scale, as decode does)
  const deq = new Float32Array(rows * cols);
  const codes = new Int16Array(rows * cols);
  for (let i = 0; i < cols; i++) {
    const col = perm ? perm[i]! : i;
    const g = gIdx[col]!;
    for (let r = 0; r < rows; r++) {
      const q = codesT[i * rows + r]!;
      deq[r * cols + col] = Qt ? Qt[i * rows + r]! : (q - zeros[r * ng + g]!) * scales[r * ng + g]!;
      codes[r * cols + col] = q;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const outErr = opts.skipOutputError || !X ? undefined
    : WrT && L ? await traceOutputError(WrT, L, rows, cols, damp, loss, Wd, deq)
    : await (await outputErrorOf(X, W))(deq);
  const base = errorReport(W.data, deq, { bitsPerWeight: bitsPerWeight(rs, gs), seconds, ...(outErr === undefined ? {} : { outputError: outErr }) });
  const report: GptqReport = { ...base, loss, backend, seconds, percdamp, dampRetries: retries, deadColumns, warnings };
  const result: GptqResult = { rows, cols, spec: rs, codes, scales, zeros, gIdx, perm, dequantized: deq, report };
  return withDisplay(result, () => keyValueBundle(`GPTQ ${describeSpec(rs)}${perm ? ", act-order" : ""}`, [
    ["shape", `${rows} × ${cols}`], ["loss", fmt(loss)], ...reportRows(base), ["backend", backend],
    ["damping", `${fmt(percdamp)}${retries ? ` (raised ${retries}×: H was not positive definite)` : ""}`],
    ...(deadColumns ? [["dead columns", String(deadColumns)] as [string, string]] : []),
  ]));
}
