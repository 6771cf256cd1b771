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
 * "channel" scales see the whole window (an offline cache, not a streaming one); "channel" with
 * `groupTokens` uses one scale per group of that many tokens instead, as KIVI does.
 *
 * A `KvCacheSpec` quantizes keys and values differently (KIVI: keys per channel, values per token),
 * keeps the most recent `window` tokens in full precision (KIVI's residual; kv-attention.ts), may
 * quantize keys before RoPE (KVQuant) and may rotate keys by a Hadamard over the head dimension
 * before quantizing them (QuaRot's rotated cache: queries see the same scores, the quantizer sees no
 * outlier channel).
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { check, QuantLabError } from "../../errors.js";
import { roundToF16 } from "../../numerics/float-bits.js";
import { elementFormat, type ElementFormat } from "./kv-formats.js";
import { windowedAttention } from "./kv-attention.js";
import { hadamardRows } from "./hadamard.js";
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

/** Keys and values each with their own format and granularity, and the engine options. */
export interface KvCacheSpec {
  k: KvQuantSpec;
  v: KvQuantSpec;
  /** The most recent tokens kept in full precision (default 0). */
  window?: number;
  /** Tokens per group of per-channel scales (default: all the window's tokens). */
  groupTokens?: number;
  /** Keys quantized before RoPE (KVQuant). */
  preRope?: boolean;
  /** Keys rotated by a Hadamard over the head dimension before quantization. */
  rotate?: boolean;
}

/** One spec for both, or separate ones, as a `KvCacheSpec`. */
export function kvCacheSpec(s: KvQuantSpec | KvCacheSpec): KvCacheSpec {
  return "k" in s ? s : { k: s, v: s };
}

/** "int4:channel,int4:token,window=32,pre-rope,rotate,group=32" (values default to the keys' spec). */
export function parseKvCacheSpec(text: string): KvCacheSpec {
  const usage = "use K_FORMAT:K_GRANULARITY,V_FORMAT:V_GRANULARITY[,window=N][,group=N][,pre-rope][,rotate], e.g. int4:channel,int4:token,window=32";
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  const quant: KvQuantSpec[] = [];
  const out: Partial<KvCacheSpec> = {};
  for (const p of parts) {
    const [key, value] = p.split("=");
    if (value !== undefined) {
      const n = Number(value);
      check(Number.isInteger(n) && n >= 0, "BAD_ARGUMENT", `'${p}' in --kv-cache '${text}' needs a whole number of tokens: ${usage}`);
      if (key === "window") out.window = n;
      else if (key === "group") { check(n >= 1, "BAD_ARGUMENT", `group=${n} in '${text}': use at least 1 token`); out.groupTokens = n; }
      else throw new QuantLabError("BAD_ARGUMENT", `unknown option '${key}' in --kv-cache '${text}': ${usage}`);
    } else if (p === "pre-rope") out.preRope = true;
    else if (p === "rotate") out.rotate = true;
    else {
      const [format, granularity, ...rest] = p.split(":");
      check(format && granularity && rest.length === 0, "BAD_ARGUMENT", `'${p}' in --kv-cache '${text}' is not FORMAT:GRANULARITY: ${usage}`);
      elementFormat(format);
      check((KV_GRANULARITIES as readonly string[]).includes(granularity), "BAD_ARGUMENT",
        `KV granularity '${granularity}' in '${text}' is unknown: use one of ${KV_GRANULARITIES.join(", ")}`);
      quant.push({ format, granularity: granularity as KvGranularity });
    }
  }
  check(quant.length === 1 || quant.length === 2, "BAD_ARGUMENT", `--kv-cache '${text}' needs one or two FORMAT:GRANULARITY parts (keys, then values): ${usage}`);
  return { ...out, k: quant[0], v: quant[1] ?? quant[0] };
}

export function kvSpecLabel(s: KvCacheSpec): string {
  const q = (x: KvQuantSpec) => `${x.format}:${x.granularity}`;
  return [q(s.k), q(s.v), s.window ? `window=${s.window}` : "", s.groupTokens ? `group=${s.groupTokens}` : "",
    s.preRope ? "pre-rope" : "", s.rotate ? "rotate" : ""].filter(Boolean).join(",");
}

/**
 * Quantizes then dequantizes x ([T, H, D] row-major); returns the new values. "channel" groups span
 * `groupTokens` consecutive tokens (KIVI's G; default all T). Asymmetric formats store min and scale.
 */
export function fakeQuantKv(x: Float32Array, shape: [number, number, number], fmt: ElementFormat, g: KvGranularity, groupTokens = Infinity): Float32Array {
  const [T, H, D] = shape;
  check(x.length === T * H * D, "BAD_SHAPE", `KV tensor has ${x.length} values, shape ${T}×${H}×${D} needs ${T * H * D}`);
  check(groupTokens >= 1, "BAD_ARGUMENT", `KV groups of ${groupTokens} tokens: use at least 1`);
  const out = new Float32Array(x.length);
  const G = Math.min(T, groupTokens), chunks = Math.ceil(T / G);
  // A group is every element sharing one scale.
  const groupOf = (t: number, h: number, d: number): number =>
    g === "tensor" ? 0 : g === "token" ? t : g === "head" ? t * H + h : (Math.floor(t / G) * H + h) * D + d;
  const nGroups = g === "tensor" ? 1 : g === "token" ? T : g === "head" ? T * H : chunks * H * D;
  const hi = new Float32Array(nGroups).fill(fmt.asymmetric ? -Infinity : 0), lo = new Float32Array(nGroups).fill(Infinity);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < D; d++) {
        const k = groupOf(t, h, d), v = x[(t * H + h) * D + d];
        if (fmt.asymmetric) {
          if (v > hi[k]) hi[k] = v;
          if (v < lo[k]) lo[k] = v;
        } else if (Math.abs(v) > hi[k]) hi[k] = Math.abs(v);
      }
  const scale = roundToF16(Array.from(hi, (a, k) => {
    const range = fmt.asymmetric ? a - lo[k] : a;
    return range > 0 ? range / fmt.maxValue : 1;
  }));
  const zero = fmt.asymmetric ? roundToF16(lo) : null;
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++)
      for (let d = 0; d < D; d++) {
        const i = (t * H + h) * D + d, k = groupOf(t, h, d), s = scale[k];
        out[i] = zero ? fmt.round((x[i] - zero[k]) / s) * s + zero[k] : fmt.round(x[i] / s) * s;
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

export interface KvErrors { kErr: number; vErr: number; kNorm: number; vNorm: number }

/** Hooks that fake-quantize keys and values with `spec` (and record their errors in `stats`). */
export function kvQuantHook(spec: KvQuantSpec | KvCacheSpec, stats?: KvErrors): BlockHooks {
  const s = kvCacheSpec(spec);
  const kf = elementFormat(s.k.format), vf = elementFormat(s.v.format);
  const record = (x: Float32Array, q: Float32Array, isK: boolean) => {
    if (!stats) return;
    let e = 0, n = 0;
    for (let i = 0; i < x.length; i++) {
      e += (x[i] - q[i]) ** 2;
      n += x[i] ** 2;
    }
    if (isK) { stats.kErr += e; stats.kNorm += n; } else { stats.vErr += e; stats.vNorm += n; }
  };
  const one = (t: tf.Tensor3D, isK: boolean): tf.Tensor3D => {
    const x = t.dataSync() as Float32Array;
    const D = t.shape[2];
    let q: Float32Array;
    if (isK && s.rotate) {
      // H is symmetric and its own inverse: quantize k·H, read back (k·H)^·H.
      const r = Float32Array.from(x);
      hadamardRows(r, D);
      q = fakeQuantKv(r, t.shape, kf, s.k.granularity, s.groupTokens);
      hadamardRows(q, D);
    } else q = fakeQuantKv(x, t.shape, isK ? kf : vf, isK ? s.k.granularity : s.v.granularity, s.groupTokens);
    record(x, q, isK);
    return tf.tensor3d(q, t.shape);
  };
  if (!s.window && !s.preRope) return { kv: (_layer, k, v) => ({ k: one(k, true), v: one(v, false) }) };
  const window = s.window ?? 0;
  return {
    attention: (_layer, q, k, v, rope) => {
      const kFull = rope(k);
      const kQuant = s.preRope ? rope(one(k, true)) : one(kFull, true);
      return windowedAttention(rope(q), kFull, kQuant, v, one(v, false), window);
    },
  };
}

/** Bytes per cached token at `context` positions: K and V, all layers, FP16 scales (and zero points), the window in FP16. */
export function kvBytesPerToken(cfg: { nLayers: number; nKvHeads: number; dim: number; nHeads: number }, spec: KvQuantSpec | KvCacheSpec, context: number): number {
  const s = kvCacheSpec(spec);
  const H = cfg.nKvHeads, D = cfg.dim / cfg.nHeads;
  const side = (x: KvQuantSpec) => {
    const f = elementFormat(x.format);
    const perScale = f.asymmetric ? 4 : 2;
    const G = Math.min(context, s.groupTokens ?? context);
    const scales = x.granularity === "tensor" ? 1 / context : x.granularity === "token" ? 1 : x.granularity === "head" ? H : (H * D) / G;
    return (H * D * f.bits) / 8 + scales * perScale;
  };
  const quant = side(s.k) + side(s.v), full = 2 * H * D * 2;
  const w = Math.min(context, s.window ?? 0);
  return cfg.nLayers * ((context - w) * quant + w * full) / context;
}

export interface KvRow {
  /** The whole spec as --kv-cache writes it ("FP32" for the unquantized cache). */
  spec: string;
  /** The keys' format and granularity. */
  format: string;
  granularity: KvGranularity | "none";
  bits: number;
  /** Bytes per token at the model's full context (K and V, all layers, scales and the window included). */
  bytesPerToken: number;
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
    const head = ["cache", "B/token", "KiB", "vs FP16", "K err", "V err", "attn err", "ppl", "KLD", "same top"];
    const cells = this.rows.map((r) => [
      r.spec, r.bytesPerToken.toFixed(1), (r.bytes / 1024).toFixed(1), `${(100 * (1 - r.saved)).toFixed(0)} %`,
      r.kRelError.toExponential(2), r.vRelError.toExponential(2), r.attnRelError.toExponential(2), r.perplexity.toFixed(4),
      r.kld.toExponential(2), `${r.sameTopPercent.toFixed(1)}%`,
    ]);
    return {
      "text/plain": [head, ...cells].map((c) => c.map((x, i) => x.padEnd(i === 0 ? Math.max(...cells.map((r) => r[0].length), 5) + 2 : 11)).join("")).join("\n") +
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
export function kvCacheStudy(rt: LlamaRuntime, wins: number[][], specs: (KvQuantSpec | KvCacheSpec)[], bos: number): KvReport {
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
    spec: "FP32", format: "FP32", granularity: "none", bits: 32, bytesPerToken: kvCacheBytes(c, 1, 32), bytes: kvCacheBytes(c, ctx, 32), saved: 1 - kvCacheBytes(c, ctx, 32) / fp16Bytes,
    kRelError: 0, vRelError: 0, attnRelError: 0, perplexity: basePpl.perplexity, tokens: basePpl.tokens, kld: 0, sameTopPercent: 100,
  }];
  for (const one of specs) {
    const spec = kvCacheSpec(one);
    const fmt = elementFormat(spec.k.format);
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
    const perToken = kvBytesPerToken(c, spec, ctx), bytes = perToken * ctx;
    rows.push({
      spec: kvSpecLabel(spec), format: fmt.name, granularity: spec.k.granularity, bits: fmt.bits, bytesPerToken: perToken, bytes, saved: 1 - bytes / fp16Bytes,
      kRelError: stats.kErr / stats.kNorm, vRelError: stats.vErr / stats.vNorm, attnRelError: e / n,
      perplexity: p.perplexity, tokens: p.tokens, kld: p.kld.mean, sameTopPercent: p.sameTopPercent,
    });
  }
  return new KvReport(rows, ctx);
}
