/**
 * The legacy 32-weight blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (ggml-common.h layouts): the importance-
 * matrix quantizers (ggml-quants.c `quantize_row_*_impl`, one row at a time because their weights depend
 * on the row's mean square) and `dequantize_row_*`. WebAssembly twin: the reference quantizers, without
 * an imatrix, `quantizeQx_0` (Q4_0, Q5_0), `quantizeQx_1` (Q4_1, Q5_1) and `quantizeQ8_0` in
 * assembly/gguf-blocks.ts (loaded by ./wasm.ts).
 */
import * as common from "./common.js";
import type { BlockCode } from "./common.js";
import { quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0 } from "./wasm.js";
import * as search from "./search.js";

// Local aliases: read once here rather than through the module namespaces in every call.
const f = Math.fround;
const getHalf = common.getHalf;
const imatrixWeights = common.imatrixWeights;
const putHalf = common.putHalf;
const sumSquares = common.sumSquares;
const toHalf = common.toHalf;
const makeQkx3Quants = search.makeQkx3Quants;
const makeQxQuants = search.makeQxQuants;
const qkx = search.qkx;

const QK = 32;

/** ggml-common.h's block_q4_0 (fp16 d, 16 nibble bytes) … block_q8_0 (fp16 d, 32 int8), with their code. */
export const Q4_0: BlockCode = {
  blockSize: QK, typeSize: 18, quantize: quantizeQ4_0, dequantize: dequantizeQ4_0,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQx0Imatrix(4, x, xo, n, qw, o, oo),
};
export const Q4_1: BlockCode = {
  blockSize: QK, typeSize: 20, quantize: quantizeQ4_1, dequantize: dequantizeQ4_1,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQx1Imatrix(4, x, xo, n, qw, o, oo),
};
export const Q5_0: BlockCode = {
  blockSize: QK, typeSize: 22, quantize: quantizeQ5_0, dequantize: dequantizeQ5_0,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQx0Imatrix(5, x, xo, n, qw, o, oo),
};
export const Q5_1: BlockCode = {
  blockSize: QK, typeSize: 24, quantize: quantizeQ5_1, dequantize: dequantizeQ5_1,
  quantizeImatrix: (x, xo, n, qw, o, oo) => quantizeRowQx1Imatrix(5, x, xo, n, qw, o, oo),
};
/** Q8_0 has no importance-matrix quantizer in ggml: an imatrix is ignored. */
export const Q8_0: BlockCode = { blockSize: QK, typeSize: 34, quantize: quantizeQ8_0, dequantize: dequantizeQ8_0 };

function putU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = v >>> 24;
}

// ---- importance-matrix variants (one row; qw = the row's imatrix, one weight per column)

const weight = new Float32Array(QK);
const Li8 = new Int8Array(QK);
const Lu8 = new Uint8Array(QK);
const Laux = new Uint8Array(QK);

/** Q4_0 / Q5_0 with an imatrix: make_qx_quants over weights qw·√(σ² + x²). */
export function quantizeRowQx0Imatrix(bits: 4 | 5, x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  const sigma2 = f(sumSquares(x, xo, n) / n);
  const nmax = bits === 4 ? 8 : 16;
  const bs = (bits === 4 ? Q4_0 : Q5_0).typeSize;
  for (let ib = 0; ib < n / QK; ib++, oo += bs) {
    const bo = xo + ib * QK;
    imatrixWeights(x, bo, qw, ib * QK, sigma2, QK, weight);
    const d = makeQxQuants(QK, nmax, x, bo, Li8, 0, 1, weight, 0);
    putHalf(out, oo, toHalf(d));
    if (bits === 4) {
      for (let j = 0; j < 16; j++) out[oo + 2 + j] = Li8[j]! | (Li8[j + 16]! << 4);
    } else {
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const q0 = Li8[j]!;
        const q1 = Li8[j + 16]!;
        out[oo + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
        qh |= ((q0 & 0x10) >>> 4) << j;
        qh |= ((q1 & 0x10) >>> 4) << (j + 16);
      }
      putU32(out, oo + 2, qh);
    }
  }
}

