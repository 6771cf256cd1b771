/**
 * Type mixes ("Q4_K_M", "Q5_K_S" …): which ggml type each tensor of a model gets, the way llama.cpp's
 * `llama_tensor_get_type` (src/llama-quant.cpp) decides for Llama-family models:
 *
 * - only tensors with 2+ dims whose names end in "weight" are quantized (norms, 1-D tensors, expert
 *   routers … keep their type);
 * - output.weight — and token_embd.weight when the model has no output.weight (tied embeddings) — gets
 *   Q6_K, or Q8_0 when its row length is not a multiple of the mix's block (or the mix is Q8_0/MXFP4_MOE);
 * - attn_v (fused attn_qkv and attn_kv_b count as attn_v, as in llama.cpp): Q2_K → Q3_K (Q4_K with
 *   GQA ≥ 4), Q2_K_S → Q4_K with GQA ≥ 4, Q3_K_M → Q5_K for the first 2 and Q4_K after, Q3_K_L → Q5_K,
 *   IQ4_NL/IQ4_XS → Q5_K with GQA ≥ 4, Q4_K_M/Q5_K_M → Q6_K on the "more bits" layers (i < n/8 ||
 *   i ≥ 7n/8 || (i − n/8) % 3 == 2, counted over the attn_v tensors), Q4_K_S → Q5_K for the first 4;
 *   8-expert models get Q8_0;
 * - ffn_down (layers counted over block_count): Q2_K → Q3_K, Q2_K_S → Q4_K on the first n/8, Q3_K_M →
 *   Q5_K on the first n/16 and Q4_K after, Q3_K_L → Q5_K, Q4_K_M/Q5_K_M → Q6_K on the "more bits" layers,
 *   Q4_K_S → Q5_K on the first n/8 and so do IQ4_NL/IQ4_XS without an imatrix, Q4_0/Q5_0 → Q4_1/Q5_1 on
 *   the first n/8 with one;
 * - attn_output: Q2_K → Q3_K, Q3_K_M → Q4_K, Q3_K_L → Q5_K; on 8-expert models Q5_K for the ≤ 4-bit mixes;
 * - the untied token_embd of TQ1_0/TQ2_0 → Q4_K; MXFP4_MOE: expert tensors (3-D) MXFP4, the rest Q8_0;
 * - fallback when the row length is not a multiple of the chosen type's block: the type's `fallback` in
 *   the traits table (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0 …), and F16 when even that does not divide
 *   it (`fallbackType`).
 *
 * llama-quantize's overrides (`MixOverrides`) act in its order: --token-embedding-type and
 * --output-tensor-type replace the choice outright (no fallback), then the first --tensor-type pattern that
 * matches the name (a regular expression searched in it) replaces the mix's rule, --pure skips the rules
 * (every weight the base type), and the fallback applies to what is left. A tensor a pattern decides does
 * not advance the attn_v/ffn_down layer counters, as in llama.cpp, so the rules' "first n/8" and "more
 * bits" layers shift onto the tensors left to them.
 *
 * Not modelled (they never apply to the mixes offered here, or need what a file cannot tell): the
 * IQ1/IQ2/IQ3 mixes' rules (QuantLab has no encoder for those types), Falcon's rules, the 70B attn_v bump
 * (llama.cpp keys it on its own model-size detection).
 */
import { check, QuantLabError } from "../errors.js";
import { DISPLAY, escapeHtml, type MimeBundle } from "../display-protocol.js";
import { decodeOnlyReason, ggmlType, ggufType, ggufTypeList, type GgufTypeName } from "./types.js";

/** A llama.cpp quantization mix name, as `llama-quantize` takes it (Q4_K_M, Q5_K_S, Q8_0 …). */
export type MixName =
  | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q4_K_S" | "Q4_K_M" | "Q5_K_S" | "Q5_K_M" | "Q6_K" | "F16" | "BF16" | "F32"
  | "IQ4_NL" | "IQ4_XS" | "MXFP4_MOE" | "Q2_K" | "Q2_K_S" | "Q3_K_S" | "Q3_K_M" | "Q3_K_L" | "TQ1_0" | "TQ2_0";

