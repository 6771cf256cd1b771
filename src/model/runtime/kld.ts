/**
 * KL divergence of a quantized model's next-token distribution from its base model's, over exactly
 * the tokens `perplexity` scores (eval.ts: BOS-led non-overlapping windows, every text token scored
 * given the tokens before it in its window). Per scored position, KL(p_base ‖ p_quant) over the whole
 * vocabulary, accumulated in float64; the statistics are llama.cpp's (kld-stats.ts).
 *
 * The base is either a second runtime (exact: both full distributions) or saved log-probabilities
 * (kld-base.ts: top k plus the rest's mass), so a sweep of quantizations pays one forward pass each.
 * The report keeps per-token detail (KLD, the correct token's probabilities, both top-3) for the
 * token view.
 */
import { check } from "../../errors.js";
import type { BlockHooks, LlamaRuntime } from "./forward.js";
import { windows } from "./eval.js";
import { tf } from "./tf.js";
import { kldStatistics, type KldStatistics } from "./kld-stats.js";
import { checkBaseFits, type BaseLogProbs } from "./kld-base.js";

export interface KldOptions {
  /** Positions per window including BOS (default: the model's context length). */
  window?: number;
  /** Score at most this many text tokens (default: all). */
  maxTokens?: number;
  /** Hooks of the quantized model's forward pass (e.g. a KV-cache quantizer). */
  hooks?: BlockHooks;
  /** Hooks of the base model's forward pass. */
  baseHooks?: BlockHooks;
}

/** How many of each model's most likely tokens the report keeps per position. */
export const TOP = 3;

/** Per scored position: what the statistics need and what the token view shows. */
export interface KldTokens {
  /** The scored (correct) token at each position. */
  tokens: Int32Array;
  kld: Float64Array;
  nllBase: Float64Array;
  nllQuant: Float64Array;
  sameTop: Uint8Array;
  /** [positions × TOP] most likely tokens and their probabilities, base and quantized. */
  baseTop: Int32Array;
  baseTopP: Float32Array;
  quantTop: Int32Array;
  quantTopP: Float32Array;
}

export interface KldResult extends KldStatistics {
  window: number;
  windows: number;
  /** false when the base came from saved top-k log-probabilities. */
  exact: boolean;
  detail: KldTokens;
}

/** [T × vocab] log-probabilities of one window (row t predicts token t + 1). */
export function windowLogProbs(rt: LlamaRuntime, w: number[], hooks: BlockHooks = {}): Float32Array {
  const logits = rt.forward(w, hooks);
  const lsm = tf.tidy(() => tf.logSoftmax(logits));
  const v = lsm.dataSync() as Float32Array;
  logits.dispose();
  lsm.dispose();
  return v;
}

/** The k largest entries of row (ids most likely first) into ids/vals at offset o. */
export function topOf(row: Float32Array, k: number, ids: Int32Array, vals: Float32Array, o: number): void {
  let n = 0;
  for (let v = 0; v < row.length; v++) {
    const x = row[v];
    if (n === k && x <= vals[o + k - 1]) continue;
    let j = n < k ? n++ : k - 1;
    while (j > 0 && vals[o + j - 1] < x) {
      vals[o + j] = vals[o + j - 1];
      ids[o + j] = ids[o + j - 1];
      j--;
    }
    vals[o + j] = x;
    ids[o + j] = v;
  }
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

/** Text tokens and windows as `perplexity` makes them; refuses texts too short for statistics. */
export function scoredWindows(ids: ArrayLike<number>, bos: number, window: number, contextLength: number, maxTokens?: number): number[][] {
  check(window <= contextLength, "BAD_ARGUMENT",
    `window ${window} exceeds the model's context ${contextLength}: use --window ${contextLength} or less`);
  const n = Math.min(ids.length, maxTokens ?? Infinity);
  check(n >= 2, "BAD_ARGUMENT",
    `the text for KL divergence has ${n} token${n === 1 ? "" : "s"}: give at least two tokens (a sentence or more of text)${maxTokens !== undefined && ids.length >= 2 ? `, or raise --max-tokens ${maxTokens}` : ""}`);
  return windows(Array.from(ids), bos, window, n);
}

function allocate(n: number): KldTokens {
  return {
    tokens: new Int32Array(n), kld: new Float64Array(n), nllBase: new Float64Array(n), nllQuant: new Float64Array(n), sameTop: new Uint8Array(n),
    baseTop: new Int32Array(n * TOP), baseTopP: new Float32Array(n * TOP), quantTop: new Int32Array(n * TOP), quantTopP: new Float32Array(n * TOP),
  };
}

function finish(d: KldTokens, window: number, nWindows: number, exact: boolean): KldResult {
  return { ...kldStatistics(d), window, windows: nWindows, exact, detail: d };
}

function quantSide(d: KldTokens, t: number, lq: Float32Array, target: number): number {
  const o = t * TOP;
  topOf(lq, TOP, d.quantTop, d.quantTopP, o);
  for (let j = 0; j < TOP; j++) d.quantTopP[o + j] = Math.exp(d.quantTopP[o + j]);
  d.nllQuant[t] = -lq[target];
  d.tokens[t] = target;
  return d.quantTop[o];
}

/**
 * KLD of `quant` from a base runtime on text token ids (no BOS), exact over the whole vocabulary.
 * Both runtimes must share the vocabulary.
 */
export function klDivergenceRuntimes(base: LlamaRuntime, quant: LlamaRuntime, ids: ArrayLike<number>, bos: number, opts: KldOptions = {}): KldResult {
  const V = quant.config.vocabSize;
  check(base.config.vocabSize === V, "BAD_ARGUMENT",
    `the base model has a vocabulary of ${base.config.vocabSize} tokens and the quantized one ${V}: compare a model with a quantization of itself`);
  const window = opts.window ?? Math.min(base.config.contextLength, quant.config.contextLength);
  const ws = scoredWindows(ids, bos, window, Math.min(base.config.contextLength, quant.config.contextLength), opts.maxTokens);
  const d = allocate(ws.reduce((s, w) => s + w.length - 1, 0));
  let t = 0;
  for (const w of ws) {
    const lb = windowLogProbs(base, w, opts.baseHooks);
    const lq = windowLogProbs(quant, w, opts.hooks);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const rb = lb.subarray(i * V, (i + 1) * V), rq = lq.subarray(i * V, (i + 1) * V);
      let kl = 0;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(rb[v]);
        if (p > 0) kl += p * (rb[v] - rq[v]);
      }
      // Rounding can leave a hair below zero for identical distributions; KL is non-negative.
      d.kld[t] = Math.max(0, kl);
      d.nllBase[t] = -rb[w[i + 1]];
      const o = t * TOP;
      topOf(rb, TOP, d.baseTop, d.baseTopP, o);
      for (let j = 0; j < TOP; j++) d.baseTopP[o + j] = Math.exp(d.baseTopP[o + j]);
      d.sameTop[t] = quantSide(d, t, rq, w[i + 1]) === argmax(rb) ? 1 : 0;
    }
  }
  return finish(d, window, ws.length, true);
}

