/**
 * A weight matrix as every layer passes it: row-major FP32, `rows` = output features (channels),
 * `cols` = input features. `W[r, c] = data[r * cols + c]`. Per-channel means per row; groups run
 * along a row, as in GPTQ, AWQ and llama.cpp.
 */
import { check } from "../errors.js";

export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/** Wraps data as a rows × cols matrix, checking the length. */
export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  check(Number.isInteger(rows) && rows > 0 && Number.isInteger(cols) && cols > 0, "BAD_SHAPE",
    `a matrix needs positive integer rows and cols, got ${rows} × ${cols}`);
  const d = data === undefined ? new Float32Array(rows * cols) : data instanceof Float32Array ? data : Float32Array.from(data);
  check(d.length === rows * cols, "BAD_SHAPE", `${rows} × ${cols} needs ${rows * cols} values, got ${d.length}`);
  return { rows, cols, data: d };
}
