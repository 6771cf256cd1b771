/**
 * What the Hugging Face GPTQ and AWQ writers share: the Llama config.json transformers expects, the
 * conversion of a QuantLab grid (rows in interleaved RoPE order) to the layouts' integer form (rows in
 * rotate-half order), the tokenizer files that make the folder complete, and the atomic folder writer
 * that packs a checkpoint (formats/hf-quantized.ts's shape, so a read checkpoint writes back unchanged).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { check } from "../../errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { encodeSafetensors } from "../../io/safetensors.js";
import type { Tensor } from "../../io/tensor.js";
import { roundToF16 } from "../../numerics/float-bits.js";
import type { Matrix } from "../../numerics/matrix.js";
import { halfToInterleavedOrder, headDim, permuteRows, type LinearName, type LlamaModel } from "../llama.js";
import { WEIGHTS_FILE, type HfQuantizedCheckpoint } from "../formats/hf-quantized.js";
import { packAwq, packGptq, type HfIntLinear } from "../formats/hf-quantized-layout.js";
import { encodeSentencePiece } from "../formats/sentencepiece.js";
import type { HfConfig } from "../formats/hf.js";

/** How one linear ended up in an exported checkpoint (the plan the writers return and the CLI prints). */
export interface HfPlanRow {
  module: string;
  stored: string;
  /** Why it is not in the method's layout, when it is not. */
  reason?: string;
}

/** config.json of a Llama model as transformers' LlamaForCausalLM reads it (without quantization_config). */
export function hfLlamaConfig(model: LlamaModel): HfConfig & Record<string, unknown> {
  const c = model.config, tok = model.tokenizer;
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: headDim(c),
    vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.rmsEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    hidden_act: "silu",
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: model.output === null,
    ...(tok ? { bos_token_id: tok.bos, eos_token_id: tok.eos } : {}),
    torch_dtype: "float16",
  };
}

/** The permutation that takes interleaved q/k rows back to rotate-half order: half row e = interleaved row inv[e]. */
export function interleavedToHalfOrder(rows: number, heads: number): Int32Array {
  const order = halfToInterleavedOrder(rows, heads);
  const inv = new Int32Array(rows);
  order.forEach((src, d) => { inv[src] = d; });
  return inv;
}

/** The row order a linear needs in a Hugging Face file (null: none), from its GGUF short name. */
export function hfRowOrder(model: LlamaModel, n: LinearName): Int32Array | null {
  const c = model.config;
  if (n === "attn_q") return interleavedToHalfOrder(c.dim, c.nHeads);
  if (n === "attn_k") return interleavedToHalfOrder(c.nKvHeads * headDim(c), c.nKvHeads);
  return null;
}

/** A float matrix as a dense float16 tensor, rows reordered when `order` is given. */
export function denseF16(W: Matrix, order: Int32Array | null): Tensor {
  let data = W.data;
  if (order) data = new Float32Array(permuteRows(new Uint8Array(W.data.buffer, W.data.byteOffset, W.data.byteLength), W.cols * 4, order).buffer);
  return { dtype: "F16", shape: [W.rows, W.cols], data: roundToF16(data) };
}

/** A 1-D float vector as float16. */
export const vectorF16 = (x: Float32Array): Tensor => ({ dtype: "F16", shape: [x.length], data: roundToF16(x) });

/** A group grid in QuantLab's shape (rows × cols codes, rows × groups scales and zero points). */
export interface GridParts {
  rows: number;
  cols: number;
  bits: number;
  groupSize: number;
  codes: ArrayLike<number>;
  scales: ArrayLike<number>;
  zeros: ArrayLike<number>;
  gIdx: Int32Array | null;
  /** Added to codes and zeros (signed symmetric codes become unsigned; the weights do not change). */
  offset: number;
}

/**
 * A grid in the layouts' integer form: rows reordered by `order` (half row e = row order[e]), scales
 * rounded to float16 and transposed to groups × out, zeros offset and checked to be integers.
 */
export function hfIntOf(p: GridParts, order: Int32Array | null, what: string): HfIntLinear {
  const { rows, cols } = p;
  const G = p.scales.length / rows;
  const codes = new Uint8Array(rows * cols), zeros = new Int32Array(G * rows), scales = new Float32Array(G * rows);
  for (let e = 0; e < rows; e++) {
    const r = order ? order[e]! : e;
    for (let i = 0; i < cols; i++) codes[e * cols + i] = p.codes[r * cols + i]! + p.offset;
    for (let g = 0; g < G; g++) {
      const z = p.zeros[r * G + g]! + p.offset;
      check(Number.isInteger(z), "UNSUPPORTED", () => `${what} has a fractional zero point ${z}: the Hugging Face layouts store integer zero points`);
      zeros[g * rows + e] = z;
      scales[g * rows + e] = p.scales[r * G + g]!;
    }
  }
  return { bits: p.bits, groupSize: p.groupSize, out: rows, in: cols, codes, zeros, scales: roundToF16(scales), gIdx: p.gIdx };
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];

