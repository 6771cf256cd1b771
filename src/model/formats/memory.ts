/**
 * Memory honesty: what a whole-model job will hold at its peak, estimated from the checkpoint's header
 * before anything is read, and a refusal in one line when that exceeds the budget (`--max-memory`,
 * default the machine's free memory) — instead of a crash an hour in.
 *
 * The estimates follow what the code keeps alive (a few hundred MB of error either way; they are for
 * "will it fit", not accounting):
 * - `gguf quantize` streams a block of rows at a time (src/gguf/model-quantize.ts, at most 64 MiB of FP32):
 *   the largest block as stored, as FP32 with the conversion's temporary copy, and its encoding — set by
 *   the widest row, not by the largest tensor; a source that cannot read by offset holds its tensor whole.
 * - `eval` runs layer-major (src/model/runtime/layer-major.ts): one layer (or the head) on its way to the
 *   tfjs heap, every window's hidden states, and one window's activations (logits and their log-softmax,
 *   attention scores, layer temporaries) — not the model.
 * - `quantize-model` runs layer-major too: one layer, the calibration hidden states and the block's stage
 *   outputs, GPTQ's Hessian (float64, in × in) and its factors, the finished layer as it is stored; the
 *   whole model only for writers that need it at once.
 */
import { freemem } from "node:os";
import { GEMM_BLOCK_ROWS } from "../../backend/gemm.js";
import { check } from "../../errors.js";
import { ROW_CHUNK_BYTES } from "../../gguf/model-quantize.js";
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

export interface GgufQuantizeMemory {
  /** FP32 bytes per block of rows (ModelQuantizeOptions.rowChunkBytes; default ROW_CHUNK_BYTES). */
  rowChunkBytes?: number;
  /** The source reads rows by offset (TensorSource.readRows; default true): otherwise each tensor is read whole. */
  byRows?: boolean;
}

/**
 * `gguf quantize` (streamed): one block of rows at a time; `outputBytes` per tensor from the plan, when
 * known. Per block: its stored bytes, its FP32 values and the conversion's temporary copy, its encoding.
 */
export function estimateGgufQuantize(tensors: readonly SourceTensor[], outputBytes?: readonly number[], opts: GgufQuantizeMemory = {}): MemoryEstimate {
  const limit = opts.rowChunkBytes ?? ROW_CHUNK_BYTES;
  let weights = 0, out = 0;
  tensors.forEach((t, i) => {
    const cols = t.dims[0] ?? 1, rows = elementsOf(t) / Math.max(1, cols);
    const block = Math.min(rows, Math.max(1, Math.floor(limit / (4 * cols))));
    const part = rows > 0 ? block / rows : 0;
    const whole = opts.byRows === false ? t.nbytes : 0;
    weights = Math.max(weights, whole + part * (t.nbytes + 2 * elementsOf(t) * 4));
    out = Math.max(out, part * (outputBytes?.[i] ?? t.nbytes));
  });
  return estimate("gguf quantize", { weights: Math.ceil(weights), activations: 0, hessians: 0, output: Math.ceil(out) }, BASELINE);
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

/** FP32 bytes of one decoder layer's weights. */
export function llamaLayerBytes(c: LlamaConfig): number {
  const kv = (c.dim / c.nHeads) * c.nKvHeads;
  return 4 * (2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.dim * c.hiddenDim + 2 * c.dim);
}

/**
 * A layer-major runtime's weights at their peak: the largest of one layer and the head (the output
 * projection, or the embedding while windows are embedded), each held three times while it is uploaded
 * (as read, transposed, and on the tfjs heap).
 */
function layerMajorWeights(c: LlamaConfig): number {
  return 3 * Math.max(llamaLayerBytes(c), 4 * c.vocabSize * c.dim);
}

/**
 * `eval` (layer-major): one layer or the head on its way up, every window's hidden states
 * (`tokens` + one BOS per window, × dim) and one window's activations.
 */
export function estimateEval(c: LlamaConfig, _tied: boolean, window: number, tokens = window): MemoryEstimate {
  // a tied head is the embedding, the same size as an output projection: `_tied` changes nothing here
  const positions = tokens + Math.ceil(tokens / Math.max(1, window - 1));
  return estimate("eval", { weights: layerMajorWeights(c), activations: 4 * positions * c.dim + forwardActivations(c, window), hessians: 0, output: 0 });
}

export interface QuantizeModelShape {
  /** Calibration windows × positions each. */
  windows: number;
  length: number;
  /** Whether the method builds a Hessian per linear group (GPTQ, AWQ's search also captures inputs). */
  hessian: boolean;
  /** Bits per weight of the output (for the layer being stored). */
  bits: number;
  /** Positions per evaluation window at the end. */
  evalWindow: number;
  /** Evaluation tokens (default one window). */
  evalTokens?: number;
  /** The writer needs the whole quantized model in memory (Hugging Face layouts, AWQ into GGUF, --safetensors). */
  wholeModel?: boolean;
}

/**
 * `quantize-model` (layer-major): one layer in flight, the calibration hidden states with one scratch for
 * the block's stage outputs, the evaluation windows' states, GPTQ's Hessian, and the finished layer as it
 * is stored; the whole model only when the writer needs it.
 */
export function estimateQuantizeModel(c: LlamaConfig, tied: boolean, s: QuantizeModelShape): MemoryEstimate {
  const widest = Math.max(c.dim, c.hiddenDim);
  const positions = s.windows * s.length;
  // the residual stream and one scratch as wide as the widest linear input (workflow.ts reuses both for
  // every layer), plus the GEMM's copy of one Gram block of rows
  const stages = 4 * positions * (c.dim + widest) + 4 * Math.min(positions, GEMM_BLOCK_ROWS) * widest;
  const evalTokens = s.evalTokens ?? s.evalWindow;
  const activations = stages + forwardActivations(c, Math.max(s.length, s.evalWindow)) + 4 * (evalTokens + Math.ceil(evalTokens / Math.max(1, s.evalWindow - 1))) * c.dim;
  // the widest input's Hessian (float32, shared by its group), GPTQ's damped copy, its Cholesky factor,
  // the factor's inverse and the U it gives
  const hessians = s.hessian ? 5 * 4 * widest * widest : 0;
  // the layer's file in the work folder: dequantized FP32, 16-bit codes, the encoded tensor
  const layer = llamaLayerBytes(c);
  const output = layer * (1 + 0.5 + s.bits / 32) + (s.wholeModel ? 2 * llamaParameterBytes(c, tied) : 0);
  return estimate("quantize-model", { weights: layerMajorWeights(c), activations, hessians, output });
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
