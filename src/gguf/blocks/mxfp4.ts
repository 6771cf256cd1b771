/**
 * MXFP4 (the OCP microscaling format gpt-oss ships in): 32 weights in 17 bytes — an E8M0 shared exponent
 * e and 16 bytes of FP4 (E2M1) codes, low nibble weight j, high nibble j + 16; x = kvalues[q]·2^(e − 128),
 * where kvalues are the E2M1 values doubled (0, 1, 2, 3, 4, 6, 8, 12 and their negatives).
 * ggml-quants.c's quantize_row_mxfp4_ref (ggml_quantize_chunk ignores an importance matrix for it) and
 * dequantize_row_mxfp4, in float32 as common.ts explains. No WebAssembly twin: it runs in JavaScript.
 */
import type { BlockCode } from "./common.js";

const f = Math.fround;
const QK = 32;

/** kvalues_mxfp4. */
const KVALUES = Int8Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

/** GGML_E8M0_TO_FP32_HALF: 2^(e − 128), subnormal for e < 2. */
const e8m0Half = (e: number): number => 2 ** (e - 128);

/**
 * The shared exponent, `(uint8_t)(floorf(log2f(amax)) - 2 + 127)` as x86-64 C computes it: log2f rounded
 * to float (so a value just below a power of two counts as that power), then a truncating conversion whose
 * low byte is kept (negative exponents wrap; ±Inf gives 0).
 */
function sharedExponent(amax: number): number {
  if (!(amax > 0)) return 0;
  const v = Math.floor(f(Math.log2(amax))) - 2 + 127;
  return Number.isFinite(v) ? v & 0xff : 0;
}

/** best_index_mxfp4: the first code of least |kvalues[i]·d − x| (NaN gives 0). */
function bestIndex(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.abs(f(f(KVALUES[0]! * d) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(f(KVALUES[i]! * d) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

function quantizeMxfp4(x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, xo += QK, oo += MXFP4.typeSize) {
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[xo + j]!);
      if (amax < a) amax = a;
    }
    const e = sharedExponent(amax);
    const d = e8m0Half(e);
    out[oo] = e;
    for (let j = 0; j < QK / 2; j++) out[oo + 1 + j] = bestIndex(x[xo + j]!, d) | (bestIndex(x[xo + QK / 2 + j]!, d) << 4);
  }
}

function dequantizeMxfp4(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += MXFP4.typeSize, yo += QK) {
    const d = e8m0Half(b[bo]!);
    for (let j = 0; j < QK / 2; j++) {
      const q = b[bo + 1 + j]!;
      y[yo + j] = KVALUES[q & 0xf]! * d;
      y[yo + j + QK / 2] = KVALUES[q >>> 4]! * d;
    }
  }
}

/** block_mxfp4, with its code. */
export const MXFP4: BlockCode = { blockSize: QK, typeSize: 17, quantize: quantizeMxfp4, dequantize: dequantizeMxfp4 };
