/**
 * A model seen one decoder layer at a time: what layer-major passes (layer-major.ts: eval, the
 * quantization workflow) read. Two homes for the weights: a model already in memory (`modelLayers`,
 * the notebook's path) and a checkpoint opened from its header (`sourceLayers`), where each layer is
 * read from the file in FP32 only when asked and the embedding only while the windows are embedded —
 * so a job holds one layer, not the model.
 */
import { check } from "../../errors.js";
import { readF32, sourceTensor } from "../../gguf/source.js";
import { tensorElements } from "../../gguf/file.js";
import type { HeadRows } from "./gemm-forward.js";
import { dequantize, dequantizeInto } from "../../gguf/quants.js";
import { ggufType, type GgufTypeName } from "../../gguf/types.js";
import type { Matrix } from "../../numerics/matrix.js";
import { LLAMA_TENSOR } from "../formats/source.js";
import { halfToInterleavedOrder, headDim, LINEAR_NAMES, permuteRows, type LinearName, type LlamaConfig, type LlamaLayer, type LlamaModel, type ModelSource } from "../llama.js";

export interface LayerSource {
  /** The config (with `ropeFreqFactors` when the checkpoint has them). */
  readonly config: LlamaConfig;
  /** Each window's [T × dim] FP32 embeddings (the embedding table is only held while this runs). */
  embed(windows: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Layer i's weights in FP32 (rows = outputs, RoPE rows interleaved); a fresh copy the caller may change. */
  layer(i: number): Promise<LlamaLayer>;
  /** The final norm and the output projection (vocab × dim: the embedding when tied). */
  head(): Promise<{ outputNorm: Float32Array; output: Matrix }>;
  /** The same head decoded a chunk of rows at a time, for the GEMM's head (no whole FP32 copy). */
  headRows?(): Promise<HeadRows>;
}

function checkIds(tokens: readonly number[], vocabSize: number): void {
  for (const id of tokens) check(Number.isInteger(id) && id >= 0 && id < vocabSize, "BAD_ARGUMENT", `token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
}

/** Rows `tokens` of a vocab × dim table whose row r is `row(r)`. */
function gather(tokens: readonly number[], dim: number, row: (r: number) => Float32Array): Float32Array {
  const out = new Float32Array(tokens.length * dim);
  tokens.forEach((id, t) => out.set(row(id), t * dim));
  return out;
}

const copyLayer = (l: LlamaLayer): LlamaLayer => ({
  attnNorm: l.attnNorm.slice(), ffnNorm: l.ffnNorm.slice(),
  ...(Object.fromEntries(LINEAR_NAMES.map((n) => [n, { rows: l[n].rows, cols: l[n].cols, data: l[n].data.slice() }])) as Record<LinearName, Matrix>),
  ...(l.bias ? { bias: Object.fromEntries(Object.entries(l.bias).map(([n, b]) => [n, b.slice()])) } : {}),
});

/** A model in memory as a layer source (layers are copied when asked, so the model is never changed). */
export function modelLayers(m: LlamaModel): LayerSource {
  const { dim, vocabSize } = m.config;
  const E = m.tokenEmbedding.data;
  return {
    config: m.config,
    embed: async (windows) => windows.map((w) => {
      checkIds(w, vocabSize);
      return gather(w, dim, (r) => E.subarray(r * dim, (r + 1) * dim));
    }),
    layer: async (i) => copyLayer(m.layers[i]!),
    head: async () => ({ outputNorm: m.outputNorm, output: m.output ?? m.tokenEmbedding }),
    headRows: async () => {
      const W = (m.output ?? m.tokenEmbedding).data;
      return { outputNorm: m.outputNorm, vocab: vocabSize, rows: (r0, r1, out, at) => out.set(W.subarray(r0 * dim, r1 * dim), at) };
    },
  };
}

/**
 * A checkpoint's Llama tensors as FP32 by GGUF name, with Hugging Face's half-split q/k rows permuted
 * to interleaved pairs as they are read: the one reader of `runtimeFromSource` and `sourceLayers`.
 */
export async function llamaTensorReader(source: ModelSource): Promise<{ config: LlamaConfig; names: ReadonlySet<string>; read(name: string): Promise<Float32Array> }> {
  const { config: base, halfSplitRope } = source.llama();
  const names = new Set(source.tensors.filter((t) => LLAMA_TENSOR.test(t.name)).map((t) => t.name));
  const config = names.has("rope_freqs.weight") ? { ...base, ropeFreqFactors: await readF32(source, "rope_freqs.weight") } : base;
  const heads = (name: string) => (/\.attn_q\.(weight|bias)$/.test(name) ? config.nHeads : /\.attn_k\.(weight|bias)$/.test(name) ? config.nKvHeads : 0);
  const read = async (name: string) => {
    const x = await readF32(source, name);
    const h = halfSplitRope ? heads(name) : 0;
    if (!h) return x;
    const rows = name.endsWith(".bias") ? x.length : name.includes("attn_q") ? config.dim : headDim(config) * config.nKvHeads;
    const order = halfToInterleavedOrder(rows, h);
    return new Float32Array(permuteRows(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), (x.length / rows) * 4, order).buffer);
  };
  return { config, names, read };
}

/** Rows × cols of each linear of a layer under `c`. */
export function linearShapes(c: LlamaConfig): Record<LinearName, [number, number]> {
  const kv = headDim(c) * c.nKvHeads;
  return {
    attn_q: [c.dim, c.dim], attn_k: [kv, c.dim], attn_v: [kv, c.dim], attn_output: [c.dim, c.dim],
    ffn_gate: [c.hiddenDim, c.dim], ffn_up: [c.hiddenDim, c.dim], ffn_down: [c.dim, c.hiddenDim],
  };
}

/** A checkpoint opened from its header as a layer source: each read goes to the file. */
export async function sourceLayers(source: ModelSource): Promise<LayerSource> {
  const { config, names, read } = await llamaTensorReader(source);
  const shapes = linearShapes(config);
  const get = async (name: string, length: number) => {
    check(names.has(name), "BAD_FILE", `${source.label} has no tensor '${name}' (a Llama model with ${config.nLayers} layers needs it)`);
    const x = await read(name);
    check(x.length === length, "BAD_FILE", `${source.label}: tensor '${name}' holds ${x.length} values, the config needs ${length}`);
    return x;
  };
  const { dim, vocabSize } = config;
  return {
    config,
    embed: async (windows) => {
      for (const w of windows) checkIds(w, vocabSize);
      // rows decoded from the stored type one token at a time: an F16 or Q8_0 table is never held in FP32
      const t = sourceTensor(source, "token_embd.weight");
      const type = ggufType(t.type.name);
      check(type, "UNSUPPORTED", `token_embd.weight of ${source.label} is ${t.type.name}, which QuantLab cannot decode`);
      check(t.nbytes % vocabSize === 0, "BAD_FILE", `token_embd.weight of ${source.label} does not split into ${vocabSize} rows`);
      const bytes = await source.read("token_embd.weight");
      const rowBytes = t.nbytes / vocabSize;
      return windows.map((w) => gather(w, dim, (r) => dequantize(type.name as GgufTypeName, bytes.subarray(r * rowBytes, (r + 1) * rowBytes), dim)));
    },
    layer: async (i) => {
      const b = `blk.${i}.`;
      const l = { attnNorm: await get(b + "attn_norm.weight", dim), ffnNorm: await get(b + "ffn_norm.weight", dim) } as LlamaLayer;
      for (const n of LINEAR_NAMES) {
        const [rows, cols] = shapes[n];
        l[n] = { rows, cols, data: await get(`${b}${n}.weight`, rows * cols) };
        if (names.has(`${b}${n}.bias`)) (l.bias ??= {})[n] = await get(`${b}${n}.bias`, rows);
      }
      return l;
    },
    head: async () => ({
      outputNorm: await get("output_norm.weight", dim),
      output: { rows: vocabSize, cols: dim, data: await get(names.has("output.weight") ? "output.weight" : "token_embd.weight", vocabSize * dim) },
    }),
    headRows: async () => {
      const outputNorm = await get("output_norm.weight", dim);
      const name = names.has("output.weight") ? "output.weight" : "token_embd.weight";
      const t = sourceTensor(source, name);
      const type = ggufType(t.type.name);
      check(type, "UNSUPPORTED", `${name} of ${source.label} is ${t.type.name}, which QuantLab cannot decode`);
      check(t.nbytes % vocabSize === 0 && tensorElements(t.dims) === vocabSize * dim, "BAD_FILE", `${name} of ${source.label} is not ${vocabSize} rows of ${dim}`);
      // the stored bytes (Q6_K: 0.8 bytes a weight) are held, each chunk of rows decoded when multiplied
      const bytes = await source.read(name);
      const rowBytes = t.nbytes / vocabSize;
      return {
        outputNorm, vocab: vocabSize,
        rows: (r0, r1, out, at) => { dequantizeInto(type.name as GgufTypeName, bytes.subarray(r0 * rowBytes, r1 * rowBytes), (r1 - r0) * dim, out.subarray(at)); },
      };
    },
  };
}
