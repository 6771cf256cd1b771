/**
 * Builds a LlamaModel from parsed GGUF metadata and tensors (any version the reader accepts; quantized
 * tensors arrive dequantized to FP32 through the reader's `tensorF32`). Keys follow llama.cpp's
 * `llama.*` / `tokenizer.ggml.*` names; q/k weights are taken as stored, since GGUF already holds them in
 * llama.cpp's interleaved-pair rotary layout (its converters permute Hugging Face weights on the way in).
 */
import { check, QuantLabError } from "../../errors.js";
import { matrix } from "../../numerics/matrix.js";
import { LINEAR_NAMES, validateModel, type LlamaConfig, type LlamaLayer, type LlamaModel } from "../llama.js";
import { Tokenizer } from "./tokenizer.js";

export interface GgufLike {
  version: number;
  metadata: Map<string, unknown>;
  tensors: { name: string; dims: number[] | readonly number[] }[];
}

/** A metadata value, unwrapping `{ type, value }` records if the reader keeps types alongside values. */
export function metaValue(file: GgufLike, key: string): unknown {
  const v = file.metadata.get(key);
  if (v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v) && "value" in (v as object)) {
    return (v as { value: unknown }).value;
  }
  return typeof v === "bigint" ? Number(v) : v;
}

function metaNum(file: GgufLike, key: string, fallback?: number): number {
  const v = metaValue(file, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new QuantLabError("BAD_FILE", `GGUF metadata has no '${key}': this is not a complete Llama-family model file`);
  }
  const n = Number(v);
  check(Number.isFinite(n), "BAD_FILE", `GGUF metadata '${key}' is ${String(v)}, expected a number`);
  return n;
}

export function ggufConfig(file: GgufLike): LlamaConfig {
  const arch = String(metaValue(file, "general.architecture") ?? "");
  check(arch === "llama", "UNSUPPORTED",
    `general.architecture is '${arch}': this loader reads Llama-family models (architecture 'llama')`);
  const p = "llama.";
  const dim = metaNum(file, p + "embedding_length");
  const emb = file.tensors.find((t) => t.name === "token_embd.weight");
  check(emb, "BAD_FILE", "the GGUF file has no token_embd.weight tensor");
  const nHeads = metaNum(file, p + "attention.head_count");
  return {
    dim,
    hiddenDim: metaNum(file, p + "feed_forward_length"),
    nLayers: metaNum(file, p + "block_count"),
    nHeads,
    nKvHeads: metaNum(file, p + "attention.head_count_kv", nHeads),
    vocabSize: Number(emb.dims[1]),
    contextLength: metaNum(file, p + "context_length", 2048),
    rmsEps: metaNum(file, p + "attention.layer_norm_rms_epsilon", 1e-5),
    ropeTheta: metaNum(file, p + "rope.freq_base", 10000),
  };
}

export function ggufTokenizer(file: GgufLike): Tokenizer | null {
  const tokens = metaValue(file, "tokenizer.ggml.tokens") as string[] | undefined;
  if (!tokens) return null;
  const model = String(metaValue(file, "tokenizer.ggml.model") ?? "llama");
  check(model === "llama", "UNSUPPORTED",
    `tokenizer.ggml.model is '${model}': only SentencePiece-style ('llama') vocabularies are supported; pass token ids instead`);
  const scores = (metaValue(file, "tokenizer.ggml.scores") as ArrayLike<number> | undefined) ?? new Float32Array(tokens.length);
  const types = metaValue(file, "tokenizer.ggml.token_type") as ArrayLike<number> | undefined;
  const addPrefix = metaValue(file, "tokenizer.ggml.add_space_prefix");
  return new Tokenizer({
    pieces: Array.from(tokens),
    scores: Array.from(scores),
    types,
    bos: metaNum(file, "tokenizer.ggml.bos_token_id", 1),
    eos: metaNum(file, "tokenizer.ggml.eos_token_id", 2),
    unk: metaNum(file, "tokenizer.ggml.unknown_token_id", 0),
    addSpacePrefix: addPrefix === undefined ? true : Boolean(addPrefix),
  });
}

/** `tensor(name)` returns a tensor's values as FP32 (dequantized), row-major with dims[0] as the row length. */
export function modelFromGguf(file: GgufLike, tensor: (name: string) => Float32Array, source: string): LlamaModel {
  const config = ggufConfig(file);
  const has = new Set(file.tensors.map((t) => t.name));
  const need = (name: string) => {
    check(has.has(name), "BAD_FILE", `the GGUF file has no tensor '${name}' (a Llama model with ${config.nLayers} layers needs it)`);
    return tensor(name);
  };
  const mat = (name: string, rows: number, cols: number) => matrix(rows, cols, need(name));
  const { dim, hiddenDim, nKvHeads, nHeads, vocabSize } = config;
  const kv = (dim / nHeads) * nKvHeads;
  const shapes: Record<(typeof LINEAR_NAMES)[number], [number, number]> = {
    attn_q: [dim, dim], attn_k: [kv, dim], attn_v: [kv, dim], attn_output: [dim, dim],
    ffn_gate: [hiddenDim, dim], ffn_up: [hiddenDim, dim], ffn_down: [dim, hiddenDim],
  };
  const layers: LlamaLayer[] = [];
  for (let i = 0; i < config.nLayers; i++) {
    const b = `blk.${i}.`;
    const l = { attnNorm: need(b + "attn_norm.weight"), ffnNorm: need(b + "ffn_norm.weight") } as LlamaLayer;
    for (const n of LINEAR_NAMES) l[n] = mat(`${b}${n}.weight`, ...shapes[n]);
    layers.push(l);
  }
  const model: LlamaModel = {
    config,
    tokenEmbedding: mat("token_embd.weight", vocabSize, dim),
    layers,
    outputNorm: need("output_norm.weight"),
    output: has.has("output.weight") ? mat("output.weight", vocabSize, dim) : null,
    tokenizer: ggufTokenizer(file),
    source: `${source} (GGUF v${file.version})`,
  };
  validateModel(model);
  return model;
}
