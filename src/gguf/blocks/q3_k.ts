/**
 * Q3_K: 256 weights in 110 bytes — hmask[32] (third bit), qs[64] (low 2 bits), scales[12] (16 signed
 * 6-bit scales: low nibbles in bytes 0–7, high 2 bits in bytes 8–11), fp16 d; x = d·(sc − 32)·(q − 4).
 * WebAssembly twin: the reference quantizer (no importance matrix) is `quantizeQ3_K` in assembly/gguf-blocks.ts,
 * loaded by ./wasm.ts; this file has the importance-matrix quantizer and the dequantizer.
 */
import * as common from "./common.js";
import * as search from "./search.js";
import type { BlockCode } from "./common.js";
import { quantizeQ3_K } from "./wasm.js";

// Local aliases: read once here rather than through the module namespaces in every call.
const f = Math.fround;
const getHalf = common.getHalf;
const imatrixWeights = common.imatrixWeights;
const nearestInt = common.nearestInt;
const pack2Bits = common.pack2Bits;
const putHalf = common.putHalf;
const sumSquares = common.sumSquares;
const toHalf = common.toHalf;
const makeQxQuants = search.makeQxQuants;

const QK_K = 256;

/** block_q3_K, with its code. */
export const Q3_K: BlockCode = {
  blockSize: QK_K, typeSize: 110, quantize: quantizeQ3_K, quantizeImatrix: quantizeRowQ3_KImatrix, dequantize: dequantizeQ3_K,
};
const BS = Q3_K.typeSize;
const L = new Int8Array(QK_K);
const scales = new Float32Array(16);
const weight = new Float32Array(16);
const sw = new Float32Array(16);
const Ls = new Int8Array(16);

function putScale(out: Uint8Array, oo: number, j: number, l: number): void {
  const s = oo + 96;
  if (j < 8) out[s + j] = l & 15;
  else out[s + j - 8] = out[s + j - 8]! | ((l & 15) << 4);
  out[s + 8 + (j % 4)] = out[s + 8 + (j % 4)]! | ((l >> 4) << (2 * (j >> 2)));
}

/** Re-derives the levels from the stored fp16 d and 6-bit scales, then packs hmask and qs. */
function finish(x: Float32Array, xo: number, out: Uint8Array, oo: number): void {
  const s = oo + 96;
  const dAll = getHalf(out, oo + 108);
  for (let j = 0; j < 16; j++) {
    const lo = j < 8 ? out[s + j]! & 15 : out[s + j - 8]! >>> 4;
    const sc = (lo | (((out[s + 8 + (j % 4)]! >>> (2 * (j >> 2))) & 3) << 4)) - 32;
    const d = f(dAll * sc);
    if (d === 0) continue; // C: `if (!d)` is false for NaN
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(x[xo + 16 * j + ii]! / d));
      L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
    }
  }
  out.fill(0, oo, oo + 32);
  let m = 0;
  let hm = 1;
  for (let j = 0; j < QK_K; j++) {
    if (L[j]! > 3) {
      out[oo + m] = out[oo + m]! | hm;
      L[j] = L[j]! - 4;
    }
    if (++m === 32) { m = 0; hm <<= 1; }
  }
  pack2Bits(L, out, oo + 32);
}

/** quantize_row_q3_K_impl: one row with importance weights qw (length n). */
export function quantizeRowQ3_KImatrix(x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  for (let i = 0; i < n / QK_K; i++, xo += QK_K, oo += BS) {
    const sigma2 = f(f(2 * sumSquares(x, xo, QK_K)) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = imatrixWeights(x, xo + 16 * j, qw, QK_K * i + 16 * j, sigma2, 16, weight);
      scales[j] = makeQxQuants(16, 4, x, xo + 16 * j, L, 16 * j, 1, weight, 0);
    }
    out.fill(0, oo + 96, oo + 108);
    const dBlock = makeQxQuants(16, 32, scales, 0, Ls, 0, 1, sw, 0);
    for (let j = 0; j < 16; j++) putScale(out, oo, j, Ls[j]!);
    putHalf(out, oo + 108, toHalf(dBlock));
    finish(x, xo, out, oo);
  }
}

export function dequantizeQ3_K(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += BS) {
    const dAll = getHalf(b, bo + 108);
    const s = bo + 96;
    let q = bo + 32;
    let m = 1;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++, is++) {
          const lo = is < 8 ? b[s + is]! & 15 : b[s + is - 8]! >>> 4;
          const sc = (lo | (((b[s + 8 + (is % 4)]! >>> (2 * (is >> 2))) & 3) << 4)) - 32;
          const dl = f(dAll * sc);
          const o = 16 * half;
          for (let l = 0; l < 16; l++) {
            y[yo++] = dl * (((b[q + o + l]! >>> shift) & 3) - (b[bo + o + l]! & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  }
}
