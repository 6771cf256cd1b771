/**
 * The WebAssembly quantizers (assembly/gguf-blocks.ts, built to dist/wasm/gguf-blocks.wasm): the
 * reference quantizers (no importance matrix) of the Q and K types, of MXFP4, NVFP4, TQ1_0 and TQ2_0,
 * and IQ4_NL/IQ4_XS with and without one, in the block-code shapes the traits table (../types.ts) takes: quantize `n` weights (whole blocks) from x[xo…] into out[oo…]. Weights travel
 * through the module's memory a chunk at a time (64 KiB), so a matrix of any size never needs a second
 * full-size copy.
 *
 * This file states no block size: each kernel takes a weight count, as ggml's quantize_row_*_ref does, and
 * returns the bytes it wrote. It imports nothing but the error type, so it loads (and explains a missing
 * build) on its own.
 */
import { readFileSync } from "node:fs";
import { QuantLabError } from "../../errors.js";

interface Kernels {
  memory: WebAssembly.Memory;
  chunkFloats(): number;
  inputPtr(): number;
  outputPtr(): number;
  quantizeQx_0(bits: number, k: number): number;
  quantizeQx_1(bits: number, k: number): number;
  quantizeQ8_0(k: number): number;
  quantizeQ2_K(k: number): number;
  quantizeQ3_K(k: number): number;
  quantizeQ45_K(bits: number, k: number): number;
  quantizeQ6_K(k: number): number;
  weightsPtr(): number;
  quantizeIQ4_NL(k: number, weighted: number): number;
  quantizeIQ4_XS(k: number, weighted: number): number;
  quantizeMXFP4(k: number): number;
  quantizeNVFP4(k: number): number;
  quantizeTQ1_0(k: number): number;
  quantizeTQ2_0(k: number): number;
  decodeF16(k: number): void;
  decodeQ4_K(k: number): void;
  decodeQ6_K(k: number): void;
}

// Both src/gguf/blocks/ and dist/gguf/blocks/ sit three levels below the package root.
const WASM_URL = new URL("../../../dist/wasm/gguf-blocks.wasm", import.meta.url);

let kernels: Kernels | undefined;
let input: Float32Array;
let weights: Float32Array;
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
  weights = new Float32Array(k.memory.buffer, k.weightsPtr(), k.chunkFloats());
  output = new Uint8Array(k.memory.buffer, k.outputPtr(), k.chunkFloats() * 4);
  return (kernels = k);
}

/** A kernel call: quantize `k` weights from the input buffer, return the bytes written to the output buffer. */
type Kernel = (m: Kernels, k: number) => number;

/**
 * A block quantizer over `kernel`. The chunk (16384 floats) is a whole number of blocks of every type
 * (32 or 256 weights), so cutting the row stream at chunk boundaries never splits a block.
 */
function chunked(kernel: Kernel) {
  return (x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void => {
    const m = load();
    while (n > 0) {
      const k = Math.min(n, input.length);
      input.set(x.subarray(xo, xo + k));
      const wrote = kernel(m, k);
      out.set(output.subarray(0, wrote), oo);
      xo += k;
      oo += wrote;
      n -= k;
    }
  };
}

/**
 * An importance-matrix quantizer of one row over `kernel`, for the types whose weights depend only on
 * their own block (IQ4_*): the row and its weights travel through the module a chunk at a time, aligned.
 */
function chunkedWeighted(kernel: Kernel) {
  return (x: Float32Array, xo: number, n: number, qw: Float32Array, out: Uint8Array, oo: number): void => {
    const m = load();
    let qo = 0;
    while (n > 0) {
      const k = Math.min(n, input.length);
      input.set(x.subarray(xo, xo + k));
      weights.set(qw.subarray(qo, qo + k));
      const wrote = kernel(m, k);
      out.set(output.subarray(0, wrote), oo);
      xo += k;
      qo += k;
      oo += wrote;
      n -= k;
    }
  };
}

export const quantizeQ4_0 = chunked((m, k) => m.quantizeQx_0(4, k));
export const quantizeQ5_0 = chunked((m, k) => m.quantizeQx_0(5, k));
export const quantizeQ4_1 = chunked((m, k) => m.quantizeQx_1(4, k));
export const quantizeQ5_1 = chunked((m, k) => m.quantizeQx_1(5, k));
export const quantizeQ8_0 = chunked((m, k) => m.quantizeQ8_0(k));
export const quantizeQ2_K = chunked((m, k) => m.quantizeQ2_K(k));
export const quantizeQ3_K = chunked((m, k) => m.quantizeQ3_K(k));
export const quantizeQ4_K = chunked((m, k) => m.quantizeQ45_K(4, k));
export const quantizeQ5_K = chunked((m, k) => m.quantizeQ45_K(5, k));
export const quantizeQ6_K = chunked((m, k) => m.quantizeQ6_K(k));
export const quantizeIQ4_NL = chunked((m, k) => m.quantizeIQ4_NL(k, 0));
export const quantizeRowIQ4_NLImatrix = chunkedWeighted((m, k) => m.quantizeIQ4_NL(k, 1));
export const quantizeIQ4_XS = chunked((m, k) => m.quantizeIQ4_XS(k, 0));
export const quantizeRowIQ4_XSImatrix = chunkedWeighted((m, k) => m.quantizeIQ4_XS(k, 1));
export const quantizeMXFP4 = chunked((m, k) => m.quantizeMXFP4(k));
export const quantizeNVFP4 = chunked((m, k) => m.quantizeNVFP4(k));
export const quantizeTQ1_0 = chunked((m, k) => m.quantizeTQ1_0(k));
export const quantizeTQ2_0 = chunked((m, k) => m.quantizeTQ2_0(k));

/**
 * Decoders to float32 for the model runtime, which decodes every weight it multiplies: exact (ggml's
 * reference order of f32 operations), `n` values from b[bo…] into y[yo…]. The values travel the other way
 * through the module's buffers: stored bytes into the output one, floats out of the input one, a chunk
 * (16384 values, a whole number of 256-value blocks) at a time. Per value, copies included: F16 1.4 ns
 * against 4.5 in JavaScript.
 */
function decoder(kernel: (m: Kernels, k: number) => void, bytesPer256: number) {
  return (b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void => {
    const m = load();
    while (n > 0) {
      const k = Math.min(n, input.length);
      const bytes = (k * bytesPer256) / 256;
      output.set(b.subarray(bo, bo + bytes));
      kernel(m, k);
      y.set(input.subarray(0, k), yo);
      bo += bytes;
      yo += k;
      n -= k;
    }
  };
}

export const decodeF16Into = decoder((m, k) => m.decodeF16(k), 512);
export const decodeQ4_KInto = decoder((m, k) => m.decodeQ4_K(k), 144);
export const decodeQ6_KInto = decoder((m, k) => m.decodeQ6_K(k), 210);
