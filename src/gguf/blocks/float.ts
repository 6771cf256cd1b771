/**
 * The unquantized types: F32 (raw little-endian), F16 and BF16 (round to nearest even, as ggml's
 * GGML_FP32_TO_FP16 and ggml_fp32_to_bf16_row_ref do), through the project's float-bits conversions.
 * Their "blocks" are one value each. F32 and BF16 decode as a view or a shift; F16 decodes in
 * WebAssembly SIMD (decodeF16 in assembly/gguf-blocks.ts), three times JavaScript's rate.
 */
import { f32ToBf16Bits, f32ToF16Bits } from "../../numerics/float-bits.js";
import type { BlockCode } from "./common.js";
import { decodeF16Into } from "./wasm.js";

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function quantizeF32(x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  if (littleEndian) out.set(new Uint8Array(x.buffer, x.byteOffset + xo * 4, n * 4), oo);
  else {
    const dv = new DataView(out.buffer, out.byteOffset + oo, n * 4);
    for (let i = 0; i < n; i++) dv.setFloat32(i * 4, x[xo + i]!, true);
  }
}

function quantize16(bf16: boolean, x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  const conv = bf16 ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < n; i++) {
    let h = conv(x[xo + i]!);
    // ggml's FP16 conversion turns every NaN into the quiet NaN 0x7E00 (keeping the sign), dropping payloads
    if (!bf16 && (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) h = (h & 0x8000) | 0x7e00;
    out[oo + 2 * i] = h & 0xff;
    out[oo + 2 * i + 1] = h >>> 8;
  }
}

function dequantizeF32(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const at = b.byteOffset + bo;
  // a model's tensors are aligned in the file and in the read buffer: decoding is then one copy
  if (littleEndian && at % 4 === 0) y.set(new Float32Array(b.buffer, at, n), yo);
  else {
    const dv = new DataView(b.buffer, at, n * 4);
    for (let i = 0; i < n; i++) y[yo + i] = dv.getFloat32(i * 4, true);
  }
}

/** The n 16-bit patterns at b[bo…]: a view of the bytes when aligned on a little-endian host, else a copy. */
function halves(b: Uint8Array, bo: number, n: number): Uint16Array {
  const at = b.byteOffset + bo;
  if (littleEndian && at % 2 === 0) return new Uint16Array(b.buffer, at, n);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = b[bo + 2 * i]! | (b[bo + 2 * i + 1]! << 8);
  return h;
}

// straight into y, with no temporary arrays: this decoder carries every BF16 checkpoint at real sizes
function dequantizeBF16(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const h = halves(b, bo, n);
  const y32 = new Uint32Array(y.buffer, y.byteOffset + 4 * yo, n);
  for (let i = 0; i < n; i++) y32[i] = h[i]! << 16;
}

export const F32: BlockCode = { blockSize: 1, typeSize: 4, quantize: quantizeF32, dequantize: dequantizeF32 };
export const F16: BlockCode = {
  blockSize: 1, typeSize: 2,
  quantize: (x, xo, out, oo, n) => quantize16(false, x, xo, out, oo, n),
  dequantize: decodeF16Into,
};
export const BF16: BlockCode = {
  blockSize: 1, typeSize: 2,
  quantize: (x, xo, out, oo, n) => quantize16(true, x, xo, out, oo, n),
  dequantize: dequantizeBF16,
};
