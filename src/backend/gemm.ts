/**
 * QuantLab's own float32 GEMM for the wasm backend: the WebAssembly SIMD kernel (assembly/gemm.ts) on
 * both cores. Operands are copied once into a shared WebAssembly.Memory; the pool's workers
 * (matmul-worker.ts) and, for small products, the main thread compute chunks of C in place there,
 * taking chunk indices from a shared counter so a worker slowed by other load simply takes fewer.
 *
 *   gemm(A, m, k, B, n, out?, opts) → C (m × n) = [C +] α·op(A)·op(B), or null when the kernel is not built
 *   gemmThreads()                   → threads a large product runs on (1 without the pool)
 *
 * op(A) is A (m × k row-major) or, with transA, the transpose of A stored k × m; likewise B (k × n, or
 * n × k with transB). `symmetric` (m = n, C symmetric, e.g. XᵀX) computes the upper triangle only and
 * mirrors it. Calls are serialised: one product owns the memory at a time. The memory grows to the
 * largest product seen and stays there (a shared WebAssembly memory cannot shrink): ≈ 200 MiB after a
 * 4096³ product.
 */
import { chunkCount, gemmModule, instantiate, runChunks, type GemmExports, type GemmJob } from "./gemm-kernel.js";
import { onEveryWorker, poolSize } from "./pool.js";
import { check } from "../errors.js";

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** out += α·op(A)·op(B) instead of out = α·op(A)·op(B). */
  accumulate?: boolean;
  /** C is symmetric (m = n): compute the upper triangle and mirror it; with accumulate, out's lower triangle becomes the mirror of its updated upper one. */
  symmetric?: boolean;
  /** op(A) is lower triangular (square): the zero upper part is not multiplied. */
  lowerA?: boolean;
  /** op(B) is lower triangular (square): the zero upper part is not multiplied. */
  lowerB?: boolean;
  /** 1 keeps the product on the calling thread; otherwise large products use the pool. */
  threads?: number;
}

/** Products below this many FLOPs run on the calling thread (a round trip to the workers costs ≈ 0.2 ms). */
const POOL_MIN_FLOP = 5e7;
const PAGE = 65536;
/** wasm32 addresses 4 GiB; products needing more fall back to tfjs. */
const MAX_PAGES = 65536;

interface State {
  g: GemmExports;
  memory: WebAssembly.Memory;
  /** Pool workers that hold the memory (0 until the first pooled product). */
  workers: number;
}
let state: State | null | undefined;
let queue: Promise<unknown> = Promise.resolve();

function load(): State | null {
  if (state !== undefined) return state;
  const module = gemmModule();
  if (!module) return (state = null);
  const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  return (state = { g: instantiate(module, memory), memory, workers: 0 });
}

/** Threads a large product runs on: the pool's workers, or 1 (the calling thread). */
export async function gemmThreads(): Promise<number> {
  if (!load()) return 0;
  return Math.max(1, await poolSize());
}

const align = (x: number) => Math.ceil(x / 64) * 64;

/** Chunk sizes: 504 × 512 blocks of C (84 × 64 register tiles), smaller until every thread gets several. */
function chunking(m: number, n: number, threads: number, rowTile: number, colTile: number): [number, number] {
  let mb = 84 * rowTile;
  let nb = 64 * colTile;
  const want = 4 * threads;
  while (Math.ceil(m / mb) * Math.ceil(n / nb) < want) {
    const mb2 = Math.max(8 * rowTile, Math.ceil(mb / 2 / rowTile) * rowTile);
    const nb2 = Math.max(8 * colTile, Math.ceil(nb / 2 / colTile) * colTile);
    const gainM = Math.ceil(m / mb2) > Math.ceil(m / mb);
    const gainN = Math.ceil(n / nb2) > Math.ceil(n / nb);
    if (gainM && (!gainN || m / mb <= n / nb)) mb = mb2;
    else if (gainN) nb = nb2;
    else break;
  }
  return [mb, nb];
}

