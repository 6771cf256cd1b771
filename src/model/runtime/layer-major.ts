/**
 * Layer-major forward passes: every window's hidden states are kept (windows × T × dim, in JavaScript),
 * and the model goes through them one decoder layer at a time — read from its layer source, uploaded,
 * run over every window, freed — then the head. Peak memory is one layer plus the activations, not the
 * model (and the tfjs-wasm heap's 4 GiB never has to hold a whole real-size model). Same numbers as
 * `rt.forward` window by window: the same ops on the same inputs, with the states parked in between.
 */
import { check } from "../../errors.js";
import { checkpoint } from "../../progress.js";
import type { Matrix } from "../../numerics/matrix.js";
import type { LlamaConfig, LlamaLayer } from "../llama.js";
import { LlamaRuntime, type BlockHooks } from "./forward.js";
import type { LayerSource } from "./layer-source.js";
import { tf } from "./tf.js";
import { PerplexityResult, windows as evalWindows } from "./eval.js";
import { exactKld, scoredWindows, type KldResult } from "./kld.js";
import { gemmBlock, gemmHeadNll, gemmSupports, type HeadRows } from "./gemm-forward.js";
import { gemmModule } from "../../backend/gemm-kernel.js";

/**
 * What multiplies a layer-major pass's blocks: "gemm" is QuantLab's pooled WebAssembly kernel on all
 * windows at once (gemm-forward.ts), "tfjs" the runtime's block window by window; "auto" (the default,
 * or QUANTLAB_EVAL_KERNEL) takes the kernel for models of dim 256 and up on the wasm backend, so the
 * notebook-sized models keep the tfjs path their tests pin.
 */
export type EvalKernel = "auto" | "gemm" | "tfjs";

/** Whether a layer-major pass (or the quantization workflow's stages) of this model runs on the GEMM kernel. */
export function gemmKernel(c: LlamaConfig, backend: string | undefined, hooks: BlockHooks = {}, kernel: EvalKernel = "auto"): boolean {
  const env = process.env.QUANTLAB_EVAL_KERNEL;
  const k = kernel !== "auto" ? kernel : env === "gemm" || env === "tfjs" ? env : c.dim >= 256 ? "gemm" : "tfjs";
  return k === "gemm" && (backend === undefined || backend === "wasm") && gemmSupports(hooks) && gemmModule() !== null;
}

export interface LayerMajorOptions {
  backend?: string;
  /** Progress label (default "layers"). */
  label?: string;
  /** Called when layer i has run over every window, with its seconds. */
  onLayer?(i: number, seconds: number): void;
  /** What multiplies the blocks (default "auto"). */
  kernel?: EvalKernel;
}

/**
 * Windows on their way through a model, one layer at a time: `step(i, layer)` runs them all through
 * layer i, `finish(head, onLogits)` through the final norm and the output projection. A caller that
 * makes the layers as it goes (the quantization workflow) steps it from its own loop.
 */
export class LayerMajorPass {
  private constructor(private readonly rt: LlamaRuntime, readonly config: LlamaConfig, readonly windows: readonly (readonly number[])[], private hidden: Float32Array[],
    private readonly hooks: BlockHooks, private gemm: boolean) {}

  /** Whether the blocks run on QuantLab's GEMM (false: on tfjs, or after the kernel could not hold a layer). */
  get onGemm(): boolean {
    return this.gemm;
  }

