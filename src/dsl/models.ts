/**
 * Real models in the notebook: load one, let it write, measure its perplexity, quantize it layer by
 * layer and compare methods, quantize its KV cache.
 *
 *   const m = await loadModel(sharedModelPath("stories260K-f32.gguf"))   // or projectModelPath()
 *   generateText(m, "Once upon a time", { maxTokens: 40 })
 *   await perplexityOf(m, evalText, { maxTokens: 4096 })
 *   await quantizationStudy(m, { calibTokens, evalTokens })                // FP32 / RTN / GPTQ / AWQ / Q8_0 / Q4_0
 *   await kvStudy(m, evalText, [{ format: "INT8", granularity: "token" }])
 *   await memoryEstimate("path/to/hub-download", "quantize-model")        // eval / quantize-model peak, from the header
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { check } from "../errors.js";
import { withRuntime } from "./runtimes.js";
import { generate, perplexity, windows, type GenerateOptions, type Generation, type PerplexityOptions, type PerplexityResult } from "../model/runtime/eval.js";
import { kvCacheStudy, parseKvCacheSpec, type KvCacheSpec, type KvQuantSpec, type KvReport } from "../model/runtime/kvcache.js";
import type { LlamaConfig, LlamaModel } from "../model/llama.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { describeEstimate, estimateEval, estimateQuantizeModel, type MemoryEstimate } from "../model/formats/memory.js";
import { openModelSource } from "../model/formats/source.js";
import { quantizerFor, type MethodSpec } from "../model/quantize/methods.js";
import { calibrationWindows, quantizeModel as quantizeLayers, type QuantizedModel } from "../model/quantize/workflow.js";

export { loadModel } from "../model/formats/load.js";
export { quantizationStudy, PAPER_SPECS, StudyTable } from "../model/quantize/study.js";
export { parameterCount } from "../model/llama.js";
export type { LlamaModel, LlamaConfig } from "../model/llama.js";
export type { MethodSpec } from "../model/quantize/methods.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The model QuantLab ships (trained by scripts/train-model.ts on State of the Union addresses).
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * ```
 */
export function projectModelPath(): string {
  return join(root, "data", "sotu-llama.gguf");
}

/**
 * A file of the shared test data (QUANTLAB_SHARED_DATA, default ../shared/data beside the checkout).
 * @example
 * ```ts
 * sharedModelPath("stories260K-f32.gguf")
 * ```
 */
export function sharedModelPath(name = "stories260K-f32.gguf"): string {
  const p = join(resolve(process.env.QUANTLAB_SHARED_DATA ?? join(root, "..", "shared", "data")), name);
  check(existsSync(p), "NOT_FOUND", `${p} does not exist: set QUANTLAB_SHARED_DATA to the folder holding ${name}`);
  return p;
}

function tokenizerOf(m: LlamaModel) {
  check(m.tokenizer, "BAD_ARGUMENT", `${m.source} has no tokenizer: pass token ids, or load a GGUF that carries its vocabulary`);
  return m.tokenizer;
}

/**
 * Greedy (or sampled, with temperature) continuation of a prompt; "" starts from BOS.
 * @example
 * ```ts
 * await generateText(await loadModel(projectModelPath()), "The state of the Union", { maxTokens: 12 })
 * ```
 */
export async function generateText(m: LlamaModel, prompt = "", opts: GenerateOptions = {}): Promise<Generation> {
  const tok = tokenizerOf(m);
  return withRuntime(m, (rt) => generate(rt, tok, prompt, opts));
}

/**
 * Perplexity over a text (BOS-led windows of the context length), with the token count.
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * await perplexityOf(m, courseText(m, 0, 2000))
 * ```
 */
