/**
 * Folds AWQ's input scales into the operation before each linear, so the quantized grid can be stored
 * as it is and the model still computes the same function. AWQ quantizes W·diag(s) and runs
 * Q(W·s)·(x/s); dividing the producer of x by s makes the stored weight Q(W·s) itself:
 *   q/k/v  ← the attention RMSNorm weight (one s shared by the three),
 *   gate/up ← the feed-forward RMSNorm weight,
 *   o_proj ← v_proj's rows, when every attention head has its own KV head (under grouped-query
 *            attention a v row feeds several heads, each with its own s, so o_proj keeps Q(W·s)/s),
 *   down   ← up_proj's rows (exact for a grid too: each row has its own group scales).
 * A linear the target cannot store as a grid keeps float weights: Q(W·s) when its s is folded, Q(W·s)/s
 * when not — either way the same function.
 */
import { check } from "../../errors.js";
import { groupLength } from "../../numerics/spec.js";
import type { GroupQuantized } from "../../numerics/grouped.js";
import type { Matrix } from "../../numerics/matrix.js";
import { cloneModel, LINEAR_NAMES, type LinearName, type LlamaModel } from "../llama.js";
import type { GridParts } from "./hf-checkpoint.js";
import type { QuantizedLinear, QuantizedModel } from "./workflow.js";

/** One linear after folding: what it computes, and the grid it is stored on when it is. */
export interface FoldedLinear {
  /** out × in float weights of the folded model. */
  weight: Matrix;
  /** The stored grid (scales already divided by any folded row scale), when the target takes it. */
  grid?: GridParts;
  /** Why it keeps float weights, when it does. */
  reason?: string;
  /** Label of the source format ("AWQ int4 g32"). */
  format: string;
}

export interface AwqFold {
  model: LlamaModel;
  /** By GGUF name ("blk.0.attn_q.weight"); only the linears the workflow quantized. */
  linears: Map<string, FoldedLinear>;
}

/** Why the target cannot store `g` as a grid (null: it can). */
export type GridCheck = (name: LinearName, g: GroupQuantized) => string | null;

function divideRows(W: Matrix, s: Float32Array): Matrix {
  const data = W.data.slice();
  for (let r = 0; r < W.rows; r++) for (let c = 0; c < W.cols; c++) data[r * W.cols + c] /= s[r]!;
  return { rows: W.rows, cols: W.cols, data };
}

/** (code − zero) · scale per weight: the matrix a contiguous group grid describes. */
function gridWeight(g: GroupQuantized): Matrix {
  const gs = groupLength(g.spec, g.rows, g.cols), G = g.scales.length / g.rows;
  const data = new Float32Array(g.rows * g.cols);
  for (let r = 0; r < g.rows; r++) {
    for (let c = 0; c < g.cols; c++) {
      const k = r * G + Math.floor(c / gs);
      data[r * g.cols + c] = (g.codes[r * g.cols + c]! - g.zeros[k]!) * g.scales[k]!;
    }
  }
  return { rows: g.rows, cols: g.cols, data };
}

function gridOf(g: GroupQuantized): GridParts {
  return {
    rows: g.rows, cols: g.cols, bits: g.spec.bits, groupSize: groupLength(g.spec, g.rows, g.cols),
    codes: g.codes, scales: g.scales.slice(), zeros: g.zeros, gIdx: null, offset: -g.spec.qmin,
  };
}

/**
 * Folds every AWQ linear's input scales where the architecture allows; `fits` says which grids the
 * target stores. The input model is not changed.
 * @example
 * ```ts
 * const f = foldAwq(q, (_n, g) => g.cols % 32 === 0 ? null : "row length not a multiple of 32");
 * f.model.layers[0].attnNorm   // the RMSNorm weight divided by q/k/v's s
 * ```
 */