  /**
   * Starts from each window's embeddings (or from saved states: all windows' rows concatenated);
   * `hooks` apply to every block and the head, as in `rt.forward`.
   */
  static async start(config: LlamaConfig, windows: readonly (readonly number[])[], embeddings: Float32Array[] | Float32Array, backend?: string,
    hooks: BlockHooks = {}, kernel: EvalKernel = "auto"): Promise<LayerMajorPass> {
    for (const w of windows) check(w.length > 0 && w.length <= config.contextLength, "BAD_ARGUMENT", `a window of ${w.length} positions does not fit the model's context of ${config.contextLength}: use shorter windows`);
    let hidden: Float32Array[];
    if (Array.isArray(embeddings)) hidden = embeddings;
    else {
      const flat = embeddings;
      const total = windows.reduce((s, w) => s + w.length, 0) * config.dim;
      check(flat.length === total, "BAD_SHAPE", `saved hidden states hold ${flat.length} values, the windows need ${total}`);
      let o = 0;
      hidden = windows.map((w) => flat.slice(o, (o += w.length * config.dim)));
    }
    return new LayerMajorPass(await LlamaRuntime.streamed(config, backend), config, windows, hidden, hooks, gemmKernel(config, backend, hooks, kernel));
  }

  /** Every window's rows, concatenated (to save and resume). */
  get states(): Float32Array {
    const out = new Float32Array(this.hidden.reduce((s, h) => s + h.length, 0));
    let o = 0;
    for (const h of this.hidden) (out.set(h, o), (o += h.length));
    return out;
  }

  /** Runs every window through layer i (uploaded for this and freed after). */
  async step(i: number, layer: LlamaLayer, label = "layers"): Promise<void> {
    if (this.gemm) {
      await checkpoint(label, 0, this.hidden.length);
      const out = await gemmBlock(this.config, i, layer, this.hidden, this.hooks);
      if (out) {
        this.hidden = out;
        await checkpoint(label, this.hidden.length, this.hidden.length);
        return;
      }
      this.gemm = false;
    }
    this.rt.loadLayer(i, layer);
    try {
      for (let w = 0; w < this.hidden.length; w++) {
        await checkpoint(label, w, this.hidden.length);
        this.hidden[w] = runOn(this.hidden[w]!, this.config.dim, (x) => this.rt.block(i, x, this.hooks));
      }
      await checkpoint(label, this.hidden.length, this.hidden.length);
    } finally {
      this.rt.unloadLayer(i);
    }
  }

  /** Uploads the final norm and the output projection, for `logits`. */
  loadHead(head: { outputNorm: Float32Array; output: Matrix }): void {
    this.rt.loadHead(head.outputNorm, head.output);
  }

  /** Window w's [T, vocab] logits (after every layer and `loadHead`); the caller disposes them. */
  logits(w: number): tf.Tensor2D {
    const x = tf.tensor2d(this.hidden[w]!, [this.hidden[w]!.length / this.config.dim, this.config.dim]);
    const y = this.rt.head(x, this.hooks);
    x.dispose();
    return y;
  }

  /** The head over every window: `onLogits(w, logits)` sees window w's [T, vocab] logits (freed after the call). */
  async finish(head: { outputNorm: Float32Array; output: Matrix }, onLogits: (w: number, logits: tf.Tensor2D) => void): Promise<void> {
    this.loadHead(head);
    for (let w = 0; w < this.hidden.length; w++) {
      await checkpoint("head", w, this.hidden.length);
      const logits = this.logits(w);
      try {
        onLogits(w, logits);
      } finally {
        logits.dispose();
      }
    }
    await checkpoint("head", this.hidden.length, this.hidden.length);
  }

  /**
   * Sum and count of the windows' next-token negative log-likelihoods through the head read in row
   * chunks (gemm-forward.ts), or null off the GEMM (then `finish` with a perplexity collector).
   */
  async nll(head: HeadRows): Promise<{ sum: number; count: number } | null> {
    if (!this.gemm) return null;
    await checkpoint("head", 0, 1);
    const r = await gemmHeadNll(this.config, this.hidden, this.windows, head, this.hooks);
    await checkpoint("head", 1, 1);
    return r;
  }

  dispose(): void {
    this.rt.dispose();
  }
}