/**
 * The tokenizer files of the exported folder: copied from `fromDir` (a Hugging Face source) when it has
 * them, else written from the model's vocabulary as tokenizer.model (SentencePiece) with
 * tokenizer_config.json, special_tokens_map.json and generation_config.json. No tokenizer.json is
 * derived from a GGUF vocabulary: transformers builds its fast tokenizer from tokenizer.model.
 */
export function tokenizerFiles(model: LlamaModel, fromDir?: string): { files: Map<string, Uint8Array>; note: string } {
  const files = new Map<string, Uint8Array>();
  if (fromDir && existsSync(fromDir) && statSync(fromDir).isDirectory()) {
    for (const f of TOKENIZER_FILES) if (existsSync(join(fromDir, f))) files.set(f, new Uint8Array(readFileSync(join(fromDir, f))));
    if (files.size > 0) return { files, note: `tokenizer files copied from the source: ${[...files.keys()].join(", ")}` };
  }
  const tok = model.tokenizer;
  if (!tok) return { files, note: "the source has no tokenizer: the folder holds no tokenizer files" };
  const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x, null, 2) + "\n");
  const special = { bos_token: tok.pieces[tok.bos], eos_token: tok.pieces[tok.eos], unk_token: tok.pieces[tok.unk] };
  files.set("tokenizer.model", encodeSentencePiece(tok, tok.tokenTypes));
  files.set("tokenizer_config.json", json({
    tokenizer_class: "LlamaTokenizer", add_bos_token: true, add_eos_token: false, ...special,
    model_max_length: model.config.contextLength, legacy: true, clean_up_tokenization_spaces: false,
  }));
  files.set("special_tokens_map.json", json(special));
  files.set("generation_config.json", json({ bos_token_id: tok.bos, eos_token_id: tok.eos }));
  return { files, note: "tokenizer.model, tokenizer_config.json and special_tokens_map.json written from the model's vocabulary (no tokenizer.json)" };
}

/** The checkpoint's tensors, packed in its method's layout, in entry order. */
export function checkpointTensors(ck: HfQuantizedCheckpoint): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const e of ck.entries) {
    if ("name" in e) { out.set(e.name, e.tensor); continue; }
    const l = e.linear, G = l.scales.length / l.out;
    if (ck.method === "gptq") {
      const t = packGptq(l);
      out.set(`${e.module}.qweight`, { dtype: "I32", shape: [t.qweight.length / l.out, l.out], data: t.qweight });
      out.set(`${e.module}.qzeros`, { dtype: "I32", shape: [G, t.qzeros.length / G], data: t.qzeros });
      out.set(`${e.module}.scales`, { dtype: "F16", shape: [G, l.out], data: t.scales });
      out.set(`${e.module}.g_idx`, { dtype: "I32", shape: [l.in], data: t.gIdx });
    } else {
      const t = packAwq(l);
      out.set(`${e.module}.qweight`, { dtype: "I32", shape: [l.in, l.out / 8], data: t.qweight });
      out.set(`${e.module}.qzeros`, { dtype: "I32", shape: [G, l.out / 8], data: t.qzeros });
      out.set(`${e.module}.scales`, { dtype: "F16", shape: [G, l.out], data: t.scales });
    }
  }
  return out;
}

export const jsonBytes = (x: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(x, null, 2) + "\n");

/**
 * Writes a checkpoint folder atomically: every file goes into a fresh sibling folder, which then
 * replaces `dir` (an existing folder is swapped out whole, never left half-written).
 */
export async function writeHfQuantized(dir: string, ck: HfQuantizedCheckpoint): Promise<void> {
  check(!existsSync(dir) || statSync(dir).isDirectory(), "BAD_ARGUMENT", `${dir} is a file: --format hf writes a folder, give a folder path`);
  const tag = randomBytes(6).toString("hex");
  const tmp = join(dirname(dir), `.${basename(dir)}.${tag}.tmp`);
  await mkdir(tmp, { recursive: true });
  try {
    await writeFileAtomic(join(tmp, WEIGHTS_FILE), encodeSafetensors(checkpointTensors(ck), ck.metadata));
    await writeFileAtomic(join(tmp, "config.json"), jsonBytes(ck.config));
    for (const [name, bytes] of ck.files) await writeFileAtomic(join(tmp, name), bytes);
    if (existsSync(dir)) {
      const old = join(dirname(dir), `.${basename(dir)}.${tag}.old`);
      await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } else await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
