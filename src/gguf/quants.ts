/**
 * GGUF block formats, bit-exact with llama.cpp: `quantize` is `ggml_quantize_chunk(type, src, dst, 0,
 * nrows, nPerRow, imatrix)` and `dequantize` is `dequantize_row_<type>`. The type table in types.ts gives
 * sizes; the per-family code lives in blocks/.
 *
 *   const bytes = quantize("Q4_K", W, 4096);          // W: rows × 4096 FP32, row-major
 *   const back = dequantize("Q4_K", bytes, W.length);
 */
import { check, QuantLabError } from "../errors.js";
import { ggufType, rowBytes, type GgufType, type GgufTypeName } from "./types.js";
import { dequantize16, dequantizeF32, quantize16, quantizeF32 } from "./blocks/float.js";
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ5_0, dequantizeQ5_1, dequantizeQ8_0,
  quantizeRowQx0Imatrix, quantizeRowQx1Imatrix,
} from "./blocks/legacy.js";
import { dequantizeQ2_K, quantizeRowQ2_KImatrix } from "./blocks/q2_k.js";
import { dequantizeQ3_K, quantizeRowQ3_KImatrix } from "./blocks/q3_k.js";
import { dequantizeQ45_K, quantizeRowQ45_KImatrix } from "./blocks/q4_k.js";
import { dequantizeQ6_K, quantizeRowQ6_KImatrix } from "./blocks/q6_k.js";
import {
  quantizeQ2_K, quantizeQ3_K, quantizeQ4_0, quantizeQ4_1, quantizeQ4_K, quantizeQ5_0, quantizeQ5_1, quantizeQ5_K, quantizeQ6_K, quantizeQ8_0,
} from "./blocks/wasm.js";

/** The types whose quantizer takes an importance matrix (the others ignore one, as llama.cpp does). */
export const IMATRIX_TYPES: readonly GgufTypeName[] = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

function typeOf(type: GgufTypeName): GgufType {
  const t = ggufType(type);
  if (!t) throw new QuantLabError("BAD_ARGUMENT", `unknown GGUF type "${type}": use one of F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K`);
  return t;
}

type BlockFn = (x: Float32Array, xo: number, out: Uint8Array, oo: number, nb: number) => void;
type RowImatrixFn = (x: Float32Array, xo: number, n: number, qw: Float32Array, out: Uint8Array, oo: number) => void;

const BLOCK_QUANT: Partial<Record<GgufTypeName, BlockFn>> = {
  Q4_0: quantizeQ4_0, Q4_1: quantizeQ4_1, Q5_0: quantizeQ5_0, Q5_1: quantizeQ5_1, Q8_0: quantizeQ8_0,
  Q2_K: quantizeQ2_K, Q3_K: quantizeQ3_K,
  Q4_K: quantizeQ4_K, Q5_K: quantizeQ5_K,
  Q6_K: quantizeQ6_K,
};

const ROW_IMATRIX: Partial<Record<GgufTypeName, RowImatrixFn>> = {
  Q4_0: (x, xo, n, qw, o, oo) => quantizeRowQx0Imatrix(4, x, xo, n, qw, o, oo),
  Q5_0: (x, xo, n, qw, o, oo) => quantizeRowQx0Imatrix(5, x, xo, n, qw, o, oo),
  Q4_1: (x, xo, n, qw, o, oo) => quantizeRowQx1Imatrix(4, x, xo, n, qw, o, oo),
  Q5_1: (x, xo, n, qw, o, oo) => quantizeRowQx1Imatrix(5, x, xo, n, qw, o, oo),
  Q2_K: quantizeRowQ2_KImatrix,
  Q3_K: quantizeRowQ3_KImatrix,
  Q4_K: (x, xo, n, qw, o, oo) => quantizeRowQ45_KImatrix(4, x, xo, n, qw, o, oo),
  Q5_K: (x, xo, n, qw, o, oo) => quantizeRowQ45_KImatrix(5, x, xo, n, qw, o, oo),
  Q6_K: quantizeRowQ6_KImatrix,
};