/** The base model's top-k log-probabilities (plus the rest's mass) on the scored tokens, for reuse. */
export function baseLogProbs(base: LlamaRuntime, ids: ArrayLike<number>, bos: number, opts: KldOptions & { k?: number } = {}): BaseLogProbs {
  const V = base.config.vocabSize;
  const k = Math.min(opts.k ?? 32, V);
  check(Number.isInteger(k) && k >= 1, "BAD_ARGUMENT", `k ${opts.k} must be a positive integer: the number of most likely tokens kept per position (e.g. 32)`);
  const window = opts.window ?? base.config.contextLength;
  const ws = scoredWindows(ids, bos, window, base.config.contextLength, opts.maxTokens);
  const n = ws.reduce((s, w) => s + w.length - 1, 0);
  const b: BaseLogProbs = {
    vocabSize: V, k, window, bos, tokens: new Int32Array(n), nll: new Float32Array(n), rest: new Float32Array(n),
    ids: new Int32Array(n * k), logp: new Float32Array(n * k),
  };
  const inTop = new Uint8Array(V);
  let t = 0;
  for (const w of ws) {
    const lb = windowLogProbs(base, w, opts.baseHooks);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const rb = lb.subarray(i * V, (i + 1) * V);
      topOf(rb, k, b.ids, b.logp, t * k);
      for (let j = 0; j < k; j++) inTop[b.ids[t * k + j]] = 1;
      let rest = 0;
      for (let v = 0; v < V; v++) if (!inTop[v]) rest += Math.exp(rb[v]);
      for (let j = 0; j < k; j++) inTop[b.ids[t * k + j]] = 0;
      b.rest[t] = rest;
      b.nll[t] = -rb[w[i + 1]];
      b.tokens[t] = w[i + 1];
    }
  }
  return b;
}

/** KLD of `quant` from saved base log-probabilities: one forward pass of the quantized model. */
export function klDivergenceSaved(base: BaseLogProbs, quant: LlamaRuntime, ids: ArrayLike<number>, bos: number, opts: KldOptions = {}): KldResult {
  const V = quant.config.vocabSize;
  const window = opts.window ?? base.window;
  const ws = scoredWindows(ids, bos, window, quant.config.contextLength, opts.maxTokens);
  checkBaseFits(base, V, window, ws.flatMap((w) => w.slice(1)));
  const k = base.k;
  const d = allocate(base.tokens.length);
  const inTop = new Uint8Array(V);
  let t = 0;
  for (const w of ws) {
    const lq = windowLogProbs(quant, w, opts.hooks);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const rq = lq.subarray(i * V, (i + 1) * V);
      let kl = 0;
      for (let j = 0; j < k; j++) {
        const id = base.ids[t * k + j], lp = base.logp[t * k + j];
        inTop[id] = 1;
        kl += Math.exp(lp) * (lp - rq[id]);
      }
      const rb = base.rest[t];
      if (rb > 0) {
        let rqm = 0;
        for (let v = 0; v < V; v++) if (!inTop[v]) rqm += Math.exp(rq[v]);
        kl += rb * (Math.log(rb) - Math.log(Math.max(rqm, 1e-300)));
      }
      for (let j = 0; j < k; j++) inTop[base.ids[t * k + j]] = 0;
      d.kld[t] = Math.max(0, kl);
      d.nllBase[t] = base.nll[t];
      const o = t * TOP;
      for (let j = 0; j < TOP; j++) {
        d.baseTop[o + j] = j < k ? base.ids[t * k + j] : -1;
        d.baseTopP[o + j] = j < k ? Math.exp(base.logp[t * k + j]) : 0;
      }
      d.sameTop[t] = quantSide(d, t, rq, w[i + 1]) === base.ids[t * k] ? 1 : 0;
    }
  }
  return finish(d, window, ws.length, false);
}
