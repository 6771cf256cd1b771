/**
 * Walsh–Hadamard transforms: the orthogonal rotations QuaRot and QuIP# use to spread an outlier over
 * every channel. Sylvester's construction, normalized by 1/√n so H·Hᵀ = I (and H = Hᵀ, H·H = I).
 * Sizes that are not a power of two use a block-diagonal H over the largest power-of-two block that
 * divides n (still orthogonal, spreading less).
 */
import { check } from "../../errors.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import { mulberry32 } from "../../numerics/random.js";

/** The largest power of two dividing n. */
export function hadamardBlock(n: number): number {
  check(Number.isInteger(n) && n > 0, "BAD_ARGUMENT", `a Hadamard transform needs a positive integer size, got ${n}`);
  return n & -n;
}

/** In place: each run of `n` values from `offset` (n a power of two) becomes its normalized transform. */
export function fwht(x: Float32Array | Float64Array, n: number, offset = 0): void {
  check((n & (n - 1)) === 0 && n > 0, "BAD_ARGUMENT", `fwht needs a power-of-two length, got ${n}`);
  for (let h = 1; h < n; h *= 2)
    for (let i = 0; i < n; i += 2 * h)
      for (let j = offset + i; j < offset + i + h; j++) {
        const a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
  const s = 1 / Math.sqrt(n);
  for (let j = offset; j < offset + n; j++) x[j] *= s;
}

/** Rotates every row (length n) of x by the block Hadamard of size n: x ← x·H. */
export function hadamardRows(x: Float32Array | Float64Array, n: number): void {
  check(x.length % n === 0, "BAD_SHAPE", `${x.length} values are not whole rows of ${n}`);
  const b = hadamardBlock(n);
  for (let o = 0; o < x.length; o += b) fwht(x, b, o);
}

/** ±1 signs from a seed: the diagonal D of a randomized Hadamard D·H. */
export function randomSigns(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1));
}

/**
 * The n × n orthogonal Q = D·H (D = diag(signs), H the block Hadamard); signs null: Q = H.
 * @example
 * ```ts
 * hadamardMatrix(4).data   // [0.5, 0.5, 0.5, 0.5,  0.5, -0.5, 0.5, -0.5,  0.5, 0.5, -0.5, -0.5,  0.5, -0.5, -0.5, 0.5]
 * ```
 */
export function hadamardMatrix(n: number, signs: Float32Array | null = null): Matrix {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = signs ? signs[i] : 1;
  hadamardRows(q, n);
  return matrix(n, n, q);
}

/**
 * M·Q with Q = D·H the randomized Hadamard (signs from `seed`) acting on M's columns: a rotation of
 * each row, norms kept exactly (up to rounding), outliers spread. `(M·Q)·Qᵀ = M`.
 * @example
 * ```ts
 * const W = matrix(2, 8, [40, 0, 0, 0, 0, 0, 0, 0,  1, 2, 3, 4, 5, 6, 7, 8]);
 * randomizedHadamard(W, 1).data.slice(0, 8)   // ±14.14 everywhere: the outlier spread over the row
 * ```
 */
export function randomizedHadamard(M: Matrix, seed = 0): Matrix {
  const signs = randomSigns(M.cols, seed);
  const out = new Float64Array(M.data.length);
  for (let i = 0; i < out.length; i++) out[i] = M.data[i] * signs[i % M.cols];
  hadamardRows(out, M.cols);
  return matrix(M.rows, M.cols, out);
}
