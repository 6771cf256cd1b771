/**
 * A worker of the matmul pool (pool.ts): its own tfjs-wasm instance computing output tiles C[i0:i1, j0:j1]
 * = A[i0:i1, :]·B[:, j0:j1] from shared memory into shared memory, so two cores work on one product
 * (tfjs' own threaded wasm cannot start its workers under Node).
 */
import { parentPort } from "node:worker_threads";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

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

const req = createRequire(import.meta.url);
setWasmPaths(join(dirname(req.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/");
await import("@tensorflow/tfjs-backend-wasm");
const ready = tf.setBackend("wasm").then(() => tf.ready());

parentPort!.on("message", async (job: TileJob | "ping") => {
  await ready;
  if (job === "ping") {
    parentPort!.postMessage({ ok: true });
    return;
  }
  try {
    const A = new Float32Array(job.a);
    const B = new Float32Array(job.b);
    const C = new Float32Array(job.c);
    const { k, n } = job;
    let bj = -1;
    let bt: tf.Tensor2D | null = null;
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
    parentPort!.postMessage({ ok: true });
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: (e as Error).message });
  }
});