/** f on the [T, dim] tensor of `data`, back as FP32 data (the tensors are freed). */
export function runOn(data: Float32Array, dim: number, f: (x: tf.Tensor2D) => tf.Tensor2D): Float32Array {
  const x = tf.tensor2d(data, [data.length / dim, dim]);
  const y = f(x);
  x.dispose();
  const out = y.dataSync() as Float32Array;
  y.dispose();
  return out;
}

/**
 * Runs `windows` through every layer of `src`, then the head: `onLogits(w, logits)` sees window w's
 * [T, vocab] logits (disposed after the call returns).
 */
export async function layerMajorForward(src: LayerSource, windows: readonly (readonly number[])[], onLogits: (w: number, logits: tf.Tensor2D) => void,
  opts: LayerMajorOptions = {}): Promise<void> {
  const pass = await LayerMajorPass.start(src.config, windows, await src.embed(windows), opts.backend, {}, opts.kernel);
  try {
    await runLayers(pass, src, opts);
    await pass.finish(await src.head(), onLogits);
    await checkpoint(opts.label ?? "layers", src.config.nLayers + 1, src.config.nLayers + 1);
  } finally {
    pass.dispose();
  }
}

/** Steps `pass` through every layer of `src`. */
async function runLayers(pass: LayerMajorPass, src: LayerSource, opts: LayerMajorOptions): Promise<void> {
  const c = src.config;
  const label = opts.label ?? "layers";
  // on the GEMM the next layer is read and decoded on this thread while the pool's workers multiply
  // this one (two layers in FP32 at a time); the tfjs path computes here, so it reads in turn
  let next: Promise<LlamaLayer> | null = null;
  for (let i = 0; i < c.nLayers; i++) {
    await checkpoint(label, i, c.nLayers + 1);
    const t0 = performance.now();
    const layer = await (next ?? src.layer(i));
    next = pass.onGemm && i + 1 < c.nLayers ? src.layer(i + 1) : null;
    next?.catch(() => undefined);
    await pass.step(i, layer, `layer ${i} windows`);
    opts.onLayer?.(i, (performance.now() - t0) / 1000);
  }
  await checkpoint(label, c.nLayers, c.nLayers + 1);
}

/** Sum and count of the negative log-likelihoods of tokens[1..] given their prefixes, from a window's logits. */
export function windowNll(logits: tf.Tensor2D, tokens: readonly number[]): { sum: number; count: number } {
  const lsm = tf.logSoftmax(logits);
  const v = lsm.dataSync() as Float32Array;
  lsm.dispose();
  const V = logits.shape[1];
  let sum = 0;
  for (let t = 0; t + 1 < tokens.length; t++) sum += -v[t * V + tokens[t + 1]!]!;
  return { sum, count: tokens.length - 1 };
}

/** The evaluation windows of eval.ts's method for these ids, checked against the model's context. */
export function perplexityWindows(c: LlamaConfig, bos: number, ids: number[], opts: { window?: number; maxTokens?: number } = {}): { windows: number[][]; window: number } {
  const window = opts.window ?? c.contextLength;
  check(window <= c.contextLength, "BAD_ARGUMENT", `window ${window} exceeds the model's context ${c.contextLength}: use --window ${c.contextLength} or less`);
  check(ids.length > 0, "BAD_ARGUMENT", "the text for perplexity is empty: give a file with some text");
  return { windows: evalWindows(ids, bos, window, opts.maxTokens), window };
}

/** Perplexity from each window's logits, as `finish` hands them over. */
export function perplexityCollector(windows: readonly (readonly number[])[], window: number): { onLogits(w: number, logits: tf.Tensor2D): void; result(): PerplexityResult } {
  let sum = 0, count = 0;
  return {
    onLogits: (w, logits) => {
      const r = windowNll(logits, windows[w]!);
      sum += r.sum;
      count += r.count;
    },
    result: () => new PerplexityResult(Math.exp(sum / count), count, sum / count, windows.length, window),
  };
}

/**
 * Perplexity (the method of eval.ts: BOS-led non-overlapping windows) computed layer-major from a layer
 * source: the same numbers as `perplexity(rt, …)` with the model's runtime, at one layer's memory.
 */
