/**
 * The workflow's GPTQ (or RTN: the same grid) result as a Hugging Face GPTQ checkpoint folder, the v1
 * layout (`checkpoint_format: "gptq"`) that transformers, vLLM, SGLang and GPTQModel load. A linear the
 * layout cannot hold (inputs that do not pack into words or groups, a zero point of 0, which v1 stores as
 * −1) stays float16 and is named as skipped twice over: GPTQModel's and vLLM's `dynamic` negative match
 * ("-:" + the module's name as a regex) and, when every block skips the same modules, transformers'
 * `modules_in_block_to_quantize` listing the ones that are quantized.
 */
import { check } from "../../errors.js";
import { groupLength } from "../../numerics/spec.js";
import { contiguousGIdx, gptqUnpackable } from "../formats/hf-quantized-layout.js";
import { hfModule, type HfEntry, type HfQuantizedCheckpoint } from "../formats/hf-quantized.js";
import { HF_NAMES } from "../formats/hf.js";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "../llama.js";
import { denseF16, hfIntOf, hfLlamaConfig, hfRowOrder, jsonBytes, tokenizerFiles, vectorF16, writeHfQuantized, type HfPlanRow } from "./hf-checkpoint.js";
import type { QuantizedLinear, QuantizedModel } from "./workflow.js";

export interface HfExportOptions {
  /** A Hugging Face source folder whose tokenizer files are copied (else they are written from the vocabulary). */
  tokenizerFrom?: string;
  /** GPTQ's damping, recorded in the config (default 0.01, QuantLab's). */
  dampPercent?: number;
}

export interface HfExport {
  checkpoint: HfQuantizedCheckpoint;
  plan: HfPlanRow[];
  tokenizerNote: string;
}

/** Python's re.escape for module names: dots are the only metacharacter they hold. */
const regex = (module: string) => module.replace(/\./g, "\\.");

/** Why a quantized linear cannot go into the GPTQ layout (null: it can), and its group size. */
function gptqFit(q: QuantizedLinear): { why: string | null; gs: number } {
  const g = q.grouped;
  if (!g) return { why: `its format ${q.format} is not an integer group grid`, gs: 0 };
  if (q.inputScales) return { why: "it is AWQ's grid on W·s: write AWQ checkpoints with the AWQ layout", gs: 0 };
  if (g.spec.grid) return { why: `its ${g.spec.gridName} grid is not a uniform integer grid`, gs: 0 };
  const gs = groupLength(g.spec, g.rows, g.cols);
  const why = gptqUnpackable(g.rows, g.cols, g.spec.bits, gs);
  if (why) return { why, gs };
  const off = -g.spec.qmin;
  for (const z of g.zeros) if (z + off < 1) return { why: "a group has zero point 0 (all its weights ≥ 0), which the v1 layout stores as −1 and cannot read back", gs };
  return { why: null, gs };
}

/**
 * The checkpoint of a GPTQ/RTN-quantized model, with its plan (how each linear is stored).
 * @example
 * ```ts
 * const { checkpoint, plan } = gptqCheckpoint(q);
 * plan.filter((r) => r.reason)   // the linears kept in float16, and why
 * ```
 */
