/**
 * Hugging Face Llama checkpoints: `config.json` + `model.safetensors`, or its shards listed in
 * `model.safetensors.index.json`, opened from their headers (tensors read one at a time). Hugging Face
 * stores q/k rows in half-split rotary order (its `rotate_half`), so they are permuted to llama.cpp's
 * interleaved pairs as they are read, exactly as llama.cpp's converter does; the forward pass then treats
 * every model alike.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { check, QuantLabError } from "../../errors.js";
import { checkRows, readF32, sourceTensor, type SourceTensor, type TensorSource } from "../../gguf/source.js";
import { ggmlType } from "../../gguf/types.js";
import { decodeData, type SafetensorsEntry, type SafetensorsFile } from "../../io/safetensors.js";
import { DTYPE_BYTES } from "../../io/tensor.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import { halfToInterleavedOrder, llama3RopeFactors, LINEAR_NAMES, permuteHalfToInterleaved, permuteRows, validateModel, type LinearName, type LlamaConfig, type LlamaModel } from "../llama.js";
import { llamaFromTensors, llamaGgufMetadata } from "./gguf.js";
import { HfTokenizer } from "./hf-tokenizer.js";

export interface HfConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  vocab_size: number;
  max_position_embeddings?: number;
  rms_norm_eps?: number;
  rope_theta?: number;
  tie_word_embeddings?: boolean;
  model_type?: string;
  /** Fields that change the computation: read when the runtime implements them, refused by name otherwise. */
  hidden_act?: string;
  rope_scaling?: { rope_type?: string; type?: string; factor?: number; low_freq_factor?: number; high_freq_factor?: number; original_max_position_embeddings?: number } | null;
  attention_bias?: boolean;
  mlp_bias?: boolean;
  head_dim?: number;
  /** Mistral, Qwen2: attention limited to the last `sliding_window` positions (Qwen2 only when use_sliding_window). */
  sliding_window?: number | null;
  use_sliding_window?: boolean;
}

export const HF_NAMES: Record<LinearName, string> = {
  attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
};

/** The Hugging Face model types whose layers are Llama's (Qwen2 adds q/k/v biases, read as biases). */
const LLAMA_FAMILY = ["llama", "mistral", "qwen2"];

function ropeFactors(c: HfConfig, headDim: number): Float32Array | undefined {
  const rs = c.rope_scaling;
  const type = rs ? rs.rope_type ?? rs.type ?? "unknown" : "default";
  if (type === "default") return undefined;
  check(type === "llama3", "UNSUPPORTED",
    `config.json has rope_scaling of type '${type}': QuantLab applies plain RoPE and Llama 3's 'llama3' scaling only, so this model would be read with wrong positions`);
  const need = (k: "factor" | "low_freq_factor" | "high_freq_factor" | "original_max_position_embeddings") => {
    const v = rs![k];
    check(typeof v === "number" && v > 0, "BAD_FILE", `config.json's rope_scaling of type 'llama3' needs a positive '${k}', got ${JSON.stringify(v)}`);
    return v;
  };
  const s = { factor: need("factor"), lowFreqFactor: need("low_freq_factor"), highFreqFactor: need("high_freq_factor"), originalContext: need("original_max_position_embeddings") };
  check(s.highFreqFactor > s.lowFreqFactor, "BAD_FILE", `config.json's rope_scaling has high_freq_factor ${s.highFreqFactor} ≤ low_freq_factor ${s.lowFreqFactor}: the interpolation band is empty`);
  return llama3RopeFactors(headDim, c.rope_theta ?? 10000, s);
}

