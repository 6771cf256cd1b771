import { test } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { parallelMatmul, poolSize } from "../../src/backend/pool.js";
import { matmul } from "../../src/algorithms/matmul.js";
import { useBackend, tf } from "../../src/backend/index.js";
import { randn } from "../helpers/random.js";

await useBackend("wasm");

test("the worker pool starts on a multi-core machine and its tiles equal the single-thread product", async () => {
  const size = await poolSize();
  if (availableParallelism() >= 2 && process.env.QUANTLAB_THREADS === undefined) assert.equal(size, 2);
  const m = 300, k = 200, n = 500;
  const A = randn(m * k, 61);
  const B = randn(k * n, 62);
  const ref = (await tf.matMul(tf.tensor2d(A, [m, k]), tf.tensor2d(B, [k, n])).data()) as Float32Array;
  const P = await parallelMatmul(A, m, k, B, n, 128);
  if (size === 0) return assert.equal(P, null);
  assert.deepEqual(P, ref);
  const U = await parallelMatmul(A, m, k, B, n, 128, true);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    const upper = Math.floor(i / 128) <= Math.floor(j / 128);
    assert.equal(U![i * n + j], upper ? ref[i * n + j] : 0);
  }
});

test("matmul past the pool threshold (symmetric, accumulating) equals the plain product", async () => {
  const n = 1100, k = 900; // 2·n²·k ≈ 2.2 GFLOP: goes to the pool
  const X = randn(k * n, 63);
  const Xt = new Float32Array(n * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) Xt[j * k + i] = X[i * n + j]!;
  const ref = (await tf.matMul(tf.tensor2d(Xt, [n, k]), tf.tensor2d(X, [k, n])).data()) as Float32Array;
  const C = new Float32Array(n * n).fill(1);
  await matmul(Xt, n, k, X, n, C, { symmetric: true, accumulate: true, alpha: 0.5 });
  let md = 0;
  for (let i = 0; i < n * n; i++) md = Math.max(md, Math.abs(C[i]! - (1 + 0.5 * ref[i]!)));
  assert.ok(md < 1e-3, `max difference ${md}`);
});
