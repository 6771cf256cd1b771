/**
 * A Llama-family model as plain typed arrays: the one in-memory shape every loader (GGUF, safetensors,
 * llama2.c) produces and the forward pass, the quantization workflow and the writers consume.
 * Linear weights are row-major `out × in` matrices (as GGUF and PyTorch store them). Rotary embeddings
 * always act on interleaved pairs (x[2i], x[2i+1]) — llama.cpp's "normal" RoPE — so loaders of
 * half-split (Hugging Face) checkpoints permute q/k rows on load, as llama.cpp's converter does.
 */
import { check } from "../errors.js";
import type { Matrix } from "../numerics/matrix.js";
import type { TensorSource } from "../gguf/source.js";
import type { Tokenizer } from "./formats/tokenizer.js";

/** The shape of a Llama-family model: sizes, heads (fewer KV heads = grouped-query attention), RoPE and norm settings. */
export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  contextLength: number;
  rmsEps: number;
  ropeTheta: number;
  /**
   * Per-pair divisors of the rotary frequencies (headDim / 2 values), as llama.cpp's `rope_freqs.weight`:
   * Llama 3.x's `rope_scaling` of type `llama3` stretches the low frequencies this way. Absent: plain RoPE.
   */
  ropeFreqFactors?: Float32Array;
}

/** The linear layers of one block, by their GGUF short names. */
export const LINEAR_NAMES = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];

export interface LlamaLayer {
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  attn_q: Matrix;
  attn_k: Matrix;
  attn_v: Matrix;
  attn_output: Matrix;
  ffn_gate: Matrix;
  ffn_up: Matrix;
  ffn_down: Matrix;
  /** Additive biases of linear layers by name (Qwen2's q/k/v projections); absent for bias-free layers. */
  bias?: Partial<Record<LinearName, Float32Array>>;
}

/** A loaded Llama-family model: its config, FP32 weights per layer (rows = output features), tokenizer and source. */
export interface LlamaModel {
  config: LlamaConfig;
  /** vocab × dim. */
  tokenEmbedding: Matrix;
  layers: LlamaLayer[];
  outputNorm: Float32Array;
  /** vocab × dim; `null` when tied to the embedding. */
  output: Matrix | null;
  tokenizer: Tokenizer | null;
  /** Where it came from, for display ("stories260K-f32.gguf (GGUF v1)"). */
  source: string;
  /**
   * Each tensor's ggml type as the file stores it, by GGUF name (e.g. "blk.0.attn_q.weight" → "Q4_K"):
   * what llama.cpp multiplies by. Absent for models built or changed in memory.
   */
  storedTypes?: ReadonlyMap<string, string>;
}

export function headDim(c: LlamaConfig): number {
  return c.dim / c.nHeads;
}

/**
 * Number of parameters (tied output counted once).
 * @example
 * ```ts
 * parameterCount(await loadModel(projectModelPath()))   // ≈ 0.23 M for QuantLab's own model
 * ```
 */
export function parameterCount(m: LlamaModel): number {
  let n = m.tokenEmbedding.data.length + m.outputNorm.length + (m.output ? m.output.data.length : 0);
  for (const l of m.layers) {
    n += l.attnNorm.length + l.ffnNorm.length;
    for (const k of LINEAR_NAMES) n += l[k].data.length + (l.bias?.[k]?.length ?? 0);
  }
  return n;
}

/** Checks that every tensor has the shape the config implies; names the first one that does not. */
export function validateModel(m: LlamaModel): void {
  const c = m.config;
  check(c.dim % c.nHeads === 0, "BAD_FILE", `dim ${c.dim} is not a multiple of the head count ${c.nHeads}`);
  check(c.nHeads % c.nKvHeads === 0, "BAD_FILE", `head count ${c.nHeads} is not a multiple of the KV head count ${c.nKvHeads}`);
  check(headDim(c) % 2 === 0, "BAD_FILE", `head dimension ${headDim(c)} is odd: rotary embeddings need pairs`);
  const kv = c.nKvHeads * headDim(c);
  const want = (name: string, mat: Matrix, rows: number, cols: number) =>
    check(mat.rows === rows && mat.cols === cols, "BAD_FILE",
      `${name} is ${mat.rows} × ${mat.cols}, the config (dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nKvHeads} KV heads, vocab ${c.vocabSize}) needs ${rows} × ${cols}`);
  want("token_embd.weight", m.tokenEmbedding, c.vocabSize, c.dim);
  if (m.output) want("output.weight", m.output, c.vocabSize, c.dim);
  check(m.outputNorm.length === c.dim, "BAD_FILE", `output_norm.weight has ${m.outputNorm.length} values, needs ${c.dim}`);
  check(m.layers.length === c.nLayers, "BAD_FILE", `found ${m.layers.length} layers, the config says ${c.nLayers}`);
  m.layers.forEach((l, i) => {
    want(`blk.${i}.attn_q.weight`, l.attn_q, c.dim, c.dim);
    want(`blk.${i}.attn_k.weight`, l.attn_k, kv, c.dim);
    want(`blk.${i}.attn_v.weight`, l.attn_v, kv, c.dim);
    want(`blk.${i}.attn_output.weight`, l.attn_output, c.dim, c.dim);
    want(`blk.${i}.ffn_gate.weight`, l.ffn_gate, c.hiddenDim, c.dim);
    want(`blk.${i}.ffn_up.weight`, l.ffn_up, c.hiddenDim, c.dim);
    want(`blk.${i}.ffn_down.weight`, l.ffn_down, c.dim, c.hiddenDim);
    check(l.attnNorm.length === c.dim && l.ffnNorm.length === c.dim, "BAD_FILE", `blk.${i} norm weights need ${c.dim} values`);
    for (const [n, b] of Object.entries(l.bias ?? {}) as [LinearName, Float32Array][]) {
      check(b.length === l[n].rows, "BAD_FILE", `blk.${i}.${n}.bias has ${b.length} values, its weight has ${l[n].rows} rows`);
    }
  });
  check(c.ropeFreqFactors === undefined || c.ropeFreqFactors.length === headDim(c) / 2, "BAD_FILE", () =>
    `rope_freqs.weight has ${c.ropeFreqFactors!.length} values, the head dimension ${headDim(c)} needs ${headDim(c) / 2}`);
}

