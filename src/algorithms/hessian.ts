/**
 * Calibration statistics: GPTQ's streaming Hessian H = 2/N·Σ x·xᵀ (REFERENCE §4: a running average, so
 * activations never need to be held at once), AWQ's mean |x| per input channel, and the relative output
 * error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖², from X or from its Hessian.
 */
import { check } from "../errors.js";
import type { Matrix } from "../numerics/matrix.js";
import { assertFinite } from "../numerics/metrics.js";
import { GEMM_BLOCK_ROWS } from "../backend/gemm.js";
import { gram, matmul } from "./matmul.js";

/**
 * H = 2/N·Σ xxᵀ accumulated batch by batch (tokens × in_features each).
 * @example
 * ```ts
 * const acc = new HessianAccumulator(4096);
 * for (const batch of batches) await acc.add(batch);
 * acc.H // Float32Array 4096 × 4096
 * ```
 */
export class HessianAccumulator {
  readonly H: Float32Array;
  /** Tokens seen so far. */
  count = 0;
  constructor(readonly cols: number) {
    this.H = new Float32Array(cols * cols);
  }

  async add(X: Matrix): Promise<void> {
    check(X.cols === this.cols, "BAD_SHAPE", `calibration batch has ${X.cols} features but the layer has ${this.cols} input columns: they must match`);
    assertFinite(X.data, "the calibration inputs X");
    const n = this.count + X.rows;
    const keep = this.count / n;
    if (keep !== 0) for (let i = 0; i < this.H.length; i++) this.H[i]! *= keep;
    // the first batch overwrites (H is still 0), so the product need not read H back in
    await gram(X.data, X.rows, X.cols, this.H, { accumulate: this.count !== 0, alpha: 2 / n });
    this.count = n;
  }
}

/**
 * GPTQ's Hessian 2/N·XᵀX of calibration inputs X (tokens × in_features).
 * @example
 * ```ts
 * const H = await hessian(matrix(2, 2, [1, 0, 0, 1])); // [1, 0, 0, 1]
 * ```
 */
export async function hessian(X: Matrix): Promise<Float32Array> {
  const acc = new HessianAccumulator(X.cols);
  // a block of rows at a time: the GEMM copies its operand into a shared memory that never shrinks, so
  // 128 × 512 calibration tokens of a 5632-wide input would otherwise hold 1.5 GB there for the whole run
  for (let r = 0; r < X.rows; r += GEMM_BLOCK_ROWS) {
    const end = Math.min(X.rows, r + GEMM_BLOCK_ROWS);
    await acc.add({ rows: end - r, cols: X.cols, data: X.data.subarray(r * X.cols, end * X.cols) });
  }
  return acc.H;
}

/** Σ over rows of a·H·aᵀ for the rows of A (rows × in): tr(A·H·Aᵀ), H symmetric. */
async function quadraticEnergy(H: Float32Array, A: Float32Array, rows: number, cols: number): Promise<number> {
  const AH = await matmul(A, rows, cols, H, cols);
  let s = 0;
  for (let i = 0; i < AH.length; i++) s += AH[i]! * A[i]!;
  return s;
}

/**
 * The relative output error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² from X's Hessian H ∝ XᵀX (in × in, any scale):
 * tr(D·H·Dᵀ) / tr(W·H·Wᵀ) with D = W − Q. It needs no X, and with more calibration tokens than input
 * columns it is the cheaper form (2·out·in² FLOPs per trace against 2·tokens·in·out per product):
 * a 1.1B layer's report over 128 × 512 tokens costs ≈ 0.5 TFLOP this way, 11 TFLOP through X.
 */
export async function outputErrorFromHessian(H: Float32Array, W: Matrix, Q: Float32Array): Promise<number> {
  check(H.length === W.cols * W.cols, "BAD_SHAPE", `the Hessian has ${H.length} values but W's ${W.cols} input columns need ${W.cols * W.cols}`);
  check(Q.length === W.data.length, "BAD_SHAPE", `the quantized weight has ${Q.length} values, W has ${W.data.length}`);
  const D = new Float32Array(Q.length);
  for (let i = 0; i < D.length; i++) D[i] = W.data[i]! - Q[i]!;
  const num = await quadraticEnergy(H, D, W.rows, W.cols);
  const den = await quadraticEnergy(H, W.data, W.rows, W.cols);
  return den > 0 ? num / den : num;
}

/** Mean |x| per input channel (AWQ's activation statistic). */
export function meanAbs(X: Matrix): Float32Array {
  const s = new Float64Array(X.cols);
  for (let t = 0; t < X.rows; t++) {
    const off = t * X.cols;
    for (let c = 0; c < X.cols; c++) s[c]! += Math.abs(X.data[off + c]!);
  }
  return Float32Array.from(s, (v) => v / X.rows);
}

/** Σ of squares of X·Aᵀ for X tokens × k and A rows × k (A read transposed in place). */
export async function outputEnergy(X: Matrix, A: Float32Array, rows: number): Promise<number> {
  const Y = await matmul(X.data, X.rows, X.cols, A, rows, undefined, { transB: true });
  let s = 0;
  for (let i = 0; i < Y.length; i++) s += Y[i]! * Y[i]!;
  return s;
}

/**
 * A function giving the relative output error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² of any Q, with the denominator
 * computed once (so RTN, GPTQ and AWQ compare on one input for the cost of one product each).
 */
export async function outputErrorOf(X: Matrix, W: Matrix): Promise<(Q: Float32Array) => Promise<number>> {
  check(X.cols === W.cols, "BAD_SHAPE", `calibration X has ${X.cols} features but W has ${W.cols} input columns: they must match`);
  const den = await outputEnergy(X, W.data, W.rows);
  return async (Q) => {
    check(Q.length === W.data.length, "BAD_SHAPE", `the quantized weight has ${Q.length} values, W has ${W.data.length}`);
    const D = new Float32Array(Q.length);
    for (let i = 0; i < D.length; i++) D[i] = W.data[i]! - Q[i]!;
    const num = await outputEnergy(X, D, W.rows);
    return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
  };
}

/**
 * Relative output error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² (X tokens × in, W and Q out × in).
 * @example
 * ```ts
 * const e = await outputError(X, W, rtn(W, { bits: 4, groupSize: 128 }).dequantized);
 * ```
 */
export async function outputError(X: Matrix, W: Matrix, Q: Float32Array): Promise<number> {
  return (await outputErrorOf(X, W))(Q);
}
