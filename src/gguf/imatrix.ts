/**
 * Importance matrices as llama.cpp's `llama-imatrix` builds them: for a linear layer y = W·x, one weight
 * per input column j, the mean of x_j² over the calibration activations that reach the layer. Quantizers
 * that take it (quants.ts IMATRIX_TYPES) then fit each block's scales to minimise the error weighted by
 * how strongly each input channel is driven — the GGUF world's answer to AWQ.
 *
 *   const im = imatrixFromActivations(X, 512);   // X: tokens × 512 activations, row-major
 *   const q = quantize("Q4_K", W, 512, im);
 */
import { check } from "../errors.js";

/** Mean of x² per column of `x` (nRows × nCols, row-major), accumulated in double. */
export function imatrixFromActivations(x: Float32Array, nCols: number): Float32Array {
  check(Number.isInteger(nCols) && nCols > 0, "BAD_SHAPE", `column count ${nCols} must be a positive integer`);
  check(x.length > 0 && x.length % nCols === 0, "BAD_SHAPE", () =>
    `${x.length} activations are not a whole number of rows of ${nCols}: pass tokens × ${nCols} values (one row per token)`);
  const nRows = x.length / nCols;
  const sum = new Float64Array(nCols);
  for (let r = 0; r < nRows; r++) {
    const o = r * nCols;
    for (let j = 0; j < nCols; j++) {
      const v = x[o + j]!;
      sum[j] += v * v;
    }
  }
  const out = new Float32Array(nCols);
  for (let j = 0; j < nCols; j++) {
    check(Number.isFinite(sum[j]!), "BAD_VALUE", () => `calibration activations in column ${j} are NaN or infinite: clean the calibration data`);
    out[j] = sum[j]! / nRows;
  }
  return out;
}
