/**
 * Activations and the KV cache in the notebook: where the outliers are, what W8A8 / FP8 / SmoothQuant /
 * rotations / KIVI cost a real model, measured by perplexity and KL divergence.
 *
 *   activationHeatmap(m, text, { layer: 3, input: "ffn_down" })
 *   await activationStudy(m, text, [{ activations: "int8:tensor:static" }, { activations: "int8:token:dynamic" }])
 *   await smoothQuantSweep(m, text, { alphas: [0, 0.25, 0.5, 0.75] })
 *   await rotationStats(m, text)
 */
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { check } from "../errors.js";
import type { Chart } from "../display/chart.js";
import { heatmapChart, lineChart } from "../display/figure.js";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "../model/llama.js";
import { activationMagnitudes, composeHooks } from "../model/runtime/activations.js";
import { engineStudy, type EngineRecipe, type EngineReport, type EngineStudyOptions } from "../model/runtime/engine.js";
import { LlamaRuntime, type BlockHooks } from "../model/runtime/forward.js";
import { rotateModel, outlierStats } from "../model/runtime/rotate.js";
import { withRuntime } from "./runtimes.js";

export { randomizedHadamard, hadamardMatrix } from "../model/runtime/hadamard.js";
export type { EngineRecipe, EngineReport } from "../model/runtime/engine.js";

const INPUTS: Record<string, readonly LinearName[]> = {
  attn_q: ["attn_q", "attn_k", "attn_v"], attn_output: ["attn_output"], ffn_gate: ["ffn_gate", "ffn_up"], ffn_down: ["ffn_down"],
};

function idsOf(m: LlamaModel, text: string | number[]): number[] {
  if (typeof text !== "string") return text;
  check(m.tokenizer, "BAD_ARGUMENT", "this model has no tokenizer: pass token ids instead of text");
  return m.tokenizer.encode(text);
}

function inputOf(name: string): readonly LinearName[] {
  const names = INPUTS[name];
  check(names, "BAD_ARGUMENT", `'${name}' is not a linear input: use attn_q (q/k/v), attn_output, ffn_gate (gate/up) or ffn_down`);
  return names;
}

/** Options of `activationHeatmap`. */
export interface ActivationHeatmapOptions {
  layer?: number;
  /** Which linear's input: attn_q (q/k/v's, default), attn_output, ffn_gate (gate/up's) or ffn_down. */
  input?: string;
  /** Tokens shown (default 48). */
  maxTokens?: number;
  /** A rotated model's run-time hooks (from a rotation), so the heatmap shows what is quantized. */
  hooks?: BlockHooks;
}

/**
 * |x| of one layer's linear input, tokens × channels (log colour): outlier channels are the bright
 * columns every token shares — why one scale per tensor wastes most of INT8's codes.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * activationHeatmap(m, "Once upon a time, there was a little girl.", { layer: 2, input: "ffn_down" })
 * ```
 */
export async function activationHeatmap(m: LlamaModel, text: string | number[], o: ActivationHeatmapOptions = {}): Promise<Chart> {
  const ids = idsOf(m, text).slice(0, (o.maxTokens ?? 48) - 1);
  const bos = m.tokenizer?.bos ?? 1;
  const layer = o.layer ?? 0, names = inputOf(o.input ?? "attn_q");
  const a = await withRuntime(m, (rt) => activationMagnitudes(rt, [bos, ...ids], layer, names, o.hooks));
  const rows = Array.from({ length: a.tokens }, (_, t) => Array.from(a.abs.subarray(t * a.channels, (t + 1) * a.channels), (v) => Math.max(v, 1e-6)));
  const top = Array.from(a.channelMax.keys()).sort((x, y) => a.channelMax[y] - a.channelMax[x]).slice(0, 3);
  return heatmapChart(rows, {
    title: `blk.${layer} ${names.join("/")} input |x| — largest channels ${top.join(", ")} (max ${a.channelMax[top[0]].toFixed(2)})`,
    xTitle: "channel", yTitle: "token position", zTitle: "|x|", logZ: true,
  });
}

