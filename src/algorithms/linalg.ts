/**
 * The dense linear algebra GPTQ needs and tfjs lacks (it has no Cholesky, triangular solve or inverse),
 * in blocked form: small diagonal blocks in float64 JavaScript, every trailing update a matrix product
 * (src/algorithms/matmul.ts: on wasm the SIMD kernel over both cores). FLOPs for n × n: Cholesky n³/3
 * (its trailing updates are symmetric products: only their upper halves are computed), triangular
 * inverse n³/3 (on wasm the kernel skips the zero halves of the triangular factors at chunk
 * granularity, so ≈ 1.2× that is executed; tfjs backends execute ≈ 2×).
 *
 *   cholesky(A, n)      → lower L with A = L·Lᵀ (throws NUMERICAL at the first non-positive pivot)
 *   invertLower(L, n)   → L⁻¹ (lower)
 *   upperCholeskyOfInverse(H, n) → upper U with H⁻¹ = Uᵀ·U: GPTQ's `Hinv`
 *   upperCholeskyOfInverseWithFactor(H, n) → { U, L }: also the factor L of J·H·J = L·Lᵀ
 */
import { QuantLabError } from "../errors.js";
import { matmul } from "./matmul.js";
import { ensureBackend, tf } from "../backend/index.js";
import { withWorkspace } from "../backend/gemm.js";

const PANEL = 256;

/** Thrown when a matrix is not (numerically) positive definite; `pivot` is the failing index. */
export class NotPositiveDefinite extends QuantLabError {
  constructor(readonly pivot: number, readonly value: number) {
    super("NUMERICAL", `the matrix is not positive definite: pivot ${pivot} is ${value}; add damping (percdamp) or check the calibration inputs`);
  }
}

/** In-place unblocked Cholesky of a b × b float64 block (row-major); the upper part is zeroed. */
function cholSmall(a: Float64Array, b: number, offset: number): void {
  for (let j = 0; j < b; j++) {
    let d = a[j * b + j]!;
    for (let k = 0; k < j; k++) d -= a[j * b + k]! * a[j * b + k]!;
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefinite(offset + j, d);
    const ljj = Math.sqrt(d);
    a[j * b + j] = ljj;
    for (let i = j + 1; i < b; i++) {
      let s = a[i * b + j]!;
      for (let k = 0; k < j; k++) s -= a[i * b + k]! * a[j * b + k]!;
      a[i * b + j] = s / ljj;
    }
    for (let k = j + 1; k < b; k++) a[j * b + k] = 0;
  }
}

/** In-place inverse of a lower-triangular b × b float64 block. */
function invLowerSmall(l: Float64Array, b: number): void {
  for (let j = 0; j < b; j++) {
    l[j * b + j] = 1 / l[j * b + j]!;
    for (let i = j + 1; i < b; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * b + k]! * l[k * b + j]!;
      l[i * b + j] = -s / l[i * b + i]!;
    }
  }
}

function block(a: Float32Array, n: number, r0: number, r1: number, c0: number, c1: number): Float32Array {
  const w = c1 - c0;
  const out = new Float32Array((r1 - r0) * w);
  for (let r = r0; r < r1; r++) out.set(a.subarray(r * n + c0, r * n + c1), (r - r0) * w);
  return out;
}

/**
 * How `cholesky` reads A: as J·A·J (rows and columns reversed) and with `damp` added to the diagonal,
 * both while it copies A into its working matrix, so a 5632-wide Hessian is not copied twice more first.
 */
export interface CholeskyInput {
  reversed?: boolean;
  damp?: number;
}

/** A (n × n), prepared as `prep` says, into f at `at`: reversal and damping are exact, so the order does not matter. */
function loadInput(f: Float32Array, at: number, A: Float32Array, n: number, prep: CholeskyInput): void {
  if (prep.reversed) for (let i = 0, last = n * n - 1; i < n * n; i++) f[at + last - i] = A[i]!;
  else f.set(A.subarray(0, n * n), at);
  if (prep.damp) for (let i = 0; i < n; i++) f[at + i * n + i]! += prep.damp;
}

