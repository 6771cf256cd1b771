/**
 * GPTQ's block sweep in WebAssembly SIMD (assembly/gptq.ts, built to dist/wasm/gptq.wasm), instantiated
 * over the GEMM kernel's shared memory (a Workspace's `memory`), so the sweep works on matrices the pool
 * updates in place. One instance per memory, on the calling thread only.
 *
 *   gptqKernel(memory) → the module's exports, or null when dist/wasm/gptq.wasm is missing (not built)
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

// Both src/backend/ and dist/backend/ sit two levels below the package root.
const WASM_URL = new URL("../../dist/wasm/gptq.wasm", import.meta.url);
let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, GptqKernel>();

export function gptqKernel(memory: WebAssembly.Memory): GptqKernel | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(readFileSync(WASM_URL));
    } catch {
      compiled = null;
    }
  }
  if (!compiled) return null;
  let k = instances.get(memory);
  if (!k) {
    k = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as GptqKernel;
    instances.set(memory, k);
  }
  return k;
}