/**
 * llama.cpp's `llama_ftype` value of each mix (written as general.file_type) and its base type.
 * @example
 * console.log(MIXES.Q4_K_M)   // { ftype: 15, base: "Q4_K" }
 */
export const MIXES: Readonly<Record<MixName, { ftype: number; base: GgufTypeName }>> = {
  F32: { ftype: 0, base: "F32" },
  F16: { ftype: 1, base: "F16" },
  Q4_0: { ftype: 2, base: "Q4_0" },
  Q4_1: { ftype: 3, base: "Q4_1" },
  Q8_0: { ftype: 7, base: "Q8_0" },
  Q5_0: { ftype: 8, base: "Q5_0" },
  Q5_1: { ftype: 9, base: "Q5_1" },
  Q2_K: { ftype: 10, base: "Q2_K" },
  Q3_K_S: { ftype: 11, base: "Q3_K" },
  Q3_K_M: { ftype: 12, base: "Q3_K" },
  Q3_K_L: { ftype: 13, base: "Q3_K" },
  Q4_K_S: { ftype: 14, base: "Q4_K" },
  Q4_K_M: { ftype: 15, base: "Q4_K" },
  Q5_K_S: { ftype: 16, base: "Q5_K" },
  Q5_K_M: { ftype: 17, base: "Q5_K" },
  Q6_K: { ftype: 18, base: "Q6_K" },
  Q2_K_S: { ftype: 21, base: "Q2_K" },
  IQ4_NL: { ftype: 25, base: "IQ4_NL" },
  IQ4_XS: { ftype: 30, base: "IQ4_XS" },
  MXFP4_MOE: { ftype: 38, base: "MXFP4" },
  BF16: { ftype: 32, base: "BF16" },
  TQ1_0: { ftype: 36, base: "TQ1_0" },
  TQ2_0: { ftype: 37, base: "TQ2_0" },
};

export function mixByName(name: string): MixName {
  const m = name.toUpperCase() as MixName;
  check(m in MIXES, "BAD_ARGUMENT", () => `unknown quantization mix '${name}': use one of ${Object.keys(MIXES).join(", ")}`);
  return m;
}

export interface MixInputTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: readonly number[];
  /** The tensor's current type name (e.g. "F32"). */
  type: string;
}

export interface MixModelInfo {
  /** block_count: ffn_down's layer rule counts over it. */
  nLayers: number;
  /** expert_count (0 or 1 for dense models). */
  nExpert?: number;
  /** head_count / head_count_kv (1 without grouped-query attention): the IQ4 mixes' attn_v rule reads it. */
  nGqa?: number;
}

export interface MixChoice {
  name: string;
  dims: number[];
  from: string;
  to: string;
  /** Why: "1-D", "not quantized", "base", "output", "attn_v more bits" … plus "→ fallback" notes. */
  reason: string;
  /** Bytes after quantization. */
  bytes: number;
}

/** The per-tensor type choices of a mix, with sizes; renders as a table in a notebook. */
export interface MixPlan {
  mix: MixName;
  ftype: number;
  choices: MixChoice[];
  /** Tensors whose row length forced a fallback type. */
  fallbacks: number;
  totalBytes: number;
  /** Parameters (elements) over all tensors. */
  elements: number;
  bitsPerWeight: number;
  [DISPLAY](): MimeBundle;
}

const useMoreBits = (i: number, n: number): boolean =>
  i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

type Category = "output" | "token_embd" | "attn_v" | "attn_k" | "attn_q" | "attn_output" | "ffn_up" | "ffn_gate" | "ffn_down" | "other";

function category(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  const order: [string, Category][] = [
    ["attn_qkv.weight", "attn_v"], ["attn_kv_b.weight", "attn_v"], ["attn_v.weight", "attn_v"], ["attn_k.weight", "attn_k"],
    ["attn_q.weight", "attn_q"], ["attn_output.weight", "attn_output"], ["ffn_up", "ffn_up"], ["ffn_gate", "ffn_gate"], ["ffn_down", "ffn_down"],
  ];
  for (const [s, c] of order) if (name.includes(s)) return c;
  return "other";
}

/** Tensors llama.cpp leaves in their type whatever the mix (norms, routers, position tables …). */
const NEVER = [
  "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "position_embd",
  "token_types.weight", "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight", "time_mix_", ".rel_pos", ".patch_embd",
  ".patch_merger", "indexer.k_proj.weight", "indexer.q_proj.weight",
];

