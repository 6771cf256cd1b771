/**
 * One serving recipe applied to a model, the way an engine stacks them: rotation (QuaRot) → SmoothQuant
 * → round-to-nearest weights (W8 per channel, W4 per group) → activations (per tensor static or
 * dynamic, per token dynamic) → KV cache. Calibration (SmoothQuant's channel maxima, static activation
 * scales) runs on calibration windows through everything before it, so each step sees what the
 * next one quantizes. `engineStudy` scores recipes by perplexity and KL divergence from the
 * full-precision model on the same tokens, next to the KV cache's bytes per token.
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { check } from "../../errors.js";
import { LINEAR_NAMES, type LlamaModel } from "../llama.js";
import { rtnLinear } from "../quantize/rtn-gptq-awq.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import { activationHooks, activationLabel, calibrateActivations, composeHooks, fakeQuantActivations, parseActivationSpec, type ActivationSpec } from "./activations.js";
import { elementFormat } from "./kv-formats.js";
import { LlamaRuntime, type BlockHooks } from "./forward.js";
import { baseLogProbs, klDivergenceSaved, scoredWindows } from "./kld.js";
import type { BaseLogProbs } from "./kld-base.js";
import { kvBytesPerToken, kvCacheBytes, kvQuantHook, kvSpecLabel, parseKvCacheSpec, type KvCacheSpec } from "./kvcache.js";
import { rotateModel } from "./rotate.js";
import { activationChannelMax, smoothQuant } from "./smoothquant.js";

export interface WeightRecipe {
  /** Integer bits (symmetric RTN); ignored with an FP8 `format`. */
  bits: number;
  /** "fp8-e4m3" / "fp8-e5m2": FP8 weights with one FP32 scale per output channel (FP8 W8A8 as vLLM runs it). */
  format?: string;
  /** Weights per group (default: one group per output channel, as W8A8 engines do). */
  groupSize?: number;
}

/** A serving recipe: which of rotation, SmoothQuant, weights, activations and KV cache apply, with their settings. */
export interface EngineRecipe {
  /** A name for the table (default: built from the options). */
  label?: string;
  rotate?: "hadamard";
  /** Seed of the rotation's random signs. */
  seed?: number;
  /** SmoothQuant's α. */
  smoothquant?: number;
  /** Also smooth the down projection's input (its s migrated into ffn_up's rows); default false, as the paper's Llama recipe. */
  smoothDown?: boolean;
  /** Round-to-nearest weights (symmetric). */
  weights?: WeightRecipe;
  /** e.g. "int8:token:dynamic" or a parsed spec. */
  activations?: ActivationSpec | string;
  /** Static activation scales: "max" (default) or a percentile of |x|. */
  calibration?: "max" | number;
  /** e.g. "int4:channel,int4:token,window=32" or a parsed spec. */
  kvCache?: KvCacheSpec | string;
}

export interface PreparedEngine {
  model: LlamaModel;
  hooks: BlockHooks;
  label: string;
  /** KV cache bytes per token at the model's context (FP16 when the cache is not quantized). */
  kvBytesPerToken: number;
}

export function recipeLabel(r: EngineRecipe): string {
  if (r.label) return r.label;
  const a = r.activations === undefined ? "A16" : activationLabel(typeof r.activations === "string" ? parseActivationSpec(r.activations) : r.activations);
  const w = r.weights;
  const parts = [w ? (w.format ? `W ${w.format}` : `W${w.bits}${w.groupSize ? ` g${w.groupSize}` : ""}`) : "W16", a];
  if (r.smoothquant !== undefined) parts.push(`SmoothQuant α=${r.smoothquant}${r.smoothDown ? " +down" : ""}`);
  if (r.rotate) parts.push("Hadamard");
  if (r.kvCache !== undefined) parts.push(`KV ${kvSpecLabel(typeof r.kvCache === "string" ? parseKvCacheSpec(r.kvCache) : r.kvCache)}`);
  return parts.join(" · ");
}

/** FP8 weights: each output channel scaled so its absmax lands on the format's largest value, then cast. */
function fp8Weights(W: Matrix, format: string): Matrix {
  const fmt = elementFormat(format);
  check(fmt.name.startsWith("FP8"), "BAD_ARGUMENT", `weight format '${format}' is not FP8: use fp8-e4m3 or fp8-e5m2, or integer bits without a format`);
  return matrix(W.rows, W.cols, fakeQuantActivations(W.data, W.rows, W.cols, fmt, "token"));
}

/** Round-to-nearest of every linear (symmetric; per output channel unless a group size is given), or FP8 per channel. */
export function quantizeWeightsRtn(m: LlamaModel, w: WeightRecipe): LlamaModel {
  if (w.format === undefined) check(Number.isInteger(w.bits) && w.bits >= 2 && w.bits <= 8, "BAD_ARGUMENT", `weights of ${w.bits} bits: use 2 … 8`);
  return {
    ...m,
    layers: m.layers.map((l) => {
      const out = { ...l };
      for (const n of LINEAR_NAMES)
        out[n] = w.format !== undefined ? fp8Weights(l[n], w.format) : rtnLinear(l[n], { bits: w.bits, groupSize: w.groupSize ?? l[n].cols, scheme: "symmetric" }).weight;
      return out;
    }),
  };
}

