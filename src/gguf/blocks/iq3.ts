/**
 * IQ3_XXS and IQ3_S: 3-bit lattice i-quants. Each group of 4 weights is one point of a grid (ggml's
 * iq3xxs_grid, 256 points, or iq3s_grid, 512) times a sub-block scale, with a sign per weight.
 *   IQ3_XXS (98 bytes per 256): fp16 d, qs[64] grid indices, then per 32 weights a u32 of 4 × 7 sign
 *     bits (parity completes each byte, KSIGNS) and the 4-bit scale s on top; x = d·(0.5 + s)·0.5·grid·±1.
 *   IQ3_S (110): fp16 d, qs[64] low index bytes, qh[8] (the 9th bit of each index), signs[32] (one bit per
 *     weight), scales[4] (a nibble s per 32 weights); x = d·(1 + 2s)·grid·±1.
 * Decode only: llama.cpp's quantizers search these lattices (see DECODE_ONLY in ../types.ts).
 */
import * as common from "./common.js";
import type { BlockDecode } from "./common.js";
import { IQ3S_GRID, IQ3XXS_GRID } from "./iq-grids.js";
import { KSIGNS, lazyGrid } from "./lattice.js";

const f = Math.fround;
const getHalf = common.getHalf;
const QK_K = 256;

const gridXxs = lazyGrid(IQ3XXS_GRID);
const gridS = lazyGrid(IQ3S_GRID);

/** 4 weights: db·grid point g (its table offset), sign of weight j in bit `shift + j` of `signs`. */
function group(grid: Float32Array, g: number, db: number, signs: number, shift: number, y: Float32Array, yo: number): void {
  for (let j = 0; j < 4; j++) {
    const v = f(db * grid[g + j]!);
    y[yo + j] = (signs >> (shift + j)) & 1 ? -v : v;
  }
}

function dequantizeIq3Xxs(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = gridXxs();
  for (let i = 0; i < n / QK_K; i++, bo += IQ3_XXS.typeSize) {
    const d = getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const a = bo + 66 + 4 * ib;
      const aux = (b[a]! | (b[a + 1]! << 8) | (b[a + 2]! << 16) | (b[a + 3]! << 24)) >>> 0;
      const db = f(f(d * (0.5 + (aux >>> 28))) * 0.5);
      for (let m = 0; m < 8; m++, yo += 4) {
        group(grid, b[bo + 2 + 8 * ib + m]! * 4, db, KSIGNS[(aux >>> (7 * (m >> 1))) & 127]!, 4 * (m & 1), y, yo);
      }
    }
  }
}

function dequantizeIq3S(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = gridS();
  for (let i = 0; i < n / QK_K; i++, bo += IQ3_S.typeSize) {
    const d = getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const s = b[bo + 106 + (ib >> 1)]!;
      const db = f(d * (1 + 2 * (ib & 1 ? s >> 4 : s & 0xf)));
      const qh = b[bo + 66 + ib]!;
      for (let m = 0; m < 8; m++, yo += 4) {
        const k = 8 * ib + m; // the group's index in the block: qs[k], bit m of qh[ib]
        const idx = b[bo + 2 + k]! | (((qh >> m) & 1) << 8);
        group(grid, idx * 4, db, b[bo + 74 + (k >> 1)]!, 4 * (k & 1), y, yo);
      }
    }
  }
}

/** block_iq3_xxs. */
export const IQ3_XXS: BlockDecode = { blockSize: QK_K, typeSize: 98, dequantize: dequantizeIq3Xxs };
/** block_iq3_s. */
export const IQ3_S: BlockDecode = { blockSize: QK_K, typeSize: 110, dequantize: dequantizeIq3S };
