import { test } from "node:test";
import assert from "node:assert/strict";
import { gemm, gemmThreads, simdCeiling, withWorkspace } from "../../src/backend/gemm.js";
import { matmul } from "../../src/algorithms/matmul.js";
import { backendReport, useBackend } from "../../src/backend/index.js";
import { QuantLabError } from "../../src/errors.js";
import { randn } from "../helpers/random.js";

await useBackend("wasm");

/** float64 reference of α·op(A)·op(B) (+ C0), with the float32 summation bound γ_k·Σ|a·b| per element. */
function reference(A: Float32Array, m: number, k: number, B: Float32Array, n: number, o: { transA?: boolean; transB?: boolean; alpha?: number }, C0?: Float32Array) {
  const val = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  const alpha = o.alpha ?? 1;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0, sa = 0;
    for (let p = 0; p < k; p++) {
      const a = o.transA ? A[p * m + i]! : A[i * k + p]!;
      const b = o.transB ? B[j * k + p]! : B[p * n + j]!;
      s += a * b;
      sa += Math.abs(a * b);
    }
    val[i * n + j] = (C0 ? C0[i * n + j]! : 0) + alpha * s;
    bound[i * n + j] = (k + 2) * 2 ** -23 * Math.abs(alpha) * sa + 2 ** -23 * Math.abs(C0 ? C0[i * n + j]! : 0) + 1e-30;
  }
  return { val, bound };
}

function assertClose(C: Float32Array, ref: { val: Float64Array; bound: Float64Array }, what: string): void {
  assert.equal(C.length, ref.val.length);
  for (let i = 0; i < C.length; i++) {
    const d = Math.abs(C[i]! - ref.val[i]!);
    if (!(d <= ref.bound[i]!)) assert.fail(`${what}: element ${i} is ${C[i]}, expected ${ref.val[i]} within ${ref.bound[i]}`);
  }
}

test("every transpose combination, edge tiles and depths past one KC slice match the float64 product within float32 summation error", async () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [4, 8, 256], [5, 9, 257], [37, 70, 300], [67, 130, 513]];
  let seed = 100;
  for (const [m, k, n] of shapes) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      const A = randn(m * k, seed++);
      const B = randn(k * n, seed++);
      const o = { transA, transB, alpha: transA ? -0.75 : 1 };
      const C = (await gemm(A, m, k, B, n, undefined, o))!;
      assert.ok(C, "dist/wasm/gemm.wasm must be built (npm run build)");
      assertClose(C, reference(A, m, k, B, n, o), `${m}×${k}×${n} transA=${transA} transB=${transB}`);
    }
  }
});

test("accumulate adds α·A·B into out; k = 0 leaves out or zeroes it", async () => {
  const m = 29, k = 300, n = 41;
  const A = randn(m * k, 1);
  const B = randn(k * n, 2);
  const C0 = randn(m * n, 3);
  const C = Float32Array.from(C0);
  const back = await gemm(A, m, k, B, n, C, { accumulate: true, alpha: 0.5 });
  assert.equal(back, C);
  assertClose(C, reference(A, m, k, B, n, { alpha: 0.5 }, C0), "accumulate");
  const D = Float32Array.from(C0);
  await gemm(new Float32Array(0), m, 0, new Float32Array(0), n, D, { accumulate: true });
  assert.deepEqual(D, C0);
  await gemm(new Float32Array(0), m, 0, new Float32Array(0), n, D);
  assert.deepEqual(D, new Float32Array(m * n));
});

test("the symmetric (SYRK) product of XᵀX is exactly symmetric and matches the full product", async () => {
  const t = 150, c = 77;
  const X = randn(t * c, 7);
  const G = (await gemm(X, c, t, X, c, undefined, { transA: true, symmetric: true }))!;
  assertClose(G, reference(X, c, t, X, c, { transA: true }), "XᵀX");
  for (let i = 0; i < c; i++) for (let j = 0; j < i; j++) assert.equal(G[i * c + j], G[j * c + i]);
  // accumulating: the upper triangle gets the update and the lower one mirrors it
  const H = Float32Array.from(G);
  await gemm(X, c, t, X, c, H, { transA: true, symmetric: true, accumulate: true, alpha: -1 });
  for (let i = 0; i < c * c; i++) assert.ok(Math.abs(H[i]!) <= 1e-4 * (1 + Math.abs(G[i]!)), `G − G at ${i}: ${H[i]}`);
});

