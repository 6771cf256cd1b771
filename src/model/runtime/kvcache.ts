/**
 * KV-cache quantization: keys and values of every layer pass through quantize → dequantize inside the
 * forward pass (the `kv` hook), so perplexity shows what a quantized cache costs, next to the memory it
 * saves. Keys are quantized after RoPE, as engines that store a rotated cache do.
 *
 * Granularity over one layer's new keys (or values) shaped [tokens, kvHeads, headDim]:
 *  - "tensor":  one scale for the whole tensor (vLLM's FP8 cache);
 *  - "token":   one scale per token (over all heads and channels; KIVI's choice for values);
 *  - "head":    one scale per (token, head) vector;
 *  - "channel": one scale per (head, channel) over all tokens (KIVI's choice for keys).
 * Scales are absmax / the format's largest value, kept in FP16 (their memory is counted).
 * Within a perplexity window all of the window's tokens are quantized together, so "tensor" and
 * "channel" scales see the whole window (an offline cache, not a streaming one).
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { check } from "../../errors.js";
import { roundToF16 } from "../../numerics/float-bits.js";
import { elementFormat, type ElementFormat } from "./kv-formats.js";
import type { BlockHooks, LlamaRuntime } from "./forward.js";
import { perplexity } from "./eval.js";
import { baseLogProbs, klDivergenceSaved } from "./kld.js";
import { tf } from "./tf.js";

export type KvGranularity = "tensor" | "token" | "head" | "channel";
export const KV_GRANULARITIES: readonly KvGranularity[] = ["tensor", "token", "head", "channel"];

export interface KvQuantSpec {
  format: string;
  granularity: KvGranularity;
}

/** Quantizes then dequantizes x ([T, H, D] row-major) in place-free fashion; returns the new values. */
export function fakeQuantKv(x: Float32Array, shape: [number, number, number], fmt: ElementFormat, g: KvGranularity): Float32Array {
  const [T, H, D] = shape;
  check(x.length === T * H * D, "BAD_SHAPE", `KV tensor has ${x.length} values, shape ${T}×${H}×${D} needs ${T * H * D}`);
  const out = new Float32Array(x.length);
  // Index sets as (stride pattern): a group is every element sharing one scale.
  const groupOf = (t: number, h: number, d: number): number =>
    g === "tensor" ? 0 : g === "token" ? t : g === "head" ? t * H + h : h * D + d;
  const nGroups = g === "tensor" ? 1 : g === "token" ? T : g === "head" ? T * H : H * D;
  const amax = new Float32Array(nGroups);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < D; d++) {
        const k = groupOf(t, h, d), v = Math.abs(x[(t * H + h) * D + d]);
        if (v > amax[k]) amax[k] = v;
      }
  const scale = roundToF16(Array.from(amax, (a) => (a > 0 ? a / fmt.maxValue : 1)));
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < D; d++) {
        const i = (t * H + h) * D + d, s = scale[groupOf(t, h, d)];
        out[i] = fmt.round(x[i] / s) * s;
      }
  return out;
}

/** Bytes of a KV cache of `tokens` positions (both K and V, all layers, batch 1) with FP16 scales. */
export function kvCacheBytes(
  cfg: { nLayers: number; nKvHeads: number; dim: number; nHeads: number },
  tokens: number,
  bitsPerElement: number,
  g: KvGranularity | "none" = "none",
): number {
  const H = cfg.nKvHeads, D = cfg.dim / cfg.nHeads;
  const elems = 2 * cfg.nLayers * H * D * tokens;
  const scalesPerLayerTensor = g === "none" ? 0 : g === "tensor" ? 1 : g === "token" ? tokens : g === "head" ? tokens * H : H * D;
  return (elems * bitsPerElement) / 8 + 2 * cfg.nLayers * scalesPerLayerTensor * 2;
}

/** A `kv` hook that fake-quantizes keys and values with `spec` (and records their errors). */
export function kvQuantHook(spec: KvQuantSpec, stats?: { kErr: number; vErr: number; kNorm: number; vNorm: number }): BlockHooks {
  const fmt = elementFormat(spec.format);
  const one = (t: tf.Tensor3D, isK: boolean): tf.Tensor3D => {
    const x = t.dataSync() as Float32Array;
    const q = fakeQuantKv(x, t.shape, fmt, spec.granularity);
    if (stats) {
      let e = 0, n = 0;
      for (let i = 0; i < x.length; i++) {
        e += (x[i] - q[i]) ** 2;
        n += x[i] ** 2;
      }
      if (isK) { stats.kErr += e; stats.kNorm += n; } else { stats.vErr += e; stats.vNorm += n; }
    }
    return tf.tensor3d(q, t.shape);
  };
  return { kv: (_layer, k, v) => ({ k: one(k, true), v: one(v, false) }) };
}

