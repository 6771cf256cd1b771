/**
 * The notebook's names for the numeric core: formats, the ruler, granularity, error and memory.
 */
export { format, formats, castTo, blockQuantize, NF4_CODEBOOK, FP4_BNB_CODEBOOK } from "../numerics/formats.js";
export type { FormatName, NumberFormat } from "../numerics/formats.js";
export { ruler } from "../numerics/ruler.js";
export type { Ruler, Fit } from "../numerics/ruler.js";
export { quantize, rtn } from "../numerics/rtn.js";
export type { Quantized } from "../numerics/rtn.js";
export type { GroupQuantized } from "../numerics/grouped.js";
export { resolveSpec, describeSpec } from "../numerics/spec.js";
export type { QuantSpec, Scheme, Convention, ScaleRule, ZeroPointRule } from "../numerics/spec.js";
export { perTensor, perChannel, perGroup, perBlock } from "../numerics/granularity.js";
export type { Granularity, GroupSize } from "../numerics/granularity.js";
export { mse, maxError, sqnrDb, relError, errorReport } from "../numerics/metrics.js";
export type { ErrorReport } from "../numerics/metrics.js";
export { explain } from "../numerics/explain.js";
export { weightMemory, kvCache, memoryTable, modelPreset, MODEL_PRESETS, bytesText } from "../numerics/memory.js";
export { matrix } from "../numerics/matrix.js";
export type { Matrix } from "../numerics/matrix.js";
export { roundHalfEven, roundHalfAway } from "../numerics/round.js";