/**
 * The range per token across a passage: each token's max |x| and median |x| at one linear input (log
 * axis). A per-tensor scale must cover the top line's highest point for every token; a per-token scale
 * follows the line.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * await activationRangeChart(m, "Once upon a time, there was a little girl named Lily.", { layer: 2, input: "ffn_down" })
 * ```
 */
export async function activationRangeChart(m: LlamaModel, text: string | number[], o: ActivationHeatmapOptions = {}): Promise<Chart> {
  const ids = idsOf(m, text).slice(0, (o.maxTokens ?? 128) - 1);
  const layer = o.layer ?? 0, names = inputOf(o.input ?? "attn_q");
  const a = await withRuntime(m, (rt) => activationMagnitudes(rt, [m.tokenizer?.bos ?? 1, ...ids], layer, names, o.hooks));
  const rows = Array.from({ length: a.tokens }, (_, t) => {
    const r = Array.from(a.abs.subarray(t * a.channels, (t + 1) * a.channels)).sort((x, y) => x - y);
    return { position: t, "max |x|": a.tokenMax[t], "median |x|": Math.max(r[r.length >> 1], 1e-6) };
  });
  return lineChart(rows, { x: "position", y: ["max |x|", "median |x|"], logY: true, title: `blk.${layer} ${names.join("/")} input: range per token`, xTitle: "token position", yTitle: "|x|" });
}

/** Options of `activationStudy` and `smoothQuantSweep`: window, maxTokens (default 256), calibration windows, a saved base. */
export type ActivationStudyOptions = EngineStudyOptions;

/**
 * Perplexity and KLD (from the full-precision model on the same tokens) of serving recipes: weights
 * (RTN), activations (INT8 / FP8, per tensor static or dynamic, per token), SmoothQuant, the Hadamard
 * rotation and the KV cache, each with the cache's bytes per token.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * await activationStudy(m, courseText(m, 0, 1500), [
 *   { weights: { bits: 8 }, activations: "int8:tensor:static" },
 *   { weights: { bits: 8 }, activations: "int8:token:dynamic" },
 *   { weights: { bits: 8 }, activations: "fp8-e4m3:tensor:dynamic" },
 *   { kvCache: "int4:channel,int4:token,window=32" },
 * ], { maxTokens: 128 })
 * ```
 */
export async function activationStudy(m: LlamaModel, text: string | number[], recipes: EngineRecipe[], o: ActivationStudyOptions = {}): Promise<EngineReport> {
  return engineStudy(m, idsOf(m, text), m.tokenizer?.bos ?? 1, recipes, { maxTokens: 256, ...o });
}

/** Options of `smoothQuantSweep`. */
export interface SmoothQuantSweepOptions extends ActivationStudyOptions {
  alphas?: number[];
  /** The recipe smoothed (default W8A8: INT8 weights per channel, INT8 activations per tensor, static). */
  recipe?: EngineRecipe;
}

/**
 * SmoothQuant's α sweep: the table (one row per α, the recipe without SmoothQuant first) and the chart.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * const s = await smoothQuantSweep(m, "Once upon a time, there was a little girl named Lily.", { alphas: [0.5] });
 * s.report.rows[1].kld
 * ```
 */
export class AlphaSweep {
  constructor(readonly alphas: number[], readonly report: EngineReport) {}
  /** KLD and perplexity versus α, with the unsmoothed recipe as the dashed reference. */
  chart(): Chart {
    const rows = this.alphas.map((a, i) => ({ alpha: a, KLD: this.report.rows[i + 1].kld, "KLD without SmoothQuant": this.report.rows[0].kld }));
    return lineChart(rows, { x: "alpha", y: ["KLD", "KLD without SmoothQuant"], title: "SmoothQuant: KLD from FP32 versus α", xTitle: "α (migration strength)", yTitle: "mean KLD (nats/token)", logY: true });
  }
  [DISPLAY](): MimeBundle {
    return this.report[DISPLAY]();
  }
}

/**
 * SmoothQuant's α sweep on a W8A8 recipe: perplexity and KLD versus α next to the recipe without it.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * const s = await smoothQuantSweep(m, courseText(m, 0, 1500), { alphas: [0, 0.5, 1], maxTokens: 96 });
 * s.chart()
 * ```
 */
