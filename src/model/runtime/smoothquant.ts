/**
 * SmoothQuant: per input channel j of the linears sharing one input, s_j = max|X_j|^α / max|W_j|^(1−α);
 * the activation is divided by s (migrated into the preceding RMSNorm's weight) and the weights'
 * column j multiplied by s_j, so the product is unchanged in exact arithmetic while the activation's
 * outlier channels shrink and the weights take on part of their range. α = 0.5 balances both maxima
 * at √(max|X_j|·max|W_j|). The down projection's input has no norm before it: its s migrates into
 * the rows of ffn_up instead (SiLU(g)·u / s = SiLU(g)·(u / s)), when `down` is set.
 */
import { check } from "../../errors.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import type { LlamaModel, LinearName } from "../llama.js";
import { composeHooks, inputKey } from "./activations.js";
import { GATE_UP, QKV, type BlockHooks, type LlamaRuntime } from "./forward.js";

/** Per linear input (inputKey), max over calibration tokens of |x_j| per channel j. */
export type ChannelMaxima = Map<string, Float32Array>;

export function activationChannelMax(rt: LlamaRuntime, wins: number[][], hooks: BlockHooks = {}): ChannelMaxima {
  check(wins.length > 0, "BAD_ARGUMENT", "SmoothQuant's calibration needs at least one window of tokens");
  const out: ChannelMaxima = new Map();
  const capture = composeHooks(hooks, {
    linearInput: (layer, names, x) => {
      const [T, C] = x.shape, d = x.dataSync() as Float32Array, k = inputKey(layer, names);
      const m = out.get(k) ?? new Float32Array(C);
      for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) m[c] = Math.max(m[c], Math.abs(d[t * C + c]));
      out.set(k, m);
      return x;
    },
  });
  for (const w of wins) rt.forward(w, capture).dispose();
  return out;
}

/** s_j for one input shared by `ws` (max over all their rows of |W_ij|). */
export function smoothingScales(xMax: Float32Array, ws: Matrix[], alpha: number): Float32Array {
  check(alpha >= 0 && alpha <= 1, "BAD_ARGUMENT", `SmoothQuant's α is ${alpha}: use a migration strength in [0, 1] (0.5 is the paper's default)`);
  const C = xMax.length;
  const s = new Float32Array(C);
  for (let j = 0; j < C; j++) {
    let w = 0;
    for (const W of ws) for (let r = 0; r < W.rows; r++) w = Math.max(w, Math.abs(W.data[r * W.cols + j]));
    // A dead channel (all-zero activations or weights) keeps s = 1: nothing to migrate.
    s[j] = xMax[j] > 0 && w > 0 ? Math.pow(xMax[j], alpha) / Math.pow(w, 1 - alpha) : 1;
  }
  return s;
}

const scaleCols = (W: Matrix, s: Float32Array) => matrix(W.rows, W.cols, W.data.map((v, i) => v * s[i % W.cols]));
const divideRows = (W: Matrix, s: Float32Array) => matrix(W.rows, W.cols, W.data.map((v, i) => v / s[Math.floor(i / W.cols)]));

/** The smoothed model (same function in exact arithmetic) for calibration maxima `xMax` and strength α. */
export function smoothQuant(m: LlamaModel, xMax: ChannelMaxima, alpha: number, opts: { down?: boolean } = {}): LlamaModel {
  const need = (layer: number, names: readonly LinearName[]) => {
    const v = xMax.get(inputKey(layer, names));
    check(v, "BAD_ARGUMENT", `no calibration maxima for blk.${layer}.${names[0]}'s input: run activationChannelMax on this model`);
    return v;
  };
  return {
    ...m,
    layers: m.layers.map((l, i) => {
      const sa = smoothingScales(need(i, QKV), [l.attn_q, l.attn_k, l.attn_v], alpha);
      const sf = smoothingScales(need(i, GATE_UP), [l.ffn_gate, l.ffn_up], alpha);
      let up = scaleCols(l.ffn_up, sf), down = l.ffn_down;
      if (opts.down) {
        const sd = smoothingScales(need(i, ["ffn_down"]), [l.ffn_down], alpha);
        up = divideRows(up, sd);
        down = scaleCols(down, sd);
      }
      return {
        ...l,
        attnNorm: l.attnNorm.map((g, j) => g / sa[j]),
        ffnNorm: l.ffnNorm.map((g, j) => g / sf[j]),
        attn_q: scaleCols(l.attn_q, sa), attn_k: scaleCols(l.attn_k, sa), attn_v: scaleCols(l.attn_v, sa),
        ffn_gate: scaleCols(l.ffn_gate, sf), ffn_up: up, ffn_down: down,
      };
    }),
  };
}
