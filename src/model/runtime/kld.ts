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
import { throwIfInterrupted } from "../../interrupt.js";
import type { BlockHooks, LlamaRuntime } from "./forward.js";
import { windows } from "./eval.js";
import { tf } from "./tf.js";
import { kldStatistics, type KldStatistics } from "./kld-stats.js";
import { checkBaseFits, type BaseLogProbs } from "./kld-base.js";
import type { LlamaModel } from "../llama.js";

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

/** llama.cpp's KLD statistics with the windows used, whether the base was exact, and per-token detail. */
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
  const kld = exactKld(ws, V);
  for (const w of ws) {
    throwIfInterrupted("KL divergence");
    kld.add(w, windowLogProbs(base, w, opts.baseHooks), windowLogProbs(quant, w, opts.hooks));
  }
  return kld.result(window);
}

/**
 * Exact KLD accumulated window by window from both models' [T × V] log-probabilities, in the order of
 * `ws` (how the log-probabilities are computed is the caller's: whole runtimes, or layer-major passes).
 */
export function exactKld(ws: readonly (readonly number[])[], V: number): { add(w: readonly number[], lb: Float32Array, lq: Float32Array): void; result(window: number): KldResult } {
  const d = allocate(ws.reduce((s, w) => s + w.length - 1, 0));
  let t = 0;
  return {
    add: (w, lb, lq) => {
      for (let i = 0; i + 1 < w.length; i++, t++) {
        const rb = lb.subarray(i * V, (i + 1) * V), rq = lq.subarray(i * V, (i + 1) * V);
        let kl = 0;
        for (let v = 0; v < V; v++) {
          const p = Math.exp(rb[v]);
          if (p > 0) kl += p * (rb[v] - rq[v]);
        }
        // Rounding can leave a hair below zero for identical distributions; KL is non-negative.
        d.kld[t] = Math.max(0, kl);
        d.nllBase[t] = -rb[w[i + 1]!];
        const o = t * TOP;
        topOf(rb, TOP, d.baseTop, d.baseTopP, o);
        for (let j = 0; j < TOP; j++) d.baseTopP[o + j] = Math.exp(d.baseTopP[o + j]);
        d.sameTop[t] = quantSide(d, t, rq, w[i + 1]!) === argmax(rb) ? 1 : 0;
      }
    },
    result: (window) => finish(d, window, ws.length, true),
  };
}

/**
 * The base model's most likely tokens per scored position (until the mass left over is below
 * `restMass`, at most `maxK`), that left-over mass and the correct token's log-probability, for reuse.
 */
export function baseLogProbs(base: LlamaRuntime, ids: ArrayLike<number>, bos: number, opts: KldOptions & { restMass?: number; maxK?: number } = {}): BaseLogProbs {
  const V = base.config.vocabSize;
  const restMass = opts.restMass ?? 1e-4, maxK = Math.min(opts.maxK ?? V, V);
  check(restMass >= 0 && restMass < 1, "BAD_ARGUMENT", `restMass ${restMass} must be in [0, 1): the probability left out per token (e.g. 1e-4)`);
  check(Number.isInteger(maxK) && maxK >= 1, "BAD_ARGUMENT", `maxK ${opts.maxK} must be a positive integer: the most tokens kept per position`);
  const window = opts.window ?? base.config.contextLength;
  const ws = scoredWindows(ids, bos, window, base.config.contextLength, opts.maxTokens);
  const n = ws.reduce((s, w) => s + w.length - 1, 0);
  const tokens = new Int32Array(n), nll = new Float32Array(n), rest = new Float32Array(n), offsets = new Int32Array(n + 1);
  const keptIds: Int32Array[] = [], keptLp: Float32Array[] = [];
  const order = new Int32Array(V);
  const cut = restMass / V;
  let t = 0;
  for (const w of ws) {
    throwIfInterrupted("KL divergence");
    const lb = windowLogProbs(base, w, opts.baseHooks);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const rb = lb.subarray(i * V, (i + 1) * V);
      // tokens below restMass / V cannot be needed (all of them together stay under restMass): only
      // the others are sorted, and the left-over mass is summed from the smallest up, exact when tiny
      let m = 0, below = 0;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(rb[v]);
        if (p > cut) order[m++] = v;
        else below += p;
      }
      const cands = order.subarray(0, m).sort((a, b) => rb[b] - rb[a]);
      const tail = new Float64Array(m + 1);
      tail[m] = below;
      for (let j = m - 1; j >= 0; j--) tail[j] = tail[j + 1] + Math.exp(rb[cands[j]]);
      let k = 1;
      while (k < Math.min(maxK, m) && tail[k] > restMass) k++;
      keptIds.push(cands.slice(0, k));
      keptLp.push(Float32Array.from(keptIds[keptIds.length - 1], (v) => rb[v]));
      offsets[t + 1] = offsets[t] + k;
      rest[t] = tail[k];
      nll[t] = -rb[w[i + 1]];
      tokens[t] = w[i + 1];
    }
  }
  const idsOut = new Int32Array(offsets[n]), logp = new Float32Array(offsets[n]);
  keptIds.forEach((a, i) => (idsOut.set(a, offsets[i]), logp.set(keptLp[i], offsets[i])));
  return { vocabSize: V, window, bos, restMass, tokens, nll, rest, offsets, ids: idsOut, logp };
}

