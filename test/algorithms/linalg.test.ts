import { test } from "node:test";
import assert from "node:assert/strict";
import { cholesky, invertLower, NotPositiveDefinite, upperCholeskyOfInverse } from "../../src/algorithms/linalg.js";
import { hessian, HessianAccumulator, meanAbs, outputError, outputErrorFromHessian } from "../../src/algorithms/hessian.js";
import { matmul, transpose } from "../../src/algorithms/matmul.js";
import { useBackend } from "../../src/backend/index.js";
import { inputs } from "./helpers.js";

await useBackend("wasm");

/** A well-conditioned SPD n × n matrix: XᵀX/N + I. */
function spd(n: number, seed: number): Float32Array {
  const X = inputs(n + 16, n, seed, { mix: 0.5 });
  const A = new Float32Array(n * n);
  for (let t = 0; t < X.rows; t++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j]! += (X.data[t * n + i]! * X.data[t * n + j]!) / X.rows;
  for (let i = 0; i < n; i++) A[i * n + i]! += 1;
  return A;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("matmul (tiled past 1024) equals the naive product", async () => {
  const m = 3, k = 5, n = 1100;
  const A = Float32Array.from({ length: m * k }, (_, i) => (i % 7) - 3);
  const B = Float32Array.from({ length: k * n }, (_, i) => ((i * 13) % 11) - 5);
  const C = await matmul(A, m, k, B, n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let l = 0; l < k; l++) s += A[i * k + l]! * B[l * n + j]!;
    assert.equal(C[i * n + j], s);
  }
  assert.deepEqual(transpose(transpose(B, k, n), n, k), B);
});

test("blocked Cholesky past one panel: L·Lᵀ = A, L lower", async () => {
  const n = 300;
  const A = spd(n, 41);
  const L = await cholesky(A, n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(L[i * n + j], 0);
  const LLt = await matmul(L, n, n, transpose(L, n, n), n);
  assert.ok(maxAbsDiff(LLt, A) < 1e-4, `‖LLᵀ − A‖∞ ${maxAbsDiff(LLt, A)}`);
});

test("triangular inverse past one panel: L·L⁻¹ = I", async () => {
  const n = 600;
  const L = await cholesky(spd(n, 42), n);
  const Li = await invertLower(L, n);
  const I = await matmul(L, n, n, Li, n);
  for (let i = 0; i < n; i++) I[i * n + i]! -= 1;
  assert.ok(maxAbsDiff(I, new Float32Array(n * n)) < 1e-4);
});

test("GPTQ's Hinv factor: Uᵀ·U·H = I with U upper", async () => {
  const n = 280;
  const H = spd(n, 43);
  const U = await upperCholeskyOfInverse(H, n);
  for (let i = 0; i < n; i++) {
    assert.ok(U[i * n + i]! > 0);
    for (let j = 0; j < i; j++) assert.equal(U[i * n + j], 0);
  }
  const P = await matmul(await matmul(transpose(U, n, n), n, n, U, n), n, n, H, n);
  for (let i = 0; i < n; i++) P[i * n + i]! -= 1;
  assert.ok(maxAbsDiff(P, new Float32Array(n * n)) < 1e-3);
});

test("a matrix that is not positive definite names the failing pivot", async () => {
  await assert.rejects(cholesky(Float32Array.from([1, 2, 2, 1]), 2), (e: NotPositiveDefinite) => e instanceof NotPositiveDefinite && e.pivot === 1 && e.code === "NUMERICAL");
});

test("streaming Hessian over batches equals 2/N·XᵀX of all tokens", async () => {
  const X = inputs(300, 40, 44);
  const H = await hessian(X);
  const acc = new HessianAccumulator(40);
  await acc.add({ rows: 100, cols: 40, data: X.data.subarray(0, 4000) });
  await acc.add({ rows: 200, cols: 40, data: X.data.subarray(4000) });
  assert.equal(acc.count, 300);
  for (let i = 0; i < 40; i++) for (let j = 0; j < 40; j++) {
    let s = 0;
    for (let t = 0; t < 300; t++) s += X.data[t * 40 + i]! * X.data[t * 40 + j]!;
    assert.ok(Math.abs(H[i * 40 + j]! - (2 * s) / 300) < 1e-4);
    assert.ok(Math.abs(acc.H[i * 40 + j]! - H[i * 40 + j]!) < 1e-4);
  }
  await assert.rejects(acc.add(inputs(4, 39, 1)), /39 features/);
});

test("mean |x| and the relative output error", async () => {
  const X = { rows: 2, cols: 2, data: Float32Array.from([1, -2, -3, 4]) };
  assert.deepEqual(Array.from(meanAbs(X)), [2, 3]);
  const W = { rows: 1, cols: 2, data: Float32Array.from([1, 1]) };
  // X·Wᵀ = [−1, 1]; X·Qᵀ with Q = [1, 0] = [1, −3]: ‖[−2, 4]‖² / ‖[−1, 1]‖² = 20 / 2
  assert.equal(await outputError(X, W, Float32Array.from([1, 0])), 10);
});

test("a Hessian over more tokens than one Gram block, and the output error from it, agree with X's", async () => {
  // 9000 rows: two of hessian's 4096-row blocks (GEMM_BLOCK_ROWS) and a remainder
  const X = inputs(9000, 24, 45, { mix: 0.5 });
  const H = await hessian(X);
  let worst = 0;
  for (let i = 0; i < 24; i++) for (let j = 0; j < 24; j++) {
    let s = 0;
    for (let t = 0; t < X.rows; t++) s += X.data[t * 24 + i]! * X.data[t * 24 + j]!;
    worst = Math.max(worst, Math.abs(H[i * 24 + j]! - (2 * s) / X.rows) / (1e-3 + Math.abs((2 * s) / X.rows)));
  }
  assert.ok(worst < 1e-4, `relative difference ${worst}`);
  const W = inputs(10, 24, 46);
  const Q = Float32Array.from(W.data, (w, i) => w + (i % 3 === 0 ? 0.05 : -0.02));
  const direct = await outputError(X, W, Q), viaH = await outputErrorFromHessian(H, W, Q);
  assert.ok(direct > 0 && Math.abs(viaH - direct) / direct < 1e-4, `via H ${viaH}, via X ${direct}`);
  assert.equal(await outputErrorFromHessian(H, W, W.data), 0);
  await assert.rejects(outputErrorFromHessian(H.subarray(1), W, Q), /input columns need 576/);
});
