/**
 * Layer-by-layer quantization of a whole model, the way GPTQ's reference runs it ("true sequential"):
 * calibration windows flow through the model one block at a time; inside block i the linears are
 * quantized in the order they are used — [q, k, v] (one shared input), [attn_output], [gate, up]
 * (one shared input), [ffn_down] — and each group's inputs are captured with the block's earlier groups
 * already quantized. The block's quantized output then becomes block i+1's input, so later layers see
 * (and can compensate for) the error of earlier ones.
 *
 * What a "method" is stays open: a `GroupQuantizer` receives the weights of linears that share one
 * input plus that input's calibration rows, and returns each weight quantized (dequantized values,
 * plus its group-wise codes and scales when it has them, for the writers). methods.ts maps RTN, GPTQ, AWQ and
 * the GGUF block types onto it.
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { check } from "../../errors.js";
import { checkpoint } from "../../progress.js";
import type { GroupQuantized } from "../../numerics/grouped.js";
import type { Matrix } from "../../numerics/matrix.js";
import { GATE_UP, LlamaRuntime, QKV } from "../runtime/forward.js";
import { cloneModel, type LinearName, type LlamaModel } from "../llama.js";
import { tf } from "../runtime/tf.js";

/** A quantized linear layer as the writers need it. */
export interface QuantizedLinear {
  /** Dequantized weights, out × in, used by the forward pass. */
  weight: Matrix;
  /** Label of the format, e.g. "int4 g32 asym" or "Q4_0". */
  format: string;
  /**
   * The group-wise result (spec, codes, per (row, group) scales and zero points, group index) when the
   * method quantizes to an integer grid per group (RTN, GPTQ, AWQ).
   */
  grouped?: GroupQuantized;
  /** AWQ: per-input-channel scales s; `grouped` then describes W·s and the weight is Q(W·s)/s. */
  inputScales?: Float32Array;
  /** The tensor already encoded as a GGUF block type (methods that produce llama.cpp formats). */
  gguf?: { type: string; bytes: Uint8Array };
  /** The method's own loss, if it reports one (e.g. GPTQ's Σ (w - q)² / Hinv²). */
  loss?: number;
}

export interface GroupJob {
  layer: number;
  names: readonly LinearName[];
  weights: Matrix[];
  /** Calibration inputs of these linears, N × in (rows = tokens). */
  inputs: Matrix;
}

export type GroupQuantizer = (job: GroupJob) => QuantizedLinear[] | Promise<QuantizedLinear[]>;

export interface LayerError {
  layer: number;
  name: LinearName;
  format: string;
  /** ‖X Wᵀ − X Ŵᵀ‖² / ‖X Wᵀ‖² on this layer's calibration inputs (as seen in the quantized model). */
  relOutputError: number;
  /** Mean squared weight error. */
  weightMse: number;
  loss?: number;
  seconds: number;
}

export interface QuantizeModelOptions {
  /** Calibration windows: token ids, each starting with BOS, each at most the context length. */
  calibration: number[][];
  /** Quantizer for a group of linears sharing one input. */
  quantizer: GroupQuantizer;
  /** Linears to leave in FP32 (e.g. none by default). */
  skip?: (layer: number, name: LinearName) => boolean;
  onLayer?(err: LayerError): void;
  backend?: string;
}

export class QuantizedModel {
  constructor(
    readonly model: LlamaModel,
    readonly linears: Map<string, QuantizedLinear>,
    readonly errors: LayerError[],
    readonly seconds: number,
  ) {}
  [DISPLAY](): MimeBundle {
    const rows = this.errors.map((e) => `blk.${e.layer}.${e.name}`.padEnd(22) + e.format.padEnd(18) + e.relOutputError.toExponential(3));
    const html = `<table><tr><th>tensor</th><th>format</th><th>rel. output error</th><th>weight MSE</th></tr>${this.errors
      .map((e) => `<tr><td>blk.${e.layer}.${e.name}</td><td>${e.format}</td><td>${e.relOutputError.toExponential(3)}</td><td>${e.weightMse.toExponential(3)}</td></tr>`)
      .join("")}</table>`;
    return {
      "text/plain": `quantized ${this.errors.length} linears in ${this.seconds.toFixed(1)} s\n` + rows.join("\n"),
      "text/html": html,
    };
  }
}

const GROUPS: readonly (readonly LinearName[])[] = [QKV, ["attn_output"], GATE_UP, ["ffn_down"]];

function concatRows(parts: Float32Array[], cols: number): Matrix {
  const n = parts.reduce((s, p) => s + p.length, 0) / cols;
  const data = new Float32Array(n * cols);
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { rows: n, cols, data };
}