export async function perplexityOf(m: LlamaModel, text: string | number[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const tok = typeof text === "string" ? tokenizerOf(m) : { bos: m.tokenizer?.bos ?? 1 };
  return withRuntime(m, (rt) => perplexity(rt, tok, text, opts));
}

/**
 * Quantizes every linear layer, layer by layer (later layers calibrate on earlier layers' quantized outputs,
 * as GPTQ does), with one method; the result carries per-layer errors and the quantized model.
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * await quantizeModel(m, { method: "gptq", bits: 4, groupSize: 32 }, courseText(m, 0, 4000), { windows: 2, length: 64 })
 * ```
 */
export async function quantizeModel(
  m: LlamaModel,
  spec: MethodSpec,
  calibText: string | number[],
  opts: { windows?: number; length?: number } = {},
): Promise<QuantizedModel> {
  const tok = tokenizerOf(m);
  const ids = typeof calibText === "string" ? tok.encode(calibText) : calibText;
  const calib = calibrationWindows(ids, tok.bos, opts.windows ?? 16, Math.min(opts.length ?? 128, m.config.contextLength));
  return quantizeLayers(m, { calibration: calib, quantizer: quantizerFor(spec) });
}

/**
 * A job's peak memory estimate, as the CLI prints it before it starts (`.total` in bytes).
 * @example
 * ```ts
 * (await memoryEstimate(await loadModel(projectModelPath()), "eval")).total / 2 ** 20   // MB
 * ```
 */
export class MemoryReport {
  constructor(readonly estimate: MemoryEstimate) {}
  get total(): number {
    return this.estimate.total;
  }
  [DISPLAY](): MimeBundle {
    return { "text/plain": describeEstimate(this.estimate) };
  }
}

/**
 * What `quantlab eval` or `quantlab quantize-model` will hold at its peak for a model — loaded, or a
 * checkpoint's path (a Hub download: only its header is read) — from its shape alone: both run layer-major,
 * so the estimate is one layer, the head and the activations, not the model.
 * @example
 * ```ts
 * await memoryEstimate(await loadModel(projectModelPath()), "quantize-model", { calibWindows: 128, calibLength: 512 })
 * ```
 */
export async function memoryEstimate(m: LlamaModel | string, job: "eval" | "quantize-model",
  opts: { window?: number; tokens?: number; calibWindows?: number; calibLength?: number; method?: "gptq" | "awq" | "rtn" | "gguf"; bits?: number } = {}): Promise<MemoryReport> {
  let c: LlamaConfig, tied: boolean;
  if (typeof m === "string") {
    const src = await openModelSource(m);
    try {
      c = src.llama().config;
      tied = !src.tensors.some((t) => t.name === "output.weight");
    } finally {
      await src.close();
    }
  } else {
    c = m.config;
    tied = m.output === null;
  }
  const window = Math.min(opts.window ?? c.contextLength, c.contextLength);
  if (job === "eval") return new MemoryReport(estimateEval(c, tied, window, opts.tokens ?? window));
  check(job === "quantize-model", "BAD_ARGUMENT", `memoryEstimate knows the jobs "eval" and "quantize-model", not "${String(job)}"`);
  const method = opts.method ?? "gptq";
  return new MemoryReport(estimateQuantizeModel(c, tied, {
    windows: opts.calibWindows ?? 16, length: Math.min(opts.calibLength ?? 128, c.contextLength), hessian: method === "gptq" || method === "awq",
    bits: method === "gguf" ? 8 : opts.bits ?? 4, evalWindow: window, evalTokens: opts.tokens ?? window,
  }));
}

/**
 * KV-cache quantization: bytes per token, K/V and attention errors, perplexity and KLD from the FP32
 * cache, per spec: one format and granularity for both, or keys and values apart with KIVI's window,
 * keys before RoPE or rotated keys (the `--kv-cache` strings).
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * await kvStudy(m, courseText(m, 0, 1500), [
 *   { format: "INT8", granularity: "token" },
 *   "int4:channel,int4:token,window=32",
 *   "fp8-e4m3:head,fp8-e4m3:head",
 * ], { maxTokens: 128 })
 * ```
 */
export async function kvStudy(m: LlamaModel, text: string | number[], specs: (KvQuantSpec | KvCacheSpec | string)[], opts: { maxTokens?: number; window?: number } = {}): Promise<KvReport> {
  const tok = m.tokenizer;
  const ids = typeof text === "string" ? tokenizerOf(m).encode(text) : text;
  const bos = tok?.bos ?? 1;
  const parsed = specs.map((s) => (typeof s === "string" ? parseKvCacheSpec(s) : s));
  return withRuntime(m, (rt) => kvCacheStudy(rt, windows(ids, bos, opts.window ?? m.config.contextLength, opts.maxTokens ?? 4096), parsed, bos));
}
