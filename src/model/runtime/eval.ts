/**
 * What one does with a loaded model: generate text (greedy or sampled) and measure perplexity.
 *
 * Perplexity method (stated, so the numbers are comparable): the text is tokenized once (with the
 * tokenizer's space prefix, no BOS), cut into consecutive non-overlapping windows of `window - 1` text
 * tokens, each window is evaluated from a fresh context starting with BOS, and every text token of
 * every window is scored given the tokens before it in its window (the first one given BOS alone).
 * `ppl = exp(mean negative log-likelihood)` over all scored tokens; `tokens` is their count.
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { check } from "../../errors.js";
import { throwIfInterrupted } from "../../interrupt.js";
import { progress } from "../../progress.js";
import { KvCache, type BlockHooks, type LlamaRuntime } from "./forward.js";
import { Tokenizer } from "../formats/tokenizer.js";
import { tf } from "./tf.js";
import { mulberry32 } from "../../numerics/random.js";

export interface GenerateOptions {
  maxTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  topK?: number;
  /** Seed for sampling (mulberry32). */
  seed?: number;
  /** Stop at this token (default: the tokenizer's EOS, or BOS which TinyStories models emit between stories). */
  stopAt?: number[];
}

export interface Generation {
  tokens: number[];
  text: string;
}


/** Picks the next token from one row of logits. */
export function sampleToken(logits: Float32Array, temperature: number, topK: number, rand: () => number): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const idx = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, topK > 0 ? topK : logits.length);
  const m = logits[idx[0]];
  const p = idx.map((i) => Math.exp((logits[i] - m) / temperature));
  let r = rand() * p.reduce((s, x) => s + x, 0);
  for (let j = 0; j < idx.length; j++) {
    r -= p[j];
    if (r <= 0) return idx[j];
  }
  return idx[idx.length - 1];
}

/** Continues `prompt` (text, or token ids; BOS is put first for text) with an incremental KV cache. */
export function generate(rt: LlamaRuntime, tok: Tokenizer, prompt: string | number[] = "", opts: GenerateOptions = {}): Generation {
  const ids = typeof prompt === "string" ? tok.encode(prompt, { bos: true }) : prompt.slice();
  check(ids.length > 0, "BAD_ARGUMENT", "generation needs a prompt of at least one token (BOS)");
  const maxTokens = Math.min(opts.maxTokens ?? 128, rt.config.contextLength - ids.length);
  const stop = new Set(opts.stopAt ?? [tok.eos, tok.bos]);
  const rand = mulberry32(opts.seed ?? 42);
  const cache = new KvCache(rt.config.nLayers);
  const out: number[] = [];
  try {
    let feed = ids;
    for (let n = 0; n < maxTokens; n++) {
      const logits = rt.forward(feed, {}, cache);
      const last = tf.tidy(() => tf.slice(logits, [feed.length - 1, 0], [1, -1]));
      const row = last.dataSync() as Float32Array;
      logits.dispose();
      last.dispose();
      const next = sampleToken(row, opts.temperature ?? 0, opts.topK ?? 0, rand);
      if (stop.has(next)) break;
      out.push(next);
      feed = [next];
    }
  } finally {
    cache.dispose();
  }
  return { tokens: out, text: tok.decode(typeof prompt === "string" ? [...ids.slice(1), ...out] : out) };
}

export interface PerplexityOptions {
  /** Positions per window including BOS (default: the model's context length). */
  window?: number;
  /** Score at most this many text tokens (default: all). */
  maxTokens?: number;
  hooks?: BlockHooks;
}

export class PerplexityResult {
  constructor(
    readonly perplexity: number,
    readonly tokens: number,
    readonly meanNll: number,
    readonly windows: number,
    readonly window: number,
  ) {}
  toJSON() {
    return { perplexity: this.perplexity, tokens: this.tokens, meanNll: this.meanNll, windows: this.windows, window: this.window };
  }
  [DISPLAY](): MimeBundle {
    return {
      "text/plain": `perplexity ${this.perplexity.toFixed(4)} over ${this.tokens} tokens (mean NLL ${this.meanNll.toFixed(4)} nats, ${this.windows} windows of ${this.window})`,
    };
  }
}

/** Negative log-likelihoods of tokens[1..] given their prefixes, from one forward pass. */
export function tokenNll(rt: LlamaRuntime, tokens: number[], hooks: BlockHooks = {}): Float64Array {
  const logits = rt.forward(tokens, hooks);
  const lsm = tf.tidy(() => tf.logSoftmax(logits));
  const v = lsm.dataSync() as Float32Array;
  logits.dispose();
  lsm.dispose();
  const V = rt.config.vocabSize;
  const nll = new Float64Array(tokens.length - 1);
  for (let t = 0; t + 1 < tokens.length; t++) nll[t] = -v[t * V + tokens[t + 1]];
  return nll;
}

/** Splits text tokens into BOS-led windows of at most `window` positions (the method above). */
export function windows(textTokens: number[], bos: number, window: number, maxTokens = Infinity): number[][] {
  check(Number.isInteger(window) && window >= 2, "BAD_ARGUMENT", `window ${window} is too small: use at least 2 positions (BOS + one token)`);
  const n = Math.min(textTokens.length, maxTokens);
  const out: number[][] = [];
  for (let s = 0; s < n; s += window - 1) out.push([bos, ...textTokens.slice(s, Math.min(n, s + window - 1))]);
  return out;
}

/** Perplexity of a text (tokenized with `tok`) or of token ids (then `tok` may be just `{ bos }`). */
export function perplexity(rt: LlamaRuntime, tok: Tokenizer | { bos: number }, text: string | number[], opts: PerplexityOptions = {}): PerplexityResult {
  const window = opts.window ?? rt.config.contextLength;
  check(window <= rt.config.contextLength, "BAD_ARGUMENT",
    `window ${window} exceeds the model's context ${rt.config.contextLength}: use --window ${rt.config.contextLength} or less`);
  if (typeof text === "string") check(tok instanceof Tokenizer, "BAD_ARGUMENT", "this model has no tokenizer: pass token ids instead of text");
  const ids = typeof text === "string" ? (tok as Tokenizer).encode(text) : text;
  check(ids.length > 0, "BAD_ARGUMENT", "the text for perplexity is empty: give a file with some text");
  const ws = windows(ids, tok.bos, window, opts.maxTokens);
  let sum = 0, count = 0;
  for (const [wi, w] of ws.entries()) {
    throwIfInterrupted("perplexity");
    progress("perplexity windows", wi, ws.length);
    const nll = tokenNll(rt, w, opts.hooks);
    for (const x of nll) sum += x;
    count += nll.length;
  }
  progress("perplexity windows", ws.length, ws.length);
  const mean = sum / count;
  return new PerplexityResult(Math.exp(mean), count, mean, ws.length, window);
}
