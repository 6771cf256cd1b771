/**
 * The WebAssembly SIMD GEMM kernel (assembly/gemm.ts, built to dist/wasm/gemm.wasm) instantiated over a
 * shared WebAssembly.Memory, so the main thread and every pool worker run it on the same operands.
 * Both threads describe a product the same way (GemmJob) and cut it into the same chunks, so a chunk
 * index taken from the shared counter means one block of C everywhere.
 */
import { readFileSync } from "node:fs";

export interface GemmExports {
  workBytes(nb: number): number;
  tileRows(): number;
  tileCols(): number;
  depthSlice(): number;
  gemmChunk(
    k: number, a: number, lda: number, transA: number, b: number, ldb: number, transB: number,
    c: number, ldc: number, alpha: number, accumulate: number, tri: number,
    i0: number, i1: number, j0: number, j1: number, p0: number, p1: number, work: number,
  ): void;
  mirrorUpper(c: number, n: number, ldc: number, r0: number, r1: number): void;
  simdPeak(iters: number, src: number): number;
  simdPeakFlops(): number;
}

/**
 * simdPeak for about `seconds` on this thread, after calls that get it to V8's optimising tier (the first
 * calls run in the baseline compiler, and a call in progress never switches tiers); its operands are the
 * 12 floats at byte `src`. Returns GFLOP/s over this thread's wall time.
 */
export function runPeak(g: GemmExports, src: number, seconds: number): number {
  const flops = g.simdPeakFlops();
  let iters = 1 << 14;
  let rate = 0;
  // growing calls: tier-up happens in the background between them; the first call of at least half
  // the time is the measurement (doubling until then: a call that stopped growing short of it never ended)
  for (;;) {
    const t = performance.now();
    g.simdPeak(iters, src);
    const dt = (performance.now() - t) / 1000;
    rate = (iters * flops) / Math.max(dt, 1e-9) / 1e9;
    if (dt >= seconds / 2 || iters >= 1 << 30) return rate;
    iters *= 2;
  }
}

/** One product laid out in the shared memory (byte offsets), cut into mb × nb chunks of C. */
export interface GemmJob {
  m: number;
  n: number;
  k: number;
  a: number;
  lda: number;
  transA: boolean;
  b: number;
  ldb: number;
  transB: boolean;
  c: number;
  /** Row stride of C in floats (n for a contiguous C). */
  ldc: number;
  alpha: number;
  accumulate: boolean;
  /** 0: all of C; 1: its upper triangle (with the diagonal); 2: its lower triangle. */
  tri: 0 | 1 | 2;
  /** op(A) is lower triangular (m = k): A(i, p) = 0 for p > i, so rows below i1 need depths < i1 only. */
  lowerA: boolean;
  /** op(B) is lower triangular (k = n): B(p, j) = 0 for p < j, so columns from j0 need depths ≥ j0 only. */
  lowerB: boolean;
  /** The kernel's depth slice (KC): where a narrowed depth range may start. */
  slice: number;
  mb: number;
  nb: number;
  /** Byte offset of the Int32 chunk counter every thread increments. */
  counter: number;
}

// Both src/backend/ and dist/backend/ sit two levels below the package root.
const WASM_URL = new URL("../../dist/wasm/gemm.wasm", import.meta.url);
let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null when dist/wasm/gemm.wasm is missing (not built). */
export function gemmModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(readFileSync(WASM_URL));
  } catch {
    compiled = null;
  }
  return compiled;
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): GemmExports {
  return new WebAssembly.Instance(module, {
    env: { memory, abort: () => { throw new Error("gemm.wasm aborted"); } },
  }).exports as unknown as GemmExports;
}

export function chunkCount(job: GemmJob): number {
  return Math.ceil(job.m / job.mb) * Math.ceil(job.n / job.nb);
}

/**
 * Runs chunks taken from the shared counter until none is left; `work` is this thread's scratch.
 * Returns how many chunks this thread computed.
 */
export function runChunks(g: GemmExports, memory: WebAssembly.Memory, job: GemmJob, work: number): number {
  const counter = new Int32Array(memory.buffer, job.counter, 1);
  const cols = Math.ceil(job.n / job.nb);
  const total = chunkCount(job);
  let done = 0;
  for (;;) {
    const idx = Atomics.add(counter, 0, 1);
    if (idx >= total) return done;
    const i0 = Math.floor(idx / cols) * job.mb;
    const j0 = (idx % cols) * job.nb;
    const i1 = Math.min(job.m, i0 + job.mb);
    const j1 = Math.min(job.n, j0 + job.nb);
    // in a symmetric product a chunk wholly in the other triangle is the mirror of one computed
    if (job.tri === 1 && j1 - 1 < i0) continue;
    if (job.tri === 2 && i1 - 1 < j0) continue;
    const p0 = job.lowerB ? Math.floor(j0 / job.slice) * job.slice : 0;
    const p1 = job.lowerA ? Math.min(job.k, i1) : job.k;
    g.gemmChunk(job.k, job.a, job.lda, job.transA ? 1 : 0, job.b, job.ldb, job.transB ? 1 : 0, job.c, job.ldc,
      job.alpha, job.accumulate ? 1 : 0, job.tri, i0, i1, j0, j1, p0, p1, work);
    done++;
  }
}