/** ggml_n_dims: trailing dims of 1 do not count. */
function nDims(dims: readonly number[]): number {
  let n = dims.length;
  while (n > 1 && dims[n - 1] === 1) n--;
  return Math.max(n, 1);
}

function quantizable(t: MixInputTensor): string | null {
  if (nDims(t.dims) < 2) return "1-D";
  if (!t.name.endsWith("weight")) return "not a weight";
  for (const s of NEVER) if (t.name.includes(s)) return `kept (${s.replace(/^[._]|\.weight$/g, "")})`;
  return null;
}

function blockOf(type: string): number {
  const t = ggmlType(type);
  if (!t) throw new QuantLabError("BAD_ARGUMENT", `unknown ggml type ${type}`);
  return t.blockSize;
}

/**
 * llama.cpp's rule for a row length `ncols` that is not a multiple of `type`'s block: the type's fallback
 * from the traits table (Q4_K → Q5_0 …), and F16 when that does not divide the row either (or there is
 * none). The one rule every QuantLab path that encodes GGUF follows (mixes, the model workflow, export).
 * @example
 * fallbackType("Q4_K", 64)   // "Q5_0"
 */
export function fallbackType(type: GgufTypeName, ncols: number): GgufTypeName {
  const t = ggufType(type);
  if (!t) throw new QuantLabError("BAD_ARGUMENT", `unknown GGUF type "${type}": use one of ${ggufTypeList()}`);
  if (ncols % t.blockSize === 0) return t.name;
  const next = t.fallback ? ggufType(t.fallback)! : t;
  return ncols % next.blockSize === 0 ? next.name : "F16";
}

/** One `--tensor-type NAME=TYPE`: tensors whose name the pattern (a regular expression) is found in get `type`. */
export interface TensorTypeOverride {
  pattern: string;
  type: GgufTypeName | string;
}

/** llama-quantize's overrides, as its `llama_model_quantize_params` carries them. */
export interface MixOverrides {
  /** --output-tensor-type: output.weight's type, used as is (no fallback). */
  outputTensorType?: GgufTypeName | string;
  /** --token-embedding-type: token_embd.weight's type, used as is (no fallback). */
  tokenEmbeddingType?: GgufTypeName | string;
  /** --pure: every quantized weight the mix's base type (overrides and fallbacks still apply). */
  pure?: boolean;
  /** --tensor-type, in order: the first pattern found in a tensor's name decides its type. */
  tensorTypes?: readonly TensorTypeOverride[];
}

/** What `planMix` and `ggufMix` take besides the model: llama-quantize's overrides plus whether an importance matrix comes. */
export interface MixOptions extends MixOverrides {
  /** Whether an importance matrix will be given: llama.cpp's rules for the IQ4, Q4_0/Q5_0 and Q2_K_S mixes read it. */
  imatrix?: boolean;
}

/**
 * Parses one `--tensor-type NAME=TYPE` argument as llama-quantize does: NAME lower-cased (a regular
 * expression searched in tensor names), TYPE any type QuantLab encodes, in any case.
 * @example
 * parseTensorTypeOverride("attn_v=q8_0")   // { pattern: "attn_v", type: "Q8_0" }
 */
export function parseTensorTypeOverride(arg: string): TensorTypeOverride {
  const eq = arg.indexOf("=");
  check(eq > 0 && eq < arg.length - 1, "BAD_ARGUMENT", `--tensor-type '${arg}' must be NAME=TYPE, e.g. attn_v=q8_0`);
  return { pattern: arg.slice(0, eq).toLowerCase(), type: overrideType(arg.slice(eq + 1), `--tensor-type ${arg}`) };
}

/**
 * llama-quantize's override flags as text (the CLI's and the DSL's form) → MixOverrides, checked:
 * types QuantLab encodes, `--tensor-type` as NAME=TYPE.
 * @example
 * overridesFromFlags({ outputTensorType: "q8_0", tensorTypes: ["attn_v=q6_k"] })
 */
