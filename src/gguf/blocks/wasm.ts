/**
 * The WebAssembly quantizers (assembly/gguf-blocks.ts, built to dist/wasm/gguf-blocks.wasm): every
 * block type's reference quantizer, without an importance matrix, as the block functions quants.ts
 * calls: quantize `nb` blocks from x[xo…] into out[oo…]. Blocks travel through the module's memory a
 * chunk at a time (64 KiB), so a matrix of any size never needs a second full-size copy.
 */
import { readFileSync } from "node:fs";
import { QuantLabError } from "../../errors.js";

interface Kernels {
  memory: WebAssembly.Memory;
  chunkFloats(): number;
  inputPtr(): number;
  outputPtr(): number;
  quantizeQx_0(bits: number, nb: number): void;
  quantizeQx_1(bits: number, nb: number): void;
  quantizeQ8_0(nb: number): void;
  quantizeQ2_K(nb: number): void;
  quantizeQ3_K(nb: number): void;
  quantizeQ45_K(bits: number, nb: number): void;
  quantizeQ6_K(nb: number): void;
}

// Both src/gguf/blocks/ and dist/gguf/blocks/ sit three levels below the package root.
const WASM_URL = new URL("../../../dist/wasm/gguf-blocks.wasm", import.meta.url);

let kernels: Kernels | undefined;
let input: Float32Array;
let output: Uint8Array;

function load(): Kernels {
  if (kernels) return kernels;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_URL));
  } catch {
    throw new QuantLabError("UNSUPPORTED", "the GGUF WebAssembly kernels (dist/wasm/gguf-blocks.wasm) are missing: run `npm run build` (npm ci does it) in the QuantLab folder");
  }
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    env: { abort: () => { throw new Error("gguf-blocks.wasm aborted"); } },
  }).exports as unknown as Kernels;
  input = new Float32Array(k.memory.buffer, k.inputPtr(), k.chunkFloats());
  output = new Uint8Array(k.memory.buffer, k.outputPtr(), k.chunkFloats() * 4);
  return (kernels = k);
}

type Kernel = (k: Kernels, nb: number) => void;

/** A block function over `kernel`, for blocks of `blockFloats` weights stored in `blockBytes` bytes. */
function chunked(kernel: Kernel, blockFloats: number, blockBytes: number) {
  return (x: Float32Array, xo: number, out: Uint8Array, oo: number, nb: number): void => {
    const k = load();
    const per = Math.floor(input.length / blockFloats);
    while (nb > 0) {
      const n = Math.min(nb, per);
      input.set(x.subarray(xo, xo + n * blockFloats));
      kernel(k, n);
      out.set(output.subarray(0, n * blockBytes), oo);
      xo += n * blockFloats;
      oo += n * blockBytes;
      nb -= n;
    }
  };
}

export const quantizeQ4_0 = chunked((k, nb) => k.quantizeQx_0(4, nb), 32, 18);
export const quantizeQ5_0 = chunked((k, nb) => k.quantizeQx_0(5, nb), 32, 22);
export const quantizeQ4_1 = chunked((k, nb) => k.quantizeQx_1(4, nb), 32, 20);
export const quantizeQ5_1 = chunked((k, nb) => k.quantizeQx_1(5, nb), 32, 24);
export const quantizeQ8_0 = chunked((k, nb) => k.quantizeQ8_0(nb), 32, 34);
export const quantizeQ2_K = chunked((k, nb) => k.quantizeQ2_K(nb), 256, 84);
export const quantizeQ3_K = chunked((k, nb) => k.quantizeQ3_K(nb), 256, 110);
export const quantizeQ4_K = chunked((k, nb) => k.quantizeQ45_K(4, nb), 256, 144);
export const quantizeQ5_K = chunked((k, nb) => k.quantizeQ45_K(5, nb), 256, 176);
export const quantizeQ6_K = chunked((k, nb) => k.quantizeQ6_K(nb), 256, 210);
