/**
 * Q2_K: 256 weights in 84 bytes — scales[16] (4-bit scale | 4-bit min << 4), qs[64] (2-bit levels,
 * four 32-weight strips per 128), fp16 d, fp16 dmin; x = d·sc·q − dmin·m.
 * WebAssembly twin: the reference quantizer (no importance matrix) is `quantizeQ2_K` in assembly/gguf-blocks.ts,
 * loaded by ./wasm.ts; this file has the importance-matrix quantizer and the dequantizer.
 */
import * as common from "./common.js";
import * as search from "./search.js";
import type { BlockCode } from "./common.js";
import { quantizeQ2_K } from "./wasm.js";

// Local aliases: read once here rather than through the module namespaces in every call.
const f = Math.fround;
const fromHalf = common.fromHalf;
const getHalf = common.getHalf;
const imatrixWeights = common.imatrixWeights;
const nearestInt = common.nearestInt;
const pack2Bits = common.pack2Bits;
const putHalf = common.putHalf;
const sumSquares = common.sumSquares;
const toHalf = common.toHalf;
const makeQkx3Quants = search.makeQkx3Quants;
const makeQpQuants = search.makeQpQuants;
const qkx = search.qkx;

const QK_K = 256;

/** block_q2_K, with its code. */
export const Q2_K: BlockCode = {
  blockSize: QK_K, typeSize: 84, quantize: quantizeQ2_K, quantizeImatrix: quantizeRowQ2_KImatrix, dequantize: dequantizeQ2_K,
};
const BS = Q2_K.typeSize;
const L = new Uint8Array(QK_K);
const Laux = new Uint8Array(16);
const weights = new Float32Array(16);
const mins = new Float32Array(16);
const scales = new Float32Array(16);
const sw = new Float32Array(16);
const Ls = new Uint8Array(16);
const Lm = new Uint8Array(16);
const RMIN3 = f(-0.9);
const RDELTA3 = f(0.05);

function requantize(x: Float32Array, xo: number, out: Uint8Array, oo: number, dAll: number, mAll: number): void {
  for (let j = 0; j < 16; j++) {
    const sc = out[oo + j]!;
    const d = f(dAll * (sc & 15));
    if (d === 0) continue; // C: `if (!d)` is false for NaN
    const dm = f(mAll * (sc >>> 4));
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(f(x[xo + 16 * j + ii]! + dm) / d));
      L[16 * j + ii] = Math.max(0, Math.min(3, l));
    }
  }
}

/** quantize_row_q2_K_impl: one row with importance weights qw (length n). */
export function quantizeRowQ2_KImatrix(x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  for (let i = 0; i < n / QK_K; i++, xo += QK_K, oo += BS) {
    const sigma2 = f(sumSquares(x, xo, QK_K) / QK_K);
    for (let j = 0; j < 16; j++) {
      sw[j] = imatrixWeights(x, xo + 16 * j, qw, QK_K * i + 16 * j, sigma2, 16, weights);
      scales[j] = makeQkx3Quants(16, 3, x, xo + 16 * j, weights, L, 16 * j, Laux, RMIN3, RDELTA3, 36, false);
      mins[j] = qkx.min;
    }
    const dm = makeQpQuants(16, 15, scales, Ls, sw);
    const mm = makeQpQuants(16, 15, mins, Lm, sw);
    const dh = toHalf(dm);
    const mh = toHalf(mm);
    putHalf(out, oo + 80, dh);
    putHalf(out, oo + 82, mh);
    for (let j = 0; j < 16; j++) out[oo + j] = Ls[j]! | (Lm[j]! << 4);
    requantize(x, xo, out, oo, fromHalf(dh), fromHalf(mh));
    pack2Bits(L, out, oo + 16);
  }
}

export function dequantizeQ2_K(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += BS) {
    const d = getHalf(b, bo + 80);
    const min = getHalf(b, bo + 82);
    let q = bo + 16;
    let is = 0;
    for (let n = 0; n < QK_K; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = b[bo + is++]!;
          const dl = f(d * (sc & 15));
          const ml = f(min * (sc >>> 4));
          const qo = q + 16 * half;
          for (let l = 0; l < 16; l++) y[yo++] = f(dl * ((b[qo + l]! >>> shift) & 3)) - ml;
        }
      }
      q += 32;
    }
  }
}
