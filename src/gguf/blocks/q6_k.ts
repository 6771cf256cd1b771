/**
 * Q6_K: 256 weights in 210 bytes — ql[128] (low nibbles), qh[64] (high 2 bits), int8 scales[16],
 * fp16 d; x = d·sc·(q − 32).
 * WebAssembly twin: the reference quantizer (no importance matrix) is `quantizeQ6_K` in assembly/gguf-blocks.ts,
 * and its dequantizer `decodeQ6_K`, both loaded by ./wasm.ts; this file has the importance-matrix quantizer.
 */
import * as common from "./common.js";
import * as search from "./search.js";
import type { BlockCode } from "./common.js";
import { decodeQ6_KInto, quantizeQ6_K } from "./wasm.js";

// Local aliases: read once here rather than through the module namespaces in every call.
const f = Math.fround;
const GROUP_MAX_EPS = common.GROUP_MAX_EPS;
const getHalf = common.getHalf;
const nearestInt = common.nearestInt;
const putHalf = common.putHalf;
const toHalf = common.toHalf;
const makeQxQuants = search.makeQxQuants;

const QK_K = 256;

/** block_q6_K, with its code. */
export const Q6_K: BlockCode = {
  blockSize: QK_K, typeSize: 210, quantize: quantizeQ6_K, quantizeImatrix: quantizeRowQ6_KImatrix, dequantize: decodeQ6_KInto,
};
const BS = Q6_K.typeSize;
const L = new Int8Array(QK_K);
const scales = new Float32Array(16);

/**
 * quantize_row_q6_K_impl: one row of n weights with importance weights qw (length n), used as they are,
 * without the σ² term.
 */
export function quantizeRowQ6_KImatrix(x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  for (let i = 0; i < n / QK_K; i++, xo += QK_K, oo += BS) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, qw, QK_K * i + 16 * ib);
      scales[ib] = s;
      const a = Math.abs(s);
      if (a > maxAbsScale) { maxAbsScale = a; maxScale = s; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, oo, oo + BS);
      continue;
    }
    const iscale = f(-128 / maxScale);
    const dh = toHalf(f(1 / iscale));
    putHalf(out, oo + 208, dh);
    for (let ib = 0; ib < 16; ib++) out[oo + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!)));
    const dAll = getHalf(out, oo + 208);
    for (let j = 0; j < 16; j++) {
      const d = f(dAll * ((out[oo + 192 + j]! << 24) >> 24));
      if (d === 0) continue; // C: `if (!d)` is false for NaN
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(x[xo + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = oo;
    let qh = oo + 128;
    for (let j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        out[ql + l] = (a & 15) | ((c & 15) << 4);
        out[ql + l + 32] = (b & 15) | ((e & 15) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}

