/**
 * QuantLab's own float32 GEMM for the wasm backend: the WebAssembly SIMD kernel (assembly/gemm.ts) on
 * both cores. Operands are copied once into a shared WebAssembly.Memory; the pool's workers
 * (matmul-worker.ts) and, for small products, the main thread compute chunks of C in place there,
 * taking chunk indices from a shared counter so a worker slowed by other load simply takes fewer.
 *
 *   gemm(A, m, k, B, n, out?, opts) → C (m × n) = [C +] α·op(A)·op(B), or null when the kernel is not built
 *   gemmThreads()                   → threads a large product runs on (1 without the pool)
 *   simdCeiling(seconds?, threads?) → the kernel's arithmetic ceiling here: GFLOP/s of a register-only
 *                                     f32x4 multiply + add loop on every thread at once (bench/algorithms)
 *
 * op(A) is A (m × k row-major) or, with transA, the transpose of A stored k × m; likewise B (k × n, or
 * n × k with transB). `symmetric` (m = n, C symmetric, e.g. XᵀX) computes the upper triangle only and
 * mirrors it. Calls are serialised: one product owns the memory at a time. The memory grows to the
 * largest product seen and stays there (a shared WebAssembly memory cannot shrink): ≈ 200 MiB after a
 * 4096³ product.
 */
import { chunkCount, gemmModule, instantiate, runChunks, runPeak, type GemmExports, type GemmJob } from "./gemm-kernel.js";
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

/**
 * Rows per product for a caller that streams a tall operand (the Gram matrix of 128 × 512 calibration
 * tokens): the memory keeps the size of the largest product, so such an operand goes in blocks of rows
 * (4096 × 5632 floats: 92 MB, beside the 127 MB Gram matrix they accumulate into).
 */
export const GEMM_BLOCK_ROWS = 4096;

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

/** Grows the memory to hold `end` bytes; false when that is past what wasm32 addresses. */
function reserve(memory: WebAssembly.Memory, end: number): boolean {
  if (end > MAX_PAGES * PAGE) return false;
  const pages = Math.ceil(end / PAGE);
  const have = memory.buffer.byteLength / PAGE;
  if (pages > have) memory.grow(pages - have);
  return true;
}

/** Threads for an m × k × n product: the pool's for large ones (unless told 1), else the calling thread (0). */
async function poolFor(m: number, k: number, n: number, threads?: number): Promise<number> {
  return 2 * m * n * k >= POOL_MIN_FLOP && threads !== 1 ? poolSize() : 0;
}

/** Gives the pool's workers the shared memory (once); false when the pool is not available. */
async function shareMemory(s: State): Promise<boolean> {
  if (s.workers === 0) {
    const given = await onEveryWorker(() => ({ kind: "gemm-memory", memory: s.memory }));
    s.workers = given ? given.length : 0;
  }
  return s.workers > 0;
}

export interface SimdCeiling {
  /** GFLOP/s of each thread, measured while every one runs (the pool's workers, or the calling thread). */
  perThread: number[];
  /** Their sum: what a product on these threads could reach at best. */
  total: number;
}

/**
 * The practical ceiling of the GEMM kernel's arithmetic on this machine, measured now: the kernel
 * module's simdPeak (independent f32x4 multiplies and adds, registers only) for about `seconds` on every
 * thread a large product runs on, at once (threads = 1: on the calling thread only). null when the kernel
 * is not built.
 */
