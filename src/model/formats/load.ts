/**
 * `loadModel(path)`: one entry for every model file QuantLab reads, chosen by what the path is —
 * a `.gguf` file (any GGUF version, quantized tensors dequantized), a Hugging Face folder (or its
 * `.safetensors` file) with `config.json`, or a llama2.c checkpoint (`.bin`, with `tokenizer.bin`
 * beside it when present).
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { check, QuantLabError } from "../../errors.js";
import { readGguf, tensorF32 } from "../../gguf/file.js";
import { modelFromGguf } from "./gguf.js";
import { readHfModel } from "./hf.js";
import type { LlamaModel } from "../llama.js";
import { readLlama2c } from "./llama2c.js";

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
  check(existsSync(path), "NOT_FOUND", `model file ${path} does not exist: give the path of a .gguf file, a Hugging Face folder or a llama2.c .bin`);
  if (statSync(path).isDirectory() || path.endsWith(".safetensors")) return readHfModel(path);
  if (path.endsWith(".gguf")) {
    const file = await readGguf(path);
    return modelFromGguf(file, (name) => tensorF32(file, name), basename(path));
  }
  if (path.endsWith(".bin")) {
    const tok = opts.tokenizer ?? join(dirname(path), "tokenizer.bin");
    return readLlama2c(path, existsSync(tok) ? tok : undefined);
  }
  throw new QuantLabError("UNSUPPORTED", `cannot tell the format of ${path}: name it .gguf (GGUF), .safetensors or a folder (Hugging Face), or .bin (llama2.c)`);
}
