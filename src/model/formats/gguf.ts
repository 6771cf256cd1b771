/**
 * Builds a LlamaModel from GGUF metadata and tensors, as the container reader (src/gguf/file.ts) gives
 * them (any version; quantized tensors arrive dequantized to FP32). Keys follow llama.cpp's `llama.*` /
 * `tokenizer.ggml.*` names; q/k weights are taken as stored, since GGUF already holds them in llama.cpp's
 * interleaved-pair rotary layout (its converters permute Hugging Face weights on the way in).
 *
 * Every tensor source (GGUF, Hugging Face, llama2.c: see source.ts) speaks these names and dims, so this
 * is the one place a model is assembled from tensors.
 */
import { check, QuantLabError } from "../../errors.js";
import { ggufMeta, type GgufValue } from "../../gguf/file.js";
import { matrix } from "../../numerics/matrix.js";
import { halfToInterleavedOrder, headDim, LINEAR_NAMES, permuteHalfToInterleaved, permuteRows, validateModel, type LlamaConfig, type LlamaLayer, type LlamaModel } from "../llama.js";
import { hfTokenizerFromGguf } from "./hf-tokenizer.js";
import { Tokenizer } from "./tokenizer.js";

/** What the builders read of a GGUF file: its typed metadata and tensor names with dims. */
export interface GgufLike {
  version?: number;
  metadata: Map<string, GgufValue>;
  tensors: readonly { name: string; dims: readonly number[] }[];
}

function metaNum(file: GgufLike, key: string, fallback?: number): number {
  const v = ggufMeta(file, key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new QuantLabError("BAD_FILE", `GGUF metadata has no '${key}': this is not a complete Llama-family model file`);
  }
  const n = typeof v === "number" || typeof v === "bigint" ? Number(v) : NaN;
  check(Number.isFinite(n), "BAD_FILE", `GGUF metadata '${key}' is ${describe(v)}, expected a number`);
  return n;
}

const describe = (v: unknown): string => (Array.isArray(v) || ArrayBuffer.isView(v) ? "an array" : typeof v === "string" ? JSON.stringify(v) : String(v));

/**
 * A numeric metadata array as numbers. 64-bit integer arrays (bigints) are converted when every value
 * is an exactly representable integer; anything else is refused naming the field.
 */
function numberArray(file: GgufLike, key: string, length: number): ArrayLike<number> | undefined {
  const v = ggufMeta(file, key);
  if (v === undefined) return undefined;
  check(ArrayBuffer.isView(v) && !(v instanceof DataView), "BAD_FILE", () => `GGUF metadata '${key}' is ${describe(v)}, not an array of numbers`);
  const n = (v as unknown as ArrayLike<unknown>).length;
  check(n === length, "BAD_FILE", () => `GGUF metadata '${key}' has ${n} values for ${length} tokens: the vocabulary is corrupt`);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) {
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const n = Number(v[i]!);
      check(Number.isSafeInteger(n), "BAD_FILE", () =>
        `GGUF metadata '${key}'[${i}] is ${v[i]}, a 64-bit integer too large to be a token ${key.endsWith("scores") ? "score" : "type"}: the vocabulary is corrupt`);
      out[i] = n;
    }
    return out;
  }
  return v as unknown as ArrayLike<number>;
}

/** The architectures whose blocks are Llama's: Qwen2 adds q/k/v biases and stores q/k in half-split rotary order. */
const GGUF_ARCHS = ["llama", "qwen2"];

/** general.architecture, when the runtime runs it; one clear line otherwise. */
export function ggufArch(file: GgufLike): string {
  const archV = ggufMeta(file, "general.architecture");
  const arch = typeof archV === "string" ? archV : "";
  check(GGUF_ARCHS.includes(arch), "UNSUPPORTED",
    `general.architecture is '${arch}': QuantLab runs Llama-family models (architectures ${GGUF_ARCHS.map((a) => `'${a}'`).join(", ")}); 'gguf inspect' and 'gguf quantize' still read this file`);
  return arch;
}