export interface KvRow {
  format: string;
  granularity: KvGranularity | "none";
  bits: number;
  /** Bytes of the cache at the model's full context (K and V, all layers, batch 1, scales included). */
  bytes: number;
  /** Saved versus an FP16 cache, as a fraction. */
  saved: number;
  /** ‖K − K̂‖² / ‖K‖² and the same for V, summed over layers and windows. */
  kRelError: number;
  vRelError: number;
  /** Relative error of the attention outputs (inputs of attn_output), all layers, versus the FP32 cache. */
  attnRelError: number;
  perplexity: number;
  tokens: number;
  /** Mean KL(p_FP32-cache ‖ p_quantized-cache) per token (nats) and the share of tokens whose top token agrees. */
  kld: number;
  sameTopPercent: number;
}

export class KvReport {
  constructor(readonly rows: KvRow[], readonly contextTokens: number) {}
  [DISPLAY](): MimeBundle {
    // size relative to FP16, not "saved": the FP32 reference row would read "saved −100 %"
    const head = ["format", "granularity", "bits", "KiB", "vs FP16", "K err", "V err", "attn err", "ppl", "KLD", "same top"];
    const cells = this.rows.map((r) => [
      r.format, r.granularity, String(r.bits), (r.bytes / 1024).toFixed(1), `${(100 * (1 - r.saved)).toFixed(0)} %`,
      r.kRelError.toExponential(2), r.vRelError.toExponential(2), r.attnRelError.toExponential(2), r.perplexity.toFixed(4),
      r.kld.toExponential(2), `${r.sameTopPercent.toFixed(1)}%`,
    ]);
    return {
      "text/plain": [head, ...cells].map((c) => c.map((x) => x.padEnd(12)).join("")).join("\n") +
        `\n(memory at ${this.contextTokens} tokens; errors relative to the FP32 cache)`,
      "text/html": `<table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${cells
        .map((c) => `<tr>${c.map((x) => `<td>${x}</td>`).join("")}</tr>`).join("")}</table>`,
    };
  }
}

/** Attention outputs of every layer for the given windows (optionally with a quantized cache). */
function attentionOutputs(rt: LlamaRuntime, wins: number[][], hooks: BlockHooks): Float32Array[] {
  const out: Float32Array[] = [];
  for (const w of wins) {
    const lg = rt.forward(w, {
      ...hooks,
      onLinearInput: (_l, names, x) => {
        if (names[0] === "attn_output") out.push(x.dataSync() as Float32Array);
      },
    });
    lg.dispose();
  }
  return out;
}

/**
 * Perplexity and errors with each KV spec over token windows (BOS-led, from `windows()` in eval.ts),
 * next to the FP32 cache. `bits` per element come from the format.
 */
export function kvCacheStudy(rt: LlamaRuntime, wins: number[][], specs: KvQuantSpec[], bos: number): KvReport {
  check(wins.length > 0, "BAD_ARGUMENT", "the KV study needs at least one window of tokens");
  const c = rt.config;
  const ctx = c.contextLength;
  const flat = wins.flatMap((w) => w.slice(1));
  const window = Math.max(...wins.map((w) => w.length));
  const fp16Bytes = kvCacheBytes(c, ctx, 16);
  const base = attentionOutputs(rt, wins, {});
  const basePpl = perplexity(rt, { bos }, flat, { window });
  const saved = baseLogProbs(rt, flat, bos, { window });
  const rows: KvRow[] = [{
    format: "FP32", granularity: "none", bits: 32, bytes: kvCacheBytes(c, ctx, 32), saved: 1 - kvCacheBytes(c, ctx, 32) / fp16Bytes,
    kRelError: 0, vRelError: 0, attnRelError: 0, perplexity: basePpl.perplexity, tokens: basePpl.tokens, kld: 0, sameTopPercent: 100,
  }];
  for (const spec of specs) {
    const fmt = elementFormat(spec.format);
    const stats = { kErr: 0, vErr: 0, kNorm: 0, vNorm: 0 };
    const hooks = kvQuantHook(spec, stats);
    const att = attentionOutputs(rt, wins, hooks);
    let e = 0, n = 0;
    att.forEach((a, i) => {
      const b = base[i];
      for (let j = 0; j < a.length; j++) {
        e += (a[j] - b[j]) ** 2;
        n += b[j] ** 2;
      }
    });
    const p = klDivergenceSaved(saved, rt, flat, bos, { window, hooks: kvQuantHook(spec) });
    const bytes = kvCacheBytes(c, ctx, fmt.bits, spec.granularity);
    rows.push({
      format: fmt.name, granularity: spec.granularity, bits: fmt.bits, bytes, saved: 1 - bytes / fp16Bytes,
      kRelError: stats.kErr / stats.kNorm, vRelError: stats.vErr / stats.vNorm, attnRelError: e / n,
      perplexity: p.perplexity, tokens: p.tokens, kld: p.kld.mean, sameTopPercent: p.sameTopPercent,
    });
  }
  return new KvReport(rows, ctx);
}
