/**
 * Simulated activation quantization: the input of every linear layer passes through quantize →
 * dequantize inside the forward pass (the `linearInput` hook), as W8A8 / FP8 engines run it, so
 * perplexity and KLD show what quantized activations cost. Weights are whatever the runtime holds
 * (FP32, or a quantized model's dequantized weights: W8A8, W4A8, W4A16 = weights only).
 *
 * Granularity and scaling:
 *  - "tensor" + "static":  one scale per linear input, fixed ahead of time from calibration text
 *                          (max or a percentile of |x|), as TensorRT-LLM's default INT8/FP8 recipe;
 *  - "tensor" + "dynamic": one scale per forward call (per batch), from that call's absmax;
 *  - "token" (dynamic):    one scale per token row, from the row's absmax (vLLM's per-token INT8).
 * Scales are FP32 (absmax / the format's largest value); rounding is the numeric core's (kv-formats.ts).
 */
import { check, QuantLabError } from "../../errors.js";
import type { LinearName } from "../llama.js";
import { elementFormat, type ElementFormat } from "./kv-formats.js";
import type { BlockHooks, LlamaRuntime } from "./forward.js";
import { tf } from "./tf.js";

export type ActGranularity = "tensor" | "token";
export type ActScaling = "static" | "dynamic";

export interface ActivationSpec {
  /** int8, int4, fp8-e4m3 or fp8-e5m2. */
  format: string;
  granularity: ActGranularity;
  /** Default: dynamic. Static needs calibrated scales. */
  scaling?: ActScaling;
  /** Only these layers' linear inputs (default: every layer), to see one layer's cost alone. */
  layers?: number[];
}

/** Per linear input (key `${layer}:${first linear name}`), the calibrated |x| statistic. */
export type ActivationScales = Map<string, number>;

export const inputKey = (layer: number, names: readonly LinearName[]): string => `${layer}:${names[0]}`;

/** Parses "FORMAT:GRANULARITY[:static|:dynamic]", e.g. "int8:token:dynamic" or "fp8-e4m3:tensor:static". */
export function parseActivationSpec(text: string): ActivationSpec {
  const [format, granularity, scaling = "dynamic", ...rest] = text.split(":");
  const usage = "use FORMAT:GRANULARITY[:static|:dynamic], e.g. int8:token:dynamic or fp8-e4m3:tensor:static";
  if (rest.length > 0 || !format || !granularity) throw new QuantLabError("BAD_ARGUMENT", `activation spec '${text}' is malformed: ${usage}`);
  elementFormat(format);
  check(granularity === "tensor" || granularity === "token", "BAD_ARGUMENT", `activation granularity '${granularity}' in '${text}' is unknown: use tensor or token`);
  check(scaling === "static" || scaling === "dynamic", "BAD_ARGUMENT", `activation scaling '${scaling}' in '${text}' is unknown: use static or dynamic`);
  check(!(granularity === "token" && scaling === "static"), "BAD_ARGUMENT",
    `'${text}': per-token scales exist only at run time: use ${format}:token:dynamic or ${format}:tensor:static`);
  return { format, granularity, scaling };
}

export function activationLabel(s: ActivationSpec): string {
  return `${s.format}:${s.granularity}:${s.scaling ?? "dynamic"}${s.layers ? ` (layer ${s.layers.join(", ")})` : ""}`;
}

/**
 * Fake-quantizes a rows × cols activation (row = token): per token (one scale per row) or per tensor,
 * with `absmax` given (static) or taken from x (dynamic). Values beyond a static scale's range clip.
 */
export function fakeQuantActivations(x: Float32Array, rows: number, cols: number, fmt: ElementFormat, granularity: ActGranularity, absmax?: number): Float32Array {
  check(x.length === rows * cols, "BAD_SHAPE", `activation has ${x.length} values, ${rows} × ${cols} needs ${rows * cols}`);
  const out = new Float32Array(x.length);
  const q = (lo: number, hi: number, amax: number) => {
    const s = amax > 0 ? amax / fmt.maxValue : 1;
    for (let i = lo; i < hi; i++) out[i] = fmt.round(x[i] / s) * s;
  };
  const amaxOf = (lo: number, hi: number) => {
    let a = 0;
    for (let i = lo; i < hi; i++) a = Math.max(a, Math.abs(x[i]));
    return a;
  };
  if (granularity === "token") for (let r = 0; r < rows; r++) q(r * cols, (r + 1) * cols, amaxOf(r * cols, (r + 1) * cols));
  else q(0, x.length, absmax ?? amaxOf(0, x.length));
  return out;
}

/** A `linearInput` hook quantizing every linear's input with `spec` (static scaling reads `scales`). */
export function activationHooks(spec: ActivationSpec, scales?: ActivationScales): BlockHooks {
  const fmt = elementFormat(spec.format);
  const isStatic = (spec.scaling ?? "dynamic") === "static";
  check(!isStatic || scales, "BAD_ARGUMENT", `static activation scales for ${activationLabel(spec)} need calibration: run calibrateActivations first`);
  return {
    linearInput: (layer, names, x) => {
      if (spec.layers && !spec.layers.includes(layer)) return x;
      let amax: number | undefined;
      if (isStatic) {
        amax = scales!.get(inputKey(layer, names));
        check(amax !== undefined, "BAD_ARGUMENT", `no calibrated scale for blk.${layer}.${names[0]}'s input: calibrate on the same model`);
      }
      const [T, C] = x.shape;
      return tf.tensor2d(fakeQuantActivations(x.dataSync() as Float32Array, T, C, fmt, spec.granularity, amax), [T, C]);
    },
  };
}

