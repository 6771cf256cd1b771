/**
 * Q4_K and Q5_K: 256 weights as 8 sub-blocks of 32 with a 6-bit scale and a 6-bit min each, packed in
 * 12 bytes (get_scale_min_k4), under fp16 d and dmin; x = d·sc·q − dmin·m.
 * Q4_K (144 bytes): d, dmin, scales[12], qs[128] nibbles. Q5_K (176 bytes): d, dmin, scales[12],
 * qh[32] fifth bits, qs[128].
 * WebAssembly twin: the reference quantizer (no importance matrix) is `quantizeQ45_K` (bits 4 and 5) in assembly/gguf-blocks.ts,
 * and Q4_K's dequantizer `decodeQ4_K`, loaded by ./wasm.ts; this file has the importance-matrix quantizer
 * and Q5_K's dequantizer.
 */
import * as common from "./common.js";
import * as search from "./search.js";
import type { BlockCode } from "./common.js";
import { decodeQ4_KInto, quantizeQ4_K, quantizeQ5_K } from "./wasm.js";

// Local aliases: read once here rather than through the module namespaces in every call.
const f = Math.fround;
const getHalf = common.getHalf;
const imatrixWeights = common.imatrixWeights;
const nearestInt = common.nearestInt;
const putHalf = common.putHalf;
const sumSquares = common.sumSquares;
const toHalf = common.toHalf;
const makeQkx3Quants = search.makeQkx3Quants;
const makeQpQuants = search.makeQpQuants;
const qkx = search.qkx;

const QK_K = 256;
const L = new Uint8Array(QK_K);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const mins = new Float32Array(8);
const scales = new Float32Array(8);
const sw = new Float32Array(8);
const Ls = new Uint8Array(8);
const Lm = new Uint8Array(8);
const RMIN3 = f(-0.9);
const RDELTA3 = f(0.05);

/** block_q4_K and block_q5_K, with their code. */
export const Q4_K: BlockCode = {
  blockSize: QK_K, typeSize: 144, quantize: quantizeQ4_K,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQ45_KImatrix(4, x, xo, n, qw, o, oo),
  dequantize: decodeQ4_KInto,
};
export const Q5_K: BlockCode = {
  blockSize: QK_K, typeSize: 176, quantize: quantizeQ5_K,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQ45_KImatrix(5, x, xo, n, qw, o, oo),
  dequantize: dequantizeQ5_K,
};
const blockBytes = (bits: 4 | 5): number => (bits === 4 ? Q4_K : Q5_K).typeSize;

function putScaleMin(out: Uint8Array, s: number, j: number, ls: number, lm: number): void {
  if (j < 4) {
    out[s + j] = ls;
    out[s + j + 4] = lm;
  } else {
    out[s + j + 4] = (ls & 15) | ((lm & 15) << 4);
    out[s + j - 4] = out[s + j - 4]! | ((ls >>> 4) << 6);
    out[s + j] = out[s + j]! | ((lm >>> 4) << 6);
  }
}

/** get_scale_min_k4: scale in the low byte, min in the high byte of the result. */
export function scaleMinK4(b: Uint8Array, s: number, j: number): number {
  if (j < 4) return (b[s + j]! & 63) | ((b[s + j + 4]! & 63) << 8);
  const sc = (b[s + j + 4]! & 15) | ((b[s + j - 4]! >>> 6) << 4);
  const m = (b[s + j + 4]! >>> 4) | ((b[s + j]! >>> 6) << 4);
  return sc | (m << 8);
}

function finish(bits: 4 | 5, x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const nmax = bits === 4 ? 15 : 31;
  const dAll = getHalf(out, oo);
  const mAll = getHalf(out, oo + 2);
  for (let j = 0; j < 8; j++) {
    const sm = scaleMinK4(out, oo + 4, j);
    const d = f(dAll * (sm & 0xff));
    if (d === 0) continue; // C: `if (!d)` is false for NaN
    const dm = f(mAll * (sm >>> 8));
    for (let ii = 0; ii < 32; ii++) {
      // C: nearest_int(fl32(fl32(x + dm) / d)). The double quotient is within 2^-23 relative of C's
      // float one, so away from half-integers (|p| < 64) its rounding is C's; near them, do C's ops.
      const xi = x[xo + 32 * j + ii]!;
      const p = (xi + dm) / d;
      const r = Math.floor(p + 0.5);
      const e = p + 0.5 - r;
      const l = e > 1e-5 && e < 0.99999 && p < 64 && p > -64 ? r : nearestInt(f(f(xi + dm) / d));
      L[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
  if (bits === 4) {
    let q = oo + 16;
    for (let j = 0; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
    return;
  }
  const qh = oo + 16;
  let ql = oo + 48;
  out.fill(0, qh, qh + 32);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < QK_K; n += 64, ql += 32) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j]!;
      if (l1 > 15) { l1 -= 16; out[qh + j] = out[qh + j]! | m1; }
      let l2 = L[n + j + 32]!;
      if (l2 > 15) { l2 -= 16; out[qh + j] = out[qh + j]! | m2; }
      out[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
  }
}

/** quantize_row_q4_K_impl / quantize_row_q5_K_impl: one row with importance weights qw (length n). */
export function quantizeRowQ45_KImatrix(bits: 4 | 5, x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  const nmax = bits === 4 ? 15 : 31;
  const bs = blockBytes(bits);
  for (let i = 0; i < n / QK_K; i++, xo += QK_K, oo += bs) {
    const sigma2 = f(f(2 * sumSquares(x, xo, QK_K)) / QK_K);
    for (let j = 0; j < 8; j++) {
      const so = xo + 32 * j;
      sw[j] = imatrixWeights(x, so, qw, QK_K * i + 32 * j, sigma2, 32, weights);
      scales[j] = makeQkx3Quants(32, nmax, x, so, weights, L, 32 * j, Laux, RMIN3, RDELTA3, 36, false);
      mins[j] = qkx.min;
    }
    const dBlock = makeQpQuants(8, 63, scales, Ls, sw);
    const mBlock = makeQpQuants(8, 63, mins, Lm, sw);
    for (let j = 0; j < 8; j++) putScaleMin(out, oo + 4, j, Math.min(63, Ls[j]!), Math.min(63, Lm[j]!));
    putHalf(out, oo, toHalf(dBlock));
    putHalf(out, oo + 2, toHalf(mBlock));
    finish(bits, x, xo, out, oo);
  }
}

/** Q5_K's dequantizer (dequantize_row_q5_K); Q4_K's is `decodeQ4_K` in WebAssembly. */
export function dequantizeQ5_K(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += Q5_K.typeSize) {
    const d = getHalf(b, bo);
    const min = getHalf(b, bo + 2);
    const qh = bo + 16;
    let q = bo + 48;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0, is = 0; j < QK_K; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
      const sm1 = scaleMinK4(b, bo + 4, is);
      const sm2 = scaleMinK4(b, bo + 4, is + 1);
      const d1 = f(d * (sm1 & 0xff));
      const m1 = f(min * (sm1 >>> 8));
      const d2 = f(d * (sm2 & 0xff));
      const m2 = f(min * (sm2 >>> 8));
      for (let l = 0; l < 32; l++) y[yo++] = f(d1 * ((b[q + l]! & 15) + (b[qh + l]! & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) y[yo++] = f(d2 * ((b[q + l]! >>> 4) + (b[qh + l]! & u2 ? 16 : 0))) - m2;
    }
  }
}
