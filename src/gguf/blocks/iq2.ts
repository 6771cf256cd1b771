/**
 * IQ2_XXS, IQ2_XS and IQ2_S: 2-bit "lattice" i-quants. Each group of 8 weights is one point of a grid
 * (ggml's iq2xxs_grid / iq2xs_grid / iq2s_grid: 256, 512, 1024 points whose values are 8, 25 or 43) times
 * a sub-block scale, with a sign per weight; x = d·(0.5 + s)·0.25·grid[j]·±1.
 *   IQ2_XXS (66 bytes per 256): fp16 d, then per 32 weights two u32: 4 grid indices (one byte each), and
 *     4 × 7 sign bits (the 8th is their parity, KSIGNS) with the 4-bit scale s in the top bits.
 *   IQ2_XS (74): fp16 d, qs[32] u16 = 9-bit grid index | 7 sign bits << 9, scales[8] (a nibble per 16 weights).
 *   IQ2_S (82): fp16 d, qs[64] (32 low index bytes, then 32 bytes of 8 explicit sign bits), qh[8] (the top
 *     2 index bits of each group), scales[8].
 * Decode only: llama.cpp's quantizers search these lattices (see DECODE_ONLY in ../types.ts).
 */
import * as common from "./common.js";
import type { BlockDecode } from "./common.js";
import { IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID } from "./iq-grids.js";
import { KSIGNS, lazyGrid } from "./lattice.js";

const f = Math.fround;
const getHalf = common.getHalf;
const QK_K = 256;

const gridXxs = lazyGrid(IQ2XXS_GRID);
const gridXs = lazyGrid(IQ2XS_GRID);
const gridS = lazyGrid(IQ2S_GRID);

/** 8 weights: db·grid point g (its table offset) with the signs of byte `signs` (bit j: weight j negative). */
function group(grid: Float32Array, g: number, db: number, signs: number, y: Float32Array, yo: number): void {
  for (let j = 0; j < 8; j++) {
    const v = f(db * grid[g + j]!);
    y[yo + j] = (signs >> j) & 1 ? -v : v;
  }
}

/** d·(0.5 + s)·0.25 in float, as ggml's three IQ2 decoders write it. */
const subScale = (d: number, s: number): number => f(f(d * (0.5 + s)) * 0.25);

function dequantizeIq2Xxs(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = gridXxs();
  for (let i = 0; i < n / QK_K; i++, bo += IQ2_XXS.typeSize) {
    const d = getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const q = bo + 2 + 8 * ib;
      const aux = (b[q + 4]! | (b[q + 5]! << 8) | (b[q + 6]! << 16) | (b[q + 7]! << 24)) >>> 0;
      const db = subScale(d, aux >>> 28);
      for (let l = 0; l < 4; l++, yo += 8) group(grid, b[q + l]! * 8, db, KSIGNS[(aux >>> (7 * l)) & 127]!, y, yo);
    }
  }
}

function dequantizeIq2Xs(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = gridXs();
  for (let i = 0; i < n / QK_K; i++, bo += IQ2_XS.typeSize) {
    const d = getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const s = b[bo + 66 + ib]!;
      const db0 = subScale(d, s & 0xf);
      const db1 = subScale(d, s >> 4);
      for (let l = 0; l < 4; l++, yo += 8) {
        const o = bo + 2 + 2 * (4 * ib + l);
        const q = b[o]! | (b[o + 1]! << 8);
        group(grid, (q & 511) * 8, l < 2 ? db0 : db1, KSIGNS[q >> 9]!, y, yo);
      }
    }
  }
}

function dequantizeIq2S(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = gridS();
  for (let i = 0; i < n / QK_K; i++, bo += IQ2_S.typeSize) {
    const d = getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const s = b[bo + 74 + ib]!;
      const db0 = subScale(d, s & 0xf);
      const db1 = subScale(d, s >> 4);
      const qh = b[bo + 66 + ib]!;
      for (let l = 0; l < 4; l++, yo += 8) {
        const idx = b[bo + 2 + 4 * ib + l]! | (((qh >> (2 * l)) & 3) << 8);
        group(grid, idx * 8, l < 2 ? db0 : db1, b[bo + 34 + 4 * ib + l]!, y, yo);
      }
    }
  }
}

/** block_iq2_xxs. */
export const IQ2_XXS: BlockDecode = { blockSize: QK_K, typeSize: 66, dequantize: dequantizeIq2Xxs };
/** block_iq2_xs. */
export const IQ2_XS: BlockDecode = { blockSize: QK_K, typeSize: 74, dequantize: dequantizeIq2Xs };
/** block_iq2_s. */
export const IQ2_S: BlockDecode = { blockSize: QK_K, typeSize: 82, dequantize: dequantizeIq2S };
