/**
 * IQ1_S and IQ1_M: ~1.5-bit lattice i-quants. Each group of 8 weights is one point of ggml's iq1s_grid
 * (2048 points of −1, 0, 1) shifted by ±1/8 (IQ1S_DELTA, the sign chosen per group) and scaled by an odd
 * multiple of the block's fp16 d: x = d·(2s + 1)·(grid[j] + delta).
 *   IQ1_S (50 bytes per 256): fp16 d, qs[32] (low 8 index bits), qh[8] u16 per 32 weights: 4 × 3 high
 *     index bits, the 3-bit scale s (bits 12–14) and the delta's sign (bit 15), one delta per 32.
 *   IQ1_M (56): no separate d — qs[32], qh[16] (per group of 8: 3 high index bits and a delta-sign bit,
 *     two groups a byte), scales[8] as 4 u16: a 3-bit s per 16 weights in bits 0–11 of each, and the
 *     fp16 d spread over their top nibbles (sc[0] bits 12–15 its lowest nibble … sc[3] its highest).
 * Decode only: llama.cpp's quantizers search this lattice (see DECODE_ONLY in ../types.ts).
 */
import * as common from "./common.js";
import type { BlockDecode } from "./common.js";
import { IQ1S_GRID } from "./iq-grids.js";
import { lazyGrid } from "./lattice.js";

const f = Math.fround;
const QK_K = 256;
/** IQ1S_DELTA (ggml's IQ1M_DELTA is the same 0.125). */
const DELTA = 0.125;

const grid1s = lazyGrid(IQ1S_GRID);

/** 8 weights: dl·(grid point at table offset g + delta); grid + delta is exact in float. */
function group(grid: Float32Array, g: number, dl: number, delta: number, y: Float32Array, yo: number): void {
  for (let j = 0; j < 8; j++) y[yo + j] = f(dl * (grid[g + j]! + delta));
}

function dequantizeIq1S(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = grid1s();
  for (let i = 0; i < n / QK_K; i++, bo += IQ1_S.typeSize) {
    const d = common.getHalf(b, bo);
    for (let ib = 0; ib < 8; ib++) {
      const qh = b[bo + 34 + 2 * ib]! | (b[bo + 35 + 2 * ib]! << 8);
      const dl = f(d * (2 * ((qh >> 12) & 7) + 1));
      const delta = qh & 0x8000 ? -DELTA : DELTA;
      for (let l = 0; l < 4; l++, yo += 8) {
        const idx = b[bo + 2 + 4 * ib + l]! | (((qh >> (3 * l)) & 7) << 8);
        group(grid, idx * 8, dl, delta, y, yo);
      }
    }
  }
}

function dequantizeIq1M(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const grid = grid1s();
  const sc = [0, 0, 0, 0];
  for (let i = 0; i < n / QK_K; i++, bo += IQ1_M.typeSize) {
    for (let k = 0; k < 4; k++) sc[k] = b[bo + 48 + 2 * k]! | (b[bo + 49 + 2 * k]! << 8);
    const d = common.fromHalf((sc[0]! >> 12) | ((sc[1]! >> 8) & 0x00f0) | ((sc[2]! >> 4) & 0x0f00) | (sc[3]! & 0xf000));
    for (let ib = 0; ib < 8; ib++) {
      const s = sc[ib >> 1]! >> (6 * (ib & 1));
      const dl1 = f(d * (2 * (s & 7) + 1));
      const dl2 = f(d * (2 * ((s >> 3) & 7) + 1));
      for (let l = 0; l < 4; l++, yo += 8) {
        // qh byte 2·ib + l/2 serves two groups: bits 0–2 index and bit 3 delta for the even one, bits 4–7 for the odd
        const qh = b[bo + 32 + 2 * ib + (l >> 1)]! >> (4 * (l & 1));
        const idx = b[bo + 4 * ib + l]! | ((qh & 7) << 8);
        group(grid, idx * 8, l < 2 ? dl1 : dl2, qh & 8 ? -DELTA : DELTA, y, yo);
      }
    }
  }
}

/** block_iq1_s. */
export const IQ1_S: BlockDecode = { blockSize: QK_K, typeSize: 50, dequantize: dequantizeIq1S };
/** block_iq1_m. */
export const IQ1_M: BlockDecode = { blockSize: QK_K, typeSize: 56, dequantize: dequantizeIq1M };
