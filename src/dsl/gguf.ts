/**
 * The notebook's face of llama.cpp's block formats: quantize a weight matrix with any GGUF type and get
 * the same error report as the ruler, RTN or GPTQ (numerics/metrics.ts ErrorReport: MSE, max error,
 * SQNR, bits per weight …), so Q4_0, Q4_K and friends sit on one error-versus-bits chart with INT4-g128.
 *
 *   const q4k = ggufQuantize(W, "Q4_K")                                  // W: a Matrix (out × in)
 *   const q4kIm = ggufQuantize(W, "Q4_K", { imatrix: imatrixFrom(X) })   // X: tokens × in activations
 *   q4k.mse, q4k.bitsPerWeight, q4k.dequantized
 */
import { check } from "../errors.js";
import { matrix, type Matrix } from "../numerics/matrix.js";
import { errorReport, reportRows, type ErrorReport } from "../numerics/metrics.js";
import { keyValueBundle, withDisplay } from "../numerics/present.js";
import { dequantize, IMATRIX_TYPES, quantize } from "../gguf/quants.js";
import { imatrixFromActivations } from "../gguf/imatrix.js";
import { bitsPerWeight, decodeOnlyReason, ggufType, ggufTypeList, type GgufTypeName } from "../gguf/types.js";

/** Options of `ggufQuantize`: an importance matrix that weights the scale search toward important inputs. */
export interface GgufQuantizeOptions {
  /** Per-input-column importance (length W.cols), e.g. `imatrixFrom(X)`; used by the types that take one. */
  imatrix?: Float32Array;
}

/**
 * A matrix quantized to a GGUF type: the error report (MSE, SQNR, bits per weight …) plus the encoded
 * bytes exactly as llama.cpp stores them and the weights as llama.cpp reads them back.
 */
export interface GgufQuantized extends ErrorReport {
  type: GgufTypeName;
  rows: number;
  cols: number;
  /** The encoded tensor, byte for byte what llama.cpp writes into a GGUF file. */
  bytes: Uint8Array;
  /** Whether an importance matrix shaped the scales (false for types that ignore it). */
  usedImatrix: boolean;
  /** The weights as llama.cpp sees them after loading the file. */
  dequantized: Matrix;
}

/**
 * Quantizes W (rows × cols, row-major) to a GGUF type, bit-exact with llama.cpp, and measures the round
 * trip. `bound` is NaN: the K-quants' searched scales have no single worst-case grid step.
 * @example
 * ```ts
 * const W = randn(4, 256, { seed: 1, std: 0.02 });   // K-quants work on rows of 256
 * const q4 = ggufQuantize(W, "Q4_0"), q4k = ggufQuantize(W, "Q4_K");
 * [q4.bitsPerWeight, q4.sqnrDb, q4k.bitsPerWeight, q4k.sqnrDb]   // same 4.5 bits, Q4_K ≈ 1.7 dB better
 * ```
 */
export function ggufQuantize(W: Matrix, type: GgufTypeName, options: GgufQuantizeOptions = {}): GgufQuantized {
  const t = ggufType(type);
  check(t, "BAD_ARGUMENT", () => `${decodeOnlyReason(type) ?? `unknown GGUF type "${type}"`}: use one of ${ggufTypeList()}`);
  const { imatrix } = options;
  if (imatrix) {
    check(imatrix.length === W.cols, "BAD_SHAPE", () =>
      `the imatrix has ${imatrix.length} weights but W has ${W.cols} input columns: build it from activations with ${W.cols} features`);
  }
  const t0 = performance.now();
  const bytes = quantize(t.name, W.data, W.cols, imatrix);
  const seconds = (performance.now() - t0) / 1000;
  const back = dequantize(t.name, bytes, W.data.length);
  const usedImatrix = imatrix !== undefined && IMATRIX_TYPES.includes(t.name);
  const result: GgufQuantized = {
    ...errorReport(W.data, back, { bitsPerWeight: bitsPerWeight(t), seconds }),
    type: t.name,
    rows: W.rows,
    cols: W.cols,
    bytes,
    usedImatrix,
    dequantized: matrix(W.rows, W.cols, back),
  };
  const title = `GGUF ${t.name}${usedImatrix ? " (imatrix)" : ""}, ${W.rows} × ${W.cols}, ${bytes.length} bytes`;
  return withDisplay(result, () => keyValueBundle(title, reportRows(result)));
}

/**
 * llama.cpp's importance matrix from calibration activations X (tokens × in-features): mean x² per column.
 * Inputs that are large on the calibration text matter more, so their weights get finer scales.
 * @example
 * ```ts
 * const W = randn(4, 256, { seed: 1, std: 0.02 });
 * const X = withOutliers(randn(32, 256, { seed: 2 }), { columns: 4 });   // 32 tokens of activations
 * ggufQuantize(W, "Q4_K", { imatrix: imatrixFrom(X) }).usedImatrix      // true
 * ```
 */
export function imatrixFrom(X: Matrix): Float32Array {
  return imatrixFromActivations(X.data, X.cols);
}
