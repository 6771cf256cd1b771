/**
 * Synthetic checkpoints with real models' shapes and random weights, for the scale bench
 * (bench/scale.bench.ts): a Llama GGUF (F32 or F16 linears and embeddings, F32 norms, as llama.cpp's
 * converter writes them) or a sharded Hugging Face BF16 folder (config.json, model-0000k-of-0000n
 * shards, model.safetensors.index.json). Written tensor by tensor, so memory holds one tensor whatever the
 * size. The GGUF carries a SentencePiece vocabulary of the model's size — stories260K's pieces (when the
 * shared data is there) padded with pieces no text produces — so QuantLab and llama.cpp both tokenize
 * English text with it. Weights: uniform with the std 0.02 of a fresh Llama, norms 1.
 *
 *   node --import tsx scripts/synthetic-checkpoint.ts --shape tinyllama|llama3-8b [--layers N]
 *        --format gguf-f32|gguf-f16|hf-bf16 --out PATH [--seed N]
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openGguf, writeGgufStream } from "../src/gguf/file.js";
import type { GgufTypeName } from "../src/gguf/types.js";
import { openAtomicStream } from "../src/io/atomic-stream.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../src/numerics/float-bits.js";
import { mulberry32 } from "../src/numerics/random.js";
import { ggufTokenizer, llamaGgufMetadata } from "../src/model/formats/gguf.js";
import { Tokenizer } from "../src/model/formats/tokenizer.js";
import { headDim, LINEAR_NAMES, type LlamaConfig } from "../src/model/llama.js";
import { llamaGgufSlots } from "../src/model/quantize/export.js";
import { HF_NAMES } from "../src/model/formats/hf.js";

export const SHAPES: Record<string, LlamaConfig> = {
  tinyllama: { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, contextLength: 2048, rmsEps: 1e-5, ropeTheta: 10000 },
  "llama3-8b": { dim: 4096, hiddenDim: 14336, nLayers: 32, nHeads: 32, nKvHeads: 8, vocabSize: 128256, contextLength: 8192, rmsEps: 1e-5, ropeTheta: 500000 },
};

export type SyntheticFormat = "gguf-f32" | "gguf-f16" | "hf-bf16";

/** A vocabulary of `size` pieces: stories260K's (if given) padded with pieces no text produces. */
async function vocabulary(size: number, storiesPath?: string): Promise<Tokenizer> {
  let base: Tokenizer | null = null;
  if (storiesPath && existsSync(storiesPath)) {
    const f = await openGguf(storiesPath);
    base = ggufTokenizer(f.file);
    await f.close();
  }
  const pieces = base ? base.pieces.slice() : ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
  const scores = base ? Array.from(base.scores) : pieces.map(() => 0);
  const types = base ? Array.from(base.tokenTypes) : pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 6));
  for (let k = pieces.length; k < size; k++) {
    pieces.push(`\u2581\u00a7pad${k}`);
    scores.push(-1e6);
    types.push(1);
  }
  return new Tokenizer({ pieces, scores, types, bos: 1, eos: 2, unk: 0 });
}

/** `n` weights, uniform in ±0.02·√3 (std 0.02), from a seed per tensor. */
function randomWeights(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const a = 0.02 * Math.sqrt(3);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (2 * r() - 1) * a;
  return x;
}

const isNorm = (name: string) => /norm\.weight$/.test(name);
const bytesOf = (x: ArrayBufferView) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

export interface SyntheticOptions {
  shape: LlamaConfig;
  format: SyntheticFormat;
  out: string;
  seed?: number;
  /** stories260K's GGUF, for its vocabulary's pieces. */
  stories?: string;
  /** Hugging Face shard size in bytes (default 2 GiB). */
  shardBytes?: number;
}