export function overridesFromFlags(flags: { outputTensorType?: string | undefined; tokenEmbeddingType?: string | undefined; pure?: boolean;
  tensorTypes?: readonly string[] | undefined }): MixOverrides {
  const out: MixOverrides = {};
  if (flags.outputTensorType !== undefined) out.outputTensorType = overrideType(flags.outputTensorType, "--output-tensor-type");
  if (flags.tokenEmbeddingType !== undefined) out.tokenEmbeddingType = overrideType(flags.tokenEmbeddingType, "--token-embedding-type");
  if (flags.pure) out.pure = true;
  if (flags.tensorTypes?.length) out.tensorTypes = flags.tensorTypes.map(parseTensorTypeOverride);
  return out;
}

function overrideType(type: string, what: string): GgufTypeName {
  const t = ggufType(type.toUpperCase());
  check(t, "BAD_ARGUMENT", () => `${what}: QuantLab cannot encode type '${type}'${decodeOnlyReason(type) ? ` (${decodeOnlyReason(type)})` : ""}: use one of ${ggufTypeList()}`);
  return t.name;
}

function compilePattern(o: TensorTypeOverride): { re: RegExp; type: GgufTypeName } {
  let re: RegExp;
  try {
    re = new RegExp(o.pattern);
  } catch (e) {
    throw new QuantLabError("BAD_ARGUMENT", `--tensor-type pattern '${o.pattern}' is not a regular expression (${(e as Error).message}): escape it or write a plain name such as attn_v`);
  }
  return { re, type: overrideType(o.type, `--tensor-type ${o.pattern}=${o.type}`) };
}

/**
 * Chooses each tensor's type for `mix` exactly as `llama-quantize` would, with its overrides
 * (`options`; `imatrix`: whether an importance matrix will be given, which some mixes' rules read, as in
 * llama.cpp); choices come back in the caller's order.
 * @example
 * planMix("Q4_K_M", tensors, { nLayers: 8 }, { outputTensorType: "Q8_0", tensorTypes: [{ pattern: "attn_v", type: "Q6_K" }] })
 */