/** Applies a recipe: the transformed model and the hooks every forward of it needs. */
export async function prepareEngine(m: LlamaModel, recipe: EngineRecipe, calibration: number[][]): Promise<PreparedEngine> {
  let model = m;
  let hooks: BlockHooks = {};
  const needsCalibration = recipe.smoothquant !== undefined ||
    (recipe.activations !== undefined && (typeof recipe.activations === "string" ? parseActivationSpec(recipe.activations) : recipe.activations).scaling === "static");
  check(!needsCalibration || calibration.length > 0, "BAD_ARGUMENT", "SmoothQuant and static activation scales need calibration windows: give some calibration text");
  if (recipe.rotate) {
    check(recipe.rotate === "hadamard", "BAD_ARGUMENT", `rotation '${recipe.rotate}' is unknown: use hadamard`);
    const r = rotateModel(model, { seed: recipe.seed ?? 0 });
    model = r.model;
    hooks = r.hooks;
  }
  if (recipe.smoothquant !== undefined) {
    const rt = await LlamaRuntime.create(model);
    try { model = smoothQuant(model, activationChannelMax(rt, calibration, hooks), recipe.smoothquant, { down: recipe.smoothDown }); } finally { rt.dispose(); }
  }
  if (recipe.weights) model = quantizeWeightsRtn(model, recipe.weights);
  if (recipe.activations !== undefined) {
    const spec = typeof recipe.activations === "string" ? parseActivationSpec(recipe.activations) : recipe.activations;
    let scales;
    if (spec.scaling === "static") {
      const rt = await LlamaRuntime.create(model);
      try { scales = calibrateActivations(rt, calibration, recipe.calibration ?? "max", hooks); } finally { rt.dispose(); }
    }
    hooks = composeHooks(hooks, activationHooks(spec, scales));
  }
  let bytes = kvCacheBytes(m.config, 1, 16);
  if (recipe.kvCache !== undefined) {
    const kv = typeof recipe.kvCache === "string" ? parseKvCacheSpec(recipe.kvCache) : recipe.kvCache;
    hooks = composeHooks(hooks, kvQuantHook(kv));
    bytes = kvBytesPerToken(m.config, kv, m.config.contextLength);
  }
  return { model, hooks, label: recipeLabel(recipe), kvBytesPerToken: bytes };
}

export interface EngineRow {
  label: string;
  perplexity: number;
  kld: number;
  kldP99: number;
  sameTopPercent: number;
  kvBytesPerToken: number;
}

/**
 * The recipes' table: perplexity, KLD (mean and p99) and same-top share against the full-precision
 * model, and the KV cache's bytes per token; `toJSON()` gives the rows.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * const r = await activationStudy(m, "Once upon a time, there was a little girl named Lily.", [{ activations: "int8:token:dynamic" }]);
 * r.rows[0].kld
 * ```
 */
export class EngineReport {
  constructor(readonly rows: EngineRow[], readonly basePerplexity: number, readonly tokens: number) {}
  toJSON() {
    return { basePerplexity: this.basePerplexity, tokens: this.tokens, rows: this.rows };
  }
  [DISPLAY](): MimeBundle {
    const head = ["recipe", "ppl", "KLD", "KLD p99", "same top", "KV B/token"];
    const cells = this.rows.map((r) => [r.label, r.perplexity.toFixed(4), r.kld.toExponential(2), r.kldP99.toExponential(2),
      `${r.sameTopPercent.toFixed(1)}%`, r.kvBytesPerToken.toFixed(1)]);
    return {
      "text/plain": [head, ...cells].map((c) => c.map((x, i) => x.padEnd(i === 0 ? Math.max(...cells.map((r) => r[0].length), 6) + 2 : 11)).join("")).join("\n") +
        `\n(full precision: perplexity ${this.basePerplexity.toFixed(4)} over ${this.tokens} tokens; KLD from it on the same tokens)`,
      "text/html": `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${cells
        .map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join("")}</tr>`).join("")}</table>` +
        `<p>full precision: perplexity ${this.basePerplexity.toFixed(4)} over ${this.tokens} tokens</p>`,
    };
  }
}

export interface EngineStudyOptions {
  window?: number;
  maxTokens?: number;
  /** Calibration windows (default: the first two scored windows of the text itself). */
  calibration?: number[][];
  /** The full-precision model's saved log-probabilities (from an earlier study on the same tokens). */
  base?: BaseLogProbs;
}

/** Perplexity and KLD of each recipe against the full-precision model on `ids`. */
export async function engineStudy(m: LlamaModel, ids: number[], bos: number, recipes: EngineRecipe[], opts: EngineStudyOptions = {}): Promise<EngineReport> {
  check(recipes.length > 0, "BAD_ARGUMENT", "the study needs at least one recipe, e.g. { activations: \"int8:token:dynamic\" }");
  const window = opts.window ?? m.config.contextLength;
  const calibration = opts.calibration ?? scoredWindows(ids, bos, window, m.config.contextLength, opts.maxTokens).slice(0, 2);
  const frt = await LlamaRuntime.create(m);
  let saved: BaseLogProbs;
  try { saved = opts.base ?? baseLogProbs(frt, ids, bos, { window, maxTokens: opts.maxTokens }); } finally { frt.dispose(); }
  const basePpl = Math.exp(saved.nll.reduce((s, x) => s + x, 0) / saved.nll.length);
  const rows: EngineRow[] = [];
  for (const r of recipes) {
    const e = await prepareEngine(m, r, calibration);
    const rt = await LlamaRuntime.create(e.model);
    try {
      const k = klDivergenceSaved(saved, rt, ids, bos, { window, maxTokens: opts.maxTokens, hooks: e.hooks });
      rows.push({ label: e.label, perplexity: k.perplexity, kld: k.kld.mean, kldP99: k.kld.p99, sameTopPercent: k.sameTopPercent, kvBytesPerToken: e.kvBytesPerToken });
    } finally {
      rt.dispose();
    }
  }
  return new EngineReport(rows, basePpl, saved.tokens.length);
}
