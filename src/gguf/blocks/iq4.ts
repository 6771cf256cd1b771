/**
 * IQ4_NL and IQ4_XS: 4-bit "non-linear" quants whose 16 levels are a fixed table (kvalues_iq4nl) spaced
 * like a bell curve instead of evenly, so more levels sit where weights are dense. IQ4_NL (18 bytes per
 * 32 weights): fp16 d, qs[16] level indices (low nibble: weight j, high: j + 16); x = d·kvalues[q].
 * IQ4_XS (136 bytes per 256): fp16 d, scales_h (2 high bits of each of 8 sub-block scales), scales_l[4]
 * (their low nibbles), qs[128]; x = d·(ls − 32)·kvalues[q].
 *
 * Both are ggml-quants.c's quantize_row_iq4_nl_impl as ggml_quantize_chunk runs it (quantize_iq4_nl /
 * quantize_iq4_xs with ntry = 7, with or without an importance matrix), and dequantize_row_iq4_nl/_xs,
 * in float32 as common.ts explains. No WebAssembly twin yet: these run in JavaScript.
 */
import * as common from "./common.js";
import type { BlockCode } from "./common.js";

// Local aliases: read once here rather than through the module namespace in every call.
const f = Math.fround;
const GROUP_MAX_EPS = common.GROUP_MAX_EPS;
const getHalf = common.getHalf;
const imatrixWeights = common.imatrixWeights;
const nearestInt = common.nearestInt;
const putHalf = common.putHalf;
const sumSquares = common.sumSquares;
const toHalf = common.toHalf;

const QK4_NL = 32;
const QK_K = 256;
/** ggml's ntry for both types in ggml_quantize_chunk: 15 trial scales around the first guess. */
const NTRY = 7;

/** kvalues_iq4nl. */
const KVALUES = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

const L = new Uint8Array(QK_K);
const weight = new Float32Array(32);
const scales = new Float32Array(QK_K / 32);

/** best_index_int8: the index of the level nearest to x (the lower one on a tie; 15 for NaN, as C's comparisons give). */
function bestIndex(x: number): number {
  if (x <= -127) return 0;
  if (x >= 113) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < KVALUES[mav]!) mu = mav;
    else ml = mav;
  }
  return f(x - KVALUES[mu - 1]!) < f(KVALUES[mu]! - x) ? mu - 1 : mu;
}

/**
 * The scale search of one 32-weight sub-block at x[xo…] (levels to L[lo…]): weights x² (or
 * qw·√(σ² + x²) with an imatrix), a first guess from the largest magnitude, then 2·NTRY + 1 trial scales
 * refined by weighted least squares. Returns the scale, 0 for an all-zero sub-block.
 */
function subBlockScale(x: Float32Array, xo: number, qw: Float32Array | null, qo: number, sigma2: number, lo: number): number {
  if (qw) imatrixWeights(x, xo, qw, qo, sigma2, 32, weight);
  else for (let j = 0; j < 32; j++) weight[j] = f(x[xo + j]! * x[xo + j]!);
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const ax = Math.abs(x[xo + j]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + j]!;
    }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  let d = f(-max / KVALUES[0]!);
  let id = f(1 / d);
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j]!;
    const l = bestIndex(f(id * v));
    L[lo + j] = l;
    const q = KVALUES[l]!;
    const wq = f(weight[j]! * q);
    sumqx = f(sumqx + f(wq * v));
    sumq2 = f(sumq2 + f(wq * q));
  }
  // llama.cpp guards this division (sumq2 is 0 with all-zero weights, NaN with a NaN in the block)
  d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
  let best = f(d * sumqx);
  for (let itry = -NTRY; itry <= NTRY; itry++) {
    id = f((itry + KVALUES[0]!) / max);
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j]!;
      const q = KVALUES[bestIndex(f(id * v))]!;
      const wq = f(weight[j]! * q);
      sumqx = f(sumqx + f(wq * v));
      sumq2 = f(sumq2 + f(wq * q));
    }
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      d = f(sumqx / sumq2);
      best = f(d * sumqx);
    }
  }
  return d;
}

/** Level indices of 32·n weights as nibbles: byte j of each 16 holds weight j (low) and j + 16 (high). */
function packNibbles(out: Uint8Array, q: number, n32: number): void {
  for (let i = 0; i < n32; i++) {
    for (let j = 0; j < 16; j++) out[q + 16 * i + j] = L[32 * i + j]! | (L[32 * i + 16 + j]! << 4);
  }
}

