/**
 * The one place that chooses and starts a tfjs backend for the algorithms (GPTQ, AWQ, calibration).
 *
 *   useBackend(name?)  → BackendReport   starts `name`, else QUANTLAB_BACKEND, else "wasm"
 *   backendReport()    → BackendReport   what runs now and why each other backend is or is not usable
 *   tf                                   @tensorflow/tfjs-core, for the algorithm modules
 *
 * Candidates: "wasm" (default; ships in @tensorflow/tfjs-backend-wasm, offline, SIMD), "cpu" (plain JS
 * reference, ≈ 35× slower), "tensorflow" (native @tensorflow/tfjs-node(-gpu), optional, never required),
 * "webgpu" (@tensorflow/tfjs-backend-webgpu over the `webgpu` npm package, Dawn; needs an adapter:
 * Vulkan on Linux, Metal on macOS, D3D12 on Windows). On wasm the algorithms' matrix products bypass
 * tfjs for QuantLab's own WebAssembly SIMD GEMM on both cores (gemm.ts).
 */
import type * as Tf from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { QuantLabError } from "../errors.js";
import { poolSize } from "./pool.js";
import { gemmThreads } from "./gemm.js";
import { keyValueBundle, withDisplay } from "../numerics/present.js";
import { BACKENDS, type BackendName, type BackendReport } from "./report.js";

export { BACKENDS, type BackendName, type BackendReport } from "./report.js";

const req = createRequire(import.meta.url);
// required, not imported: Node's ESM loader first lexes a CommonJS file whole for its export names,
// ≈ 0.14 s of every kernel start for these three bundles (2 MB); the module instances are the same
type WasmBackend = typeof import("@tensorflow/tfjs-backend-wasm");
export const tf = req("@tensorflow/tfjs-core") as typeof Tf;
req("@tensorflow/tfjs-backend-cpu");
const wasmBackend = () => req("@tensorflow/tfjs-backend-wasm") as WasmBackend;
// the tensor types callers name as tf.Tensor2D etc., beside the value
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Tensor<R extends Tf.Rank = Tf.Rank> = Tf.Tensor<R>;
  export type Tensor1D = Tf.Tensor1D;
  export type Tensor2D = Tf.Tensor2D;
  export type Tensor3D = Tf.Tensor3D;
  export type Scalar = Tf.Scalar;
  export type Variable<R extends Tf.Rank = Tf.Rank> = Tf.Variable<R>;
}
const notes: Partial<Record<BackendName, string>> = {};
let chosenBy = "default";
let current: Promise<BackendReport> | null = null;

function packageName(spec: string): string | null {
  try {
    return JSON.parse(readFileSync(req.resolve(`${spec}/package.json`), "utf8")).name as string;
  } catch {
    return null;
  }
}

async function registerWasm(): Promise<void> {
  if (tf.findBackendFactory("wasm")) return;
  const dir = dirname(req.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
  // Node has no fetch for file paths: point the loader at the .wasm files inside the package
  wasmBackend().setWasmPaths(join(dir, "dist") + "/");
}

async function registerTensorflow(): Promise<void> {
  for (const spec of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    const name = packageName(spec);
    if (name === null) continue;
    if (name !== spec) {
      notes.tensorflow = `${spec} is installed as an alias of ${name} (danfojs' override), not the native binding`;
      continue;
    }
    await import(spec);
    if (tf.findBackendFactory("tensorflow")) return;
  }
  throw new QuantLabError("UNSUPPORTED", notes.tensorflow ?? "@tensorflow/tfjs-node is not installed (optional; needs internet to install)");
}

async function registerWebgpu(): Promise<void> {
  if (tf.findBackendFactory("webgpu")) return;
  let webgpu: { create(opts: string[]): unknown; globals: Record<string, unknown> };
  try {
    webgpu = (await import("webgpu" as string)) as typeof webgpu;
  } catch (e) {
    throw new QuantLabError("UNSUPPORTED", `the optional 'webgpu' package does not load: ${(e as Error).message.split("\n")[0]}`);
  }
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]) as { requestAdapter(o?: unknown): Promise<unknown> };
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav) Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true });
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new QuantLabError("UNSUPPORTED", "webgpu found no adapter (no Vulkan/Metal/D3D12 driver or GPU)");
  await import("@tensorflow/tfjs-backend-webgpu" as string);
}

