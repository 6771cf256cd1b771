/**
 * Matrix products over row-major Float32Arrays on the active backend. On wasm (the default) they run on
 * QuantLab's WebAssembly SIMD GEMM over both cores (src/backend/gemm.ts), transposed operands read in
 * place. Elsewhere (cpu, webgpu, tensorflow), or when dist/wasm/gemm.wasm is not built, they run as
 * tfjs matMul: only untransposed products (tfjs-wasm's transposeA/transposeB path runs ≈ 0.2–2 GFLOP/s
 * against ≈ 20 for the plain one, measured at 1024³), in output tiles of at most 1024 × 1024 (2048³ runs
 * at ≈ 15 GFLOP/s, 1024³ at ≈ 20–25: the tile keeps XNNPACK's working set in cache).
 */
import { ensureBackend, tf } from "../backend/index.js";
import { parallelMatmul } from "../backend/pool.js";
import { gemm } from "../backend/gemm.js";

const TILE = 1024;
/** Products below this many FLOPs stay on the main thread (handing off costs ≈ 10 ms). */
const POOL_MIN_FLOP = 2e9;

/** Row-major transpose of a rows × cols array (cache-blocked). */
export function transpose(a: Float32Array, rows: number, cols: number, out = new Float32Array(rows * cols)): Float32Array {
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const off = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = a[off + c]!;
      }
    }
  }
  return out;
}

/** Columns [c0, c1) of a rows × cols array, as a contiguous rows × (c1 − c0) array. */
export function columns(a: Float32Array, rows: number, cols: number, c0: number, c1: number): Float32Array {
  if (c0 === 0 && c1 === cols) return a;
  const w = c1 - c0;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * cols + c0, r * cols + c1), r * w);
  return out;
}

export interface MatmulOptions {
  /** Only compute output tiles on or above the diagonal and mirror them (for A = Bᵀ, i.e. a Gram matrix). */
  symmetric?: boolean;
  /** Add the product into `out` times `alpha` instead of overwriting it: out += alpha·A·B. */
  accumulate?: boolean;
  alpha?: number;
  /** A is given transposed: stored k × m (so Xᵀ·Y needs no copy of Xᵀ). */
  transA?: boolean;
  /** B is given transposed: stored n × k (so X·Wᵀ with W out × in needs no copy of Wᵀ). */
  transB?: boolean;
  /** op(A) is square and lower triangular (zeros above the diagonal): the wasm kernel skips the zero half. */
  lowerA?: boolean;
  /** op(B) is square and lower triangular: the wasm kernel skips the zero half. */
  lowerB?: boolean;
}

/**
 * C = op(A)·op(B) (m × n) for row-major A (m × k, or k × m with transA) and B (k × n, or n × k with
 * transB); with `accumulate`, out += alpha·op(A)·op(B).
 * @example
 * ```ts
 * const C = await matmul(Float32Array.from([1, 2, 3, 4]), 2, 2, Float32Array.from([1, 0, 0, 1]), 2);
 * const XWt = await matmul(X, tokens, inF, W, outF, undefined, { transB: true }); // X·Wᵀ, W out × in
 * ```
 */
