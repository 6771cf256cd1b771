/**
 * Bits per weight a quantized model's linears cost as stored: a GGUF block type's bytes exactly; a
 * grid method's codes plus one FP16 scale per group and, with a zero point, one `bits`-wide zero per
 * group (how GPTQ/AWQ checkpoints pack them). Embeddings and norms stay outside the count, as in the
 * papers' "bits per weight" of the quantized layers.
 */
import { groupLength } from "../../numerics/spec.js";
import type { QuantizedModel } from "./workflow.js";

export function bitsPerWeight(q: Pick<QuantizedModel, "linears">): number {
  let bits = 0, weights = 0;
  for (const l of q.linears.values()) {
    const n = l.weight.rows * l.weight.cols;
    weights += n;
    if (l.gguf) bits += 8 * l.gguf.bytes.length;
    else if (l.grouped) {
      const { spec } = l.grouped;
      const g = groupLength(spec, l.weight.rows, l.weight.cols);
      bits += n * (spec.bits + (16 + (spec.scheme === "symmetric" ? 0 : spec.bits)) / g);
    } else bits += 32 * n;
  }
  return weights > 0 ? bits / weights : 32;
}