const registrars: Record<BackendName, () => Promise<void>> = {
  wasm: registerWasm,
  cpu: async () => {},
  tensorflow: registerTensorflow,
  webgpu: registerWebgpu,
};

function checkName(name: string): asserts name is BackendName {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new QuantLabError("BAD_ARGUMENT", `unknown backend '${name}': use one of ${BACKENDS.join(", ")}`);
  }
}

async function start(name: BackendName): Promise<void> {
  try {
    await registrars[name]();
  } catch (e) {
    const why = (e as Error).message;
    notes[name] = why;
    throw e instanceof QuantLabError ? e : new QuantLabError("UNSUPPORTED", `backend ${name} cannot start: ${why}`);
  }
  const ok = await tf.setBackend(name).catch((e: Error) => {
    notes[name] = e.message;
    return false;
  });
  if (!ok) throw new QuantLabError("UNSUPPORTED", `tfjs backend '${name}' failed to initialise${notes[name] ? `: ${notes[name]}` : ""}: use wasm or cpu`);
  await tf.ready();
}

/** Starts a backend: `name`, else env QUANTLAB_BACKEND, else "wasm". Throws UNSUPPORTED (with the reason) when it cannot run. */
export async function useBackend(name?: string): Promise<BackendReport> {
  const env = process.env.QUANTLAB_BACKEND;
  const want = name ?? env ?? "wasm";
  checkName(want);
  const by = name !== undefined ? "option" : env ? "QUANTLAB_BACKEND" : "default";
  if (tf.getBackend() !== want || !current) {
    const p = start(want).then(() => {
      chosenBy = by;
      return backendReport();
    });
    current = p.catch(() => null as never);
    return p;
  }
  return current;
}

/** The running backend's name, starting the default one first if none has been chosen. */
export async function ensureBackend(name?: string): Promise<string> {
  if (name !== undefined && name !== tf.getBackend()) await useBackend(name);
  else if (!current) await useBackend();
  return tf.getBackend();
}

/** What runs now, and for each candidate whether it is usable and why not (probes nothing new). */
export async function backendReport(): Promise<BackendReport> {
  const active = tf.getBackend() ?? "none";
  const candidates = {} as Record<BackendName, string>;
  for (const b of BACKENDS) {
    if (b === active) candidates[b] = "active";
    else if (notes[b]) candidates[b] = notes[b]!;
    else if (b === "tensorflow") candidates[b] = packageName("@tensorflow/tfjs-node") === "@tensorflow/tfjs-node" ? "available" : "not installed (optional @tensorflow/tfjs-node)";
    else if (b === "webgpu") candidates[b] = packageName("webgpu") ? "installed, not probed (useBackend('webgpu') looks for an adapter)" : "the optional 'webgpu' package is not installed";
    else candidates[b] = "available";
  }
  const report: BackendReport = { active, chosenBy, candidates };
  if (active === "wasm") {
    const wasm = wasmBackend();
    const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
    const mt = Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
    report.wasm = {
      simd,
      threads: wasm.getThreadsCount(),
      note: mt ? "threaded build in use" : "single-threaded: tfjs's threaded wasm starts its workers from blob: URLs, which Node's Worker refuses",
      poolWorkers: await poolSize(),
      gemm: await gemmThreads().then((t) => t > 0
        ? `QuantLab's WebAssembly SIMD kernel on ${t} thread${t === 1 ? "" : "s"} (matmul, XᵀX, Cholesky, GPTQ/AWQ products)`
        : "dist/wasm/gemm.wasm is not built (run npm run build): products run as tfjs matMul"),
    };
  }
  return withDisplay(report, () => keyValueBundle(`tfjs backend: ${active} (${chosenBy})`, [
    ...BACKENDS.map((b) => [b, candidates[b]] as [string, string]),
    ...(report.wasm ? [["wasm SIMD / threads", `${report.wasm.simd} / ${report.wasm.threads}: ${report.wasm.note}`] as [string, string],
      ["matrix products", report.wasm.gemm] as [string, string],
      ["matmul worker pool", report.wasm.poolWorkers ? `${report.wasm.poolWorkers} workers (large products split over cores; QUANTLAB_THREADS=1 turns it off)` : "off"] as [string, string]] : []),
  ]));
}
