/**
 * Bit-exact conversions between FP32 and the two 16-bit float formats, round to nearest, ties to even.
 * Every other layer (formats, GGUF block scales, safetensors I/O) goes through these, so an FP16 scale
 * means the same bits everywhere. Overflow: IEEE gives Inf; "saturate" clamps to the largest finite.
 */
export type OverflowPolicy = "inf" | "saturate";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** FP32 (any JS number, first rounded to FP32) → FP16 bit pattern. `f32ToF16Bits(65504) === 0x7bff`. */
export function f32ToF16Bits(x: number, overflow: OverflowPolicy = "inf"): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  let h: number;
  if (exp >= 113) {
    // normal in FP16 range (or overflowing): keep 10 mantissa bits, round the 13 dropped ones
    h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  } else {
    // FP16 subnormal (or zero): value = q · 2^-24 with q = m · 2^(exp - 126)
    const shift = 126 - exp;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
  }
  if (h >= 0x7c00) return sign | (overflow === "inf" ? 0x7c00 : 0x7bff);
  return sign | h;
}

const F16_TABLE = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  F16_TABLE[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** FP16 bit pattern → its exact value. `f16BitsToF32(0x3c00) === 1`. */
export function f16BitsToF32(h: number): number {
  return F16_TABLE[h & 0xffff]!;
}

/** FP32 → BF16 bit pattern (the top 16 bits of FP32, rounded to nearest even). */
export function f32ToBf16Bits(x: number, overflow: OverflowPolicy = "inf"): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000) return b & 0x7fffff ? (b >>> 16) | 0x40 : b >>> 16;
  const r = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  if ((r & 0x7f80) === 0x7f80) return (r & 0x8000) | (overflow === "inf" ? 0x7f80 : 0x7f7f);
  return r;
}

/** BF16 bit pattern → its exact value. */
export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Rounds every element through FP16 and back (the value an FP16 tensor would hold). */
export function roundToF16(x: ArrayLike<number>, overflow: OverflowPolicy = "inf"): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = F16_TABLE[f32ToF16Bits(x[i]!, overflow)]!;
  return out;
}

export function f32ArrayToF16(x: ArrayLike<number>, overflow: OverflowPolicy = "inf"): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToF16Bits(x[i]!, overflow);
  return out;
}

export function f16ArrayToF32(h: ArrayLike<number>): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = F16_TABLE[h[i]! & 0xffff]!;
  return out;
}

export function f32ArrayToBf16(x: ArrayLike<number>, overflow: OverflowPolicy = "inf"): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToBf16Bits(x[i]!, overflow);
  return out;
}

export function bf16ArrayToF32(h: ArrayLike<number>): Float32Array {
  const out = new Float32Array(h.length);
  const o32 = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) o32[i] = (h[i]! & 0xffff) << 16;
  return out;
}
