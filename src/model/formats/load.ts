/**
 * `loadModel(path)`: one entry for every model file QuantLab reads, chosen by what the path is —
 * a `.gguf` file (any GGUF version, quantized tensors dequantized), a Hugging Face folder (or its
 * `.safetensors` file, single or sharded) with `config.json`, or a llama2.c checkpoint (`.bin`, with
 * `tokenizer.bin` beside it when present). Each is opened as a tensor source (source.ts) and read
 * tensor by tensor into the FP32 model.
 */
import type { LlamaModel } from "../llama.js";
import { modelFromSource, openModelSource } from "./source.js";

export interface LoadOptions {
  /** llama2.c: the tokenizer file (default: tokenizer.bin beside the checkpoint, if any). */
  tokenizer?: string;
}

/**
 * Loads a Llama-family model: a .gguf file (v1–v3, quantized tensors dequantized), a Hugging Face folder or
 * .safetensors with its config.json, or a llama2.c checkpoint (.bin, with tokenizer.bin beside it).
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * m.config
 * ```
 */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<LlamaModel> {
  const source = await openModelSource(path, opts);
  try {
    return await modelFromSource(source);
  } finally {
    await source.close();
  }
}