export async function gemm(
  A: Float32Array, m: number, k: number, B: Float32Array, n: number,
  out?: Float32Array, opts: GemmOptions = {},
): Promise<Float32Array | null> {
  for (const [name, v] of [["m", m], ["k", k], ["n", n]] as const) {
    check(Number.isInteger(v) && v >= 0, "BAD_SHAPE", `matrix product: ${name} must be a non-negative integer, got ${v}`);
  }
  check(A.length >= m * k, "BAD_SHAPE", `matrix product: A has ${A.length} values but ${opts.transA ? "k × m" : "m × k"} = ${m * k}: pass the matching sizes`);
  check(B.length >= k * n, "BAD_SHAPE", `matrix product: B has ${B.length} values but ${opts.transB ? "n × k" : "k × n"} = ${k * n}: pass the matching sizes`);
  check(!out || out.length >= m * n, "BAD_SHAPE", `matrix product: out has ${out?.length} values but m × n = ${m * n}`);
  check(!opts.symmetric || m === n, "BAD_SHAPE", `matrix product: symmetric needs a square result, got ${m} × ${n}`);
  const s = load();
  if (!s) return null;
  const run = queue.then(() => product(s, A, m, k, B, n, out, opts));
  queue = run.catch(() => undefined);
  return run;
}

async function product(
  s: State, A: Float32Array, m: number, k: number, B: Float32Array, n: number,
  out: Float32Array | undefined, opts: GemmOptions,
): Promise<Float32Array | null> {
  const { g, memory } = s;
  const pooled = 2 * m * n * k >= POOL_MIN_FLOP && opts.threads !== 1 ? await poolSize() : 0;
  const threads = Math.max(1, pooled);
  const [mb, nb] = chunking(m, n, threads, g.tileRows(), g.tileCols());
  const counter = 64;
  const a = 128;
  // XᵀX passes X twice: one copy serves both operands
  const same = A === B;
  const b = same ? a : align(a + m * k * 4);
  const c = align(b + (same ? m * k : k * n) * 4);
  const work = align(c + m * n * 4);
  const workSize = align(g.workBytes(nb));
  const end = work + threads * workSize;
  if (end > MAX_PAGES * PAGE) return null;
  const pages = Math.ceil(end / PAGE);
  if (pages > memory.buffer.byteLength / PAGE) memory.grow(pages - memory.buffer.byteLength / PAGE);
  const f = new Float32Array(memory.buffer);
  f.set(A.subarray(0, m * k), a / 4);
  if (!same) f.set(B.subarray(0, k * n), b / 4);
  const C = out ?? new Float32Array(m * n);
  if (opts.accumulate) f.set(C.subarray(0, m * n), c / 4);
  new Int32Array(memory.buffer, counter, 1)[0] = 0;
  const job: GemmJob = {
    m, n, k, a, lda: opts.transA ? m : k, transA: !!opts.transA, b, ldb: opts.transB ? k : n, transB: !!opts.transB,
    c, alpha: opts.alpha ?? 1, accumulate: !!opts.accumulate, upper: !!opts.symmetric,
    lowerA: !!opts.lowerA && m === k, lowerB: !!opts.lowerB && k === n, slice: g.depthSlice(), mb, nb, counter,
  };
  let ran = false;
  if (pooled > 0 && chunkCount(job) > 1) {
    if (s.workers === 0) {
      const given = await onEveryWorker(() => ({ kind: "gemm-memory", memory }));
      s.workers = given ? given.length : 0;
    }
    if (s.workers > 0) {
      const done = await onEveryWorker((i) => ({ kind: "gemm", job, work: work + i * workSize }));
      ran = done !== null;
    }
  }
  if (!ran) runChunks(g, memory, job, work);
  if (opts.symmetric) g.mirrorUpper(c, n, n, 0, n);
  C.set(new Float32Array(memory.buffer, c, m * n));
  return C;
}