export function planMix(mixName: MixName | string, tensors: readonly MixInputTensor[], model: MixModelInfo,
  options: MixOptions = {}): MixPlan {
  const mix = mixByName(mixName);
  const { ftype, base } = MIXES[mix];
  check(Number.isInteger(model.nLayers) && model.nLayers >= 0, "BAD_ARGUMENT", `nLayers ${model.nLayers} must be a non-negative integer (the model's block_count)`);
  const nExpert = Math.max(1, model.nExpert ?? 1);
  const nGqa = model.nGqa ?? 1;
  const iq4 = mix === "IQ4_NL" || mix === "IQ4_XS";
  const quantizedBase = blockOf(base) > 1;
  const tied = !tensors.some((t) => t.name === "output.weight");
  const nAttnV = tensors.filter((t) => category(t.name) === "attn_v").length;
  const outputType = options.outputTensorType === undefined ? undefined : overrideType(options.outputTensorType, "--output-tensor-type");
  const embdType = options.tokenEmbeddingType === undefined ? undefined : overrideType(options.tokenEmbeddingType, "--token-embedding-type");
  const patterns = (options.tensorTypes ?? []).map(compilePattern);
  let iAttnV = 0;
  let iFfnDown = 0;
  let fallbacks = 0;

  const layerOf = (name: string, counter: number): number => {
    if (nExpert <= 1) return counter;
    const m = /^blk\.(\d+)\./.exec(name);
    check(m, "BAD_FILE", `cannot tell the layer of expert tensor '${name}': expected a name like blk.N.…`);
    const i = Number(m[1]);
    check(i < model.nLayers, "BAD_FILE", `tensor '${name}' names layer ${i} but the model has ${model.nLayers} layers`);
    return i;
  };

  /** llama_tensor_get_type_impl: the mix's own rule for one quantized weight (it advances the layer counters). */
  const rule = (t: MixInputTensor, cat: Category): { type: GgufTypeName; reason: string } => {
    let type: GgufTypeName = base;
    let reason = "base";
    const ncols = t.dims[0]!;
    const n = model.nLayers;
    if (cat === "output" || (tied && cat === "token_embd")) {
      reason = cat === "output" ? "output" : "tied embedding = output";
      if (outputType) { type = outputType; reason += " (--output-tensor-type)"; }
      else if (mix === "MXFP4_MOE") type = "Q8_0";
      else if (ncols % blockOf(type) !== 0) { type = "Q8_0"; reason += ", row not a multiple of the block"; }
      else if (type !== "Q8_0") type = "Q6_K";
    } else if (mix === "MXFP4_MOE") {
      const expert = (t.dims[2] ?? 1) > 1;
      type = expert ? "MXFP4" : "Q8_0";
      reason = expert ? "experts" : "not an expert tensor";
    } else if (cat === "token_embd") {
      if (mix === "TQ1_0" || mix === "TQ2_0") { type = "Q4_K"; reason = "token_embd of a ternary mix"; }
    } else if (cat === "attn_v") {
      const set = (to: GgufTypeName, why: string) => { type = to; reason = why; };
      if (mix === "Q2_K") set(nGqa >= 4 ? "Q4_K" : "Q3_K", "attn_v of Q2_K");
      else if (mix === "Q2_K_S" && nGqa >= 4) set("Q4_K", "attn_v, GQA ≥ 4");
      else if (mix === "Q3_K_M") set(iAttnV < 2 ? "Q5_K" : "Q4_K", iAttnV < 2 ? "attn_v first 2" : "attn_v of Q3_K_M");
      else if (mix === "Q3_K_L") set("Q5_K", "attn_v of Q3_K_L");
      else if (iq4 && nGqa >= 4) set("Q5_K", "attn_v, GQA ≥ 4");
      else if ((mix === "Q4_K_M" || mix === "Q5_K_M") && useMoreBits(iAttnV, nAttnV)) set("Q6_K", "attn_v more bits");
      else if (mix === "Q4_K_S" && iAttnV < 4) set("Q5_K", "attn_v first 4");
      if (nExpert === 8) set("Q8_0", "attn_v of 8 experts");
      iAttnV++;
    } else if (cat === "attn_k") {
      if (nExpert === 8) { type = "Q8_0"; reason = "attn_k of 8 experts"; }
    } else if (cat === "ffn_down") {
      const i = layerOf(t.name, iFfnDown);
      const first8 = i < Math.trunc(n / 8);
      const set = (to: GgufTypeName, why: string) => { type = to; reason = why; };
      if (mix === "Q2_K") set("Q3_K", "ffn_down of Q2_K");
      else if (mix === "Q2_K_S") { if (first8) set("Q4_K", "ffn_down first n/8"); }
      else if (mix === "Q3_K_M") set(i < Math.trunc(n / 16) ? "Q5_K" : "Q4_K", i < Math.trunc(n / 16) ? "ffn_down first n/16" : "ffn_down of Q3_K_M");
      else if (mix === "Q3_K_L") set("Q5_K", "ffn_down of Q3_K_L");
      else if (mix === "Q4_K_M") { if (useMoreBits(i, n)) set("Q6_K", "ffn_down more bits"); }
      else if (first8 && iq4 && !options.imatrix) set("Q5_K", "ffn_down first n/8 (no imatrix)");
      else if (mix === "Q5_K_M" && useMoreBits(i, n)) set("Q6_K", "ffn_down more bits");
      else if (mix === "Q4_K_S" && first8) set("Q5_K", "ffn_down first n/8");
      else if ((mix === "Q4_0" || mix === "Q5_0") && options.imatrix && first8) set(mix === "Q4_0" ? "Q4_1" : "Q5_1", "ffn_down first n/8 (imatrix)");
      iFfnDown++;
    } else if (cat === "attn_output") {
      if (nExpert === 8) {
        if (["Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ4_XS"].includes(mix)) { type = "Q5_K"; reason = "attn_output of 8 experts"; }
      } else if (mix === "Q2_K") { type = "Q3_K"; reason = "attn_output of Q2_K"; }
      else if (mix === "Q3_K_M") { type = "Q4_K"; reason = "attn_output of Q3_K_M"; }
      else if (mix === "Q3_K_L") { type = "Q5_K"; reason = "attn_output of Q3_K_L"; }
    }
    return { type, reason };
  };

  const exact = (t: MixInputTensor, type: GgufTypeName, flag: string): { to: string; reason: string } => {
    // llama.cpp uses these two types unchecked and then fails inside ggml on a row they do not divide
    check(t.dims[0]! % blockOf(type) === 0, "BAD_ARGUMENT",
      `${flag} ${type}: ${t.name}'s rows of ${t.dims[0]} are not a multiple of ${type}'s block of ${blockOf(type)}: choose a type whose block divides ${t.dims[0]} (Q8_0, F16 …)`);
    return { to: type, reason: flag };
  };

  const choose = (t: MixInputTensor): { to: string; reason: string } => {
    const skip = quantizable(t);
    if (skip) return { to: t.type, reason: skip };
    const cat = category(t.name);
    if (embdType && cat === "token_embd" && !(t.name === "per_layer_token_embd.weight" && patterns.some((p) => p.re.test(t.name)))) {
      return exact(t, embdType, "--token-embedding-type");
    }
    if (outputType && cat === "output") return exact(t, outputType, "--output-tensor-type");
    if (!quantizedBase) return { to: base, reason: "base" };
    const manual = patterns.find((p) => p.re.test(t.name));
    let { type, reason } = manual ? { type: manual.type, reason: `--tensor-type ${manual.re.source}` }
      : options.pure ? { type: base, reason: "pure" } : rule(t, cat);
    const ncols = t.dims[0]!;
    const fb = fallbackType(type, ncols);
    if (fb !== type) {
      fallbacks++;
      reason += `; ${type} needs rows of ${blockOf(type)}, row is ${ncols} → ${fb}`;
      type = fb;
    }
    // llama.cpp's tensor_requires_imatrix: Q2_K_S's Q2_K weights (not the embedding or output)
    check(!(mix === "Q2_K_S" && type === "Q2_K" && !options.imatrix && cat !== "token_embd" && cat !== "output"), "BAD_ARGUMENT",
      `mix Q2_K_S needs an importance matrix for ${t.name} (as llama-quantize does): pass one (--imatrix FILE), or use Q2_K`);
    return { to: type, reason };
  };

  // llama.cpp walks its weights map, sorted by layer number then name (llama_model_loader's
  // weight_name_comparer), so the attn_v/ffn_down counters follow that order, not the file's
  const decided = new Map<MixInputTensor, { to: string; reason: string }>();
  for (const t of llamaTensorOrder(tensors)) decided.set(t, choose(t));
  const choices: MixChoice[] = tensors.map((t) => {
    const { to, reason } = decided.get(t)!;
    const g = ggmlType(to)!;
    const elements = t.dims.reduce((a, b) => a * b, 1);
    return { name: t.name, dims: [...t.dims], from: t.type, to, reason, bytes: (elements / g.blockSize) * g.typeSize };
  });
  const totalBytes = choices.reduce((a, c) => a + c.bytes, 0);
  const elements = choices.reduce((a, c) => a + c.dims.reduce((x, y) => x * y, 1), 0);
  const plan: MixPlan = {
    mix, ftype, choices, fallbacks, totalBytes, elements,
    bitsPerWeight: elements ? (totalBytes * 8) / elements : 0,
    [DISPLAY]: () => mixBundle(plan),
  };
  return plan;
}