export function hfConfig(c: HfConfig): LlamaConfig {
  check(c.model_type === undefined || LLAMA_FAMILY.includes(c.model_type), "UNSUPPORTED",
    `config.json has model_type '${c.model_type}': this loader reads Llama-family models (${LLAMA_FAMILY.map((t) => `'${t}'`).join(", ")})`);
  for (const k of ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"] as const) {
    check(Number.isInteger(c[k]) && c[k] > 0, "BAD_FILE", `config.json needs a positive integer '${k}', got ${c[k]}`);
  }
  // a model loaded while one of these is ignored would run, and give wrong numbers
  check(c.hidden_act === undefined || c.hidden_act === "silu", "UNSUPPORTED",
    `config.json has hidden_act '${c.hidden_act}': QuantLab's Llama runtime computes SiLU (SwiGLU) feed-forwards only`);
  check(c.head_dim === undefined || c.head_dim * c.num_attention_heads === c.hidden_size, "UNSUPPORTED", () =>
    `config.json has head_dim ${c.head_dim}, not hidden_size / num_attention_heads (${c.hidden_size / c.num_attention_heads}): QuantLab's runtime derives the head size from hidden_size`);
  const factors = ropeFactors(c, c.hidden_size / c.num_attention_heads);
  // Within the window a sliding-window model attends to everything, as a full-attention one does: the
  // context is capped there, so longer windows are refused rather than computed wrongly.
  const sliding = c.sliding_window && (c.model_type !== "qwen2" || c.use_sliding_window) ? c.sliding_window : Infinity;
  return {
    dim: c.hidden_size, hiddenDim: c.intermediate_size, nLayers: c.num_hidden_layers,
    nHeads: c.num_attention_heads, nKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    vocabSize: c.vocab_size, contextLength: Math.min(c.max_position_embeddings ?? 2048, sliding),
    rmsEps: c.rms_norm_eps ?? 1e-6, ropeTheta: c.rope_theta ?? 10000,
    ...(factors ? { ropeFreqFactors: factors } : {}),
  };
}

/** Builds the model from a config and a tensor getter (name → shape and FP32 values). */
export function modelFromHf(c: HfConfig, get: (name: string) => { shape: number[]; data: Float32Array } | undefined, source: string): LlamaModel {
  const config = hfConfig(c);
  const need = (name: string) => {
    const t = get(name);
    check(t, "BAD_FILE", `${source} has no tensor '${name}' (a Llama model with ${config.nLayers} layers needs it)`);
    return t;
  };
  const mat = (name: string): Matrix => {
    const t = need(name);
    check(t.shape.length === 2, "BAD_FILE", `${name} has shape [${t.shape}], expected a matrix`);
    return matrix(t.shape[0], t.shape[1], t.data);
  };
  const layers = Array.from({ length: config.nLayers }, (_, i) => {
    const p = `model.layers.${i}.`;
    const l = {
      attnNorm: need(p + "input_layernorm.weight").data,
      ffnNorm: need(p + "post_attention_layernorm.weight").data,
    } as LlamaModel["layers"][number];
    for (const n of LINEAR_NAMES) l[n] = mat(`${p}${HF_NAMES[n]}.weight`);
    l.attn_q = permuteHalfToInterleaved(l.attn_q, config.nHeads);
    l.attn_k = permuteHalfToInterleaved(l.attn_k, config.nKvHeads);
    return l;
  });
  const tied = c.tie_word_embeddings ?? get("lm_head.weight") === undefined;
  const model: LlamaModel = {
    config,
    tokenEmbedding: mat("model.embed_tokens.weight"),
    layers,
    outputNorm: need("model.norm.weight").data,
    output: tied ? null : mat("lm_head.weight"),
    tokenizer: null,
    source: `${source} (Hugging Face)`,
  };
  validateModel(model);
  return model;
}

/** The GGUF name of a Hugging Face Llama tensor (llama.cpp's converter's map), or undefined for others. */
function ggufName(hf: string): string | undefined {
  if (hf === "model.embed_tokens.weight") return "token_embd.weight";
  if (hf === "model.norm.weight") return "output_norm.weight";
  if (hf === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hf);
  if (!m) return undefined;
  if (m[3] === "weight" && m[2] === "input_layernorm") return `blk.${m[1]}.attn_norm.weight`;
  if (m[3] === "weight" && m[2] === "post_attention_layernorm") return `blk.${m[1]}.ffn_norm.weight`;
  const n = LINEAR_NAMES.find((k) => HF_NAMES[k] === m[2]);
  return n ? `blk.${m[1]}.${n}.${m[3]}` : undefined;
}