/** Q4_1 / Q5_1 with an imatrix: make_qkx3_quants (min and scale) over weights qw·√(σ² + x²). */
export function quantizeRowQx1Imatrix(bits: 4 | 5, x: Float32Array, xo: number, n: number, qw: Float32Array,
  out: Uint8Array, oo: number): void {
  const sigma2 = f(sumSquares(x, xo, n) / n);
  const nmax = bits === 4 ? 15 : 31;
  const bs = (bits === 4 ? Q4_1 : Q5_1).typeSize;
  for (let ib = 0; ib < n / QK; ib++, oo += bs) {
    const bo = xo + ib * QK;
    imatrixWeights(x, bo, qw, ib * QK, sigma2, QK, weight);
    const d = makeQkx3Quants(QK, nmax, x, bo, weight, Lu8, 0, Laux, f(-0.9), f(0.05), 36, false);
    putHalf(out, oo, toHalf(d));
    putHalf(out, oo + 2, toHalf(-qkx.min));
    if (bits === 4) {
      for (let j = 0; j < 16; j++) out[oo + 4 + j] = Lu8[j]! | (Lu8[j + 16]! << 4);
    } else {
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const q0 = Lu8[j]!;
        const q1 = Lu8[j + 16]!;
        out[oo + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
        qh |= ((q0 & 0x10) >>> 4) << j;
        qh |= ((q1 & 0x10) >>> 4) << (j + 16);
      }
      putU32(out, oo + 4, qh);
    }
  }
}

// ---- dequantizers: y[yo…yo+n) ← the n / 32 blocks at b[bo…]

export function dequantizeQ4_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += Q4_0.typeSize, yo += QK) {
    const d = getHalf(b, bo);
    for (let j = 0; j < 16; j++) {
      const q = b[bo + 2 + j]!;
      y[yo + j] = ((q & 15) - 8) * d;
      y[yo + j + 16] = ((q >>> 4) - 8) * d;
    }
  }
}

export function dequantizeQ4_1(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += Q4_1.typeSize, yo += QK) {
    const d = getHalf(b, bo);
    const m = getHalf(b, bo + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[bo + 4 + j]!;
      y[yo + j] = f((q & 15) * d) + m;
      y[yo + j + 16] = f((q >>> 4) * d) + m;
    }
  }
}

function getU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function dequantizeQ5_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += Q5_0.typeSize, yo += QK) {
    const d = getHalf(b, bo);
    const qh = getU32(b, bo + 2);
    for (let j = 0; j < 16; j++) {
      const q = b[bo + 6 + j]!;
      y[yo + j] = (((q & 15) | (((qh >>> j) << 4) & 0x10)) - 16) * d;
      y[yo + j + 16] = (((q >>> 4) | ((qh >>> (j + 12)) & 0x10)) - 16) * d;
    }
  }
}

export function dequantizeQ5_1(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += Q5_1.typeSize, yo += QK) {
    const d = getHalf(b, bo);
    const m = getHalf(b, bo + 2);
    const qh = getU32(b, bo + 4);
    for (let j = 0; j < 16; j++) {
      const q = b[bo + 8 + j]!;
      y[yo + j] = f(((q & 15) | (((qh >>> j) << 4) & 0x10)) * d) + m;
      y[yo + j + 16] = f(((q >>> 4) | ((qh >>> (j + 12)) & 0x10)) * d) + m;
    }
  }
}

export function dequantizeQ8_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += Q8_0.typeSize, yo += QK) {
    const d = getHalf(b, bo);
    for (let j = 0; j < QK; j++) y[yo + j] = ((b[bo + 2 + j]! << 24) >> 24) * d;
  }
}