/** A deep copy whose linear weights can be replaced without touching the original. */
export function cloneModel(m: LlamaModel): LlamaModel {
  const cp = (x: Matrix): Matrix => ({ rows: x.rows, cols: x.cols, data: x.data.slice() });
  // a copy is made to be changed: the file's types no longer describe it
  const { storedTypes: _stored, ...rest } = m;
  return {
    ...rest,
    config: { ...m.config, ...(m.config.ropeFreqFactors ? { ropeFreqFactors: m.config.ropeFreqFactors.slice() } : {}) },
    tokenEmbedding: cp(m.tokenEmbedding),
    output: m.output ? cp(m.output) : null,
    outputNorm: m.outputNorm.slice(),
    layers: m.layers.map((l) => ({
      attnNorm: l.attnNorm.slice(), ffnNorm: l.ffnNorm.slice(),
      attn_q: cp(l.attn_q), attn_k: cp(l.attn_k), attn_v: cp(l.attn_v), attn_output: cp(l.attn_output),
      ffn_gate: cp(l.ffn_gate), ffn_up: cp(l.ffn_up), ffn_down: cp(l.ffn_down),
      ...(l.bias ? { bias: Object.fromEntries(Object.entries(l.bias).map(([n, b]) => [n, b.slice()])) } : {}),
    })),
  };
}

/**
 * The row order that takes a q/k weight from half-split rotary layout (Hugging Face: pairs (i, i + d/2))
 * to interleaved pairs (2i, 2i+1), head by head — the permutation llama.cpp's converter applies:
 * row `d` of the result is row `order[d]` of the input.
 */
export function halfToInterleavedOrder(rows: number, nHeads: number): Int32Array {
  check(rows % nHeads === 0 && (rows / nHeads) % 2 === 0, "BAD_SHAPE",
    `a q/k weight of ${rows} rows does not split into ${nHeads} heads of an even size: check num_attention_heads and num_key_value_heads`);
  const hd = rows / nHeads, half = hd / 2;
  const order = new Int32Array(rows);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      order[h * hd + 2 * i] = h * hd + i;
      order[h * hd + 2 * i + 1] = h * hd + i + half;
    }
  }
  return order;
}

/**
 * The divisors Llama 3.x's `rope_scaling` (type `llama3`) applies to each rotary frequency, as
 * transformers computes them and llama.cpp's converter stores them (`rope_freqs.weight`): wavelengths
 * shorter than original/high_freq_factor are kept, longer than original/low_freq_factor divided by
 * `factor`, and those between interpolated smoothly.
 */
export function llama3RopeFactors(headDim: number, theta: number, s: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }): Float32Array {
  const lowWave = s.originalContext / s.lowFreqFactor, highWave = s.originalContext / s.highFreqFactor;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) {
    const wave = 2 * Math.PI * Math.pow(theta, (2 * i) / headDim);
    if (wave < highWave) out[i] = 1;
    else if (wave > lowWave) out[i] = s.factor;
    else {
      const smooth = (s.originalContext / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Rows of `rowBytes` bytes each, reordered so row d of the result is row order[d] (any element type). */
export function permuteRows(bytes: Uint8Array, rowBytes: number, order: Int32Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let d = 0; d < order.length; d++) out.set(bytes.subarray(order[d]! * rowBytes, (order[d]! + 1) * rowBytes), d * rowBytes);
  return out;
}

/**
 * Permutes the rows of a q/k weight from half-split rotary layout (Hugging Face: pairs (i, i + d/2))
 * to interleaved pairs (2i, 2i+1), head by head — the same permutation llama.cpp's converter applies.
 */
export function permuteHalfToInterleaved(w: Matrix, nHeads: number): Matrix {
  const order = halfToInterleavedOrder(w.rows, nHeads);
  const bytes = new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength);
  return { rows: w.rows, cols: w.cols, data: new Float32Array(permuteRows(bytes, w.cols * 4, order).buffer) };
}

/** A checkpoint opened from its header (src/model/formats/source.ts opens one by its path): tensors on demand, plus its Llama config and tokenizer. */
export interface ModelSource extends TensorSource {
  readonly format: "GGUF" | "Hugging Face" | "llama2.c";
  /** The Llama config and tokenizer; UNSUPPORTED in one line for another architecture. */
  llama(): { config: LlamaConfig; tokenizer: Tokenizer | null; label: string; halfSplitRope?: boolean };
}