/** KLD of `quant` from saved base log-probabilities: one forward pass of the quantized model. */
export function klDivergenceSaved(base: BaseLogProbs, quant: LlamaRuntime, ids: ArrayLike<number>, bos: number, opts: KldOptions = {}): KldResult {
  const V = quant.config.vocabSize;
  const window = opts.window ?? base.window;
  const ws = scoredWindows(ids, bos, window, quant.config.contextLength, opts.maxTokens);
  checkBaseFits(base, V, window, ws.flatMap((w) => w.slice(1)));
  const d = allocate(base.tokens.length);
  const inTop = new Uint8Array(V);
  let t = 0;
  for (const w of ws) {
    throwIfInterrupted("KL divergence");
    const lq = windowLogProbs(quant, w, opts.hooks);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const rq = lq.subarray(i * V, (i + 1) * V);
      const s = base.offsets[t], e = base.offsets[t + 1];
      let kl = 0;
      for (let j = s; j < e; j++) {
        const id = base.ids[j], lp = base.logp[j];
        inTop[id] = 1;
        kl += Math.exp(lp) * (lp - rq[id]);
      }
      const rb = base.rest[t];
      if (rb > 0) {
        let rqm = 0;
        for (let v = 0; v < V; v++) if (!inTop[v]) rqm += Math.exp(rq[v]);
        kl += rb * (Math.log(rb) - Math.log(Math.max(rqm, 1e-300)));
      }
      for (let j = s; j < e; j++) inTop[base.ids[j]] = 0;
      d.kld[t] = Math.max(0, kl);
      d.nllBase[t] = base.nll[t];
      const o = t * TOP;
      for (let j = 0; j < TOP; j++) {
        d.baseTop[o + j] = s + j < e ? base.ids[s + j] : -1;
        d.baseTopP[o + j] = s + j < e ? Math.exp(base.logp[s + j]) : 0;
      }
      d.sameTop[t] = quantSide(d, t, rq, w[i + 1]) === base.ids[s] ? 1 : 0;
    }
  }
  return finish(d, window, ws.length, false);
}

/** Refuses a base whose vocabulary (size, or pieces when both carry a tokenizer) differs from the quantized model's. */
export function checkSameVocabulary(base: Pick<LlamaModel, "config" | "tokenizer" | "source">, quant: Pick<LlamaModel, "config" | "tokenizer" | "source">): void {
  const a = base.config.vocabSize, b = quant.config.vocabSize;
  check(a === b, "BAD_ARGUMENT",
    `the base ${base.source} has a vocabulary of ${a} tokens and ${quant.source} ${b}: KL divergence compares a model with a quantization of itself`);
  const ta = base.tokenizer?.pieces, tb = quant.tokenizer?.pieces;
  if (!ta || !tb) return;
  const i = ta.findIndex((piece, j) => piece !== tb[j]);
  check(i < 0, "BAD_ARGUMENT",
    `the base ${base.source} and ${quant.source} have different vocabularies (token ${i} is '${ta[i]}' in one and '${tb[i]}' in the other): compare a model with a quantization of itself`);
}

const f = (x: number, d = 6) => x.toFixed(d);

/** llama.cpp's summary lines of a KLD result. */
export function kldText(r: KldResult, title: string): string {
  return [
    `${title}: ${r.tokens} tokens (${r.windows} windows of ${r.window})${r.exact ? "" : " against saved top-k base log-probabilities"}`,
    `Mean PPL(Q)        ${f(r.perplexity)}`,
    `Mean PPL(base)     ${f(r.basePerplexity)}`,
    `PPL ratio          ${f(r.ratio)}`,
    `Mean ln(PPL ratio) ${f(r.logRatio.mean)} ± ${f(r.logRatio.stderr)}`,
    `Mean KLD           ${f(r.kld.mean)} ± ${f(r.kld.stderr)}`,
    `Maximum KLD        ${f(r.kld.max)}`,
    `99.9%   KLD        ${f(r.kld.p999)}`,
    `99.0%   KLD        ${f(r.kld.p99)}`,
    `95.0%   KLD        ${f(r.kld.p95)}`,
    `90.0%   KLD        ${f(r.kld.p90)}`,
    `Median  KLD        ${f(r.kld.median)}`,
    `Minimum KLD        ${f(r.kld.min)}`,
    `Mean    Δp         ${f(100 * r.deltaP.mean, 3)} ± ${f(100 * r.deltaP.stderr, 3)} %`,
    `RMS Δp             ${f(100 * r.deltaP.rms, 3)} %`,
    `Same top p         ${f(r.sameTopPercent, 3)} ± ${f(r.sameTopStderr, 3)} %`,
  ].join("\n");
}
