/**
 * Float32 arithmetic the way ggml's C code does it. ggml computes in `float`; JavaScript computes in
 * double, so every float operation is followed by `f` (Math.fround). Rounding a correctly rounded double
 * result of +, −, ×, ÷ or √ of two floats to float gives the correctly rounded float result, so
 * `f(a * b)` is exactly C's `a * b`. The shipped libggml-base.so is built for baseline x86-64 (SSE2,
 * no FMA), so there is no fused multiply-add to imitate: `a * b + c` is `f(f(a * b) + c)`.
 * Two more C habits to keep: a float's truthiness (`if (!d)`, `d ? … : 0`) counts NaN as non-zero, so
 * write `d === 0`; and MAX/MIN are plain comparisons (`a > b ? a : b`), which treat NaN unlike Math.max.
 */
import { f16BitsToF32, f32ToF16Bits } from "../../numerics/float-bits.js";

export const f = Math.fround;

/**
 * A block layout, as ggml-common.h's structs give it: weights per block and bytes per block. Each blocks/
 * file declares the layouts of its types once, in its BlockCode; the traits table (../types.ts) takes
 * them from there.
 */
export interface BlockLayout {
  readonly blockSize: number;
  readonly typeSize: number;
}

/**
 * The shapes of a type's block code, over `n` weights (a whole number of blocks), as ggml's C functions
 * take `k`: the reference quantizer (quantize_row_<type>_ref), the importance-matrix quantizer of one row
 * (quantize_row_<type>_impl; qw holds the row's n weights from index 0) and the dequantizer
 * (dequantize_row_<type>).
 */
export type BlockQuantize = (x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number) => void;
export type RowQuantizeImatrix = (x: Float32Array, xo: number, n: number, qw: Float32Array, out: Uint8Array, oo: number) => void;
export type BlockDequantize = (b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number) => void;

/** A decoder: the layout and dequantize_row_<type>, all a type QuantLab only reads needs. */
export interface BlockDecode extends BlockLayout {
  readonly dequantize: BlockDequantize;
}

/** A type's block code: its layout and its functions; the importance-matrix quantizer only where ggml has one. */
export interface BlockCode extends BlockDecode {
  readonly quantize: BlockQuantize;
  readonly quantizeImatrix?: RowQuantizeImatrix;
}

/** ggml's GROUP_MAX_EPS (1e-15f): below this a group counts as all zero. */
export const GROUP_MAX_EPS = f(1e-15);

const MAGIC = 12582912; // 1.5 · 2^23
const nb32 = new Float32Array(1);
const ni32 = new Int32Array(nb32.buffer);

/**
 * ggml's nearest_int: adds 1.5·2^23 in float and reads the low mantissa bits, which rounds half to even
 * for |x| ≤ 4194303. Outside that range (and for NaN/Inf) C returns whatever the bits say; so do we.
 */
export function nearestInt(x: number): number {
  if (x <= 4194303 && x >= -4194303) return f(x + MAGIC) - MAGIC;
  nb32[0] = x + MAGIC;
  return (ni32[0]! & 0x7fffff) - 0x400000;
}

/** GGML_FP32_TO_FP16 (round to nearest even; the .so has no F16C so it uses the bit-exact soft path). */
export const toHalf = f32ToF16Bits;
/** GGML_FP16_TO_FP32. */
export const fromHalf = f16BitsToF32;

/** Stores an FP16 bit pattern little-endian at `o`. */
export function putHalf(out: Uint8Array, o: number, h: number): void {
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
}

export function getHalf(b: Uint8Array, o: number): number {
  return fromHalf(b[o]! | (b[o + 1]! << 8));
}

/** Σ x² over x[xo…xo+n), added in order in float (ggml's `sumx2` / `sum_x2` loops). */
export function sumSquares(x: Float32Array, xo: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j]!;
    s = f(s + f(v * v));
  }
  return s;
}

/**
 * The importance-matrix quantizers' weights qw·√(σ² + x²) for x[xo…xo+n) into w[0…n); returns their
 * float sum (the K-quants weight their super-block scale search with it).
 */
export function imatrixWeights(x: Float32Array, xo: number, qw: Float32Array, qo: number, sigma2: number,
  n: number, w: Float32Array): number {
  let s = 0;
  for (let l = 0; l < n; l++) {
    const v = x[xo + l]!;
    w[l] = f(qw[qo + l]! * f(Math.sqrt(f(sigma2 + f(v * v)))));
    s = f(s + w[l]!);
  }
  return s;
}

/** Q2_K/Q3_K's 2-bit packing of 256 levels into 64 bytes at q: byte l of each 128 holds l, l+32, l+64, l+96. */
export function pack2Bits(L: ArrayLike<number>, out: Uint8Array, q: number): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[q + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}