/** Writes the checkpoint; returns the bytes of weights written. */
export async function writeSyntheticCheckpoint(o: SyntheticOptions): Promise<number> {
  const c = o.shape;
  const seed = o.seed ?? 1;
  const slots = llamaGgufSlots(c, { output: true, bias: () => undefined });
  const values = (i: number, n: number, name: string) => (isNorm(name) ? new Float32Array(n).fill(1) : randomWeights(n, seed * 100003 + i));
  if (o.format !== "hf-bf16") {
    const tok = await vocabulary(c.vocabSize, o.stories);
    const meta = llamaGgufMetadata(c, `synthetic ${c.nLayers}-layer dim ${c.dim}`, tok);
    const wide: GgufTypeName = o.format === "gguf-f16" ? "F16" : "F32";
    meta.set("general.file_type", { type: "UINT32", value: wide === "F16" ? 1 : 0 });
    const headers = slots.map((s) => ({ name: s.name, dims: s.dims, type: s.dims.length === 1 ? ("F32" as const) : wide }));
    let total = 0;
    await writeGgufStream(o.out, { metadata: meta, tensors: headers }, async (i, t) => {
      const x = values(i, t.dims.reduce((a, b) => a * b, 1), t.name);
      const b = t.type === "F16" ? bytesOf(f32ArrayToF16(x)) : bytesOf(x);
      total += b.length;
      return b;
    });
    return total;
  }
  // Hugging Face: names and [out, in] shapes as transformers saves them, BF16, split into shards
  mkdirSync(o.out, { recursive: true });
  const hfName = (name: string): string => {
    if (name === "token_embd.weight") return "model.embed_tokens.weight";
    if (name === "output_norm.weight") return "model.norm.weight";
    if (name === "output.weight") return "lm_head.weight";
    const [, i, n] = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name)!;
    if (n === "attn_norm") return `model.layers.${i}.input_layernorm.weight`;
    if (n === "ffn_norm") return `model.layers.${i}.post_attention_layernorm.weight`;
    return `model.layers.${i}.${HF_NAMES[n as (typeof LINEAR_NAMES)[number]]}.weight`;
  };
  const limit = o.shardBytes ?? 2 ** 31;
  const shards: { name: string; slot: number; shape: number[]; bytes: number }[][] = [[]];
  let size = 0;
  slots.forEach((s, k) => {
    const bytes = 2 * s.dims.reduce((a, b) => a * b, 1);
    if (size + bytes > limit && shards.at(-1)!.length) (shards.push([]), (size = 0));
    shards.at(-1)!.push({ name: hfName(s.name), slot: k, shape: [...s.dims].reverse(), bytes });
    size += bytes;
  });
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [si, list] of shards.entries()) {
    const file = `model-${String(si + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    let off = 0;
    for (const t of list) {
      header[t.name] = { dtype: "BF16", shape: t.shape, data_offsets: [off, off + t.bytes] };
      off += t.bytes;
      weightMap[t.name] = file;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (json.length % 8)) % 8);
    const w = await openAtomicStream(join(o.out, file));
    try {
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
      await w.write(len);
      await w.write(new TextEncoder().encode(json));
      for (const t of list) {
        const x = values(t.slot, t.bytes / 2, slots[t.slot]!.name);
        await w.write(bytesOf(f32ArrayToBf16(x)));
        total += t.bytes;
      }
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }
  writeFileSync(join(o.out, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  writeFileSync(join(o.out, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: c.dim, intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers, num_attention_heads: c.nHeads, num_key_value_heads: c.nKvHeads, head_dim: headDim(c),
    vocab_size: c.vocabSize, max_position_embeddings: c.contextLength, rms_norm_eps: c.rmsEps, rope_theta: c.ropeTheta,
    tie_word_embeddings: false, hidden_act: "silu", torch_dtype: "bfloat16",
  }, null, 2));
  return total;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: v } = parseArgs({ options: { shape: { type: "string" }, layers: { type: "string" }, format: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, stories: { type: "string" } } });
  const base = SHAPES[v.shape ?? "tinyllama"];
  if (!base || !v.out || !["gguf-f32", "gguf-f16", "hf-bf16"].includes(v.format ?? "")) {
    console.error("usage: synthetic-checkpoint.ts --shape tinyllama|llama3-8b [--layers N] --format gguf-f32|gguf-f16|hf-bf16 --out PATH [--seed N] [--stories stories260K.gguf]");
    process.exit(2);
  }
  const shape = { ...base, ...(v.layers ? { nLayers: Number(v.layers) } : {}) };
  const t0 = performance.now();
  const bytes = await writeSyntheticCheckpoint({ shape, format: v.format as SyntheticFormat, out: v.out, seed: Number(v.seed ?? 1), stories: v.stories });
  console.log(`wrote ${v.out}: ${(bytes / 2 ** 30).toFixed(2)} GiB of weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
