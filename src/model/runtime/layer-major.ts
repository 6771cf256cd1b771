/**
 * Layer-major forward passes: every window's hidden states are kept (windows × T × dim, in JavaScript),
 * and the model goes through them one decoder layer at a time — read from its layer source, uploaded,
 * run over every window, freed — then the head. Peak memory is one layer plus the activations, not the
 * model (and the tfjs-wasm heap's 4 GiB never has to hold a whole real-size model). Same numbers as
 * `rt.forward` window by window: the same ops on the same inputs, with the states parked in between.
 */
import { check } from "../../errors.js";
import { checkpoint } from "../../progress.js";
import { LlamaRuntime } from "./forward.js";
import type { LayerSource } from "./layer-source.js";
import { tf } from "./tf.js";
import { PerplexityResult, windows as evalWindows } from "./eval.js";

export interface LayerMajorOptions {
  backend?: string;
  /** Progress label (default "layers"). */
  label?: string;
  /** Called when layer i has run over every window, with its seconds. */
  onLayer?(i: number, seconds: number): void;
}

/**
 * Runs `windows` through every layer of `src`, then the head: `onLogits(w, logits)` sees window w's
 * [T, vocab] logits (disposed after the call returns).
 */
export async function layerMajorForward(src: LayerSource, windows: readonly (readonly number[])[], onLogits: (w: number, logits: tf.Tensor2D) => void,
  opts: LayerMajorOptions = {}): Promise<void> {
  const c = src.config;
  for (const w of windows) check(w.length > 0 && w.length <= c.contextLength, "BAD_ARGUMENT", `a window of ${w.length} positions does not fit the model's context of ${c.contextLength}: use shorter windows`);
  const label = opts.label ?? "layers";
  const rt = await LlamaRuntime.streamed(c, opts.backend);
  try {
    const hidden = await src.embed(windows);
    const steps = (c.nLayers + 1) * windows.length;
    for (let i = 0; i < c.nLayers; i++) {
      const t0 = performance.now();
      rt.loadLayer(i, await src.layer(i));
      for (let w = 0; w < windows.length; w++) {
        await checkpoint(label, i * windows.length + w, steps);
        hidden[w] = runOn(hidden[w]!, c.dim, (x) => rt.block(i, x));
      }
      rt.unloadLayer(i);
      opts.onLayer?.(i, (performance.now() - t0) / 1000);
    }
    const { outputNorm, output } = await src.head();
    rt.loadHead(outputNorm, output);
    for (let w = 0; w < windows.length; w++) {
      await checkpoint(label, c.nLayers * windows.length + w, steps);
      const x = tf.tensor2d(hidden[w]!, [hidden[w]!.length / c.dim, c.dim]);
      const logits = rt.head(x);
      x.dispose();
      try {
        onLogits(w, logits);
      } finally {
        logits.dispose();
      }
    }
    await checkpoint(label, steps, steps);
  } finally {
    rt.dispose();
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
 * Perplexity (the method of eval.ts: BOS-led non-overlapping windows) computed layer-major from a layer
 * source: the same numbers as `perplexity(rt, …)` with the model's runtime, at one layer's memory.
 */
export async function perplexityLayerMajor(src: LayerSource, bos: number, ids: number[],
  opts: LayerMajorOptions & { window?: number; maxTokens?: number } = {}): Promise<PerplexityResult> {
  const c = src.config;
  const window = opts.window ?? c.contextLength;
  check(window <= c.contextLength, "BAD_ARGUMENT", `window ${window} exceeds the model's context ${c.contextLength}: use --window ${c.contextLength} or less`);
  check(ids.length > 0, "BAD_ARGUMENT", "the text for perplexity is empty: give a file with some text");
  const ws = evalWindows(ids, bos, window, opts.maxTokens);
  let sum = 0, count = 0;
  await layerMajorForward(src, ws, (w, logits) => {
    const lsm = tf.logSoftmax(logits);
    const v = lsm.dataSync() as Float32Array;
    lsm.dispose();
    const toks = ws[w]!;
    for (let t = 0; t + 1 < toks.length; t++) sum += -v[t * c.vocabSize + toks[t + 1]!]!;
    count += toks.length - 1;
  }, { label: "perplexity layers", ...opts });
  const mean = sum / count;
  return new PerplexityResult(Math.exp(mean), count, mean, ws.length, window);
}
