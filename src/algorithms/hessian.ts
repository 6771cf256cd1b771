/**
 * Calibration statistics: GPTQ's streaming Hessian H = 2/N·Σ x·xᵀ (REFERENCE §4: a running average, so
 * activations never need to be held at once), AWQ's mean |x| per input channel, and the relative output
 * error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² on the tfjs backend.
 */
import { check } from "../errors.js";
import type { Matrix } from "../numerics/matrix.js";
import { assertFinite } from "../numerics/metrics.js";
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
  await acc.add(X);
  return acc.H;
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
