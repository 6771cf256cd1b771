/**
 * Karpathy's llama2.c checkpoints (`model.bin`) and tokenizer (`tokenizer.bin`).
 *
 * Legacy format (version 0, what `run.c` reads): seven int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when the classifier is not shared — seq_len), then FP32 arrays:
 * token embedding, attention norms, wq, wk, wv, wo, ffn norms, w1 (gate), w2 (down), w3 (up), final
 * norm, two RoPE tables (skipped), and the classifier when not shared.
 * Version 1 (`export.py --version 1`): a 256-byte header (magic "ak42", int32 version, the seven ints,
 * a shared-classifier byte), then norms first, embedding, wq … w3, and the classifier when not shared.
 * Weights are PyTorch `out × in`, and the model was trained with Meta's interleaved-pair RoPE, so no
 * permutation is needed. One layout (where each tensor lies) serves both the in-memory parser and the
 * tensor source that reads a checkpoint by offset.
 */
import { readFileSync } from "node:fs";
import { check, QuantLabError } from "../../errors.js";
import { checkRows, type SourceTensor } from "../../gguf/source.js";
import { ggmlType } from "../../gguf/types.js";
import { RangedFile } from "../../io/ranged.js";
import type { LlamaConfig, LlamaModel } from "../llama.js";
import { llamaFromTensors, llamaGgufMetadata } from "./gguf.js";
import type { ModelSource } from "../llama.js";
import { Tokenizer } from "./tokenizer.js";

const MAGIC_V1 = 0x616b3432;

export function parseLlama2c(bytes: Uint8Array, source = "llama2.c checkpoint", tokenizer: Tokenizer | null = null): LlamaModel {
  const { config, version, tensors } = llama2cLayout(bytes.subarray(0, 256), bytes.byteLength, source);
  // slice() copies into a fresh, aligned buffer (the file's bytes may start at any offset); llama2.c is little-endian
  const values = new Map(tensors.map((t) => [t.name, new Float32Array(bytes.slice(t.offset, t.offset + 4 * t.rows * t.cols).buffer)]));
  return llamaFromTensors(config, values.keys(), (n) => values.get(n)!, tokenizer, `${source} (llama2.c v${version})`);
}

/** llama2.c's `tokenizer.bin`: int32 max length, then per token float32 score, int32 length, bytes. */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number, source = "tokenizer.bin"): Tokenizer {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 4;
  const pieces: string[] = [], scores: number[] = [], types: number[] = [];
  const dec = new TextDecoder();
  for (let i = 0; i < vocabSize; i++) {
    check(o + 8 <= bytes.byteLength, "BAD_FILE", `${source} ends after ${i} of ${vocabSize} tokens: is it the tokenizer of this model?`);
    scores.push(dv.getFloat32(o, true));
    const len = dv.getInt32(o + 4, true);
    o += 8;
    check(len >= 0 && o + len <= bytes.byteLength, "BAD_FILE", `${source}: token ${i} claims ${len} bytes past the end of the file`);
    // llama2.c's exporter turned SentencePiece's "▁" into spaces and wrapped <s>/</s> in newlines.
    const raw = dec.decode(bytes.subarray(o, o + len));
    o += len;
    const piece = i === 1 || i === 2 ? raw.trim() : raw.replaceAll(" ", "\u2581");
    pieces.push(piece);
    types.push(i === 0 ? 2 : i <= 2 ? 3 : /^<0x[0-9A-F]{2}>$/.test(piece) ? 6 : 1);
  }
  return new Tokenizer({ pieces, scores, types, bos: 1, eos: 2, unk: 0 });
}

export function readLlama2c(path: string, tokenizerPath?: string): LlamaModel {
  const bytes = readFileSync(path);
  const m = parseLlama2c(bytes, path);
  if (tokenizerPath) m.tokenizer = parseLlama2cTokenizer(readFileSync(tokenizerPath), m.config.vocabSize, tokenizerPath);
  return m;
}

/**
 * Where each tensor of a llama2.c checkpoint lies (GGUF names, byte offsets), from its header alone;
 * the same order `parseLlama2c` reads.
 */