export async function perplexityLayerMajor(src: LayerSource, bos: number, ids: number[],
  opts: LayerMajorOptions & { window?: number; maxTokens?: number } = {}): Promise<PerplexityResult> {
  const { windows, window } = perplexityWindows(src.config, bos, ids, opts);
  const o = { label: "perplexity layers", ...opts };
  const pass = await LayerMajorPass.start(src.config, windows, await src.embed(windows), opts.backend, {}, opts.kernel);
  try {
    await runLayers(pass, src, o);
    // on the GEMM the head is read and multiplied a chunk of the vocabulary at a time
    const r = pass.onGemm && src.headRows ? await pass.nll(await src.headRows()) : null;
    const ppl = perplexityCollector(windows, window);
    if (!r) await pass.finish(await src.head(), ppl.onLogits);
    await checkpoint(o.label, src.config.nLayers + 1, src.config.nLayers + 1);
    return r ? new PerplexityResult(Math.exp(r.sum / r.count), r.count, r.sum / r.count, windows.length, window) : ppl.result();
  } finally {
    pass.dispose();
  }
}

/** [T × vocab] log-probabilities from logits (freed here). */
function logProbs(logits: tf.Tensor2D): Float32Array {
  const lsm = tf.logSoftmax(logits);
  logits.dispose();
  const v = lsm.dataSync() as Float32Array;
  lsm.dispose();
  return v;
}

/**
 * Exact KL divergence of `quant` from `base` (kld.ts's method and statistics) computed layer-major: both
 * models' windows advance one layer at a time, each layer read from its source and freed, so memory holds
 * a layer of each, both heads at the end, and the activations — not two models.
 */
export async function klDivergenceLayerMajor(base: LayerSource, quant: LayerSource, ids: ArrayLike<number>, bos: number,
  opts: { window?: number; maxTokens?: number; backend?: string; hooks?: BlockHooks; baseHooks?: BlockHooks; kernel?: EvalKernel } = {}): Promise<KldResult> {
  const b = base.config, q = quant.config;
  check(b.vocabSize === q.vocabSize && b.nLayers === q.nLayers && b.dim === q.dim, "BAD_ARGUMENT",
    `the base model (${b.nLayers} layers, dim ${b.dim}, vocabulary ${b.vocabSize}) and the quantized one (${q.nLayers}, ${q.dim}, ${q.vocabSize}) differ: compare a model with a quantization of itself`);
  const ctx = Math.min(b.contextLength, q.contextLength);
  const window = opts.window ?? ctx;
  const ws = scoredWindows(ids, bos, window, ctx, opts.maxTokens);
  const pb = await LayerMajorPass.start(b, ws, await base.embed(ws), opts.backend, opts.baseHooks, opts.kernel);
  try {
    const pq = await LayerMajorPass.start(q, ws, await quant.embed(ws), opts.backend, opts.hooks, opts.kernel);
    try {
      for (let i = 0; i < b.nLayers; i++) {
        await checkpoint("KL divergence layers", i, b.nLayers + 1);
        await pb.step(i, await base.layer(i), `base layer ${i} windows`);
        await pq.step(i, await quant.layer(i), `layer ${i} windows`);
      }
      await checkpoint("KL divergence layers", b.nLayers, b.nLayers + 1);
      pb.loadHead(await base.head());
      pq.loadHead(await quant.head());
      const kld = exactKld(ws, b.vocabSize);
      for (let w = 0; w < ws.length; w++) {
        await checkpoint("KL divergence windows", w, ws.length);
        kld.add(ws[w]!, logProbs(pb.logits(w)), logProbs(pq.logits(w)));
      }
      await checkpoint("KL divergence layers", b.nLayers + 1, b.nLayers + 1);
      return kld.result(window);
    } finally {
      pq.dispose();
    }
  } finally {
    pb.dispose();
  }
}