/**
 * Static scales: per linear input, the max (or the given percentile, e.g. 99.9) of |x| over the
 * calibration windows' tokens (`hooks` applies first, e.g. a rotation, so the scales see what is quantized).
 */
export function calibrateActivations(rt: LlamaRuntime, wins: number[][], method: "max" | number = "max", hooks: BlockHooks = {}): ActivationScales {
  check(wins.length > 0, "BAD_ARGUMENT", "calibration needs at least one window of tokens");
  check(method === "max" || (method > 0 && method <= 100), "BAD_ARGUMENT", `calibration percentile ${method} is outside (0, 100]: use e.g. 99.9 or "max"`);
  const seen = new Map<string, Float32Array[]>();
  const capture: BlockHooks = {
    ...hooks,
    linearInput: (layer, names, x) => {
      const y = hooks.linearInput ? hooks.linearInput(layer, names, x) : x;
      const k = inputKey(layer, names);
      if (!seen.has(k)) seen.set(k, []);
      seen.get(k)!.push(Float32Array.from(y.dataSync() as Float32Array, Math.abs));
      return y;
    },
  };
  for (const w of wins) rt.forward(w, capture).dispose();
  const out: ActivationScales = new Map();
  for (const [k, parts] of seen) {
    const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    if (method === "max") out.set(k, all.reduce((a, b) => Math.max(a, b), 0));
    else {
      all.sort();
      out.set(k, all[Math.min(all.length - 1, Math.ceil((method / 100) * all.length) - 1)]);
    }
  }
  return out;
}

/** Hooks applied one after another: observers all see, transforms chain in order; one `attention` at most. */
export function composeHooks(...list: BlockHooks[]): BlockHooks {
  const hs = list.filter((h) => Object.keys(h).length > 0);
  if (hs.length <= 1) return hs[0] ?? {};
  const att = hs.filter((h) => h.attention);
  check(att.length <= 1, "BAD_ARGUMENT", "two hooks both replace the attention: combine the KV options into one spec");
  const out: BlockHooks = {};
  if (hs.some((h) => h.onLinearInput)) out.onLinearInput = (l, n, x) => { for (const h of hs) h.onLinearInput?.(l, n, x); };
  if (hs.some((h) => h.linearInput)) out.linearInput = (l, n, x) => hs.reduce((t, h) => (h.linearInput ? h.linearInput(l, n, t) : t), x);
  if (hs.some((h) => h.headInput)) out.headInput = (x) => hs.reduce((t, h) => (h.headInput ? h.headInput(t) : t), x);
  if (hs.some((h) => h.kv)) out.kv = (l, k, v) => hs.reduce((kv, h) => (h.kv ? h.kv(l, kv.k, kv.v) : kv), { k, v });
  if (att[0]) out.attention = att[0].attention;
  return out;
}

/** Per-channel and per-token |x| of one linear input over a window: the outlier picture. */
export interface ActivationMagnitudes {
  layer: number;
  names: readonly LinearName[];
  tokens: number;
  channels: number;
  /** tokens × channels, |x|. */
  abs: Float32Array;
  /** Per channel, max over tokens. */
  channelMax: Float32Array;
  /** Per token, max over channels. */
  tokenMax: Float32Array;
}

/** |x| of the input of `names` (default the q/k/v input) in `layer`, for the tokens of `window`. */
export function activationMagnitudes(rt: LlamaRuntime, window: number[], layer: number, names: readonly LinearName[] = ["attn_q", "attn_k", "attn_v"], hooks: BlockHooks = {}): ActivationMagnitudes {
  check(Number.isInteger(layer) && layer >= 0 && layer < rt.config.nLayers, "BAD_ARGUMENT",
    `layer ${layer} does not exist: the model has layers 0..${rt.config.nLayers - 1}`);
  let got: { abs: Float32Array; T: number; C: number } | null = null;
  // Seen after `hooks` transformed the input (a rotation), as the quantizer would see it.
  const capture = composeHooks(hooks, {
    linearInput: (l, n, x) => {
      if (l === layer && n[0] === names[0]) got = { abs: Float32Array.from(x.dataSync() as Float32Array, Math.abs), T: x.shape[0], C: x.shape[1] };
      return x;
    },
  });
  rt.forward(window, capture).dispose();
  check(got, "BAD_ARGUMENT", `blk.${layer} has no linear input named ${names[0]}: use attn_q, attn_output, ffn_gate or ffn_down`);
  const { abs, T, C } = got as { abs: Float32Array; T: number; C: number };
  const channelMax = new Float32Array(C), tokenMax = new Float32Array(T);
  for (let t = 0; t < T; t++)
    for (let c = 0; c < C; c++) {
      const a = abs[t * C + c];
      if (a > channelMax[c]) channelMax[c] = a;
      if (a > tokenMax[t]) tokenMax[t] = a;
    }
  return { layer, names, tokens: T, channels: C, abs, channelMax, tokenMax };
}