export async function simdCeiling(seconds = 0.25, threads?: number): Promise<SimdCeiling | null> {
  const s = load();
  if (!s) return null;
  const run = queue.then(async () => {
    const src = 128;
    if (!reserve(s.memory, src + 64)) return null;
    new Float32Array(s.memory.buffer, src, 12).set([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
    if (threads !== 1 && (await poolSize()) > 0 && (await shareMemory(s))) {
      const replies = await onEveryWorker(() => ({ kind: "gemm-peak", src, seconds }));
      if (replies) {
        const perThread = replies.map((r) => r.gflops ?? 0);
        return { perThread, total: perThread.reduce((x, y) => x + y, 0) };
      }
    }
    const rate = runPeak(s.g, src, seconds);
    return { perThread: [rate], total: rate };
  });
  queue = run.catch(() => undefined);
  return run;
}

/** Computes a laid-out job: on the pool's workers when `pooled` > 0, else here; scratch at work + i·workSize. */
async function runJob(s: State, job: GemmJob, pooled: number, work: number, workSize: number): Promise<void> {
  new Int32Array(s.memory.buffer, job.counter, 1)[0] = 0;
  if (pooled > 0 && chunkCount(job) > 1) {
    if ((await shareMemory(s)) && (await onEveryWorker((i) => ({ kind: "gemm", job, work: work + i * workSize }))) !== null) return;
  }
  runChunks(s.g, s.memory, job, work);
}

async function product(
  s: State, A: Float32Array, m: number, k: number, B: Float32Array, n: number,
  out: Float32Array | undefined, opts: GemmOptions,
): Promise<Float32Array | null> {
  const { g, memory } = s;
  const pooled = await poolFor(m, k, n, opts.threads);
  const [mb, nb] = chunking(m, n, Math.max(1, pooled), g.tileRows(), g.tileCols());
  const counter = 64;
  const a = 128;
  // XᵀX passes X twice: one copy serves both operands
  const same = A === B;
  const b = same ? a : align(a + m * k * 4);
  const c = align(b + (same ? m * k : k * n) * 4);
  const work = align(c + m * n * 4);
  const workSize = align(g.workBytes(nb));
  if (!reserve(memory, work + Math.max(1, pooled) * workSize)) return null;
  const f = new Float32Array(memory.buffer);
  f.set(A.subarray(0, m * k), a / 4);
  if (!same) f.set(B.subarray(0, k * n), b / 4);
  const C = out ?? new Float32Array(m * n);
  if (opts.accumulate) f.set(C.subarray(0, m * n), c / 4);
  const job: GemmJob = {
    m, n, k, a, lda: opts.transA ? m : k, transA: !!opts.transA, b, ldb: opts.transB ? k : n, transB: !!opts.transB,
    c, ldc: n, alpha: opts.alpha ?? 1, accumulate: !!opts.accumulate, tri: opts.symmetric ? 1 : 0,
    lowerA: !!opts.lowerA && m === k, lowerB: !!opts.lowerB && k === n, slice: g.depthSlice(), mb, nb, counter,
  };
  await runJob(s, job, pooled, work, workSize);
  if (opts.symmetric) g.mirrorUpper(c, n, n, 0, n);
  C.set(new Float32Array(memory.buffer, c, m * n));
  return C;
}

/** A matrix inside a workspace: its first element's float index in `Workspace.f32` and its row stride in floats. */
export interface Region {
  at: number;
  ld: number;
}

/** What a workspace body gets: the floats it owns and products over regions of them, in place. */
export interface Workspace {
  /** A view of the shared memory; the body owns floats [base, base + floats). */
  readonly f32: Float32Array;
  readonly base: number;
  /** The shared memory itself, for a kernel of the caller's own to run on the same floats (shared-kernels.ts). */
  readonly memory: WebAssembly.Memory;
  /** Bytes of GEMM scratch (one thread's) a caller's kernel needs for products nb columns wide. */
  workBytes(nb: number): number;
  /**
   * C = [C +] α·op(A)·op(B) over regions of the workspace (op as in gemm; C must not overlap A or B).
   * `tri` 1 or 2 computes only the upper or lower triangle of a square C (with its diagonal).
   */
  product(A: Region, m: number, k: number, B: Region, n: number, C: Region,
    opts?: { transA?: boolean; transB?: boolean; alpha?: number; accumulate?: boolean; tri?: 0 | 1 | 2 }): Promise<void>;
}

/**
 * Runs `body` with `floats` floats of the shared memory to itself, so an algorithm can keep its matrix
 * there and update it in place with products that copy nothing (the blocked Cholesky). Holds the product
 * queue while it runs. null when the kernel is not built or the memory cannot hold it.
 */
export async function withWorkspace<T>(floats: number, body: (ws: Workspace) => Promise<T>): Promise<T | null> {
  const s = load();
  if (!s) return null;
  const run = queue.then(async () => {
    const { g, memory } = s;
    const threads = Math.max(1, await poolSize());
    const base = 32; // byte 128: the counter sits at byte 64
    const work = align((base + floats) * 4);
    const workSize = align(g.workBytes(64 * g.tileCols()));
    if (!reserve(memory, work + threads * workSize)) return null;
    const ws: Workspace = {
      f32: new Float32Array(memory.buffer),
      base,
      memory,
      workBytes: (nb) => g.workBytes(nb),
      async product(A, m, k, B, n, C, o = {}) {
        const pooled = await poolFor(m, k, n);
        const [mb, nb] = chunking(m, n, Math.max(1, pooled), g.tileRows(), g.tileCols());
        await runJob(s, {
          m, n, k, a: A.at * 4, lda: A.ld, transA: !!o.transA, b: B.at * 4, ldb: B.ld, transB: !!o.transB,
          c: C.at * 4, ldc: C.ld, alpha: o.alpha ?? 1, accumulate: !!o.accumulate, tri: o.tri ?? 0,
          lowerA: false, lowerB: false, slice: g.depthSlice(), mb, nb, counter: 64,
        }, pooled, work, workSize);
      },
    };
    return body(ws);
  });
  queue = run.catch(() => undefined);
  return run;
}
