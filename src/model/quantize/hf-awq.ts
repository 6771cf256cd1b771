/**
 * The workflow's AWQ result as an AutoAWQ GEMM checkpoint folder (`quant_method: "awq"`, `version:
 * "gemm"`, zero points, 4 bits), the layout transformers and vLLM load. AWQ's input scales are folded into
 * the previous operations first (fold.ts), so every stored grid is the one AWQ chose and the folder
 * computes the same function. A linear the layout cannot hold (outputs not a multiple of 8, inputs not a
 * whole number of groups, or o_proj under grouped-query attention, whose scales no previous operation can
 * absorb) is stored as float16 weights and listed in `modules_to_not_convert`, which transformers' AWQ
 * loader reads.
 */
import { check } from "../../errors.js";
import { groupLength } from "../../numerics/spec.js";
import { awqUnpackable } from "../formats/hf-quantized-layout.js";
import { hfModule, type HfEntry } from "../formats/hf-quantized.js";
import { LINEAR_NAMES } from "../llama.js";
import { foldAwq } from "./fold.js";
import { denseF16, hfIntOf, hfLlamaConfig, hfRowOrder, jsonBytes, tokenizerFiles, vectorF16, writeHfQuantized, type HfPlanRow } from "./hf-checkpoint.js";
import type { HfExport, HfExportOptions } from "./hf-gptq.js";
import type { QuantizedModel } from "./workflow.js";

/**
 * The AutoAWQ GEMM checkpoint of an AWQ-quantized model, with its plan.
 * @example
 * ```ts
 * const { plan } = awqCheckpoint(q);
 * plan.filter((r) => r.reason)   // the linears in modules_to_not_convert, and why
 * ```
 */
export function awqCheckpoint(q: QuantizedModel, opts: HfExportOptions = {}): HfExport {
  check([...q.linears.values()].some((l) => l.inputScales), "BAD_ARGUMENT",
    "this model was not quantized with AWQ: write GPTQ/RTN grids with the GPTQ layout (--method gptq --format hf)");
  const wrongBits = [...q.linears.values()].find((l) => l.grouped && l.grouped.spec.bits !== 4);
  check(!wrongBits, "UNSUPPORTED", () => `AutoAWQ's GEMM layout holds 4-bit codes, this model was quantized to ${wrongBits!.grouped!.spec.bits} bits: use --bits 4, or --format gguf`);
  let bits = 0, groupSize = 0;
  const fold = foldAwq(q, (_n, g) => {
    const gs = groupLength(g.spec, g.rows, g.cols);
    return g.spec.qmax - g.spec.qmin > 15 ? `its ${g.spec.bits}-bit codes do not fit AutoAWQ's 4 bits` : awqUnpackable(g.rows, g.cols, 4, gs);
  });
  const m = fold.model;
  const entries: HfEntry[] = [{ name: "model.embed_tokens.weight", tensor: denseF16(m.tokenEmbedding, null) }];
  const plan: HfPlanRow[] = [];
  const notConverted: string[] = [];
  m.layers.forEach((l, i) => {
    entries.push({ name: `model.layers.${i}.input_layernorm.weight`, tensor: vectorF16(l.attnNorm) });
    entries.push({ name: `model.layers.${i}.post_attention_layernorm.weight`, tensor: vectorF16(l.ffnNorm) });
    for (const n of LINEAR_NAMES) {
      const module = hfModule(i, n), f = fold.linears.get(`blk.${i}.${n}.weight`), order = hfRowOrder(m, n);
      if (!f?.grid) {
        entries.push({ name: `${module}.weight`, tensor: denseF16(l[n], order) });
        plan.push({ module, stored: "F16", reason: f?.reason ?? "it was not quantized" });
        notConverted.push(module);
        continue;
      }
      check(bits === 0 || (groupSize === f.grid.groupSize), "UNSUPPORTED",
        `${module} has groups of ${f.grid.groupSize}, earlier linears ${groupSize}: one AWQ checkpoint has one group size`);
      bits = 4; groupSize = f.grid.groupSize;
      entries.push({ module, linear: hfIntOf({ ...f.grid, bits: 4 }, order, module) });
      plan.push({ module, stored: `AWQ int4 g${groupSize} (GEMM)` });
    }
  });
  entries.push({ name: "model.norm.weight", tensor: vectorF16(m.outputNorm) });
  if (m.output) entries.push({ name: "lm_head.weight", tensor: denseF16(m.output, null) });
  check(bits > 0, "BAD_ARGUMENT", "no linear of this model fits AutoAWQ's GEMM layout: nothing would be quantized (see the plan's reasons)");
  const quant = { quant_method: "awq", version: "gemm", bits: 4, group_size: groupSize, zero_point: true, modules_to_not_convert: notConverted };
  const tok = tokenizerFiles(m, opts.tokenizerFrom);
  const files = new Map(tok.files);
  // AutoAWQ's own loader reads quant_config.json with its historical key names
  files.set("quant_config.json", jsonBytes({ zero_point: true, q_group_size: groupSize, w_bit: 4, version: "GEMM", modules_to_not_convert: notConverted }));
  return {
    checkpoint: { method: "awq", config: { ...hfLlamaConfig(m), quantization_config: quant }, files, entries, metadata: { format: "pt" } },
    plan, tokenizerNote: tok.note,
  };
}

/** Writes an AWQ-quantized model as an AutoAWQ GEMM checkpoint folder; returns its plan. */
export async function writeHfAwq(q: QuantizedModel, dir: string, opts: HfExportOptions = {}): Promise<HfExport> {
  const out = awqCheckpoint(q, opts);
  await writeHfQuantized(dir, out.checkpoint);
  return out;
}
