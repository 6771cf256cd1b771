/** Test data and a naive float64 GPTQ (the reference's column loop, no lazy batches) to check the fast path against. */
import type { Matrix } from "../../src/numerics/matrix.js";
import { decode, encode, fitGroup } from "../../src/numerics/affine.js";
import { resolveSpec } from "../../src/numerics/spec.js";
import { randn, randt } from "../helpers/random.js";

/** W ~ t(5)·0.02 (rows × cols). */
export function weights(rows: number, cols: number, seed = 1): Matrix {
  return { rows, cols, data: randt(rows * cols, seed, 5, 0.02) };
}

/** X ~ N(0,1) (tokens × cols) with every `every`-th channel ×20 and, with `mix`, neighbouring channels correlated. */
export function inputs(tokens: number, cols: number, seed = 2, opts: { every?: number; mix?: number } = {}): Matrix {
  const data = randn(tokens * cols, seed);
  const mix = opts.mix ?? 0;
  if (mix) {
    for (let t = 0; t < tokens; t++) for (let c = 1; c < cols; c++) data[t * cols + c] = mix * data[t * cols + c - 1]! + (1 - mix) * data[t * cols + c]!;
  }
  const every = opts.every ?? 0;
  if (every) for (let t = 0; t < tokens; t++) for (let c = 0; c < cols; c += every) data[t * cols + c]! *= 20;
  return { rows: tokens, cols, data };
}

/** Hinv's upper Cholesky factor in float64, the reference's way (chol, inverse, chol upper). */
function upperCholInv(H: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = H[j * n + j]!;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2;
    L[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = H[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / L[j * n + j]!;
    }
  }
  // inverse of L, then Hinv = L⁻ᵀL⁻¹, then its upper Cholesky factor
  const Li = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    Li[j * n + j] = 1 / L[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L[i * n + k]! * Li[k * n + j]!;
      Li[i * n + j] = -s / L[i * n + i]!;
    }
  }
  const Hi = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = Math.max(i, j); k < n; k++) s += Li[k * n + i]! * Li[k * n + j]!;
    Hi[i * n + j] = s;
  }
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let d = Hi[i * n + i]!;
    for (let k = 0; k < i; k++) d -= U[k * n + i]! ** 2;
    U[i * n + i] = Math.sqrt(d);
    for (let j = i + 1; j < n; j++) {
      let s = Hi[i * n + j]!;
      for (let k = 0; k < i; k++) s -= U[k * n + i]! * U[k * n + j]!;
      U[i * n + j] = s / U[i * n + i]!;
    }
  }
  return U;
}

/** Naive GPTQ (no act-order): per column quantize, spread the error over all later columns. Returns codes and the dequantized weight. */
export function naiveGptq(W: Matrix, X: Matrix, bits: number, gs: number, blockSize = 128, percdamp = 0.01): { codes: Int16Array; deq: Float32Array } {
  const { rows, cols } = W;
  const H = new Float64Array(cols * cols);
  for (let t = 0; t < X.rows; t++) for (let i = 0; i < cols; i++) {
    const xi = X.data[t * cols + i]!;
    for (let j = 0; j < cols; j++) H[i * cols + j]! += (2 / X.rows) * xi * X.data[t * cols + j]!;
  }
  let md = 0;
  for (let i = 0; i < cols; i++) md += H[i * cols + i]!;
  for (let i = 0; i < cols; i++) H[i * cols + i]! += (percdamp * md) / cols;
  const U = upperCholInv(H, cols);
  const rs = resolveSpec({ bits, scheme: "asymmetric", convention: "gptq", groupSize: "channel" });
  const w = Float64Array.from(W.data);
  const codes = new Int16Array(rows * cols);
  const deq = new Float32Array(rows * cols);
  let snap = w;
  let params = [] as ReturnType<typeof fitGroup>[];
  for (let i = 0; i < cols; i++) {
    // the reference fits a group on W as it stood at the start of the current lazy batch
    if (i % blockSize === 0) snap = w.slice();
    if (i % gs === 0) {
      params = Array.from({ length: rows }, (_, r) => fitGroup(rs, Float32Array.from(snap.subarray(r * cols + i, r * cols + i + gs))));
    }
    const d = U[i * cols + i]!;
    for (let r = 0; r < rows; r++) {
      const q = encode(rs, w[r * cols + i]!, params[r]!);
      const v = decode(rs, q, params[r]!);
      codes[r * cols + i] = q;
      deq[r * cols + i] = v;
      const e = (w[r * cols + i]! - v) / d;
      for (let j = i + 1; j < cols; j++) w[r * cols + j]! -= e * U[i * cols + j]!;
    }
  }
  return { codes, deq };
}

/** Fraction of positions where two code arrays differ. */
export function mismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n / a.length;
}