/** Where a checkpoint's tensors are: the safetensors files and, per tensor, the file that holds it. */
interface HfFiles {
  config: HfConfig;
  /** How the checkpoint is named in messages and in the GGUF's general.name. */
  label: string;
  /** Each tensor's file, by Hugging Face name (null: the one file of an unsharded checkpoint). */
  weightMap: Map<string, string> | null;
  files: string[];
  /** tokenizer.json and tokenizer_config.json beside the weights, when present. */
  tokenizerJson?: string;
  tokenizerConfig?: string;
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new QuantLabError("BAD_FILE", `${path} is not valid JSON (${(e as Error).message}): ${what} is corrupt`);
  }
}

function locate(path: string): HfFiles {
  check(existsSync(path), "NOT_FOUND", `${path} does not exist: give a Hugging Face folder (config.json + model.safetensors or its shards) or its .safetensors file`);
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const cfgPath = join(dir, "config.json");
  const indexPath = isDir ? join(path, "model.safetensors.index.json") : path.endsWith(".index.json") ? path : "";
  const single = isDir ? join(path, "model.safetensors") : indexPath ? "" : path;
  check(existsSync(cfgPath), "NOT_FOUND", `no config.json beside ${single || indexPath}: a Hugging Face checkpoint needs its config.json`);
  const config = readJson(cfgPath, "the model's config") as HfConfig;
  check(config !== null && typeof config === "object" && !Array.isArray(config), "BAD_FILE", `${cfgPath} is not a JSON object: it is not a Hugging Face config`);
  const tok = join(dir, "tokenizer.json"), tokCfg = join(dir, "tokenizer_config.json");
  const withTok = (f: HfFiles): HfFiles => ({
    ...f, ...(existsSync(tok) ? { tokenizerJson: tok } : {}), ...(existsSync(tokCfg) ? { tokenizerConfig: tokCfg } : {}),
  });
  if (indexPath && existsSync(indexPath) && !(single && existsSync(single))) {
    const index = readJson(indexPath, "the shard index") as { weight_map?: unknown };
    const wm = index?.weight_map;
    check(wm !== null && typeof wm === "object" && !Array.isArray(wm), "BAD_FILE", `${indexPath} has no 'weight_map' object: it is not a safetensors shard index`);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
      check(typeof file === "string" && file.length > 0 && !file.includes("/") && !file.includes("\\"), "BAD_FILE",
        `${indexPath}: weight_map['${name}'] is ${JSON.stringify(file)}, not a shard file name beside the index`);
      const shard = join(dir, file);
      check(existsSync(shard), "NOT_FOUND", `${indexPath}: weight_map['${name}'] names the shard ${file}, which is missing from ${dir}: download every shard`);
      weightMap.set(name, shard);
    }
    return withTok({ config, label: indexPath, weightMap, files: [...new Set(weightMap.values())] });
  }
  check(existsSync(single), "NOT_FOUND", `no model.safetensors (nor model.safetensors.index.json with its shards) in ${dir}`);
  return withTok({ config, label: single, weightMap: null, files: [single] });
}

/** A Hugging Face checkpoint opened as a tensor source; `config` and `label` are what a model needs. */
export interface HfSource extends TensorSource {
  readonly config: LlamaConfig;
  /** "<file> (Hugging Face)", the model's source line. */
  readonly modelLabel: string;
  /** From tokenizer.json (+ tokenizer_config.json) beside the weights; null when the folder has none. */
  readonly tokenizer: HfTokenizer | null;
}

/** The folder's tokenizer, sized to the model's vocabulary; null without a tokenizer.json. */
export function hfTokenizer(where: Pick<HfFiles, "tokenizerJson" | "tokenizerConfig">, vocabSize: number): HfTokenizer | null {
  if (!where.tokenizerJson) return null;
  const json = readJson(where.tokenizerJson, "the tokenizer");
  const cfg = where.tokenizerConfig ? readJson(where.tokenizerConfig, "the tokenizer config") : {};
  return new HfTokenizer(json, cfg, { vocabSize, label: where.tokenizerJson });
}

const GGML = { F32: ggmlType("F32")!, F16: ggmlType("F16")!, BF16: ggmlType("BF16")! };

