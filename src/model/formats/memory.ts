/**
 * Memory honesty: what a whole-model job will hold at its peak, estimated from the checkpoint's header
 * before anything is read, and a refusal in one line when that exceeds the budget (`--max-memory`,
 * default the machine's free memory) — instead of a crash an hour in.
 *
 * The estimates follow what the code keeps alive (a few hundred MB of error either way; they are for
 * "will it fit", not accounting):
 * - `gguf quantize` streams: the largest tensor as stored, as FP32, the quantizer's working copy (the
 *   WebAssembly heap keeps its high-water mark) and its encoded output.
 * - `eval`: the weights on the tfjs heap (plus a transposed head when tied), uploaded one tensor at a time,
 *   and one window's activations (logits and their log-softmax, attention scores, layer temporaries).
 * - `quantize-model`: the model, its clone being quantized and one runtime; the captured calibration
 *   inputs of the widest linear group; GPTQ's Hessian (float64, in × in) and its factors; the output in
 *   memory until it is written; then two scoring runtimes one after the other.
 */
import { freemem } from "node:os";
import { check } from "../../errors.js";
import type { SourceTensor } from "../../gguf/source.js";
import type { LlamaConfig } from "../llama.js";

/** What Node and the GGUF kernels take before any tensor (measured ≈ 100–150 MB). */
const BASELINE = 150 * 2 ** 20;
/** The same with tfjs and its WebAssembly heap, the text and its tokens (stories260K's eval peaks at ≈ 280 MB). */
const RUNTIME_BASELINE = 260 * 2 ** 20;

export interface MemoryEstimate {
  job: string;
  weights: number;
  activations: number;
  hessians: number;
  output: number;
  total: number;
}

const elementsOf = (t: Pick<SourceTensor, "dims">) => t.dims.reduce((a, b) => a * b, 1);

function estimate(job: string, parts: Omit<MemoryEstimate, "job" | "total">, baseline = RUNTIME_BASELINE): MemoryEstimate {
  const total = baseline + parts.weights + parts.activations + parts.hessians + parts.output;
  return { job, ...parts, total };
}

/** `gguf quantize` (streamed): one tensor at a time; `outputBytes` per tensor from the plan, when known. */
export function estimateGgufQuantize(tensors: readonly SourceTensor[], outputBytes?: readonly number[]): MemoryEstimate {
  let stored = 0, f32 = 0, out = 0;
  tensors.forEach((t, i) => {
    stored = Math.max(stored, t.nbytes);
    f32 = Math.max(f32, elementsOf(t) * 4);
    out = Math.max(out, outputBytes?.[i] ?? t.nbytes);
  });
  return estimate("gguf quantize", { weights: stored + 2 * f32, activations: 0, hessians: 0, output: out }, BASELINE);
}

/** FP32 bytes of a Llama model's parameters, from its config (tied: one embedding). */
export function llamaParameterBytes(c: LlamaConfig, tied: boolean): number {
  const kv = (c.dim / c.nHeads) * c.nKvHeads;
  const perLayer = 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim + 2 * c.dim;
  return 4 * (c.nLayers * perLayer + c.vocabSize * c.dim * (tied ? 1 : 2) + c.dim);
}

/** Activations of one forward pass over `T` positions (logits and log-softmax, attention, block temporaries). */
function forwardActivations(c: LlamaConfig, T: number): number {
  return 4 * (3 * T * c.vocabSize + 3 * c.nHeads * T * T + 8 * T * Math.max(c.dim, c.hiddenDim));
}

/** A runtime's tfjs copy: the weights, plus a transposed head when the output is tied to the embedding. */
function runtimeBytes(c: LlamaConfig, tied: boolean): number {
  return llamaParameterBytes(c, tied) + (tied ? 4 * c.vocabSize * c.dim : 0);
}

/** `eval`: the runtime, uploaded tensor by tensor (one FP32 tensor in flight), and one window of `window` positions. */
export function estimateEval(c: LlamaConfig, tied: boolean, window: number): MemoryEstimate {
  const largest = 4 * Math.max(c.vocabSize * c.dim, c.hiddenDim * c.dim);
  return estimate("eval", { weights: runtimeBytes(c, tied) + largest, activations: forwardActivations(c, window), hessians: 0, output: 0 });
}

export interface QuantizeModelShape {
  /** Calibration windows × positions each. */
  windows: number;
  length: number;
  /** Whether the method builds a Hessian per linear group (GPTQ, AWQ's search also captures inputs). */
  hessian: boolean;
  /** Bits per weight of the output (for the in-memory GGUF before it is written). */
  bits: number;
  /** Positions per evaluation window at the end. */
  evalWindow: number;
}

/** `quantize-model`: two FP32 copies and a runtime, the calibration activations, the Hessian, the output. */
export function estimateQuantizeModel(c: LlamaConfig, tied: boolean, s: QuantizeModelShape): MemoryEstimate {
  const params = llamaParameterBytes(c, tied);
  const widest = Math.max(c.dim, c.hiddenDim);
  const positions = s.windows * s.length;
  // the hidden states between layers, the captured group input (as tensors and concatenated) and one block's temporaries
  const activations = 4 * positions * (2 * c.dim + 2 * widest) + forwardActivations(c, s.length);
  // float64 Hessian of the widest input, with its damped copy and Cholesky factor
  const hessians = s.hessian ? 3 * 8 * widest * widest : 0;
  const linear = params - 4 * c.vocabSize * c.dim * (tied ? 1 : 2);
  const output = (linear * s.bits) / 32 + 4 * c.vocabSize * c.dim * (tied ? 1 : 2);
  return estimate("quantize-model", { weights: 2 * params + runtimeBytes(c, tied), activations: Math.max(activations, forwardActivations(c, s.evalWindow)), hessians, output });
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 };

/** `--max-memory` as bytes ("24G", "512MB", "1.5GiB", plain bytes); default: the machine's free memory. */
export function memoryBudget(flag?: string): number {
  if (flag === undefined) return freemem();
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(flag);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  check(m && unit !== undefined && Number(m[1]) > 0, "BAD_ARGUMENT",
    `--max-memory ${flag} is not a size: give bytes or a number with a unit, e.g. 24G, 512M, 1.5GiB`);
  return Number(m[1]) * unit;
}

const gb = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GB` : `${Math.max(1, Math.round(n / 2 ** 20))} MB`);

/** One line: the job's peak estimate and its parts, against the budget. */
export function describeEstimate(e: MemoryEstimate, budget?: number): string {
  const parts = [["weights", e.weights], ["activations", e.activations], ["Hessians", e.hessians], ["output", e.output]] as const;
  return `${e.job} needs about ${gb(e.total)} (${parts.filter(([, v]) => v > 0).map(([k, v]) => `${k} ${gb(v)}`).join(", ")})` +
    (budget === undefined ? "" : ` of ${gb(budget)} available`);
}

/** Refuses, in one line that says what to change, a job whose estimate exceeds the budget. */
export function checkFits(e: MemoryEstimate, budget: number, hint: string): void {
  check(e.total <= budget, "UNSUPPORTED", () =>
    `${describeEstimate(e)}, more than the ${gb(budget)} available (--max-memory): ${hint}`);
}