export function foldAwq(q: QuantizedModel, fits: GridCheck): AwqFold {
  const model = cloneModel(q.model), c = model.config;
  const linears = new Map<string, FoldedLinear>();
  model.layers.forEach((layer, i) => {
    const ql = (n: LinearName): QuantizedLinear | undefined => q.linears.get(`blk.${i}.${n}.weight`);
    /** The stored form of one linear given whether its s is folded into its producer. */
    const place = (n: LinearName, folded: boolean): FoldedLinear | undefined => {
      const l = ql(n);
      if (!l) return undefined;
      const g = l.grouped;
      const why = !g ? `its format ${l.format} is not an integer group grid` : g.gIdx && g.gIdx.some((x, k) => x !== Math.floor(k / groupLength(g.spec, g.rows, g.cols)))
        ? "its groups are not contiguous runs of the input" : g.spec.grid ? `its ${g.spec.gridName} grid is not uniform` : fits(n, g);
      if (!l.inputScales) return why ? { weight: l.weight, reason: why, format: l.format } : { weight: l.weight, grid: gridOf(g!), format: l.format };
      if (!folded) return { weight: l.weight, reason: why ?? "its input scales cannot be folded into the previous operation", format: l.format };
      // AWQ's `dequantized` is the effective Q(W·s)/s; the folded weight is the grid itself, Q(W·s)
      const weight = gridWeight(g!);
      return why ? { weight, reason: why, format: l.format } : { weight, grid: gridOf(g!), format: l.format };
    };
    const sharedScales = (names: readonly LinearName[]): Float32Array | null => {
      const ss = names.map((n) => ql(n)?.inputScales).filter((s): s is Float32Array => !!s);
      if (ss.length === 0) return null;
      check(ss.length === names.length && ss.every((s) => s === ss[0] || s.every((v, k) => v === ss[0]![k])), "UNSUPPORTED",
        `blk.${i}: ${names.join("/")} do not share one set of AWQ input scales, so no single RMSNorm weight can absorb them`);
      return ss[0]!;
    };
    const out = new Map<LinearName, FoldedLinear>();
    const sQkv = sharedScales(["attn_q", "attn_k", "attn_v"]);
    if (sQkv) layer.attnNorm = layer.attnNorm.map((w, k) => w / sQkv[k]!);
    const sGu = sharedScales(["ffn_gate", "ffn_up"]);
    if (sGu) layer.ffnNorm = layer.ffnNorm.map((w, k) => w / sGu[k]!);
    for (const n of ["attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"] as const) {
      const f = place(n, true);
      if (f) out.set(n, f);
    }
    const rowFold = (consumer: LinearName, producer: LinearName, possible: string | null) => {
      const s = ql(consumer)?.inputScales;
      const trial = place(consumer, true);
      if (!trial) return;
      if (!s || possible !== null || !trial.grid) {
        const f = s ? place(consumer, false)! : trial;
        if (s && possible !== null) f.reason = trial.reason ?? possible;
        out.set(consumer, f);
        return;
      }
      out.set(consumer, trial);
      const p = out.get(producer);
      if (p) {
        p.weight = divideRows(p.weight, s);
        if (p.grid) {
          const G = p.grid.scales.length / p.grid.rows, sc = p.grid.scales as Float32Array;
          for (let r = 0; r < p.grid.rows; r++) for (let k = 0; k < G; k++) sc[r * G + k] /= s[r]!;
        }
      } else {
        layer[producer] = divideRows(layer[producer], s);
      }
    };
    rowFold("attn_output", "attn_v", c.nKvHeads === c.nHeads ? null
      : `grouped-query attention (${c.nHeads} heads, ${c.nKvHeads} KV heads): a v_proj row feeds several heads, so o_proj's input scales cannot be folded into it`);
    rowFold("ffn_down", "ffn_up", null);
    for (const n of LINEAR_NAMES) {
      const f = out.get(n);
      if (!f) continue;
      layer[n] = f.weight;
      linears.set(`blk.${i}.${n}.weight`, f);
    }
  });
  return { model, linears };
}