test("on the pool or on one thread, the result is bit-for-bit the same (fixed summation order per element)", async () => {
  assert.ok((await gemmThreads()) >= 1);
  const m = 403, k = 600, n = 517; // 2·m·k·n ≈ 250 MFLOP: above the pool threshold, memory grows
  const A = randn(m * k, 11);
  const B = randn(n * k, 12);
  const pooled = (await gemm(A, m, k, B, n, undefined, { transB: true }))!;
  const single = (await gemm(A, m, k, B, n, undefined, { transB: true, threads: 1 }))!;
  assert.deepEqual(pooled, single);
  const ref = reference(A, m, k, B, n, { transB: true });
  for (let i = 0; i < m * n; i += 97) assert.ok(Math.abs(pooled[i]! - ref.val[i]!) <= ref.bound[i]!);
  const X = randn(700 * 500, 13);
  const s1 = (await gemm(X, 500, 700, X, 500, undefined, { transA: true, symmetric: true }))!;
  const s2 = (await gemm(X, 500, 700, X, 500, undefined, { transA: true, symmetric: true, threads: 1 }))!;
  assert.deepEqual(s1, s2);
});

test("products started together are serialised and each gets its own result", async () => {
  const jobs = [0, 1, 2, 3].map((s) => {
    const m = 50 + 30 * s, k = 200 + 40 * s, n = 60 + 50 * s;
    return { m, k, n, A: randn(m * k, 20 + s), B: randn(k * n, 30 + s) };
  });
  const out = await Promise.all(jobs.map((j) => gemm(j.A, j.m, j.k, j.B, j.n)));
  jobs.forEach((j, s) => assertClose(out[s]!, reference(j.A, j.m, j.k, j.B, j.n, {}), `job ${s}`));
});

test("matmul's transposed operands give the same product on the cpu backend (tfjs) and on wasm (the kernel)", async () => {
  const m = 33, k = 70, n = 45;
  const A = randn(k * m, 41);
  const B = randn(n * k, 42);
  const w = await matmul(A, m, k, B, n, undefined, { transA: true, transB: true });
  await useBackend("cpu");
  try {
    const c = await matmul(A, m, k, B, n, undefined, { transA: true, transB: true });
    const ref = reference(A, m, k, B, n, { transA: true, transB: true });
    assertClose(c, ref, "cpu");
    assertClose(w, ref, "wasm");
  } finally {
    await useBackend("wasm");
  }
});

test("a lower-triangular operand: skipping its zero half changes no bit of the product", async () => {
  const n = 700, m = 260;
  const L = randn(n * n, 51);
  for (let i = 0; i < n; i++) L.fill(0, i * n + i + 1, (i + 1) * n);
  const R = randn(n * m, 52);
  const Lt = randn(m * n, 53);
  const full1 = (await gemm(L, n, n, R, m))!;
  const tri1 = (await gemm(L, n, n, R, m, undefined, { lowerA: true }))!;
  assert.deepEqual(tri1, full1);
  const full2 = (await gemm(Lt, m, n, L, n, undefined, { alpha: -1 }))!;
  const tri2 = (await gemm(Lt, m, n, L, n, undefined, { alpha: -1, lowerB: true }))!;
  assert.deepEqual(tri2, full2);
  const one = (await gemm(Lt, m, n, L, n, undefined, { alpha: -1, lowerB: true, threads: 1 }))!;
  assert.deepEqual(one, full2);
});