function llama2cLayout(head: Uint8Array, fileSize: number, source: string): { config: LlamaConfig; version: number; tensors: { name: string; rows: number; cols: number; offset: number }[] } {
  check(head.byteLength >= 28, "BAD_FILE", `${source} has ${head.byteLength} bytes: too short for a llama2.c header (28)`);
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const v1 = dv.getUint32(0, true) === MAGIC_V1;
  let o = 0;
  if (v1) {
    check(head.byteLength >= 256, "BAD_FILE", `${source} has ${head.byteLength} bytes: too short for a llama2.c v1 header (256)`);
    const version = dv.getInt32(4, true);
    check(version === 1, "UNSUPPORTED", `${source} is llama2.c export version ${version}: only versions 0 (legacy) and 1 (fp32) hold FP32 weights`);
    o = 8;
  }
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(o + 4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h as [number, number, number, number, number, number, number];
  const shared = v1 ? dv.getUint8(o + 28) !== 0 : vocabRaw > 0;
  const vocabSize = Math.abs(vocabRaw);
  check(h.every((x, i) => (i === 5 ? x !== 0 : x > 0)) && dim % nHeads === 0 && nHeads % nKvHeads === 0, "BAD_FILE",
    `${source} header [${h.join(", ")}] is not a llama2.c config (dim, hidden, layers, heads, kv heads, vocab, seq len)`);
  const config: LlamaConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, contextLength: seqLen, rmsEps: 1e-5, ropeTheta: 10000 };
  const hd = dim / nHeads, kv = hd * nKvHeads;
  let at = v1 ? 256 : 28;
  const tensors: { name: string; rows: number; cols: number; offset: number }[] = [];
  const put = (name: string, rows: number, cols: number) => { tensors.push({ name, rows, cols, offset: at }); at += 4 * rows * cols; };
  const perLayer = (n: string, rows: number, cols: number) => { for (let i = 0; i < nLayers; i++) put(`blk.${i}.${n}.weight`, rows, cols); };
  if (v1) { perLayer("attn_norm", 1, dim); perLayer("ffn_norm", 1, dim); put("output_norm.weight", 1, dim); }
  put("token_embd.weight", vocabSize, dim);
  if (!v1) perLayer("attn_norm", 1, dim);
  perLayer("attn_q", dim, dim); perLayer("attn_k", kv, dim); perLayer("attn_v", kv, dim); perLayer("attn_output", dim, dim);
  if (!v1) perLayer("ffn_norm", 1, dim);
  perLayer("ffn_gate", hiddenDim, dim); perLayer("ffn_down", dim, hiddenDim); perLayer("ffn_up", hiddenDim, dim);
  if (!v1) { put("output_norm.weight", 1, dim); at += 4 * seqLen * (hd / 2) * 2; }
  if (!shared) put("output.weight", vocabSize, dim);
  check(at <= fileSize, "BAD_FILE", `${source} is truncated: needs ${at} bytes for config [${h.join(", ")}], has ${fileSize}`);
  return { config, version: v1 ? 1 : 0, tensors };
}

/** The order a GGUF lists a Llama model's tensors in (llama.cpp's converter, QuantLab's export). */
function ggufRank(name: string): number {
  if (name === "token_embd.weight") return -1;
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  if (m) return Number(m[1]) * 16 + ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "ffn_norm"].indexOf(m[2]!);
  return name === "output_norm.weight" ? 1e12 : 1e12 + 1;
}

/** Opens a llama2.c checkpoint by its header: FP32 tensors under GGUF names, read by offset on demand. */
export async function openLlama2cSource(path: string, tokenizerPath?: string): Promise<ModelSource> {
  const f = await RangedFile.open(path, "llama2.c checkpoint");
  try {
    const { config, version, tensors: layout } = llama2cLayout(await f.read(0, Math.min(256, f.size)), f.size, path);
    const tokenizer = tokenizerPath ? parseLlama2cTokenizer(readFileSync(tokenizerPath), config.vocabSize, tokenizerPath) : null;
    const label = `${path} (llama2.c v${version})`;
    const F32 = ggmlType("F32")!;
    const ordered = [...layout].sort((a, b) => ggufRank(a.name) - ggufRank(b.name));
    const byName = new Map(ordered.map((t) => [t.name, t]));
    const tensors: SourceTensor[] = ordered.map((t) => ({ name: t.name, dims: t.rows === 1 ? [t.cols] : [t.cols, t.rows], type: F32, nbytes: 4 * t.rows * t.cols }));
    return {
      label: path, format: "llama2.c", metadata: llamaGgufMetadata(config, label, tokenizer), alignment: 32, tensors,
      read: async (name) => {
        const t = byName.get(name);
        if (!t) throw new QuantLabError("NOT_FOUND", `${path} has no tensor '${name}' under its GGUF name`);
        return f.read(t.offset, 4 * t.rows * t.cols);
      },
      readRows: async (name, r0, r1, into) => {
        const t = byName.get(name);
        if (!t) throw new QuantLabError("NOT_FOUND", `${path} has no tensor '${name}' under its GGUF name`);
        checkRows(tensors.find((x) => x.name === name)!, r0, r1, path);
        const n = 4 * t.cols * (r1 - r0);
        return f.read(t.offset + 4 * t.cols * r0, n, into);
      },
      close: () => f.close(),
      llama: () => ({ config, tokenizer, label }),
    };
  } catch (e) {
    await f.close();
    throw e;
  }
}