export async function smoothQuantSweep(m: LlamaModel, text: string | number[], o: SmoothQuantSweepOptions = {}): Promise<AlphaSweep> {
  const alphas = o.alphas ?? [0, 0.25, 0.5, 0.75, 1];
  const base: EngineRecipe = o.recipe ?? { weights: { bits: 8 }, activations: "int8:tensor:static" };
  const recipes = [base, ...alphas.map((a) => ({ ...base, smoothquant: a }))];
  return new AlphaSweep(alphas, await activationStudy(m, text, recipes, o));
}

/**
 * Kurtosis and max/mean of weights and activations before and after the Hadamard rotation.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * (await rotationStats(m, "Once upon a time.")).rows.map((r) => [r.what, r.kurtosisBefore, r.kurtosisAfter])
 * ```
 */
export class RotationStats {
  constructor(readonly rows: { what: string; kurtosisBefore: number; kurtosisAfter: number; maxOverMeanBefore: number; maxOverMeanAfter: number }[]) {}
  [DISPLAY](): MimeBundle {
    const head = ["tensor", "kurtosis before", "after", "max/mean before", "after"];
    const cells = this.rows.map((r) => [r.what, r.kurtosisBefore.toFixed(2), r.kurtosisAfter.toFixed(2), r.maxOverMeanBefore.toFixed(2), r.maxOverMeanAfter.toFixed(2)]);
    return {
      "text/plain": [head, ...cells].map((c) => c.map((x, i) => x.padEnd(i === 0 ? 30 : 16)).join("")).join("\n") + "\n(means over layers; a Gaussian has kurtosis 3)",
      "text/html": `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${cells.map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join("")}</tr>`).join("")}</table><p>means over layers; a Gaussian has kurtosis 3</p>`,
    };
  }
}

/**
 * What QuaRot's rotation does to the distributions: kurtosis and max|x|/mean|x| of every linear's
 * weights and of each linear input's activations (means over layers), before and after.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath("stories260K-f32.gguf"));
 * await rotationStats(m, "Once upon a time, there was a little girl named Lily.")
 * ```
 */
export async function rotationStats(m: LlamaModel, text: string | number[], o: { maxTokens?: number; seed?: number } = {}): Promise<RotationStats> {
  const ids = [m.tokenizer?.bos ?? 1, ...idsOf(m, text).slice(0, (o.maxTokens ?? 64) - 1)];
  const r = rotateModel(m, { seed: o.seed ?? 0 });
  const rrt = await LlamaRuntime.create(r.model);
  try {
    const acts = async (rt: LlamaRuntime, hooks: BlockHooks) => {
      const out = new Map<string, { k: number; mm: number }[]>();
      rt.forward(ids, composeHooks(hooks, {
        linearInput: (_l, names, x) => {
          const s = outlierStats(x.dataSync() as Float32Array);
          const key = `${names.join("/")} input`;
          out.set(key, [...(out.get(key) ?? []), { k: s.kurtosis, mm: s.maxOverMean }]);
          return x;
        },
      })).dispose();
      return out;
    };
    const before = await withRuntime(m, (rt) => acts(rt, {})), after = await acts(rrt, r.hooks);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const rows: RotationStats["rows"] = [];
    for (const n of LINEAR_NAMES) {
      const b = m.layers.map((l) => outlierStats(l[n].data)), a = r.model.layers.map((l) => outlierStats(l[n].data));
      rows.push({ what: `${n} weights`, kurtosisBefore: mean(b.map((s) => s.kurtosis)), kurtosisAfter: mean(a.map((s) => s.kurtosis)),
        maxOverMeanBefore: mean(b.map((s) => s.maxOverMean)), maxOverMeanAfter: mean(a.map((s) => s.maxOverMean)) });
    }
    for (const [k, b] of before) {
      const a = after.get(k)!;
      rows.push({ what: k, kurtosisBefore: mean(b.map((s) => s.k)), kurtosisAfter: mean(a.map((s) => s.k)),
        maxOverMeanBefore: mean(b.map((s) => s.mm)), maxOverMeanAfter: mean(a.map((s) => s.mm)) });
    }
    return new RotationStats(rows);
  } finally {
    rrt.dispose();
  }
}
