/**
 * The FP4 (E2M1) block types, whose codes index kvalues — the E2M1 values doubled (0, 1, 2, 3, 4, 6, 8,
 * 12 and their negatives) — under a scale that is half the block's true scale:
 * - MXFP4 (the OCP microscaling format gpt-oss ships in): 32 weights in 17 bytes — an E8M0 shared
 *   exponent e and 16 bytes of codes, low nibble weight j, high nibble j + 16; x = kvalues[q]·2^(e − 128).
 * - NVFP4 (NVIDIA's): 64 weights in 36 bytes — four UE4M3 sub-block scales (one per 16 weights), then
 *   32 bytes of codes, 8 per sub-block, low nibble weight j, high j + 8; x = kvalues[q]·ue4m3(s)/2.
 * ggml-quants.c's quantize_row_{mx,nv}fp4_ref (ggml_quantize_chunk ignores an importance matrix for
 * them) and dequantize_row_{mx,nv}fp4, in float32 as common.ts explains. No WebAssembly twin: they run
 * in JavaScript.
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

/** The 16 candidate values kvalues[i]·d of the block being quantized, rounded to float as C's product is. */
const levels = new Float64Array(16);

function setScale(d: number): void {
  for (let i = 0; i < 16; i++) levels[i] = f(KVALUES[i]! * d);
}

/** best_index_mxfp4 against the levels of setScale: the first code of least |kvalues[i]·d − x| (NaN gives 0). */
function bestIndex(x: number): number {
  let best = 0;
  let bestErr = Math.abs(f(levels[0]! - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(levels[i]! - x));
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
    setScale(e8m0Half(e));
    out[oo] = e;
    for (let j = 0; j < QK / 2; j++) out[oo + 1 + j] = bestIndex(x[xo + j]!) | (bestIndex(x[xo + QK / 2 + j]!) << 4);
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

const QK_NV = 64;
const QK_NV_SUB = 16;
const nb32 = new Float32Array(1);
const nu32 = new Uint32Array(nb32.buffer);

/**
 * ggml_fp32_to_ue4m3 of a non-negative scale: saturates at 448, rounds the mantissa to 3 bits by its next
 * bit (ties away), and writes values below 2^−6 as subnormals m·2^−9 (0 when they round to nothing).
 */
function toUe4m3(x: number): number {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  nb32[0] = x;
  const b = nu32[0]!;
  let ue = ((b >>> 23) & 0xff) - 127 + 7;
  if (ue <= 0) {
    const man = Math.trunc(f(f(x * 512) + 0.5));
    if (man < 1) return 0;
    return man > 7 ? 7 : man;
  }
  if (ue >= 15) return 0x7e;
  let man = ((b >>> 20) & 7) + ((b >>> 19) & 1);
  if (man > 7) {
    man = 0;
    ue += 1;
    if (ue >= 15) return 0x7e;
  }
  return (ue << 3) | man;
}

/** ggml_ue4m3_to_fp32, halved (the doubled kvalues make up for it); 0 and 0x7F (NaN) decode to 0. */
function fromUe4m3Half(w: number): number {
  if (w === 0 || w === 0x7f) return 0;
  const exp = (w >>> 3) & 0xf;
  const man = w & 7;
  return (exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7)) * 0.5;
}

function quantizeNvfp4(x: Float32Array, xo: number, out: Uint8Array, oo: number, n: number): void {
  for (let i = 0; i < n / QK_NV; i++, oo += NVFP4.typeSize) {
    for (let s = 0; s < QK_NV / QK_NV_SUB; s++, xo += QK_NV_SUB) {
      let amax = 0;
      for (let j = 0; j < QK_NV_SUB; j++) {
        const a = Math.abs(x[xo + j]!);
        if (amax < a) amax = a;
      }
      const ue = toUe4m3(f(amax / 6));
      out[oo + s] = ue;
      setScale(fromUe4m3Half(ue));
      const q = oo + 4 + s * (QK_NV_SUB / 2);
      for (let j = 0; j < QK_NV_SUB / 2; j++) out[q + j] = bestIndex(x[xo + j]!) | (bestIndex(x[xo + QK_NV_SUB / 2 + j]!) << 4);
    }
  }
}

function dequantizeNvfp4(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_NV; i++, bo += NVFP4.typeSize) {
    for (let s = 0; s < QK_NV / QK_NV_SUB; s++, yo += QK_NV_SUB) {
      const d = fromUe4m3Half(b[bo + s]!);
      const q = bo + 4 + s * (QK_NV_SUB / 2);
      for (let j = 0; j < QK_NV_SUB / 2; j++) {
        y[yo + j] = KVALUES[b[q + j]! & 0xf]! * d;
        y[yo + j + QK_NV_SUB / 2] = KVALUES[b[q + j]! >>> 4]! * d;
      }
    }
  }
}

/** block_nvfp4, with its code. */
export const NVFP4: BlockCode = { blockSize: QK_NV, typeSize: 36, quantize: quantizeNvfp4, dequantize: dequantizeNvfp4 };
