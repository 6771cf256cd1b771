/**
 * Memory arithmetic: what weights and the KV cache cost in bytes. Exact integers where the course
 * states them (LLaMA-2-7B's FP16 KV cache at 4096 tokens is 2,147,483,648 bytes).
 */
import { check, QuantLabError } from "../errors.js";
import { format as lookupFormat, type FormatName } from "./formats.js";
import { fmt, keyValueBundle, tableBundle, withDisplay, type Bundle } from "./present.js";
import type { Scheme } from "./spec.js";

export interface WeightMemoryOptions {
  /** Number of parameters, e.g. 7e9. */
  params: number;
  /** Storage format of the weights (default "fp16"). */
  format?: FormatName | string;
  /** Weights per scale for integer and codebook formats: a number, "channel" (needs `rowLength`) or "tensor". */
  groupSize?: number | "channel" | "tensor";
  /** Row length, to turn "channel" into a group length (default 4096). */
  rowLength?: number;
  /** Bits per stored scale (default 16; bitsandbytes' NF4 absmax is 32). */
  scaleBits?: number;
  /** Bits per stored zero point (default: the format's bits for asymmetric integer formats; 0 for symmetric or codebooks). */
  zeroBits?: number;
  /** "asymmetric" (default) stores a zero point per group; "symmetric" stores none. */
  scheme?: Scheme;
  /** NF4 double quantization (QLoRA): 8-bit absmax in blocks of 256 with one FP32 per block: 0.5 → 0.127 bits. */
  doubleQuant?: boolean;
}

export interface WeightMemory {
  format: string;
  params: number;
  bitsPerParam: number;
  bytes: number;
}

/**
 * Bytes to store `params` weights in a format, with scale and zero-point overhead per group.
 * @example
 * ```ts
 * weightMemory({ params: 7e9, format: "int4", groupSize: 128 }).bitsPerParam  // 4 + (16 + 4)/128 = 4.15625
 * weightMemory({ params: 7e9, format: "fp16" }).bytes                          // 14e9
 * ```
 */
export function weightMemory(o: WeightMemoryOptions): WeightMemory {
  check(Number.isFinite(o.params) && o.params > 0, "BAD_ARGUMENT", `params must be a positive number such as 7e9, got ${o.params}`);
  const f = lookupFormat(o.format ?? "fp16");
  let bits = f.bytesPerParam * 8;
  if (f.kind === "int" || f.kind === "codebook") {
    const g = o.groupSize ?? "channel";
    const group = g === "tensor" ? o.params : g === "channel" ? (o.rowLength ?? 4096) : g;
    check(Number.isFinite(group) && group > 0, "BAD_ARGUMENT", `group size must be positive, "channel" or "tensor", got ${String(g)}`);
    const scaleBits = o.scaleBits ?? (f.name === "nf4" || f.name === "fp4-bnb" ? 32 : 16);
    const zeroBits = o.zeroBits ?? (f.kind === "int" && o.scheme !== "symmetric" ? f.bits : 0);
    if (o.doubleQuant) {
      check(f.kind === "codebook", "BAD_ARGUMENT", "double quantization applies to NF4/FP4 absmax scales: drop doubleQuant for integer formats");
      // 8-bit absmax per group, plus one FP32 scale (and the mean) per 256 absmax values
      bits += 8 / group + 32 / (group * 256);
    } else {
      bits += (scaleBits + zeroBits) / group;
    }
  } else if (o.groupSize !== undefined && f.kind === "float" && typeof o.groupSize === "number") {
    throw new QuantLabError("BAD_ARGUMENT", `${f.name} stores no per-group scale: drop groupSize, or use an integer or codebook format`);
  }
  const result: WeightMemory = { format: f.name, params: o.params, bitsPerParam: bits, bytes: Math.ceil((o.params * bits) / 8) };
  return withDisplay(result, () => keyValueBundle(`${f.name} weights`, [
    ["parameters", fmt(o.params)], ["bits per parameter", fmt(bits)], ["bytes", bytesText(result.bytes)],
  ]));
}

/**
 * A byte count as a readable size in binary units with the exact bytes: 2147483648 → "2 GiB (2,147,483,648 B)".
 * @example
 * ```ts
 * bytesText(2 ** 31)                                                // "2 GiB (2,147,483,648 B)"
 * bytesText(weightMemory({ params: 7e9, format: "int4" }).bytes)    // a 7B model in 4 bits
 * ```
 */
