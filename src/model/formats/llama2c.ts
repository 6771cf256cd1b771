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
 * permutation is needed.
 */
import { readFileSync } from "node:fs";
import { check } from "../../errors.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import { validateModel, type LlamaConfig, type LlamaLayer, type LlamaModel } from "../llama.js";
import { Tokenizer } from "./tokenizer.js";

const MAGIC_V1 = 0x616b3432;

export function parseLlama2c(bytes: Uint8Array, source = "llama2.c checkpoint", tokenizer: Tokenizer | null = null): LlamaModel {
  check(bytes.byteLength >= 28, "BAD_FILE", `${source} has ${bytes.byteLength} bytes: too short for a llama2.c header (28)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v1 = dv.getUint32(0, true) === MAGIC_V1;
  let o = 0;
  if (v1) {
    const version = dv.getInt32(4, true);
    check(version === 1, "UNSUPPORTED", `${source} is llama2.c export version ${version}: only versions 0 (legacy) and 1 (fp32) hold FP32 weights`);
    o = 8;
  }
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(o + 4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h;
  const shared = v1 ? dv.getUint8(o + 28) !== 0 : vocabRaw > 0;
  const vocabSize = Math.abs(vocabRaw);
  check(h.every((x, i) => (i === 5 ? x !== 0 : x > 0)) && dim % nHeads === 0 && nHeads % nKvHeads === 0, "BAD_FILE",
    `${source} header [${h.join(", ")}] is not a llama2.c config (dim, hidden, layers, heads, kv heads, vocab, seq len)`);
  o = v1 ? 256 : 28;
  const config: LlamaConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, contextLength: seqLen, rmsEps: 1e-5, ropeTheta: 10000 };
  const hd = dim / nHeads, kv = hd * nKvHeads;
  const floats = (n: number): Float32Array => {
    check(o + 4 * n <= bytes.byteLength, "BAD_FILE",
      `${source} is truncated: needs ${o + 4 * n} bytes for config [${h.join(", ")}], has ${bytes.byteLength}`);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(o + 4 * i, true);
    o += 4 * n;
    return out;
  };
  const perLayer = (rows: number, cols: number): Matrix[] => Array.from({ length: nLayers }, () => matrix(rows, cols, floats(rows * cols)));
  const vecs = () => Array.from({ length: nLayers }, () => floats(dim));
  let emb: Matrix, attnNorm: Float32Array[], ffnNorm: Float32Array[], finalNorm: Float32Array | null = null;
  if (v1) {
    attnNorm = vecs();
    ffnNorm = vecs();
    finalNorm = floats(dim);
    emb = matrix(vocabSize, dim, floats(vocabSize * dim));
  } else {
    emb = matrix(vocabSize, dim, floats(vocabSize * dim));
    attnNorm = vecs();
  }
  const wq = perLayer(dim, dim), wk = perLayer(kv, dim), wv = perLayer(kv, dim), wo = perLayer(dim, dim);
  if (!v1) ffnNorm = vecs();
  const w1 = perLayer(hiddenDim, dim), w2 = perLayer(dim, hiddenDim), w3 = perLayer(hiddenDim, dim);
  if (!v1) {
    finalNorm = floats(dim);
    floats(seqLen * (hd / 2) * 2); // RoPE cos/sin tables: recomputed by the forward pass
  }
  const output = shared ? null : matrix(vocabSize, dim, floats(vocabSize * dim));
  const layers: LlamaLayer[] = Array.from({ length: nLayers }, (_, i) => ({
    attnNorm: attnNorm[i], ffnNorm: ffnNorm![i],
    attn_q: wq[i], attn_k: wk[i], attn_v: wv[i], attn_output: wo[i], ffn_gate: w1[i], ffn_up: w3[i], ffn_down: w2[i],
  }));
  const model: LlamaModel = { config, tokenEmbedding: emb, layers, outputNorm: finalNorm!, output, tokenizer, source: `${source} (llama2.c v${v1 ? 1 : 0})` };
  validateModel(model);
  return model;
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
