/**
 * The QuantLab vocabulary: everything a notebook cell sees without an import, and what
 * `import { … } from "quantlab"` gives. Grouped the way the course thinks.
 */
export { QuantLabError } from "../errors.js";
export * from "./numerics.js";
export { help } from "./help.js";
export * from "./gguf.js";
export * from "./models.js";