export function bytesText(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toPrecision(4))} ${units[u]} (${Math.round(bytes).toLocaleString("en-US")} B)`;
}

export interface ModelConfig {
  name: string;
  params: number;
  layers: number;
  heads: number;
  /** Key/value heads: fewer than `heads` with grouped-query attention. */
  kvHeads: number;
  headDim: number;
  hidden: number;
  context: number;
}

/**
 * Public configs (Hugging Face config.json of each model): parameters, layers, heads, KV heads, head size.
 * @example
 * ```ts
 * Object.keys(MODEL_PRESETS)               // ["llama-2-7b", …, "mistral-7b"]
 * MODEL_PRESETS["llama-3-8b"].kvHeads      // 8: grouped-query attention shrinks the KV cache
 * ```
 */
export const MODEL_PRESETS: Record<string, ModelConfig> = {
  "llama-2-7b": { name: "LLaMA-2-7B", params: 6.74e9, layers: 32, heads: 32, kvHeads: 32, headDim: 128, hidden: 4096, context: 4096 },
  "llama-2-13b": { name: "LLaMA-2-13B", params: 13.0e9, layers: 40, heads: 40, kvHeads: 40, headDim: 128, hidden: 5120, context: 4096 },
  "llama-2-70b": { name: "LLaMA-2-70B", params: 69.0e9, layers: 80, heads: 64, kvHeads: 8, headDim: 128, hidden: 8192, context: 4096 },
  "llama-3-8b": { name: "Llama-3-8B", params: 8.03e9, layers: 32, heads: 32, kvHeads: 8, headDim: 128, hidden: 4096, context: 8192 },
  "llama-3-70b": { name: "Llama-3-70B", params: 70.6e9, layers: 80, heads: 64, kvHeads: 8, headDim: 128, hidden: 8192, context: 8192 },
  "mistral-7b": { name: "Mistral-7B", params: 7.24e9, layers: 32, heads: 32, kvHeads: 8, headDim: 128, hidden: 4096, context: 32768 },
};

/**
 * A model preset by name (case and punctuation forgiving: "Llama-2-7B", "llama2-7b").
 * @example
 * ```ts
 * modelPreset("Llama-2-7B").layers                        // 32
 * weightMemory({ params: modelPreset("mistral-7b").params, format: "nf4" }).bytes
 * ```
 */
export function modelPreset(name: string): ModelConfig {
  const key = name.toLowerCase().replace(/[_ ]/g, "-").replace(/^llama(\d)/, "llama-$1");
  const preset = MODEL_PRESETS[key];
  if (!preset) throw new QuantLabError("NOT_FOUND", `unknown model '${name}': use one of ${Object.keys(MODEL_PRESETS).join(", ")}, or pass a config { layers, kvHeads, headDim }`);
  return preset;
}

export type KvDtype = "fp32" | "fp16" | "bf16" | "fp8" | "fp8-e4m3" | "fp8-e5m2" | "int8" | "int4";

const KV_BYTES: Record<KvDtype, number> = { fp32: 4, fp16: 2, bf16: 2, fp8: 1, "fp8-e4m3": 1, "fp8-e5m2": 1, int8: 1, int4: 0.5 };

export interface KvCacheOptions {
  context: number;
  batch?: number;
  dtype?: KvDtype;
}

export interface KvCacheSize {
  model: string;
  context: number;
  batch: number;
  dtype: KvDtype;
  bytesPerToken: number;
  bytes: number;
}

/**
 * KV-cache bytes: 2 (K and V) · layers · kvHeads · headDim · tokens · batch · bytes per element.
 * @example
 * ```ts
 * kvCache("llama-2-7b", { context: 4096 }).bytes                  // 2,147,483,648 (2 GiB in FP16)
 * kvCache("llama-3-70b", { context: 32768, dtype: "fp8" }).bytes   // grouped-query attention: 8 KV heads
 * ```
 */
export function kvCache(model: string | Pick<ModelConfig, "layers" | "kvHeads" | "headDim"> & { name?: string }, o: KvCacheOptions): KvCacheSize {
  const cfg = typeof model === "string" ? modelPreset(model) : model;
  const dtype = o.dtype ?? "fp16";
  const per = KV_BYTES[dtype];
  check(per !== undefined, "BAD_ARGUMENT", `unknown KV dtype '${dtype}': use one of ${Object.keys(KV_BYTES).join(", ")}`);
  const batch = o.batch ?? 1;
  check(Number.isInteger(o.context) && o.context > 0, "BAD_ARGUMENT", `context must be a positive integer number of tokens, got ${o.context}`);
  check(Number.isInteger(batch) && batch > 0, "BAD_ARGUMENT", `batch must be a positive integer, got ${batch}`);
  for (const k of ["layers", "kvHeads", "headDim"] as const) {
    check(Number.isInteger(cfg[k]) && cfg[k] > 0, "BAD_ARGUMENT", `model config needs a positive integer ${k}, got ${cfg[k]}`);
  }
  const bytesPerToken = 2 * cfg.layers * cfg.kvHeads * cfg.headDim * per;
  const result: KvCacheSize = {
    model: cfg.name ?? "custom", context: o.context, batch, dtype, bytesPerToken, bytes: bytesPerToken * o.context * batch,
  };
  return withDisplay(result, () => keyValueBundle(`KV cache of ${result.model}`, [
    ["layers × KV heads × head dim", `${cfg.layers} × ${cfg.kvHeads} × ${cfg.headDim}`],
    ["tokens × batch", `${o.context} × ${batch}`], ["dtype", dtype],
    ["per token", bytesText(bytesPerToken)], ["total", bytesText(result.bytes)],
  ]));
}

/**
 * The course's memory table: bytes per parameter and a model's weight memory in each format.
 * @example
 * ```ts
 * memoryTable(7e9)   // FP32 26.08 GiB … INT4 3.26 GiB
 * ```
 */
export function memoryTable(params = 7e9, formatsToShow: string[] = ["fp32", "fp16", "bf16", "fp8-e4m3", "int8", "int4", "nf4"]): WeightMemory[] {
  const rows = formatsToShow.map((f) => {
    const k = lookupFormat(f);
    return { format: k.name, params, bitsPerParam: k.bits, bytes: params * k.bytesPerParam };
  });
  const out = rows as WeightMemory[];
  return withDisplay(out, (): Bundle => tableBundle(`weights of a ${fmt(params)}-parameter model`, ["format", "bytes/param", "bytes", "GiB"],
    rows.map((r) => [r.format, String(r.bitsPerParam / 8), r.bytes.toLocaleString("en-US"), (r.bytes / 2 ** 30).toFixed(2)]),
    "before scale and zero-point overhead; see weightMemory for grouped formats"));
}
