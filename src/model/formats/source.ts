/**
 * Opening any checkpoint as a tensor source (src/gguf/source.ts): a `.gguf` file (v1–v3, any
 * architecture, any size), a Hugging Face folder or `.safetensors` file (single or sharded), or a llama2.c
 * `.bin` — headers only; tensors are read on demand in their stored type. The GGUF quantizer takes any
 * of them, and a Llama model is assembled from one (`modelFromSource`).
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { check, QuantLabError } from "../../errors.js";
import { openGguf } from "../../gguf/file.js";
import { readF32, type TensorSource } from "../../gguf/source.js";
import type { LlamaConfig, LlamaModel, ModelSource } from "../llama.js";
import { ggufConfig, ggufHalfSplitRope, ggufTokenizer, llamaFromTensors } from "./gguf.js";
import { openHfSource } from "./hf.js";
import { isHfQuantizedDir, openHfQuantizedSource } from "./hf-quantized.js";
import { openLlama2cSource } from "./llama2c.js";

export interface OpenOptions {
  /** llama2.c: the tokenizer file (default: tokenizer.bin beside the checkpoint, if any). */
  tokenizer?: string;
}

/**
 * Opens a checkpoint by what its path is, reading headers only.
 * @example
 * const src = await openModelSource(sharedModelPath())
 * src.tensors.length   // 48
 * await src.close()
 */
export async function openModelSource(path: string, opts: OpenOptions = {}): Promise<ModelSource> {
  check(existsSync(path), "NOT_FOUND", `model file ${path} does not exist: give the path of a .gguf file, a Hugging Face folder or a llama2.c .bin`);
  if (isHfQuantizedDir(path)) return openHfQuantizedSource(path);
  if (statSync(path).isDirectory() || path.endsWith(".safetensors") || path.endsWith(".safetensors.index.json")) {
    const src = await openHfSource(path);
    return { ...src, format: "Hugging Face", llama: () => ({ config: src.config, tokenizer: src.tokenizer, label: src.modelLabel }) };
  }
  if (path.endsWith(".gguf")) {
    const src = await openGguf(path);
    return {
      label: src.label, metadata: src.metadata, tensors: src.tensors, alignment: src.alignment, read: src.read, readRows: src.readRows, close: src.close,
      format: "GGUF",
      llama: () => ({
        config: ggufConfig(src.file), tokenizer: ggufTokenizer(src.file), label: `${basename(path)} (GGUF v${src.file.version})`,
        halfSplitRope: ggufHalfSplitRope(src.file),
      }),
    };
  }
  if (path.endsWith(".bin")) {
    const tok = opts.tokenizer ?? join(dirname(path), "tokenizer.bin");
    return openLlama2cSource(path, existsSync(tok) ? tok : undefined);
  }
  throw new QuantLabError("UNSUPPORTED", `cannot tell the format of ${path}: name it .gguf (GGUF), .safetensors or a folder (Hugging Face), or .bin (llama2.c)`);
}

/** Tensors of a Llama model (a checkpoint may hold others, in types never decoded here). */
export const LLAMA_TENSOR = /^(token_embd|output_norm|output|rope_freqs)\.weight$|^blk\.\d+\.(attn_norm|ffn_norm|attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$|^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.bias$/;

/** Reads every tensor of a source as FP32 and assembles the Llama model it holds. */
export async function modelFromSource(source: ModelSource): Promise<LlamaModel> {
  const { config, tokenizer, label, halfSplitRope } = source.llama();
  const values = new Map<string, Float32Array>();
  // only what a Llama model uses: a file may carry others (rope_freqs, …) in types never decoded here
  for (const t of source.tensors) if (LLAMA_TENSOR.test(t.name)) values.set(t.name, await readF32(source, t.name));
  const model = llamaFromTensors(config, values.keys(), (n) => values.get(n)!, tokenizer, label, { halfSplitRope });
  return { ...model, storedTypes: storedTypes(source) };
}

/** Each tensor's ggml type as `source` stores it, by GGUF name (what `LlamaModel.storedTypes` holds). */
export function storedTypes(source: Pick<TensorSource, "tensors">): ReadonlyMap<string, string> {
  return new Map(source.tensors.map((t) => [t.name, t.type.name]));
}
