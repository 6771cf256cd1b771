/**
 * Where a quantized model's error comes from, layer by layer: both models run the same windows block
 * by block, each on its own hidden states, and after every decoder layer the quantized hidden state is
 * compared with the base's (mean per-token cosine similarity, SQNR = 10·log10(‖h‖² / ‖h − ĥ‖²) in dB).
 * Each linear's relative output error ‖X Ŵᵀ − X Wᵀ‖² / ‖X Wᵀ‖² (the workflow's measure) is taken on the
 * inputs the quantized model really sees there, so error that entered earlier shows up as the input
 * drift it is, and the linear's own share stays its own.
 */
import { check } from "../../errors.js";
import { LINEAR_NAMES, type LinearName } from "../llama.js";
import type { LlamaRuntime } from "./forward.js";
import { tf } from "./tf.js";

export interface LayerTraceRow {
  layer: number;
  /** Mean over tokens of cos(h_base, h_quant) after this layer. */
  cosine: number;
  /** Signal-to-quantization-noise ratio of the hidden state after this layer, dB. */
  sqnrDb: number;
  /** Relative output error of each linear of this layer. */
  linears: Record<LinearName, number>;
}

export function layerTrace(base: LlamaRuntime, quant: LlamaRuntime, wins: number[][]): LayerTraceRow[] {
  const c = base.config;
  check(c.nLayers === quant.config.nLayers && c.dim === quant.config.dim && c.vocabSize === quant.config.vocabSize, "BAD_SHAPE",
    `the base (${c.nLayers} layers, dim ${c.dim}) and the quantized model (${quant.config.nLayers} layers, dim ${quant.config.dim}) differ in shape: trace a model against a quantization of itself`);
  check(wins.length > 0 && wins.every((w) => w.length > 0), "BAD_ARGUMENT", "the layer trace needs at least one window of tokens");
  const L = c.nLayers;
  const cos = new Float64Array(L), sig = new Float64Array(L), noise = new Float64Array(L);
  const errNum = Array.from({ length: L }, () => new Float64Array(LINEAR_NAMES.length));
  const errDen = Array.from({ length: L }, () => new Float64Array(LINEAR_NAMES.length));
  let tokens = 0;
  const bw = base.weights.layers, qw = quant.weights.layers;
  for (const w of wins) {
    let xb = base.embed(w), xq = quant.embed(w);
    for (let i = 0; i < L; i++) {
      const yb = base.block(i, xb);
      const yq = quant.block(i, xq, {
        onLinearInput: (layer, names, x) => {
          for (const name of names) {
            const j = LINEAR_NAMES.indexOf(name);
            const [num, den] = tf.tidy(() => {
              // each runtime says how it stores its linears ([in, out] once transposed at upload, or [out, in])
              const y = tf.matMul(x, bw[layer].w[name], false, base.weightLayout === "out-in");
              const yh = tf.matMul(x, qw[layer].w[name], false, quant.weightLayout === "out-in");
              return [tf.sum(tf.square(tf.sub(yh, y))).dataSync()[0], tf.sum(tf.square(y)).dataSync()[0]];
            });
            errNum[layer][j] += num;
            errDen[layer][j] += den;
          }
        },
      });
      const [dot, nb, nq, nd] = tf.tidy(() => [
        tf.sum(tf.mul(yb, yq), 1), tf.sum(tf.square(yb), 1), tf.sum(tf.square(yq), 1), tf.sum(tf.square(tf.sub(yb, yq)), 1),
      ].map((t) => t.dataSync() as Float32Array));
      for (let t = 0; t < w.length; t++) {
        cos[i] += dot[t] / Math.sqrt(nb[t] * nq[t] || 1);
        sig[i] += nb[t];
        noise[i] += nd[t];
      }
      xb.dispose();
      xq.dispose();
      xb = yb;
      xq = yq;
    }
    xb.dispose();
    xq.dispose();
    tokens += w.length;
  }
  return Array.from({ length: L }, (_, i) => ({
    layer: i,
    cosine: cos[i] / tokens,
    sqnrDb: noise[i] > 0 ? 10 * Math.log10(sig[i] / noise[i]) : Infinity,
    linears: Object.fromEntries(LINEAR_NAMES.map((n, j) => [n, errDen[i][j] > 0 ? errNum[i][j] / errDen[i][j] : 0])) as Record<LinearName, number>,
  }));
}
