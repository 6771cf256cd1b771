/**
 * A weight matrix as every layer passes it: row-major FP32, `rows` = output features (channels),
 * `cols` = input features. `W[r, c] = data[r * cols + c]`. Per-channel means per row; groups run
 * along a row, as in GPTQ, AWQ and llama.cpp.
 */
import { check } from "../errors.js";
import { checkAllocation } from "../memory-budget.js";

/**
 * A weight or activation matrix: row-major FP32 data with its shape. For a weight, rows are output
 * channels and cols input features, so `W.data[r * W.cols + c]` is W[r, c]. Make one with `matrix` or `randn`.
 */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * Wraps data as a rows × cols matrix, checking the length.
 * @example
 * ```ts
 * const W = matrix(2, 3, [1, 2, 3, 4, 5, 6]);   // 2 output channels × 3 inputs
 * W.data[1 * W.cols + 2]                        // 6: row 1, column 2
 * ```
 */
export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  check(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0, "BAD_SHAPE",
    `a matrix needs positive integer rows and cols, got ${rows} × ${cols}`);
  if (data === undefined) checkAllocation(rows * cols * 4, `a ${rows} × ${cols} matrix`);
  const d = data === undefined ? new Float32Array(rows * cols) : data instanceof Float32Array ? data : Float32Array.from(data);
  check(d.length === rows * cols, "BAD_SHAPE", `${rows} × ${cols} needs ${rows * cols} values, got ${d.length}`);
  return { rows, cols, data: d };
}