/**
 * Whether q/k rows are stored in half-split rotary order (llama.cpp's NEOX RoPE: pairs (i, i + d/2)) —
 * Qwen2's converter does not permute them as Llama's does — so a loader must permute them to interleaved.
 */
export function ggufHalfSplitRope(file: GgufLike): boolean {
  return ggufArch(file) === "qwen2";
}

/** The Llama config a GGUF's `<arch>.*` metadata describes; other architectures get one clear line. */
export function ggufConfig(file: GgufLike): LlamaConfig {
  const arch = ggufArch(file);
  const p = `${arch}.`;
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

/**
 * The GGUF metadata llama.cpp's converter writes for a Llama model of this config, with its
 * SentencePiece vocabulary when there is one (the keys ggufConfig and ggufTokenizer read back).
 */
export function llamaGgufMetadata(c: LlamaConfig, name: string, tok: Tokenizer | null = null, description?: string): Map<string, GgufValue> {
  const meta = new Map<string, GgufValue>();
  const str = (k: string, v: string) => meta.set(k, { type: "STRING", value: v });
  const u32 = (k: string, v: number) => meta.set(k, { type: "UINT32", value: v });
  const f32 = (k: string, v: number) => meta.set(k, { type: "FLOAT32", value: v });
  str("general.architecture", "llama");
  str("general.name", name);
  if (description) str("general.description", description);
  u32("general.alignment", 32);
  u32("llama.context_length", c.contextLength);
  u32("llama.embedding_length", c.dim);
  u32("llama.block_count", c.nLayers);
  u32("llama.feed_forward_length", c.hiddenDim);
  u32("llama.rope.dimension_count", headDim(c));
  u32("llama.attention.head_count", c.nHeads);
  u32("llama.attention.head_count_kv", c.nKvHeads);
  f32("llama.attention.layer_norm_rms_epsilon", c.rmsEps);
  f32("llama.rope.freq_base", c.ropeTheta);
  u32("llama.vocab_size", c.vocabSize);
  if (tok) {
    check(tok.vocabSize === c.vocabSize, "BAD_SHAPE", `the tokenizer has ${tok.vocabSize} pieces, the model's vocabulary is ${c.vocabSize}`);
    for (const [k, v] of tok.ggufMetadata()) meta.set(k, v);
  }
  return meta;
}

/** The SentencePiece-style vocabulary of `tokenizer.ggml.*`, or null when the file carries none. */
export function ggufTokenizer(file: GgufLike): Tokenizer | null {
  const tokens = ggufMeta(file, "tokenizer.ggml.tokens");
  if (tokens === undefined) return null;
  check(Array.isArray(tokens) && tokens.every((t) => typeof t === "string"), "BAD_FILE", () =>
    `GGUF metadata 'tokenizer.ggml.tokens' is ${describe(tokens)}${Array.isArray(tokens) ? " of non-strings" : ""}, not an array of strings`);
  const modelV = ggufMeta(file, "tokenizer.ggml.model");
  const model = modelV === undefined ? "llama" : String(modelV);
  if (model === "gpt2") {
    const merges = ggufMeta(file, "tokenizer.ggml.merges");
    check(Array.isArray(merges) && merges.every((t) => typeof t === "string"), "BAD_FILE", () =>
      `GGUF metadata 'tokenizer.ggml.merges' is ${merges === undefined ? "missing" : describe(merges)}: a byte-level ('gpt2') vocabulary needs its merges as strings`);
    const pre = ggufMeta(file, "tokenizer.ggml.pre");
    const addBos = ggufMeta(file, "tokenizer.ggml.add_bos_token");
    return hfTokenizerFromGguf({
      tokens: tokens as string[], merges: merges as string[], types: numberArray(file, "tokenizer.ggml.token_type", tokens.length),
      bos: ggufMeta(file, "tokenizer.ggml.bos_token_id") === undefined ? undefined : metaNum(file, "tokenizer.ggml.bos_token_id"),
      eos: ggufMeta(file, "tokenizer.ggml.eos_token_id") === undefined ? undefined : metaNum(file, "tokenizer.ggml.eos_token_id"),
      ...(addBos === undefined ? {} : { addBos: Boolean(addBos) }),
      ...(typeof pre === "string" ? { pre } : {}),
    }, "the GGUF's tokenizer.ggml vocabulary");
  }
  check(model === "llama", "UNSUPPORTED",
    `tokenizer.ggml.model is '${model}': QuantLab reads SentencePiece-style ('llama') and byte-level BPE ('gpt2') vocabularies; pass token ids instead`);
  const scores = numberArray(file, "tokenizer.ggml.scores", tokens.length) ?? new Float32Array(tokens.length);
  const types = numberArray(file, "tokenizer.ggml.token_type", tokens.length);
  const addPrefix = ggufMeta(file, "tokenizer.ggml.add_space_prefix");
  return new Tokenizer({
    pieces: Array.from(tokens as string[]),
    scores: Array.from(scores),
    types,
    bos: metaNum(file, "tokenizer.ggml.bos_token_id", 1),
    eos: metaNum(file, "tokenizer.ggml.eos_token_id", 2),
    unk: metaNum(file, "tokenizer.ggml.unknown_token_id", 0),
    addSpacePrefix: addPrefix === undefined ? true : Boolean(addPrefix),
  });
}

/**
 * Assembles a model from tensors under GGUF names (`token_embd.weight`, `blk.N.attn_q.weight` …): `tensor`
 * returns FP32 values, row-major with dims[0] as the row length. `label` becomes the model's source.
 */
export function llamaFromTensors(config: LlamaConfig, names: Iterable<string>, tensor: (name: string) => Float32Array,
  tokenizer: Tokenizer | null, label: string, opts: { halfSplitRope?: boolean } = {}): LlamaModel {
  const has = new Set(names);
  const need = (name: string) => {
    check(has.has(name), "BAD_FILE", `${label} has no tensor '${name}' (a Llama model with ${config.nLayers} layers needs it)`);
    return tensor(name);
  };
  const mat = (name: string, rows: number, cols: number) => {
    const data = need(name);
    check(data.length === rows * cols, "BAD_FILE", `${label}: tensor '${name}' holds ${data.length} values, the config needs ${rows} × ${cols}`);
    return matrix(rows, cols, data);
  };
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
    for (const n of LINEAR_NAMES) {
      l[n] = mat(`${b}${n}.weight`, ...shapes[n]);
      if (has.has(`${b}${n}.bias`)) (l.bias ??= {})[n] = tensor(`${b}${n}.bias`);
    }
    if (opts.halfSplitRope) {
      for (const [n, heads] of [["attn_q", nHeads], ["attn_k", nKvHeads]] as const) {
        l[n] = permuteHalfToInterleaved(l[n], heads);
        const bias = l.bias?.[n];
        if (bias) l.bias![n] = new Float32Array(permuteRows(new Uint8Array(bias.buffer, bias.byteOffset, bias.byteLength), 4, halfToInterleavedOrder(bias.length, heads)).buffer);
      }
    }
    layers.push(l);
  }
  const model: LlamaModel = {
    config: has.has("rope_freqs.weight") ? { ...config, ropeFreqFactors: tensor("rope_freqs.weight") } : config,
    tokenEmbedding: mat("token_embd.weight", vocabSize, dim),
    layers,
    outputNorm: need("output_norm.weight"),
    output: has.has("output.weight") ? mat("output.weight", vocabSize, dim) : null,
    tokenizer,
    source: label,
  };
  validateModel(model);
  return model;
}

/** `tensor(name)` returns a tensor's values as FP32 (dequantized), row-major with dims[0] as the row length. */
export function modelFromGguf(file: GgufLike, tensor: (name: string) => Float32Array, source: string): LlamaModel {
  const config = ggufConfig(file);
  return llamaFromTensors(config, file.tensors.map((t) => t.name), tensor, ggufTokenizer(file), `${source} (GGUF v${file.version ?? 3})`,
    { halfSplitRope: ggufHalfSplitRope(file) });
}