/**
 * Opens a Hugging Face Llama checkpoint — a folder with config.json and model.safetensors or its shards
 * (model.safetensors.index.json), or the .safetensors file — from the headers alone. Tensors appear
 * under llama.cpp's names and dims, in the order its converter writes them; q/k rows are permuted to
 * interleaved pairs as they are read; matrices keep their stored type (F32, F16, BF16), norms are F32
 * (as the converter writes them).
 */
export async function openHfSource(path: string): Promise<HfSource> {
  const where = locate(path);
  const config = hfConfig(where.config);
  const { openSafetensors } = await import("../../io/safetensors.js");
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const f of where.files) shards.set(f, await openSafetensors(f));
    const held = new Map<string, { file: SafetensorsFile; entry: SafetensorsEntry }>();
    for (const [file, st] of shards) {
      for (const [name, entry] of st.entries) {
        if (where.weightMap && where.weightMap.get(name) !== file) continue;
        held.set(name, { file: st, entry });
      }
    }
    if (where.weightMap) {
      for (const [name, file] of where.weightMap) {
        check(held.has(name), "BAD_FILE", `${where.label} puts '${name}' in ${file}, which does not hold it: the shards and the index disagree`);
      }
    }
    const tied = where.config.tie_word_embeddings ?? !held.has("lm_head.weight");
    const order: string[] = ["model.embed_tokens.weight"];
    for (let i = 0; i < config.nLayers; i++) {
      const p = `model.layers.${i}.`;
      order.push(p + "input_layernorm.weight");
      for (const n of LINEAR_NAMES) {
        order.push(`${p}${HF_NAMES[n]}.weight`);
        if (held.has(`${p}${HF_NAMES[n]}.bias`)) order.push(`${p}${HF_NAMES[n]}.bias`);
      }
      order.push(p + "post_attention_layernorm.weight");
    }
    order.push("model.norm.weight");
    if (!tied) order.push("lm_head.weight");
    const stray = [...held.keys()].find((n) => n.endsWith(".bias") && !order.includes(n));
    check(stray === undefined, "UNSUPPORTED", `${where.label} holds '${stray}': QuantLab's Llama layers take biases on their linear projections only, so this model cannot be read without losing it`);
    const tensors: (SourceTensor & { hf: string; entry: SafetensorsEntry; file: SafetensorsFile; heads?: number })[] = [];
    for (const hf of order) {
      const h = held.get(hf);
      check(h, "BAD_FILE", `${where.label} has no tensor '${hf}' (a Llama model with ${config.nLayers} layers needs it)`);
      const { entry } = h;
      check(entry.dtype === "F32" || entry.dtype === "F16" || entry.dtype === "BF16" || entry.dtype === "F64", "BAD_FILE",
        `${hf} has dtype ${entry.dtype}: model weights must be F32, F16 or BF16`);
      check(entry.shape.length === 1 || entry.shape.length === 2, "BAD_FILE", `${hf} has shape [${entry.shape}], expected a vector or a matrix`);
      const name = ggufName(hf)!;
      const type = entry.shape.length === 1 || entry.dtype === "F64" ? GGML.F32 : GGML[entry.dtype as "F32" | "F16" | "BF16"];
      const dims = [...entry.shape].reverse();
      const heads = /attn_q\.(weight|bias)$/.test(name) ? config.nHeads : /attn_k\.(weight|bias)$/.test(name) ? config.nKvHeads : undefined;
      if (heads !== undefined) halfToInterleavedOrder(entry.shape[0]!, heads);
      tensors.push({ name, dims, type, nbytes: dims.reduce((a, b) => a * b, 1) * type.typeSize, hf, entry, file: h.file, ...(heads ? { heads } : {}) });
    }
    const modelLabel = `${where.label} (Hugging Face)`;
    const tokenizer = hfTokenizer(where, config.vocabSize);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const ropeFreqs = config.ropeFreqFactors;
    const listed = {
      label: where.label,
      tensors: [
        // llama.cpp's converter writes Llama 3's rope scaling as this tensor, first
        ...(ropeFreqs ? [{ name: "rope_freqs.weight", dims: [ropeFreqs.length], type: GGML.F32, nbytes: ropeFreqs.byteLength }] : []),
        ...tensors.map(({ name, dims, type, nbytes }) => ({ name, dims, type, nbytes })),
      ],
    };
    const read = async (name: string): Promise<Uint8Array> => {
      if (name === "rope_freqs.weight" && ropeFreqs) return new Uint8Array(ropeFreqs.slice().buffer);
      const t = byName.get(name);
      check(t, "NOT_FOUND", `${where.label} has no tensor '${name}' under its GGUF name`);
      let bytes = await t.file.read(t.hf);
      if (t.entry.dtype === "F64" || (t.type === GGML.F32 && t.entry.dtype !== "F32")) {
        const f32 = decodeData(t.entry.dtype, bytes) as Float32Array;
        bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
      }
      if (t.heads !== undefined) {
        // a bias is one value per row: its rows move with the weight's
        const rows = t.dims.length === 1 ? t.dims[0]! : t.dims[1]!, rowBytes = t.dims.length === 1 ? t.type.typeSize : t.dims[0]! * t.type.typeSize;
        bytes = permuteRows(bytes, rowBytes, halfToInterleavedOrder(rows, t.heads));
      }
      return bytes;
    };
    const orders = new Map<string, Int32Array>();
    return {
      label: where.label, config, modelLabel, tokenizer, metadata: llamaGgufMetadata(config, modelLabel, tokenizer), alignment: 32,
      tensors: listed.tensors,
      read,
      readRows: async (name, r0, r1, into) => {
        const t = byName.get(name);
        if (!t || t.dims.length === 1) {
          // vectors (norms, biases, rope factors) are one row, and small
          checkRows(sourceTensor(listed, name), r0, r1, where.label);
          return r0 === r1 ? new Uint8Array(0) : read(name);
        }
        const { rowBytes } = checkRows(t, r0, r1, where.label);
        const stored = DTYPE_BYTES[t.entry.dtype] * t.dims[0]!;
        // a q/k permutation moves rows within their head only: rows [r0, r1) come from the heads they lie in
        const order = t.heads === undefined ? undefined : (orders.get(name) ?? orders.set(name, halfToInterleavedOrder(t.dims[1]!, t.heads)).get(name)!);
        let s0 = r0, s1 = r1;
        if (order) for (let r = r0; r < r1; r++) { s0 = Math.min(s0, order[r]!); s1 = Math.max(s1, order[r]! + 1); }
        const direct = !order && t.type.typeSize === DTYPE_BYTES[t.entry.dtype];
        let bytes = await t.file.readRange(t.hf, s0 * stored, (s1 - s0) * stored, direct ? into : undefined);
        if (t.type.typeSize !== DTYPE_BYTES[t.entry.dtype]) {
          const f32 = decodeData(t.entry.dtype, bytes) as Float32Array;
          bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
        }
        if (!order) return bytes;
        const out = into && into.length >= (r1 - r0) * rowBytes ? into.subarray(0, (r1 - r0) * rowBytes) : new Uint8Array((r1 - r0) * rowBytes);
        for (let r = r0; r < r1; r++) out.set(bytes.subarray((order[r]! - s0) * rowBytes, (order[r]! - s0 + 1) * rowBytes), (r - r0) * rowBytes);
        return out;
      },
      close: async () => { for (const f of shards.values()) await f.close(); },
    };
  } catch (e) {
    for (const f of shards.values()) await f.close();
    throw e;
  }
}

/**
 * Reads a Hugging Face Llama checkpoint: a folder holding config.json and model.safetensors or its
 * shards (model.safetensors.index.json), or the .safetensors path itself.
 */
export async function readHfModel(path: string): Promise<LlamaModel> {
  const src = await openHfSource(path);
  try {
    const values = new Map<string, Float32Array>();
    for (const t of src.tensors) values.set(t.name, await readF32(src, t.name));
    return llamaFromTensors(src.config, values.keys(), (n) => values.get(n)!, src.tokenizer, src.modelLabel);
  } finally {
    await src.close();
  }
}