/**
 * Cholesky factor L (lower, row-major) of a symmetric positive definite n × n A; A is not modified.
 * @example
 * ```ts
 * const L = await cholesky(Float32Array.from([4, 2, 2, 3]), 2); // [2, 0, 1, 1.414…]
 * ```
 */
export async function cholesky(A: Float32Array, n: number, prep: CholeskyInput = {}): Promise<Float32Array> {
  await ensureBackend();
  if (tf.getBackend() === "wasm") {
    const L = await choleskyInPlace(A, n, prep);
    if (L) return L;
  }
  const a = new Float32Array(n * n);
  loadInput(a, 0, A, n, prep);
  for (let k0 = 0; k0 < n; k0 += PANEL) {
    const k1 = Math.min(n, k0 + PANEL);
    const b = k1 - k0;
    const d = new Float64Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) d[i * b + j] = a[(k0 + i) * n + k0 + j]!;
    cholSmall(d, b, k0);
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) a[(k0 + i) * n + k0 + j] = d[i * b + j]!;
    if (k1 === n) break;
    const m = n - k1;
    // L21 = A21 · L11⁻ᵀ
    invLowerSmall(d, b);
    const invT = new Float32Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) invT[j * b + i] = d[i * b + j]!;
    const L21 = await matmul(block(a, n, k1, n, k0, k1), m, b, invT, b);
    for (let r = 0; r < m; r++) a.set(L21.subarray(r * b, (r + 1) * b), (k1 + r) * n + k0);
    // A22 −= L21 · L21ᵀ (only the lower triangle is read later; the symmetric product halves the work)
    const upd = await matmul(L21, m, b, L21, m, undefined, { symmetric: true, transB: true });
    for (let r = 0; r < m; r++) {
      const off = (k1 + r) * n + k1;
      for (let c = 0; c <= r; c++) a[off + c]! -= upd[r * m + c]!;
    }
  }
  for (let r = 0; r < n; r++) a.fill(0, r * n + r + 1, (r + 1) * n);
  return a;
}

/**
 * The same blocked Cholesky with the matrix held in the GEMM kernel's shared memory (wasm backend): the
 * panel solve and the trailing update run as in-place products over regions of it, the update computing
 * only the lower triangle it needs, so nothing is copied per panel but the b × b diagonal block. The
 * arithmetic is that of the path above, operation for operation (same products, same order, same
 * float32 roundings). null when the kernel is unavailable.
 */
async function choleskyInPlace(A: Float32Array, n: number, prep: CholeskyInput): Promise<Float32Array | null> {
  return withWorkspace(n * n + PANEL * PANEL + n * PANEL, async (ws) => {
    const f = ws.f32;
    const M = ws.base; // the matrix, row stride n
    const T = M + n * n; // L11⁻ᵀ of the panel, row stride b
    const S = T + PANEL * PANEL; // the panel's L21, row stride b
    loadInput(f, M, A, n, prep);
    for (let k0 = 0; k0 < n; k0 += PANEL) {
      const k1 = Math.min(n, k0 + PANEL);
      const b = k1 - k0;
      const d = new Float64Array(b * b);
      for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) d[i * b + j] = f[M + (k0 + i) * n + k0 + j]!;
      cholSmall(d, b, k0);
      for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) f[M + (k0 + i) * n + k0 + j] = d[i * b + j]!;
      if (k1 === n) break;
      const m = n - k1;
      // L21 = A21 · L11⁻ᵀ, into S, then into the matrix
      invLowerSmall(d, b);
      f.fill(0, T, T + b * b);
      for (let i = 0; i < b; i++) for (let j = 0; j <= i; j++) f[T + j * b + i] = d[i * b + j]!;
      await ws.product({ at: M + k1 * n + k0, ld: n }, m, b, { at: T, ld: b }, b, { at: S, ld: b });
      for (let r = 0; r < m; r++) f.copyWithin(M + (k1 + r) * n + k0, S + r * b, S + (r + 1) * b);
      // A22 −= L21 · L21ᵀ, lower triangle only (the only part read later)
      await ws.product({ at: S, ld: b }, m, b, { at: S, ld: b }, m, { at: M + k1 * n + k1, ld: n }, { transB: true, accumulate: true, alpha: -1, tri: 2 });
    }
    const L = f.slice(M, M + n * n);
    for (let r = 0; r < n; r++) L.fill(0, r * n + r + 1, (r + 1) * n);
    return L;
  });
}