/** llama.cpp's tensor order: tensors outside blocks first, then by block number, then by name. */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const layer = (n: string) => Number(/^blk\.(\d+)\./.exec(n)?.[1] ?? -1);
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The per-tensor table as text (what `quantlab gguf quantize` prints before writing).
 * @example
 * console.log(mixTable(await ggufMix(sharedModelPath(), "Q4_K_M")))
 */
export function mixTable(plan: Omit<MixPlan, typeof DISPLAY>): string {
  const rows = plan.choices.map((c) => [c.name, `[${c.dims.join(", ")}]`, c.from, c.to, bpw(c.to), c.bytes.toString(), c.reason]);
  const head = ["tensor", "dims", "from", "to", "bits/w", "bytes", "why"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 6 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const counts = new Map<string, number>();
  for (const c of plan.choices) counts.set(c.to, (counts.get(c.to) ?? 0) + 1);
  return [
    line(head),
    ...rows.map(line),
    `${plan.mix} (file type ${plan.ftype}): ${plan.choices.length} tensors (${[...counts].map(([t, n]) => `${n} ${t}`).join(", ")}), ` +
      `${plan.totalBytes} bytes, ${plan.bitsPerWeight.toFixed(3)} bits/weight, ${plan.fallbacks} fallback${plan.fallbacks === 1 ? "" : "s"}`,
  ].join("\n");
}

function bpw(type: string): string {
  const t = ggmlType(type);
  return t ? String(+((t.typeSize * 8) / t.blockSize).toFixed(4)) : "?";
}

/** One row of a plan's summary: the tensors of one role (the same name in every block) and what they became. */
export interface MixSummaryRow {
  /** The tensor name with its block number as N, e.g. "blk.N.attn_v.weight". */
  role: string;
  tensors: number;
  /** Target types with their counts, most frequent first, e.g. "Q6_K ×4, Q4_K ×4". */
  types: string;
  bytes: number;
  /** The distinct reasons, joined. */
  why: string;
}

/**
 * The plan grouped by role (token embedding, each block's attn_v …), in llama.cpp's tensor order: what a
 * notebook shows before the per-tensor table.
 * @example
 * mixSummary(await ggufMix(courseModelPath(), "Q4_K_M")).find((r) => r.role === "blk.N.attn_q.weight")!.tensors   // 4: one per block
 */
export function mixSummary(plan: Pick<MixPlan, "choices">): MixSummaryRow[] {
  const groups = new Map<string, MixChoice[]>();
  for (const c of plan.choices) {
    const role = c.name.replace(/^blk\.\d+\./, "blk.N.");
    groups.set(role, [...(groups.get(role) ?? []), c]);
  }
  return [...groups].map(([role, cs]) => {
    const counts = new Map<string, number>();
    for (const c of cs) counts.set(c.to, (counts.get(c.to) ?? 0) + 1);
    const types = [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => (cs.length === 1 ? t : `${t} ×${n}`)).join(", ");
    return { role, tensors: cs.length, types, bytes: cs.reduce((a, c) => a + c.bytes, 0), why: [...new Set(cs.map((c) => c.reason))].join("; ") };
  });
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

function mixBundle(plan: MixPlan): MimeBundle {
  const headline = `${plan.mix} (file type ${plan.ftype}): ${plan.choices.length} tensors, ${mib(plan.totalBytes)}, ` +
    `${plan.bitsPerWeight.toFixed(3)} bits/weight, ${plan.fallbacks} fallback${plan.fallbacks === 1 ? "" : "s"}`;
  const summary = mixSummary(plan);
  const sumText = [["role", "tensors", "types", "bytes", "why"], ...summary.map((r) => [r.role, String(r.tensors), r.types, String(r.bytes), r.why])];
  const widths = sumText[0].map((_, i) => Math.max(...sumText.map((r) => r[i]!.length)));
  const sumLines = sumText.map((r) => r.map((c, i) => (i === 4 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
  const rows = plan.choices.map((c) =>
    `<tr><td>${escapeHtml(c.name)}</td><td>[${c.dims.join(", ")}]</td><td>${c.from}</td><td><b>${c.to}</b></td><td>${bpw(c.to)}</td><td>${c.bytes}</td><td>${escapeHtml(c.reason)}</td></tr>`);
  const sumRows = summary.map((r) =>
    `<tr><td>${escapeHtml(r.role)}</td><td>${r.tensors}</td><td><b>${escapeHtml(r.types)}</b></td><td>${r.bytes}</td><td>${escapeHtml(r.why)}</td></tr>`);
  return {
    // the summary first: a real model's plan runs to hundreds of rows
    "text/plain": `${headline}\n\n${sumLines.join("\n")}\n\nevery tensor:\n${mixTable(plan)}`,
    "text/html": `<p><b>${escapeHtml(headline)}</b></p>` +
      `<table><thead><tr><th>role</th><th>tensors</th><th>types</th><th>bytes</th><th>why</th></tr></thead><tbody>${sumRows.join("")}</tbody></table>` +
      `<details><summary>every tensor (${plan.choices.length})</summary><table><thead><tr><th>tensor</th><th>dims</th><th>from</th><th>to</th><th>bits/w</th><th>bytes</th><th>why</th></tr></thead><tbody>${rows.join("")}</tbody></table></details>`,
  };
}
