/**
 * The unquantized types: F32 (raw little-endian), F16 and BF16 (round to nearest even, as ggml's
 * GGML_FP32_TO_FP16 and ggml_fp32_to_bf16_row_ref do), through the project's float-bits conversions.
 */
import { f16ArrayToF32, f32ToBf16Bits, f32ToF16Bits, bf16ArrayToF32 } from "../../numerics/float-bits.js";

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function quantizeF32(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 4);
  if (littleEndian) out.set(new Uint8Array(src.buffer, src.byteOffset, src.length * 4));
  else {
    const dv = new DataView(out.buffer);
    for (let i = 0; i < src.length; i++) dv.setFloat32(i * 4, src[i]!, true);
  }
  return out;
}

export function quantize16(bf16: boolean, src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  const conv = bf16 ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < src.length; i++) {
    let h = conv(src[i]!);
    // ggml's FP16 conversion turns every NaN into the quiet NaN 0x7E00 (keeping the sign), dropping payloads
    if (!bf16 && (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) h = (h & 0x8000) | 0x7e00;
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

export function dequantizeF32(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n * 4);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

export function dequantize16(bf16: boolean, bytes: Uint8Array, n: number): Float32Array {
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
  return bf16 ? bf16ArrayToF32(h) : f16ArrayToF32(h);
}
