/**
 * A synthetic Llama for the mix tests: rows of 256 (so the layer-position rules, not the fallbacks,
 * decide), 8 layers, GQA 4, layers written in reverse file order (llama.cpp counts layers in its own
 * sorted order); the tokenizer is borrowed from stories260K.
 */
import { writeGguf, type GgufFile, type GgufValue } from "../../src/gguf/file.js";
import { randn } from "../helpers/random.js";

/** The shape of a synthetic Llama; the defaults give rows of 256 everywhere, 8 layers, GQA 4. */
export interface SyntheticShape {
  nLayer?: number;
  /** KV heads of the 4 heads: 1 gives GQA 4, 4 no grouping. */
  nKv?: number;
  /** feed_forward_length: ffn_down's row length (288 forces the K-quants' fallbacks there). */
  hidden?: number;
}

/** A Llama with rows of 256 (ffn_down: `hidden`), layers written in reverse order; tokenizer borrowed from stories. */
export async function syntheticLlama(stories: GgufFile, path: string, shape: SyntheticShape = {}): Promise<void> {
  const dim = 256, nHead = 4, vocab = 512;
  const { nLayer = 8, nKv = 1, hidden = 256 } = shape;
  const metadata = new Map<string, GgufValue>();
  for (const [k, v] of stories.metadata) if (k.startsWith("tokenizer.")) metadata.set(k, v);
  const u32 = (k: string, value: number) => metadata.set(k, { type: "UINT32", value });
  metadata.set("general.architecture", { type: "STRING", value: "llama" });
  metadata.set("general.name", { type: "STRING", value: `synthetic-${nLayer}x256` });
  u32("llama.context_length", 128);
  u32("llama.embedding_length", dim);
  u32("llama.block_count", nLayer);
  u32("llama.feed_forward_length", hidden);
  u32("llama.rope.dimension_count", dim / nHead);
  u32("llama.attention.head_count", nHead);
  u32("llama.attention.head_count_kv", nKv);
  metadata.set("llama.attention.layer_norm_rms_epsilon", { type: "FLOAT32", value: 1e-5 });
  let seed = 1;
  const f32 = (name: string, dims: number[], std = 0.05) => {
    const x = randn(dims.reduce((a, b) => a * b, 1), seed++, std);
    if (dims.length === 1) x.fill(1);
    return { name, dims, type: "F32" as const, data: new Uint8Array(x.buffer) };
  };
  const tensors = [f32("token_embd.weight", [dim, vocab]), f32("output_norm.weight", [dim]), f32("output.weight", [dim, vocab])];
  for (let i = nLayer - 1; i >= 0; i--) {
    const p = `blk.${i}.`;
    tensors.push(
      f32(p + "attn_norm.weight", [dim]), f32(p + "attn_q.weight", [dim, dim]), f32(p + "attn_k.weight", [dim, dim / nHead * nKv]),
      f32(p + "attn_v.weight", [dim, dim / nHead * nKv]), f32(p + "attn_output.weight", [dim, dim]), f32(p + "ffn_norm.weight", [dim]),
      f32(p + "ffn_gate.weight", [dim, hidden]), f32(p + "ffn_up.weight", [dim, hidden]), f32(p + "ffn_down.weight", [hidden, dim]),
    );
  }
  await writeGguf(path, { metadata, tensors });
}
