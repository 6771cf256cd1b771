/**
 * The ternary types, for models trained with weights in {−1, 0, 1}·d (BitNet b1.58): one fp16 scale d =
 * max |x| per 256 weights. TQ2_0 (66 bytes): qs[64] with 2 bits per weight (q + 1), four strips of 32 per
 * byte, then d. TQ1_0 (54 bytes, 1.6875 bits): qs[48] packing 5 trits per byte and qh[4] packing 4, each
 * byte the base-3 number scaled to 0…255 by a ceiling division by 243, then d.
 * WebAssembly twin: the quantizers — ggml-quants.c's quantize_row_tq{1,2}_0_ref (ggml_quantize_chunk
 * ignores an importance matrix for them) — are `quantizeTQ1_0` and `quantizeTQ2_0` in
 * assembly/gguf-blocks.ts, loaded by ./wasm.ts; this file has the layouts and dequantize_row_tq{1,2}_0.
 */
import * as common from "./common.js";
import type { BlockCode } from "./common.js";
import { quantizeTQ1_0, quantizeTQ2_0 } from "./wasm.js";

const getHalf = common.getHalf;

const QK_K = 256;

const POW3 = [1, 3, 9, 27, 81, 243];

function dequantizeTq1_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  const t = (byte: number, k: number) => (((byte * POW3[k]!) & 0xff) * 3) >> 8;
  for (let i = 0; i < n / QK_K; i++, bo += TQ1_0.typeSize) {
    const d = getHalf(b, bo + 52);
    for (let k = 0; k < 5; k++) for (let m = 0; m < 32; m++) y[yo++] = (t(b[bo + m]!, k) - 1) * d;
    for (let k = 0; k < 5; k++) for (let m = 0; m < 16; m++) y[yo++] = (t(b[bo + 32 + m]!, k) - 1) * d;
    for (let k = 0; k < 4; k++) for (let j = 0; j < 4; j++) y[yo++] = (t(b[bo + 48 + j]!, k) - 1) * d;
  }
}

function dequantizeTq2_0(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_K; i++, bo += TQ2_0.typeSize) {
    const d = getHalf(b, bo + 64);
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) for (let m = 0; m < 32; m++) y[yo++] = (((b[bo + j + m]! >> (2 * l)) & 3) - 1) * d;
    }
  }
}

/** block_tq1_0, with its code. */
export const TQ1_0: BlockCode = { blockSize: QK_K, typeSize: 54, quantize: quantizeTQ1_0, dequantize: dequantizeTq1_0 };
/** block_tq2_0, with its code. */
export const TQ2_0: BlockCode = { blockSize: QK_K, typeSize: 66, quantize: quantizeTQ2_0, dequantize: dequantizeTq2_0 };
