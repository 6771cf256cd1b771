/**
 * Hugging Face Llama checkpoints: `config.json` + `model.safetensors` (one file; sharded checkpoints
 * are not read). Hugging Face stores q/k rows in half-split rotary order (its `rotate_half`), so they
 * are permuted to llama.cpp's interleaved pairs on load, exactly as llama.cpp's converter does; the
 * forward pass then treats every model alike.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { check } from "../../errors.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import { LINEAR_NAMES, permuteHalfToInterleaved, validateModel, type LinearName, type LlamaConfig, type LlamaModel } from "../llama.js";

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
}

export const HF_NAMES: Record<LinearName, string> = {
  attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
};

export function hfConfig(c: HfConfig): LlamaConfig {
  check(c.model_type === undefined || c.model_type === "llama" || c.model_type === "mistral", "UNSUPPORTED",
    `config.json has model_type '${c.model_type}': this loader reads Llama-family models ('llama', 'mistral')`);
  for (const k of ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"] as const) {
    check(Number.isInteger(c[k]) && c[k] > 0, "BAD_FILE", `config.json needs a positive integer '${k}', got ${c[k]}`);
  }
  return {
    dim: c.hidden_size, hiddenDim: c.intermediate_size, nLayers: c.num_hidden_layers,
    nHeads: c.num_attention_heads, nKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    vocabSize: c.vocab_size, contextLength: c.max_position_embeddings ?? 2048,
    rmsEps: c.rms_norm_eps ?? 1e-6, ropeTheta: c.rope_theta ?? 10000,
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

/** Reads a folder holding config.json and model.safetensors (or the .safetensors path itself). */
export async function readHfModel(path: string): Promise<LlamaModel> {
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const file = statSync(path).isDirectory() ? join(path, "model.safetensors") : path;
  const cfgPath = join(dir, "config.json");
  check(existsSync(cfgPath), "NOT_FOUND", `no config.json beside ${file}: a Hugging Face checkpoint needs its config.json`);
  check(existsSync(file), "NOT_FOUND", `no model.safetensors in ${dir} (sharded checkpoints are not supported: merge the shards first)`);
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8")) as HfConfig;
  // Loaded on use, so the pure layout code above does not pull in the file reader.
  const { readSafetensors } = await import("../../io/safetensors.js");
  const st = await readSafetensors(file);
  return modelFromHf(cfg, (name) => {
    const t = st.tensors.get(name);
    return t ? { shape: [...t.shape], data: toF32(t, name) } : undefined;
  }, file);
}

function toF32(t: { dtype: string; data: unknown }, name: string): Float32Array {
  check(t.data instanceof Float32Array, "BAD_FILE", `${name} has dtype ${t.dtype}: model weights must be F32, F16 or BF16`);
  return t.data;
}
