/**
 * IQ4_NL and IQ4_XS: 4-bit "non-linear" quants whose 16 levels are a fixed table (kvalues_iq4nl) spaced
 * like a bell curve instead of evenly, so more levels sit where weights are dense. IQ4_NL (18 bytes per
 * 32 weights): fp16 d, qs[16] level indices (low nibble: weight j, high: j + 16); x = d·kvalues[q].
 * IQ4_XS (136 bytes per 256): fp16 d, scales_h (2 high bits of each of 8 sub-block scales), scales_l[4]
 * (their low nibbles), qs[128]; x = d·(ls − 32)·kvalues[q].
 *
 * WebAssembly twin: both quantizers — ggml-quants.c's quantize_row_iq4_nl_impl as ggml_quantize_chunk
 * runs it (quantize_iq4_nl / quantize_iq4_xs, ntry = 7, with or without an importance matrix) — are
 * `quantizeIQ4_NL` and `quantizeIQ4_XS` in assembly/gguf-blocks.ts, loaded by ./wasm.ts; this file has
 * the layouts and dequantize_row_iq4_nl/_xs.
 */
import * as common from "./common.js";
import type { BlockCode } from "./common.js";
import { quantizeIQ4_NL, quantizeIQ4_XS, quantizeRowIQ4_NLImatrix, quantizeRowIQ4_XSImatrix } from "./wasm.js";

const f = Math.fround;
const getHalf = common.getHalf;

const QK4_NL = 32;
const QK_K = 256;

/** kvalues_iq4nl. */
const KVALUES = Int8Array.of(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

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
  quantize: quantizeIQ4_NL, quantizeImatrix: quantizeRowIQ4_NLImatrix,
  dequantize: dequantizeIq4Nl,
};

/** block_iq4_xs, with its code. */
export const IQ4_XS: BlockCode = {
  blockSize: QK_K, typeSize: 136,
  quantize: quantizeIQ4_XS, quantizeImatrix: quantizeRowIQ4_XSImatrix,
  dequantize: dequantizeIq4Xs,
};
