/**
 * Shared test fixtures for the model tests: a small random Llama model and a plain-loop reference
 * forward pass (written independently of the tfjs one) to compare against.
 */
import type { LlamaConfig, LlamaModel } from "../../src/model/llama.js";
import { LINEAR_NAMES } from "../../src/model/llama.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randn } from "../helpers/random.js";

export const TINY: LlamaConfig = {
  dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 20, contextLength: 32, rmsEps: 1e-5, ropeTheta: 10000,
};

export function randomModel(c: LlamaConfig = TINY, seed = 1, tied = true): LlamaModel {
  let s = seed * 1000;
  const hd = c.dim / c.nHeads;
  const kv = hd * c.nKvHeads;
  const shapes: Record<string, [number, number]> = {
    attn_q: [c.dim, c.dim], attn_k: [kv, c.dim], attn_v: [kv, c.dim], attn_output: [c.dim, c.dim],
    ffn_gate: [c.hiddenDim, c.dim], ffn_up: [c.hiddenDim, c.dim], ffn_down: [c.dim, c.hiddenDim],
  };
  const mat = (r: number, k: number) => matrix(r, k, randn(r * k, ++s, 1 / Math.sqrt(k)));
  const norm = () => randn(c.dim, ++s, 0.1).map((x) => 1 + x);
  return {
    config: c,
    tokenEmbedding: matrix(c.vocabSize, c.dim, randn(c.vocabSize * c.dim, ++s, 1)),
    layers: Array.from({ length: c.nLayers }, () => {
      const l: Record<string, unknown> = { attnNorm: norm(), ffnNorm: norm() };
      for (const n of LINEAR_NAMES) l[n] = mat(...shapes[n]);
      return l as never;
    }),
    outputNorm: norm(),
    output: tied ? null : mat(c.vocabSize, c.dim),
    tokenizer: null,
    source: "random",
  };
}

/** Plain-loop Llama forward: logits [T × vocab], row-major. */
export function referenceForward(m: LlamaModel, tokens: number[]): Float32Array {
  const c = m.config, T = tokens.length, D = c.dim, hd = D / c.nHeads, g = c.nHeads / c.nKvHeads;
  const lin = (x: Float64Array[], w: { rows: number; cols: number; data: Float32Array }) =>
    x.map((row) => {
      const y = new Float64Array(w.rows);
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let k = 0; k < w.cols; k++) s += row[k] * w.data[r * w.cols + k];
        y[r] = s;
      }
      return y;
    });
  const norm = (x: Float64Array[], w: Float32Array) =>
    x.map((row) => {
      const ms = row.reduce((s, v) => s + v * v, 0) / row.length;
      const k = 1 / Math.sqrt(ms + c.rmsEps);
      return row.map((v, i) => v * k * w[i]);
    });
  const rope = (x: Float64Array[], heads: number) =>
    x.map((row, t) => {
      const y = row.slice();
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < hd / 2; i++) {
          const a = t * Math.pow(c.ropeTheta, (-2 * i) / hd);
          const x0 = row[h * hd + 2 * i], x1 = row[h * hd + 2 * i + 1];
          y[h * hd + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
          y[h * hd + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
        }
      return y;
    });
  let x = tokens.map((id) => Float64Array.from(m.tokenEmbedding.data.subarray(id * D, (id + 1) * D)));
  for (const L of m.layers) {
    const h = norm(x, L.attnNorm);
    const q = rope(lin(h, L.attn_q), c.nHeads), k = rope(lin(h, L.attn_k), c.nKvHeads), v = lin(h, L.attn_v);
    const o = x.map(() => new Float64Array(D));
    for (let head = 0; head < c.nHeads; head++) {
      const kh = Math.floor(head / g);
      for (let t = 0; t < T; t++) {
        const sc: number[] = [];
        for (let s = 0; s <= t; s++) {
          let d = 0;
          for (let i = 0; i < hd; i++) d += q[t][head * hd + i] * k[s][kh * hd + i];
          sc.push(d / Math.sqrt(hd));
        }
        const mx = Math.max(...sc);
        const e = sc.map((z) => Math.exp(z - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) o[t][head * hd + i] += (e[s] / z) * v[s][kh * hd + i];
      }
    }
    const a = lin(o, L.attn_output);
    x = x.map((row, t) => row.map((v2, i) => v2 + a[t][i]));
    const h2 = norm(x, L.ffnNorm);
    const gt = lin(h2, L.ffn_gate), up = lin(h2, L.ffn_up);
    const act = gt.map((row, t) => row.map((v2, i) => (v2 / (1 + Math.exp(-v2))) * up[t][i]));
    const d = lin(act, L.ffn_down);
    x = x.map((row, t) => row.map((v2, i) => v2 + d[t][i]));
  }
  const logits = lin(norm(x, m.outputNorm), m.output ?? m.tokenEmbedding);
  const out = new Float32Array(T * c.vocabSize);
  logits.forEach((row, t) => out.set(row, t * c.vocabSize));
  return out;
}

export { sharedData, sharedFile } from "../helpers/shared.js";
