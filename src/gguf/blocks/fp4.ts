/**
 * The FP4 (E2M1) block types, whose codes index kvalues — the E2M1 values doubled (0, 1, 2, 3, 4, 6, 8,
 * 12 and their negatives) — under a scale that is half the block's true scale:
 * - MXFP4 (the OCP microscaling format gpt-oss ships in): 32 weights in 17 bytes — an E8M0 shared
 *   exponent e and 16 bytes of codes, low nibble weight j, high nibble j + 16; x = kvalues[q]·2^(e − 128).
 * - NVFP4 (NVIDIA's): 64 weights in 36 bytes — four UE4M3 sub-block scales (one per 16 weights), then
 *   32 bytes of codes, 8 per sub-block, low nibble weight j, high j + 8; x = kvalues[q]·ue4m3(s)/2.
 * WebAssembly twin: the quantizers — ggml-quants.c's quantize_row_{mx,nv}fp4_ref (ggml_quantize_chunk
 * ignores an importance matrix for them) — are `quantizeMXFP4` and `quantizeNVFP4` in
 * assembly/gguf-blocks.ts, loaded by ./wasm.ts; this file has the layouts and dequantize_row_{mx,nv}fp4.
 */
import type { BlockCode } from "./common.js";
import { quantizeMXFP4, quantizeNVFP4 } from "./wasm.js";

const QK = 32;

/** kvalues_mxfp4. */
const KVALUES = Int8Array.of(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

/** GGML_E8M0_TO_FP32_HALF: 2^(e − 128), subnormal for e < 2. */
const e8m0Half = (e: number): number => 2 ** (e - 128);

function dequantizeMxfp4(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK; i++, bo += MXFP4.typeSize, yo += QK) {
    const d = e8m0Half(b[bo]!);
    for (let j = 0; j < QK / 2; j++) {
      const q = b[bo + 1 + j]!;
      y[yo + j] = KVALUES[q & 0xf]! * d;
      y[yo + j + QK / 2] = KVALUES[q >>> 4]! * d;
    }
  }
}

/** block_mxfp4, with its code. */
export const MXFP4: BlockCode = { blockSize: QK, typeSize: 17, quantize: quantizeMXFP4, dequantize: dequantizeMxfp4 };

const QK_NV = 64;
const QK_NV_SUB = 16;
/** ggml_ue4m3_to_fp32, halved (the doubled kvalues make up for it); 0 and 0x7F (NaN) decode to 0. */
function fromUe4m3Half(w: number): number {
  if (w === 0 || w === 0x7f) return 0;
  const exp = (w >>> 3) & 0xf;
  const man = w & 7;
  return (exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7)) * 0.5;
}

function dequantizeNvfp4(b: Uint8Array, bo: number, y: Float32Array, yo: number, n: number): void {
  for (let i = 0; i < n / QK_NV; i++, bo += NVFP4.typeSize) {
    for (let s = 0; s < QK_NV / QK_NV_SUB; s++, yo += QK_NV_SUB) {
      const d = fromUe4m3Half(b[bo + s]!);
      const q = bo + 4 + s * (QK_NV_SUB / 2);
      for (let j = 0; j < QK_NV_SUB / 2; j++) {
        y[yo + j] = KVALUES[b[q + j]! & 0xf]! * d;
        y[yo + j + QK_NV_SUB / 2] = KVALUES[b[q + j]! >>> 4]! * d;
      }
    }
  }
}

/** block_nvfp4, with its code. */
export const NVFP4: BlockCode = { blockSize: QK_NV, typeSize: 36, quantize: quantizeNVFP4, dequantize: dequantizeNvfp4 };