type BlockDeqFn = (b: Uint8Array, bo: number, y: Float32Array, yo: number, nb: number) => void;
const BLOCK_DEQUANT: Partial<Record<GgufTypeName, BlockDeqFn>> = {
  Q4_0: dequantizeQ4_0, Q4_1: dequantizeQ4_1, Q5_0: dequantizeQ5_0, Q5_1: dequantizeQ5_1, Q8_0: dequantizeQ8_0,
  Q2_K: dequantizeQ2_K, Q3_K: dequantizeQ3_K,
  Q4_K: (b, bo, y, yo, nb) => dequantizeQ45_K(4, b, bo, y, yo, nb),
  Q5_K: (b, bo, y, yo, nb) => dequantizeQ45_K(5, b, bo, y, yo, nb),
  Q6_K: dequantizeQ6_K,
};

/**
 * Quantizes `src` (nrows × nPerRow FP32, row-major) to `type`, exactly as llama.cpp does. `imatrix`
 * (one non-negative weight per column, e.g. the mean of x² over calibration activations) is used by
 * the types in IMATRIX_TYPES and ignored by F32/F16/BF16/Q8_0, as in llama.cpp.
 */
export function quantize(type: GgufTypeName, src: Float32Array, nPerRow: number, imatrix?: Float32Array): Uint8Array {
  const t = typeOf(type);
  check(src instanceof Float32Array, "BAD_ARGUMENT", "quantize takes the weights as a Float32Array: wrap them with Float32Array.from(values)");
  check(imatrix === undefined || imatrix instanceof Float32Array, "BAD_ARGUMENT",
    "the importance matrix must be a Float32Array (one weight per column): wrap it with Float32Array.from(weights)");
  check(Number.isInteger(nPerRow) && nPerRow > 0, "BAD_SHAPE", `row length ${nPerRow} must be a positive integer`);
  check(nPerRow % t.blockSize === 0, "BAD_SHAPE", () =>
    `${t.name} packs ${t.blockSize} weights per block but the row length ${nPerRow} is not a multiple of ${t.blockSize}: ` +
    `pad each row to ${Math.ceil(nPerRow / t.blockSize) * t.blockSize} or choose a type whose block size divides ${nPerRow}` +
    (t.blockSize === 256 ? " (Q4_0, Q5_0, Q8_0 … use blocks of 32; this is llama.cpp's fallback too)" : ""));
  check(src.length % nPerRow === 0, "BAD_SHAPE", () =>
    `${src.length} values are not a whole number of rows of ${nPerRow}: pass nrows × ${nPerRow} values`);
  const nrows = src.length / nPerRow;
  if (type === "F32") return quantizeF32(src);
  if (type === "F16" || type === "BF16") return quantize16(type === "BF16", src);
  const rb = rowBytes(t, nPerRow);
  const out = new Uint8Array(nrows * rb);
  const rowFn = imatrix ? ROW_IMATRIX[type] : undefined;
  if (imatrix && rowFn) {
    check(imatrix.length === nPerRow, "BAD_SHAPE", () =>
      `the importance matrix has ${imatrix.length} weights but rows have ${nPerRow} columns: pass one weight per input column`);
    for (let r = 0; r < nrows; r++) rowFn(src, r * nPerRow, nPerRow, imatrix, out, r * rb);
    return out;
  }
  BLOCK_QUANT[type]!(src, 0, out, 0, src.length / t.blockSize);
  return out;
}

/** Decodes `n` weights of `type` from `bytes`, exactly as llama.cpp's dequantize_row_<type>. */
export function dequantize(type: GgufTypeName, bytes: Uint8Array, n: number): Float32Array {
  const t = typeOf(type);
  check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "dequantize takes the encoded tensor as a Uint8Array (e.g. a view of the GGUF file's data)");
  check(Number.isInteger(n) && n >= 0 && n % t.blockSize === 0, "BAD_SHAPE", () =>
    `${n} weights are not a whole number of ${t.name} blocks of ${t.blockSize}: pass a multiple of ${t.blockSize}`);
  const need = rowBytes(t, n);
  check(bytes.length >= need, "BAD_SHAPE", () =>
    `${n} ${t.name} weights need ${need} bytes but only ${bytes.length} were given: pass the whole tensor's data`);
  if (type === "F32") return dequantizeF32(bytes, n);
  if (type === "F16" || type === "BF16") return dequantize16(type === "BF16", bytes, n);
  const y = new Float32Array(n);
  BLOCK_DEQUANT[type]!(bytes, 0, y, 0, n / t.blockSize);
  return y;
}
