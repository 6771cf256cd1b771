/**
 * Algorithm kernels in WebAssembly SIMD that run on the GEMM kernel's shared memory (a Workspace's
 * `memory`), so they work on matrices the pool's products read and update in place: GPTQ's block sweep
 * (assembly/gptq.ts → dist/wasm/gptq.wasm) and AWQ's grid points (assembly/awq.ts → dist/wasm/awq.wasm).
 * One instance per module and memory, on the calling thread only.
 *
 *   gptqKernel(memory), awqKernel(memory) → the module's exports, or null when it is not built
 */
import { readFileSync } from "node:fs";

export interface GptqKernel {
  /** Columns of C per GEMM call inside the sweep: the scratch `work` must hold workBytes(chunkCols()). */
  chunkCols(): number;
  sweepBlock(
    rows: number, b: number, i1: number, sub: number,
    wt: number, w1: number, e: number, u: number, ldu: number, codes: number,
    S: number, Z: number, ng: number, group: number, fit: number,
    qmin: number, qmax: number, sym: number, cur: number, work: number, loss: number,
  ): number;
}

export interface AwqKernel {
  groupError(src: number, R: number, cols: number, gs: number, colScale: number, clip: number,
    qmin: number, qmax: number, sym: number, out: number): void;
  sumSquares(y: number, n: number): number;
}

interface Loaded {
  module: WebAssembly.Module | null | undefined;
  instances: WeakMap<WebAssembly.Memory, WebAssembly.Exports>;
}
const modules = new Map<string, Loaded>();

function kernel(name: string, memory: WebAssembly.Memory): WebAssembly.Exports | null {
  let m = modules.get(name);
  if (!m) modules.set(name, (m = { module: undefined, instances: new WeakMap() }));
  if (m.module === undefined) {
    try {
      // both src/backend/ and dist/backend/ sit two levels below the package root
      m.module = new WebAssembly.Module(readFileSync(new URL(`../../dist/wasm/${name}.wasm`, import.meta.url)));
    } catch {
      m.module = null;
    }
  }
  if (!m.module) return null;
  let k = m.instances.get(memory);
  if (!k) {
    k = new WebAssembly.Instance(m.module, { env: { memory } }).exports;
    m.instances.set(memory, k);
  }
  return k;
}

export const gptqKernel = (memory: WebAssembly.Memory) => kernel("gptq", memory) as unknown as GptqKernel | null;
export const awqKernel = (memory: WebAssembly.Memory) => kernel("awq", memory) as unknown as AwqKernel | null;