/**
 * Inverse of a lower-triangular n × n L, recursively: inv([[A, 0], [B, C]]) = [[A⁻¹, 0], [−C⁻¹·B·A⁻¹, C⁻¹]].
 * @example
 * ```ts
 * const Li = await invertLower(Float32Array.from([2, 0, 1, 1]), 2); // [0.5, 0, -0.5, 1]
 * ```
 */
export async function invertLower(L: Float32Array, n: number): Promise<Float32Array> {
  if (n <= PANEL) {
    const d = Float64Array.from(L);
    invLowerSmall(d, n);
    const out = Float32Array.from(d);
    for (let r = 0; r < n; r++) out.fill(0, r * n + r + 1, (r + 1) * n);
    return out;
  }
  const h = Math.ceil(n / 2 / PANEL) * PANEL;
  const m = n - h;
  const Ai = await invertLower(block(L, n, 0, h, 0, h), h);
  const Ci = await invertLower(block(L, n, h, n, h, n), m);
  const BAi = await matmul(block(L, n, h, n, 0, h), m, h, Ai, h, undefined, { lowerB: true });
  const X = await matmul(Ci, m, m, BAi, h, undefined, { alpha: -1, lowerA: true });
  const out = new Float32Array(n * n);
  for (let r = 0; r < h; r++) out.set(Ai.subarray(r * h, (r + 1) * h), r * n);
  for (let r = 0; r < m; r++) {
    out.set(X.subarray(r * h, (r + 1) * h), (h + r) * n);
    out.set(Ci.subarray(r * m, (r + 1) * m), (h + r) * n + h);
  }
  return out;
}

/** Both rows and columns in reverse order, in place: the exchange matrix J·A·J. */
function reverseInPlace(a: Float32Array, n: number): Float32Array {
  for (let i = 0, j = n * n - 1; i < j; i++, j--) [a[i], a[j]] = [a[j]!, a[i]!];
  return a;
}

/**
 * GPTQ's Hinv: the upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ·U), from one Cholesky and one triangular
 * inverse instead of the reference's three factorizations: with J the exchange matrix and
 * J·H·J = L·Lᵀ, U = J·L⁻¹·J (upper, positive diagonal, so the unique factor).
 * @example
 * ```ts
 * const U = await upperCholeskyOfInverse(Float32Array.from([4, 2, 2, 3]), 2);
 * ```
 */
export async function upperCholeskyOfInverse(H: Float32Array, n: number): Promise<Float32Array> {
  return (await upperCholeskyOfInverseWithFactor(H, n)).U;
}

/**
 * The same for H + damp·I, with the Cholesky factor it came from: L lower with J·(H + damp·I)·J = L·Lᵀ,
 * so for any W, tr(W·(H + damp·I)·Wᵀ) = ‖(W·J)·L‖² (W's columns reversed times a triangular factor:
 * half a product). H itself is only read.
 */
export async function upperCholeskyOfInverseWithFactor(H: Float32Array, n: number, damp = 0): Promise<{ U: Float32Array; L: Float32Array }> {
  const L = await cholesky(H, n, { reversed: true, damp });
  return { U: reverseInPlace(await invertLower(L, n), n), L };
}
