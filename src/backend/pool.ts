/**
 * Two-core matrix products for the wasm backend: tfjs-wasm runs single-threaded under Node, so large
 * products are split into output tiles shared between worker threads, each with its own tfjs-wasm
 * (matmul-worker.ts). Inputs travel once through SharedArrayBuffers; workers write their tiles straight
 * into a shared output. Falls back (returns null) when workers cannot start, so nothing depends on it.
 *
 *   poolSize()                          → workers available (0 when disabled or failed)
 *   onEveryWorker(message)              → each worker's reply to message(i), or null (gemm.ts uses it)
 *   parallelMatmul(A, m, k, B, n, tile, upperOnly) → C (row-major m × n) on the workers' tfjs-wasm, or null
 *
 * QUANTLAB_THREADS sets the worker count (default: min(2, cores)); 1 or 0 disables the pool.
 */
import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { WorkerMessage } from "./matmul-worker.js";

let workers: Worker[] | null = null;
let failed = false;
let starting: Promise<Worker[] | null> | null = null;
let busy = 0;

function wanted(): number {
  const env = process.env.QUANTLAB_THREADS;
  const n = env === undefined ? Math.min(2, availableParallelism()) : Number(env);
  return Number.isFinite(n) && n >= 2 ? Math.floor(n) : 0;
}

interface Reply {
  ok: boolean;
  error?: string;
  chunks?: number;
  /** A gemm-peak job's rate, GFLOP/s. */
  gflops?: number;
}

function call(w: Worker, msg: WorkerMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onMsg = (r: Reply) => {
      w.off("error", onErr);
      if (r.ok) resolve(r);
      else reject(new Error(r.error));
    };
    const onErr = (e: Error) => {
      w.off("message", onMsg);
      reject(e);
    };
    w.once("message", onMsg);
    w.once("error", onErr);
    w.postMessage(msg);
  });
}

async function start(): Promise<Worker[] | null> {
  const n = wanted();
  if (n === 0 || failed) return null;
  if (workers) return workers;
  starting ??= (async () => {
    const ws: Worker[] = [];
    try {
      for (let i = 0; i < n; i++) ws.push(spawn());
      await Promise.all(ws.map((w) => call(w, "ping")));
      for (const w of ws) w.unref();
      workers = ws;
      return ws;
    } catch (e) {
      if (process.env.QUANTLAB_DEBUG) console.error("matmul pool:", e);
      failed = true;
      for (const w of ws) void w.terminate();
      return null;
    }
  })();
  return starting;
}

/** A worker on the compiled .js, or, running from the TypeScript sources, on the .ts through tsx's loader (workers do not inherit --import). */
function spawn(): Worker {
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("./matmul-worker.js", import.meta.url));
  const tsx = import.meta.resolve("tsx/esm/api");
  const url = new URL("./matmul-worker.ts", import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`, { eval: true });
}

/** Workers the pool runs (0 when disabled or unable to start). */
export async function poolSize(): Promise<number> {
  return (await start())?.length ?? 0;
}

/**
 * Sends message(i) to worker i and waits for every reply; null when the pool is not available. The
 * workers keep the process alive only while a call is in flight.
 */
export async function onEveryWorker(message: (i: number) => WorkerMessage): Promise<Reply[] | null> {
  const ws = await start();
  if (!ws) return null;
  if (busy++ === 0) for (const w of ws) w.ref();
  try {
    // every worker must be done before the caller reuses the memory they share, even when one failed
    const settled = await Promise.allSettled(ws.map((w, i) => call(w, message(i))));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return settled.map((r) => (r as PromiseFulfilledResult<Reply>).value);
  } finally {
    if (--busy === 0) for (const w of ws) w.unref();
  }
}

function shared(a: Float32Array): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  const s = new SharedArrayBuffer(a.byteLength);
  new Float32Array(s).set(a);
  return s;
}

/**
 * C = A·B (A m × k, B k × n, row-major) over the pool in `tile`-sized output blocks; with `upperOnly`
 * only the blocks on or above the block diagonal are computed (the rest of C is left 0). null when the
 * pool is not available.
 */
export async function parallelMatmul(A: Float32Array, m: number, k: number, B: Float32Array, n: number, tile: number, upperOnly = false): Promise<Float32Array | null> {
  const ws = await start();
  if (!ws) return null;
  const tiles: number[][] = [];
  for (let j0 = 0; j0 < n; j0 += tile) {
    for (let i0 = 0; i0 < m; i0 += tile) {
      if (upperOnly && i0 > j0) continue;
      tiles.push([i0, Math.min(m, i0 + tile), j0, Math.min(n, j0 + tile)]);
    }
  }
  // balance by work: hand out tiles largest first to the least-loaded worker, then sort each by column panel
  const cost = (t: number[]) => (t[1]! - t[0]!) * (t[3]! - t[2]!);
  const load = ws.map(() => 0);
  const parts: number[][][] = ws.map(() => []);
  for (const t of [...tiles].sort((x, y) => cost(y) - cost(x))) {
    const w = load.indexOf(Math.min(...load));
    parts[w]!.push(t);
    load[w]! += cost(t);
  }
  const a = shared(A);
  const b = shared(B);
  const c = new SharedArrayBuffer(m * n * 4);
  if (busy++ === 0) for (const w of ws) w.ref();
  try {
    await Promise.all(ws.map((w, i) => (parts[i]!.length ? call(w, { a, b, c, m, k, n, tiles: parts[i]!.sort((x, y) => x[2]! - y[2]! || x[0]! - y[0]!) }) : undefined)));
  } finally {
    if (--busy === 0) for (const w of ws) w.unref();
  }
  return new Float32Array(c);
}