/** ‖X Wᵀ − X Ŵᵀ‖² / ‖X Wᵀ‖², computed on the backend. */
function relOutputError(X: Matrix, W: Matrix, Wq: Matrix): number {
  return tf.tidy(() => {
    const x = tf.tensor2d(X.data, [X.rows, X.cols]);
    const y = tf.matMul(x, tf.tensor2d(W.data, [W.rows, W.cols]), false, true);
    const yq = tf.matMul(x, tf.tensor2d(Wq.data, [Wq.rows, Wq.cols]), false, true);
    const num = tf.sum(tf.square(tf.sub(y, yq))).dataSync()[0];
    const den = tf.sum(tf.square(y)).dataSync()[0];
    return den > 0 ? num / den : num;
  });
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

/** Quantizes every linear of `model` block by block; returns a new model (the input is not changed). */
export async function quantizeModel(model: LlamaModel, opts: QuantizeModelOptions): Promise<QuantizedModel> {
  check(opts.calibration.length > 0, "BAD_ARGUMENT", "quantizeModel needs at least one calibration window of tokens");
  const t0 = performance.now();
  const out = cloneModel(model);
  const rt = await LlamaRuntime.create(out, opts.backend);
  const linears = new Map<string, QuantizedLinear>();
  const errors: LayerError[] = [];
  let hidden = opts.calibration.map((w) => rt.embed(w));
  try {
    const steps = model.config.nLayers * GROUPS.length;
    for (let i = 0; i < model.config.nLayers; i++) {
      for (const [gi, names] of GROUPS.entries()) {
        await checkpoint("quantize layers", i * GROUPS.length + gi, steps);
        const todo = names.filter((n) => !opts.skip?.(i, n));
        if (todo.length === 0) continue;
        const parts: Float32Array[] = [];
        for (const h of hidden) {
          const y = rt.block(i, h, {
            onLinearInput: (_l, ns, x) => {
              if (ns[0] === names[0]) parts.push(x.dataSync() as Float32Array);
            },
          });
          y.dispose();
        }
        const cols = out.layers[i][todo[0]].cols;
        const inputs = concatRows(parts, cols);
        const weights = todo.map((n) => out.layers[i][n]);
        const ts = performance.now();
        const q = await opts.quantizer({ layer: i, names: todo, weights, inputs });
        const secs = (performance.now() - ts) / 1000 / todo.length;
        check(q.length === todo.length, "BAD_SHAPE", `the quantizer returned ${q.length} layers for ${todo.length} (${todo.join(", ")})`);
        todo.forEach((n, k) => {
          const W = weights[k], Wq = q[k].weight;
          check(Wq.rows === W.rows && Wq.cols === W.cols, "BAD_SHAPE",
            `the quantizer returned ${Wq.rows} × ${Wq.cols} for blk.${i}.${n} (${W.rows} × ${W.cols})`);
          const err: LayerError = {
            layer: i, name: n, format: q[k].format,
            relOutputError: relOutputError(inputs, W, Wq), weightMse: mse(W.data, Wq.data), seconds: secs,
          };
          if (q[k].loss !== undefined) err.loss = q[k].loss;
          errors.push(err);
          opts.onLayer?.(err);
          linears.set(`blk.${i}.${n}.weight`, q[k]);
          out.layers[i][n] = Wq;
          rt.setLinear(i, n, Wq);
        });
      }
      const next = hidden.map((h) => rt.block(i, h));
      hidden.forEach((h) => h.dispose());
      hidden = next;
    }
    await checkpoint("quantize layers", steps, steps);
  } finally {
    hidden.forEach((h) => h.dispose());
    rt.dispose();
  }
  return new QuantizedModel(out, linears, errors, (performance.now() - t0) / 1000);
}

/** Calibration windows from text tokens: `count` windows of `length` positions (BOS + length−1 tokens). */
export function calibrationWindows(textTokens: number[], bos: number, count: number, length: number): number[][] {
  check(count > 0 && length >= 2, "BAD_ARGUMENT", `calibration needs count ≥ 1 and length ≥ 2, got ${count} × ${length}`);
  const per = length - 1;
  check(textTokens.length >= per, "BAD_ARGUMENT",
    `the calibration text has ${textTokens.length} tokens, fewer than one window of ${per}: give more text or a shorter --calib-length`);
  const out: number[][] = [];
  for (let k = 0; k < count && (k + 1) * per <= textTokens.length; k++) out.push([bos, ...textTokens.slice(k * per, (k + 1) * per)]);
  return out;
}