export function gptqCheckpoint(q: QuantizedModel, opts: HfExportOptions = {}): HfExport {
  const m: LlamaModel = q.model;
  const wrongBits = [...q.linears.values()].find((l) => l.grouped && ![2, 3, 4, 8].includes(l.grouped.spec.bits));
  check(!wrongBits, "UNSUPPORTED", () => `GPTQ checkpoints hold 2, 3, 4 or 8 bits, this model was quantized to ${wrongBits!.grouped!.spec.bits}: use --bits 2, 3, 4 or 8, or --format gguf`);
  const entries: HfEntry[] = [];
  const plan: HfPlanRow[] = [];
  let bits = 0, groupSize = 0, descAct = false, sym: boolean | null = null;
  const skipped: string[] = [];
  const quantizedPerLayer: Set<LinearName>[] = [];
  entries.push({ name: "model.embed_tokens.weight", tensor: denseF16(m.tokenEmbedding, null) });
  m.layers.forEach((l, i) => {
    const done = new Set<LinearName>();
    quantizedPerLayer.push(done);
    entries.push({ name: `model.layers.${i}.input_layernorm.weight`, tensor: vectorF16(l.attnNorm) });
    entries.push({ name: `model.layers.${i}.post_attention_layernorm.weight`, tensor: vectorF16(l.ffnNorm) });
    for (const n of LINEAR_NAMES) {
      const module = hfModule(i, n), ql = q.linears.get(`blk.${i}.${n}.weight`);
      const order = hfRowOrder(m, n);
      const fit = ql ? gptqFit(ql) : { why: "it was not quantized", gs: 0 };
      if (!ql || fit.why) {
        check(!ql?.inputScales, "BAD_ARGUMENT", `${module} is AWQ-quantized: write it with the AWQ layout (--method awq --format hf writes AutoAWQ GEMM)`);
        entries.push({ name: `${module}.weight`, tensor: denseF16(l[n], order) });
        plan.push({ module, stored: "F16", reason: fit.why! });
        skipped.push(module);
        continue;
      }
      const g = ql.grouped!;
      check(bits === 0 || (bits === g.spec.bits && groupSize === fit.gs), "UNSUPPORTED",
        `${module} is int${g.spec.bits} g${fit.gs}, earlier linears int${bits} g${groupSize}: one GPTQ checkpoint holds one bit width and group size`);
      bits = g.spec.bits; groupSize = fit.gs;
      const isSym = g.spec.scheme === "symmetric";
      check(sym === null || sym === isSym, "UNSUPPORTED", `${module} mixes symmetric and asymmetric grids with earlier linears: one GPTQ checkpoint has one 'sym'`);
      sym = isSym;
      const gIdx = g.gIdx ?? contiguousGIdx(g.cols, fit.gs);
      const act = gIdx.some((x, k) => x !== Math.floor(k / fit.gs));
      descAct ||= act;
      entries.push({ module, linear: hfIntOf({ ...g, bits, groupSize, gIdx, offset: -g.spec.qmin }, order, module) });
      plan.push({ module, stored: `GPTQ int${bits} g${groupSize}${act ? " act-order" : ""}` });
      done.add(n);
    }
  });
  entries.push({ name: "model.norm.weight", tensor: vectorF16(m.outputNorm) });
  if (m.output) entries.push({ name: "lm_head.weight", tensor: denseF16(m.output, null) });
  check(bits > 0, "BAD_ARGUMENT", "no linear of this model fits the GPTQ layout: nothing would be quantized (see the plan's reasons)");
  const sameEverywhere = quantizedPerLayer.every((s) => [...s].join() === [...quantizedPerLayer[0]!].join());
  const dynamic = Object.fromEntries(skipped.map((s) => [`-:${regex(s)}$`, {}]));
  const quant = {
    quant_method: "gptq", checkpoint_format: "gptq", bits, group_size: groupSize, desc_act: descAct, sym: sym ?? false,
    damp_percent: opts.dampPercent ?? 0.01, true_sequential: true, static_groups: false, lm_head: false, dynamic,
    ...(sameEverywhere && skipped.length > 0 ? { modules_in_block_to_quantize: [[...quantizedPerLayer[0]!].map((n) => HF_NAMES[n])] } : {}),
  };
  const tok = tokenizerFiles(m, opts.tokenizerFrom);
  const files = new Map(tok.files);
  files.set("quantize_config.json", jsonBytes(quant));
  return {
    checkpoint: { method: "gptq", config: { ...hfLlamaConfig(m), quantization_config: quant }, files, entries, metadata: { format: "pt" } },
    plan, tokenizerNote: tok.note,
  };
}

/** Writes a GPTQ/RTN-quantized model as a Hugging Face GPTQ checkpoint folder; returns its plan. */
export async function writeHfGptq(q: QuantizedModel, dir: string, opts: HfExportOptions = {}): Promise<HfExport> {
  const out = gptqCheckpoint(q, opts);
  await writeHfQuantized(dir, out.checkpoint);
  return out;
}
