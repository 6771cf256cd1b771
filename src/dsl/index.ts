/**
 * The QuantLab vocabulary: everything a notebook cell sees without an import, and what
 * `import { … } from "quantlab"` gives. Grouped the way the course thinks.
 */
export { QuantLabError } from "../errors.js";
export * from "./numerics.js";
export { help } from "./help.js";
export { check } from "./exercise.js";
export type { Answer, Exercise, CheckResult } from "./exercise.js";
export * from "./data.js";
export * from "./layer.js";
export * from "./gguf.js";
export * from "./files.js";
export * from "./models.js";
export * from "./charts.js";
export * from "./algorithms.js";
export * from "./quality.js";
export * from "./activations.js";
export * from "./interact.js";