export async function matmul(
  A: Float32Array, m: number, k: number, B: Float32Array, n: number,
  out?: Float32Array, opts: MatmulOptions = {},
): Promise<Float32Array> {
  await ensureBackend();
  if (tf.getBackend() === "wasm") {
    const C = await gemm(A, m, k, B, n, out, opts);
    if (C) return C;
  }
  if (opts.transA) A = transpose(A, k, m);
  if (opts.transB) B = transpose(B, n, k);
  const C = out ?? new Float32Array(m * n);
  const alpha = opts.alpha ?? 1;
  if (tf.getBackend() === "wasm" && 2 * m * n * k >= POOL_MIN_FLOP) {
    // tfjs-wasm is single-threaded under Node: large products go to the worker pool (both cores)
    const P = await parallelMatmul(A, m, k, B, n, TILE, opts.symmetric);
    if (P) {
      for (let i0 = 0; i0 < m; i0 += TILE) {
        for (let j0 = 0; j0 < n; j0 += TILE) {
          if (opts.symmetric && i0 > j0) continue;
          const i1 = Math.min(m, i0 + TILE);
          const j1 = Math.min(n, j0 + TILE);
          for (let r = i0; r < i1; r++) {
            const off = r * n;
            if (opts.accumulate) for (let c = j0; c < j1; c++) C[off + c]! += alpha * P[off + c]!;
            else if (alpha === 1) C.set(P.subarray(off + j0, off + j1), off + j0);
            else for (let c = j0; c < j1; c++) C[off + c] = alpha * P[off + c]!;
          }
          if (opts.symmetric && i0 < j0) for (let r = i0; r < i1; r++) for (let c = j0; c < j1; c++) C[c * n + r] = C[r * n + c]!;
        }
      }
      return C;
    }
  }
  const aTiles: tf.Tensor2D[] = [];
  for (let i0 = 0; i0 < m; i0 += TILE) {
    const i1 = Math.min(m, i0 + TILE);
    aTiles.push(tf.tensor2d(A.subarray(i0 * k, i1 * k), [i1 - i0, k]));
  }
  try {
    for (let j0 = 0; j0 < n; j0 += TILE) {
      const j1 = Math.min(n, j0 + TILE);
      const bt = tf.tensor2d(columns(B, k, n, j0, j1), [k, j1 - j0]);
      try {
        for (let t = 0; t < aTiles.length; t++) {
          const i0 = t * TILE;
          if (opts.symmetric && i0 > j0) continue;
          const ct = tf.matMul(aTiles[t]!, bt);
          const data = (await ct.data()) as Float32Array;
          ct.dispose();
          const w = j1 - j0;
          const h = Math.min(m, i0 + TILE) - i0;
          for (let r = 0; r < h; r++) {
            const src = data.subarray(r * w, (r + 1) * w);
            const off = (i0 + r) * n + j0;
            if (opts.accumulate) for (let c = 0; c < w; c++) C[off + c]! += alpha * src[c]!;
            else if (alpha === 1) C.set(src, off);
            else for (let c = 0; c < w; c++) C[off + c] = alpha * src[c]!;
          }
          if (opts.symmetric && i0 < j0) {
            // mirror the tile below the diagonal
            for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) C[(j0 + c) * n + i0 + r] = C[(i0 + r) * n + j0 + c]!;
          }
        }
      } finally {
        bt.dispose();
      }
    }
  } finally {
    for (const t of aTiles) t.dispose();
  }
  return C;
}

/** XᵀX of a row-major tokens × cols X (the Gram matrix), computing only the upper triangle (SYRK: half the FLOPs). */
export async function gram(X: Float32Array, tokens: number, cols: number, out?: Float32Array, opts: { accumulate?: boolean; alpha?: number } = {}): Promise<Float32Array> {
  await ensureBackend();
  if (tf.getBackend() === "wasm") {
    // out is symmetric whenever it was built by gram: accumulating into its upper triangle and mirroring is exact
    const C = await gemm(X, cols, tokens, X, cols, out, { transA: true, symmetric: true, accumulate: opts.accumulate, alpha: opts.alpha });
    if (C) return C;
  }
  const Xt = transpose(X, tokens, cols);
  if (!opts.accumulate) return matmul(Xt, cols, tokens, X, cols, out, { symmetric: true, alpha: opts.alpha });
  // accumulating through a symmetric product would add the mirrored tiles twice: add a fresh product
  const G = await matmul(Xt, cols, tokens, X, cols, undefined, { symmetric: true, alpha: opts.alpha });
  const C = out ?? new Float32Array(cols * cols);
  for (let i = 0; i < G.length; i++) C[i]! += G[i]!;
  return C;
}
