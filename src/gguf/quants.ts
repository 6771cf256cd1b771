/**
 * GGUF block formats, bit-exact with llama.cpp: `quantize` is `ggml_quantize_chunk(type, src, dst, 0,
 * nrows, nPerRow, imatrix)` and `dequantize` is `dequantize_row_<type>`. Both check their input and run
 * the type's block code from the traits table (types.ts); the per-family code lives in blocks/.
 *
 *   const bytes = quantize("Q4_K", W, 4096);          // W: rows × 4096 FP32, row-major
 *   const back = dequantize("Q4_K", bytes, W.length);
 */
import { check, QuantLabError } from "../errors.js";
import { decodableType, decodableTypeList, decodeOnlyReason, GGUF_TYPES, ggufType, ggufTypeList, IMATRIX_TYPES, rowBytes,
  type DecodableType, type DecodableTypeName, type GgufType, type GgufTypeName } from "./types.js";

// Re-exported so callers that take the importance-matrix list from here keep working.
export { IMATRIX_TYPES };

/** The traits of encodable `type`, or an error naming the types there are (and why a decode-only one is not). */
export function typeOf(type: GgufTypeName | string): GgufType {
  const t = ggufType(type);
  if (!t) {
    const why = decodeOnlyReason(type);
    throw new QuantLabError(why ? "UNSUPPORTED" : "BAD_ARGUMENT", `${why ? `cannot quantize to ${type}: ${why}` : `unknown GGUF type "${type}"`}: use one of ${ggufTypeList()}`);
  }
  return t;
}

/** The traits of `type` if QuantLab decodes it (encodable or decode-only), or an error naming those it decodes. */
export function decodableTypeOf(type: DecodableTypeName | string): DecodableType {
  const t = decodableType(type);
  if (!t) throw new QuantLabError("BAD_ARGUMENT", `unknown or undecodable GGUF type "${type}": QuantLab decodes ${decodableTypeList()}`);
  return t;
}

/** The encodable types whose block size divides `n` (the hint when a row length does not fit). */
function typesFitting(n: number): string {
  return GGUF_TYPES.filter((t) => t.blockSize > 1 && n % t.blockSize === 0).map((t) => t.name).join(", ");
}

/**
 * Quantizes `src` (nrows × nPerRow FP32, row-major) to `type`, exactly as llama.cpp does. `imatrix`
 * (one non-negative weight per column, e.g. the mean of x² over calibration activations) is used by
 * the types in IMATRIX_TYPES and ignored by the others (F32/F16/BF16/Q8_0 …), as in llama.cpp.
 */
export function quantize(type: GgufTypeName, src: Float32Array, nPerRow: number, imatrix?: Float32Array): Uint8Array {
  return quantizeInto(type, src, nPerRow, undefined, imatrix);
}

/**
 * `quantize` writing into `into` when it is given (it must hold the encoded rows; a view of its start is
 * returned), so a caller going through a large tensor a block of rows at a time reuses one buffer.
 */
export function quantizeInto(type: GgufTypeName, src: Float32Array, nPerRow: number, into: Uint8Array | undefined, imatrix?: Float32Array): Uint8Array {
  const t = typeOf(type);
  check(src instanceof Float32Array, "BAD_ARGUMENT", "quantize takes the weights as a Float32Array: wrap them with Float32Array.from(values)");
  check(imatrix === undefined || imatrix instanceof Float32Array, "BAD_ARGUMENT",
    "the importance matrix must be a Float32Array (one weight per column): wrap it with Float32Array.from(weights)");
  check(Number.isInteger(nPerRow) && nPerRow > 0, "BAD_SHAPE", `row length ${nPerRow} must be a positive integer`);
  check(nPerRow % t.blockSize === 0, "BAD_SHAPE", () => {
    const fit = typesFitting(nPerRow);
    return `${t.name} packs ${t.blockSize} weights per block but the row length ${nPerRow} is not a multiple of ${t.blockSize}: ` +
      `pad each row to ${Math.ceil(nPerRow / t.blockSize) * t.blockSize} or choose a type whose block size divides ${nPerRow}` +
      (fit ? ` (${fit}${t.fallback ? `; llama.cpp falls back to ${t.fallback}` : ""})` : " (F16, F32 or BF16)");
  });
  check(src.length % nPerRow === 0, "BAD_SHAPE", () =>
    `${src.length} values are not a whole number of rows of ${nPerRow}: pass nrows × ${nPerRow} values`);
  const nrows = src.length / nPerRow;
  const rb = rowBytes(t, nPerRow);
  check(into === undefined || into.length >= nrows * rb, "BAD_SHAPE", () =>
    `${nrows} rows of ${t.name} need ${nrows * rb} bytes but the output buffer holds ${into!.length}: pass a larger one`);
  const out = into ? into.subarray(0, nrows * rb) : new Uint8Array(nrows * rb);
  const rowFn = imatrix ? t.quantizeImatrix : undefined;
  if (imatrix && rowFn) {
    check(imatrix.length === nPerRow, "BAD_SHAPE", () =>
      `the importance matrix has ${imatrix.length} weights but rows have ${nPerRow} columns: pass one weight per input column`);
    for (let r = 0; r < nrows; r++) rowFn(src, r * nPerRow, nPerRow, imatrix, out, r * rb);
    return out;
  }
  t.quantize(src, 0, out, 0, src.length);
  return out;
}

/**
 * Decodes `n` weights of `type` from `bytes`, exactly as llama.cpp's dequantize_row_<type>: every
 * encodable type and the decode-only IQ1/IQ2/IQ3 i-quants.
 */
export function dequantize(type: DecodableTypeName, bytes: Uint8Array, n: number): Float32Array {
  return dequantizeInto(type, bytes, n);
}

/** `dequantize` writing into `into` when it is given (at least `n` values; a view of its start is returned). */
export function dequantizeInto(type: DecodableTypeName, bytes: Uint8Array, n: number, into?: Float32Array): Float32Array {
  const t = decodableTypeOf(type);
  check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "dequantize takes the encoded tensor as a Uint8Array (e.g. a view of the GGUF file's data)");
  check(Number.isInteger(n) && n >= 0 && n % t.blockSize === 0, "BAD_SHAPE", () =>
    `${n} weights are not a whole number of ${t.name} blocks of ${t.blockSize}: pass a multiple of ${t.blockSize}`);
  const need = rowBytes(t, n);
  check(bytes.length >= need, "BAD_SHAPE", () =>
    `${n} ${t.name} weights need ${need} bytes but only ${bytes.length} were given: pass the whole tensor's data`);
  check(into === undefined || into.length >= n, "BAD_SHAPE", () => `${n} weights do not fit the ${into!.length}-value output buffer: pass a larger one`);
  const y = into ? into.subarray(0, n) : new Float32Array(n);
  t.dequantize(bytes, 0, y, 0, n);
  return y;
}
