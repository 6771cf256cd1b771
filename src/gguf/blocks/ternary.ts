/**
 * The ternary types, for models trained with weights in {−1, 0, 1}·d (BitNet b1.58): one fp16 scale d =
 * max |x| per 256 weights. TQ2_0 (66 bytes): qs[64] with 2 bits per weight (q + 1), four strips of 32 per
 * byte, then d. TQ1_0 (54 bytes, 1.6875 bits): qs[48] packing 5 trits per byte and qh[4] packing 4, each
 * byte the base-3 number scaled to 0…255 by a ceiling division by 243, then d.
 * ggml-quants.c's quantize_row_tq{1,2}_0_ref (ggml_quantize_chunk ignores an importance matrix for them)
 * and dequantize_row_tq{1,2}_0. No WebAssembly twin: they run in JavaScript.
 */
import * as common from "./common.js";
import type { BlockCode } from "./common.js";

const f = Math.fround;
const getHalf = common.getHalf;
const putHalf = common.putHalf;
const toHalf = common.toHalf;

const QK_K = 256;

/**
 * lroundf(v) + 1 as an int, as x86-64 C computes it: half away from zero; NaN and ±Inf convert to
 * LONG_MIN, whose low 32 bits after + 1 are 1 (the code of 0).
 */
function trit(v: number): number {
  if (!Number.isFinite(v)) return 1;
  return (v < 0 ? -Math.round(-v) : Math.round(v)) + 1;
}

/** amax = MAX(amax, fabsf(v)) over the block, literally (a NaN is kept only until the next value). */
function absMax(x: Float32Array, xo: number): number {
  let amax = 0;
  for (let j = 0; j < QK_K; j++) {
    const a = Math.abs(x[xo + j]!);
    amax = amax > a ? amax : a;
  }
  return amax;
}

/** Writes d and returns 1/d (0 when d is 0; C truthiness counts NaN as non-zero). */
function scale(x: Float32Array, xo: number, out: Uint8Array, dAt: number): number {
  const d = absMax(x, xo);
  putHalf(out, dAt, toHalf(d));
  return d !== 0 ? f(1 / d) : 0;
}

/** Five (or, with `last`, four then a shift) trits x[xo], x[xo + stride] … as one byte. */
function pack3(x: Float32Array, xo: number, stride: number, count: number, id: number): number {
  let q = 0;
  for (let k = 0; k < count; k++) q = (q * 3 + trit(f(x[xo + k * stride]! * id))) & 0xff;
  if (count === 4) q = (q * 3) & 0xff;
  return Math.trunc((q * 256 + 242) / 243);
}

function quantizeTq1_0(x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, oo += TQ1_0.typeSize) {
    const id = scale(x, xo, out, oo + 52);
    for (let m = 0; m < 32; m++) out[oo + m] = pack3(x, xo + m, 32, 5, id);
    xo += 160;
    for (let m = 0; m < 16; m++) out[oo + 32 + m] = pack3(x, xo + m, 16, 5, id);
    xo += 80;
    for (let j = 0; j < 4; j++) out[oo + 48 + j] = pack3(x, xo + j, 4, 4, id);
    xo += 16;
  }
}

function quantizeTq2_0(x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, oo += TQ2_0.typeSize) {
    const id = scale(x, xo, out, oo + 64);
    for (let j = 0; j < 64; j += 32, xo += 128) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let k = 0; k < 4; k++) q += (trit(f(x[xo + m + 32 * k]! * id)) & 3) << (2 * k);
        out[oo + j + m] = q;
      }
    }
  }
}

const POW3 = [1, 3, 9, 27, 81, 243];

function dequantizeTq1_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const t = (byte: number, k: number) => (((byte * POW3[k]!) & 0xff) * 3) >> 8;
  for (let i = 0; i < n / QK_K; i++, bo += TQ1_0.typeSize) {
    const d = getHalf(b, bo + 52);
    for (let k = 0; k < 5; k++) for (let m = 0; m < 32; m++) y[yo++] = (t(b[bo + m]!, k) - 1) * d;
    for (let k = 0; k < 5; k++) for (let m = 0; m < 16; m++) y[yo++] = (t(b[bo + 32 + m]!, k) - 1) * d;
    for (let k = 0; k < 4; k++) for (let j = 0; j < 4; j++) y[yo++] = (t(b[bo + 48 + j]!, k) - 1) * d;
  }
}

function dequantizeTq2_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += TQ2_0.typeSize) {
    const d = getHalf(b, bo + 64);
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) for (let m = 0; m < 32; m++) y[yo++] = (((b[bo + j + m]! >> (2 * l)) & 3) - 1) * d;
    }
  }
}

/** block_tq1_0, with its code. */
export const TQ1_0: BlockCode = { blockSize: QK_K, typeSize: 54, quantize: quantizeTq1_0, dequantize: dequantizeTq1_0 };
/** block_tq2_0, with its code. */
export const TQ2_0: BlockCode = { blockSize: QK_K, typeSize: 66, quantize: quantizeTq2_0, dequantize: dequantizeTq2_0 };
