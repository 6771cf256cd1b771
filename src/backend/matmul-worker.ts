/**
 * A worker of the matmul pool (pool.ts). Two kinds of work:
 * - QuantLab's WebAssembly GEMM (gemm-kernel.ts): chunks of one product taken from a counter in the
 *   shared WebAssembly memory, computed in place there (operands and result never travel);
 * - output tiles C[i0:i1, j0:j1] = A[i0:i1, :]·B[:, j0:j1] on the worker's own tfjs-wasm, from shared
 *   memory into shared memory (`parallelMatmul`: tfjs' own threaded wasm cannot start its workers under
 *   Node). tfjs loads on the first such job only.
 */
import { parentPort } from "node:worker_threads";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as TF from "@tensorflow/tfjs-core";
import { gemmModule, instantiate, runChunks, runPeak, type GemmExports, type GemmJob } from "./gemm-kernel.js";

export interface TileJob {
  a: SharedArrayBuffer;
  b: SharedArrayBuffer;
  c: SharedArrayBuffer;
  m: number;
  k: number;
  n: number;
  /** [i0, i1, j0, j1] per tile, sorted by j0 so a column panel of B is gathered once. */
  tiles: number[][];
}

/** The shared GEMM memory, sent once per worker before its first GEMM job. */
export interface GemmMemoryMessage {
  kind: "gemm-memory";
  memory: WebAssembly.Memory;
}

export interface GemmWorkMessage {
  kind: "gemm";
  job: GemmJob;
  /** Byte offset of this worker's scratch in the shared memory. */
  work: number;
}

/** The WebAssembly SIMD ceiling (simdPeak) on this worker, while the other threads run it too. */
export interface GemmPeakMessage {
  kind: "gemm-peak";
  /** Byte offset of simdPeak's 12 operand floats in the shared memory. */
  src: number;
  seconds: number;
}

export type WorkerMessage = TileJob | GemmMemoryMessage | GemmWorkMessage | GemmPeakMessage | "ping";

let tfReady: Promise<typeof TF> | null = null;
function loadTf(): Promise<typeof TF> {
  tfReady ??= (async () => {
    const req = createRequire(import.meta.url);
    const tf = await import("@tensorflow/tfjs-core");
    const { setWasmPaths } = await import("@tensorflow/tfjs-backend-wasm");
    setWasmPaths(join(dirname(req.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/");
    await tf.setBackend("wasm");
    await tf.ready();
    return tf;
  })();
  return tfReady;
}

let gemm: { g: GemmExports; memory: WebAssembly.Memory } | null = null;

async function tiles(job: TileJob): Promise<void> {
  const tf = await loadTf();
  const A = new Float32Array(job.a);
  const B = new Float32Array(job.b);
  const C = new Float32Array(job.c);
  const { k, n } = job;
  let bj = -1;
  let bt: TF.Tensor2D | null = null;
  for (const [i0, i1, j0, j1] of job.tiles) {
    const w = j1! - j0!;
    if (j0 !== bj) {
      bt?.dispose();
      const panel = new Float32Array(k * w);
      for (let r = 0; r < k; r++) panel.set(B.subarray(r * n + j0!, r * n + j1!), r * w);
      bt = tf.tensor2d(panel, [k, w]);
      bj = j0!;
    }
    const at = tf.tensor2d(A.subarray(i0! * k, i1! * k), [i1! - i0!, k]);
    const ct = tf.matMul(at, bt!);
    const data = ct.dataSync() as Float32Array;
    for (let r = 0; r < i1! - i0!; r++) C.set(data.subarray(r * w, (r + 1) * w), (i0! + r) * n + j0!);
    tf.dispose([at, ct]);
  }
  bt?.dispose();
}

parentPort!.on("message", async (msg: WorkerMessage) => {
  try {
    if (msg === "ping") {
      parentPort!.postMessage({ ok: true });
    } else if ("kind" in msg && msg.kind === "gemm-memory") {
      const module = gemmModule();
      if (!module) throw new Error("dist/wasm/gemm.wasm is missing: run `npm run build`");
      gemm = { g: instantiate(module, msg.memory), memory: msg.memory };
      parentPort!.postMessage({ ok: true });
    } else if ("kind" in msg && msg.kind === "gemm") {
      if (!gemm) throw new Error("a GEMM job came before the shared memory");
      const chunks = runChunks(gemm.g, gemm.memory, msg.job, msg.work);
      parentPort!.postMessage({ ok: true, chunks });
    } else if ("kind" in msg && msg.kind === "gemm-peak") {
      if (!gemm) throw new Error("a GEMM peak job came before the shared memory");
      parentPort!.postMessage({ ok: true, gflops: runPeak(gemm.g, msg.src, msg.seconds) });
    } else {
      await tiles(msg as TileJob);
      parentPort!.postMessage({ ok: true });
    }
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: (e as Error).message });
  }
});