test("operands that do not fit their sizes are a clear error; the backend report names the kernel", async () => {
  const bad = (e: QuantLabError) => e instanceof QuantLabError && e.code === "BAD_SHAPE";
  await assert.rejects(gemm(new Float32Array(5), 2, 3, new Float32Array(6), 2), (e: QuantLabError) => bad(e) && /A has 5 values but m × k = 6/.test(e.message));
  await assert.rejects(gemm(new Float32Array(6), 2, 3, new Float32Array(5), 2, undefined, { transB: true }), (e: QuantLabError) => bad(e) && /n × k = 6/.test(e.message));
  await assert.rejects(gemm(new Float32Array(6), 2, 3, new Float32Array(6), 2, new Float32Array(3)), bad);
  await assert.rejects(gemm(new Float32Array(6), 2, 3, new Float32Array(9), 3, undefined, { symmetric: true }), (e: QuantLabError) => bad(e) && /square/.test(e.message));
  await assert.rejects(gemm(new Float32Array(6), 2.5, 3, new Float32Array(6), 2), bad);
  const r = await backendReport();
  assert.match(r.wasm!.gemm, /WebAssembly SIMD kernel on [12] thread/);
});

test("workspace products over strided regions, in place, lower triangle only", async () => {
  const n = 90, m = 40, k = 33; // C is the m × m block at (10, 20) of an n × n matrix; A the m × k block at (5, 50)
  const big = randn(n * n, 61);
  const out: Float32Array | null = await withWorkspace(n * n + m * k, async (ws) => {
    const f = ws.f32;
    const M = ws.base;
    const S = M + n * n;
    f.set(big, M);
    for (let r = 0; r < m; r++) f.set(big.subarray((5 + r) * n + 50, (5 + r) * n + 50 + k), S + r * k);
    await ws.product({ at: M + 5 * n + 50, ld: n }, m, k, { at: S, ld: k }, m, { at: M + 10 * n + 20, ld: n }, { transB: true, accumulate: true, alpha: -1, tri: 2 });
    return f.slice(M, M + n * n);
  });
  assert.ok(out);
  const A = new Float32Array(m * k);
  for (let r = 0; r < m; r++) A.set(big.subarray((5 + r) * n + 50, (5 + r) * n + 50 + k), r * k);
  const C0 = new Float32Array(m * m);
  for (let r = 0; r < m; r++) C0.set(big.subarray((10 + r) * n + 20, (10 + r) * n + 20 + m), r * m);
  const ref = reference(A, m, k, A, m, { transB: true, alpha: -1 }, C0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const r = i - 10, c = j - 20;
    const inside = r >= 0 && r < m && c >= 0 && c < m;
    const v: number = out![i * n + j]!;
    if (inside && c <= r) assert.ok(Math.abs(v - ref.val[r * m + c]!) <= ref.bound[r * m + c]!, `(${r}, ${c})`);
    // outside C nothing moves; above its diagonal only 4 × 8 tiles that straddle it write (c ≤ r + 10)
    else if (!inside || c >= r + 11) assert.equal(v, big[i * n + j], `(${i}, ${j}) changed`);
  }
});

test("the SIMD ceiling runs on every pool thread at once and on the calling thread alone", async () => {
  const all = (await simdCeiling(0.02))!;
  assert.equal(all.perThread.length, Math.max(1, await gemmThreads()));
  for (const r of all.perThread) assert.ok(Number.isFinite(r) && r > 0, `rate ${r}`);
  const one = (await simdCeiling(0.02, 1))!;
  assert.equal(one.perThread.length, 1);
  assert.ok(one.total > 0);
});

test("the ceiling's timing loop ends when a call lands between an eighth and a half of its time", { timeout: 10_000 }, async () => {
  const { runPeak } = await import("../../src/backend/gemm-kernel.js");
  // a stand-in kernel: 3 ms for the first call (2¹⁴ turns), twice that per doubling; with 20 ms asked,
  // the first call is above an eighth (2.5 ms) and below half (10 ms), where the loop once spun forever
  const calls: number[] = [];
  const g = {
    simdPeakFlops: () => 48,
    simdPeak: (iters: number) => {
      calls.push(iters);
      const until = performance.now() + (iters / (1 << 14)) * 3;
      while (performance.now() < until);
      return 0;
    },
  } as unknown as Parameters<typeof runPeak>[0];
  const rate = runPeak(g, 0, 0.02);
  assert.deepEqual(calls, [1 << 14, 1 << 15, 1 << 16]);
  assert.ok(rate > 0 && Number.isFinite(rate));
});