function quantizeIq4Nl(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, oo: number): void {
  for (let ib = 0; ib < n / QK4_NL; ib++, xo += QK4_NL, oo += IQ4_NL.typeSize) {
    const sigma2 = f(sumSquares(x, xo, QK4_NL) * f(2 / QK4_NL));
    const d = subBlockScale(x, xo, qw, ib * QK4_NL, sigma2, 0);
    putHalf(out, oo, toHalf(d));
    // one sub-block per block: the levels are re-chosen for the final scale (C truthiness: NaN is non-zero)
    const id = d !== 0 ? f(1 / d) : 0;
    for (let j = 0; j < QK4_NL; j++) L[j] = bestIndex(f(id * x[xo + j]!));
    packNibbles(out, oo + 2, 1);
  }
}

function quantizeIq4Xs(x: Float32Array, xo: number, n: number, qw: Float32Array | null, out: Uint8Array, oo: number): void {
  for (let ibl = 0; ibl < n / QK_K; ibl++, xo += QK_K, oo += IQ4_XS.typeSize) {
    const sigma2 = f(sumSquares(x, xo, QK_K) * f(2 / QK_K));
    let maxScale = 0;
    let amaxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const d = subBlockScale(x, xo + 32 * ib, qw, ibl * QK_K + 32 * ib, sigma2, 32 * ib);
      scales[ib] = d;
      const ad = Math.abs(d);
      if (ad > amaxScale) {
        amaxScale = ad;
        maxScale = d;
      }
    }
    const d = f(-maxScale / 32);
    putHalf(out, oo, toHalf(d));
    const id = d !== 0 ? f(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(f(id * scales[ib]!));
      l = Math.max(-32, Math.min(31, l));
      const dl = f(d * l);
      const idl = dl !== 0 ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndex(f(idl * x[xo + 32 * ib + j]!));
      l += 32;
      const s = oo + 4 + (ib >> 1);
      if (ib % 2 === 0) out[s] = l & 0xf;
      else out[s] = out[s]! | ((l & 0xf) << 4);
      scalesH |= (l >> 4) << (2 * ib);
    }
    out[oo + 2] = scalesH & 0xff;
    out[oo + 3] = scalesH >>> 8;
    packNibbles(out, oo + 8, 8);
  }
}

function dequantizeIq4Nl(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK4_NL; i++, bo += IQ4_NL.typeSize, yo += QK4_NL) {
    const d = getHalf(b, bo);
    for (let j = 0; j < 16; j++) {
      const q = b[bo + 2 + j]!;
      y[yo + j] = d * KVALUES[q & 0xf]!;
      y[yo + j + 16] = d * KVALUES[q >>> 4]!;
    }
  }
}

function dequantizeIq4Xs(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += IQ4_XS.typeSize) {
    const d = getHalf(b, bo);
    const scalesH = b[bo + 2]! | (b[bo + 3]! << 8);
    for (let ib = 0; ib < 8; ib++, yo += 32) {
      const ls = ((b[bo + 4 + (ib >> 1)]! >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = f(d * (ls - 32));
      const q = bo + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        y[yo + j] = dl * KVALUES[b[q + j]! & 0xf]!;
        y[yo + j + 16] = dl * KVALUES[b[q + j]! >>> 4]!;
      }
    }
  }
}

/** block_iq4_nl, with its code; the imatrix is optional, as llama.cpp has it. */
export const IQ4_NL: BlockCode = {
  blockSize: QK4_NL, typeSize: 18,
  quantize: (x, xo, out, oo, n) => quantizeIq4Nl(x, xo, n, null, out, oo),
  quantizeImatrix: (x, xo, n, qw, out, oo) => quantizeIq4Nl(x, xo, n, qw, out, oo),
  dequantize: dequantizeIq4Nl,
};

/** block_iq4_xs, with its code. */
export const IQ4_XS: BlockCode = {
  blockSize: QK_K, typeSize: 136,
  quantize: (x, xo, out, oo, n) => quantizeIq4Xs(x, xo, n, null, out, oo),
  quantizeImatrix: (x, xo, n, qw, out, oo) => quantizeIq4Xs(x, xo, n, qw, out, oo),
  dequantize: dequantizeIq4Xs,
};
