/**
 * The notebook's names for the numeric core: formats, the ruler, granularity, error and memory.
 */
export { format, formats, castTo, blockQuantize, NF4_CODEBOOK, FP4_BNB_CODEBOOK } from "../numerics/formats.js";
export type { FormatName, NumberFormat } from "../numerics/formats.js";
export { ruler, quantize, rtn, resolveSpec, describeSpec } from "../numerics/ruler.js";
export type { QuantSpec, Quantized, Ruler, Scheme, Convention, ScaleRule, ZeroPointRule } from "../numerics/ruler.js";
export { perTensor, perChannel, perGroup, perBlock } from "../numerics/granularity.js";
export type { Granularity, GroupSize } from "../numerics/granularity.js";
export { mse, maxError, sqnrDb, relError, errorReport } from "../numerics/metrics.js";
export type { ErrorReport } from "../numerics/metrics.js";
export { explain } from "../numerics/explain.js";
export { weightMemory, kvCache, memoryTable, modelPreset, MODEL_PRESETS, bytesText } from "../numerics/memory.js";
export { matrix } from "../numerics/matrix.js";
export type { Matrix } from "../numerics/matrix.js";
export { roundHalfEven, roundHalfAway } from "../numerics/round.js";
