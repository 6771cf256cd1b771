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
import { modelLayers, type LayerSource } from "../runtime/layer-source.js";
import type { LinearName, LlamaLayer, LlamaModel } from "../llama.js";
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

const GROUPS: readonly (readonly LinearName[])[] = [QKV, ["attn_output"], GATE_UP, ["ffn_down"]];

/** What one finished layer hands on: its weights with the quantized linears in place, and the states leaving it. */
export interface LayerDone {
  layer: number;
  /** The layer as the quantized model has it (linears dequantized, norms as read). */
  weights: LlamaLayer;
  /** The quantized linears of this layer, in the order they were quantized. */
  linears: Map<LinearName, QuantizedLinear>;
  errors: LayerError[];
  /** Hidden states leaving the layer: every calibration window's rows, concatenated (tokens × dim). */
  hidden: Float32Array;
  /** Wall seconds this layer took (reading, calibration passes, quantization). */
  seconds: number;
}

export interface QuantizeLayersOptions extends QuantizeModelOptions {
  /** Continue at this layer with the hidden states entering it (a resumed run; default: layer 0, embeddings). */
  start?: { layer: number; hidden: Float32Array };
  /** Called when a layer is finished, before the next one is read (a writer stores it here). */
  onLayerDone?(done: LayerDone): void | Promise<void>;
}

/** Every window's rows, concatenated: `f` maps one window's [T, cols] tensors to [T, outCols]. */
function mapWindows(lengths: readonly number[], outCols: number, inputs: { data: Float32Array; cols: number }[],
  f: (...x: tf.Tensor2D[]) => tf.Tensor2D): Float32Array {
  const total = lengths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(total * outCols);
  let row = 0;
  for (const T of lengths) {
    const xs = inputs.map((m) => tf.tensor2d(m.data.subarray(row * m.cols, (row + T) * m.cols), [T, m.cols]));
    const y = f(...xs);
    out.set(y.dataSync() as Float32Array, row * outCols);
    y.dispose();
    xs.forEach((x) => x.dispose());
    row += T;
  }
  return out;
}

/**
 * The layer-major core: quantizes every linear of the layers `src` gives, one decoder layer at a time.
 * Only the calibration hidden states (tokens × dim) and one layer live between layers. Inside a layer
 * the block runs in its stages (forward.ts), each stage once over every window: its output is both the
 * next group's calibration input and the next stage's input, so no stage is computed twice, and the
 * numbers are those of running the whole block again after each group.
 */
export async function quantizeLayers(src: LayerSource, opts: QuantizeLayersOptions): Promise<{ errors: LayerError[]; seconds: number }> {
  check(opts.calibration.length > 0, "BAD_ARGUMENT", "quantizeModel needs at least one calibration window of tokens");
  const t0 = performance.now();
  const c = src.config;
  const lengths = opts.calibration.map((w) => w.length);
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const first = opts.start?.layer ?? 0;
  check(first >= 0 && first <= c.nLayers, "BAD_ARGUMENT", `cannot start at layer ${first} of a model with ${c.nLayers} layers`);
  let hidden: Float32Array;
  if (opts.start) {
    hidden = opts.start.hidden;
    check(hidden.length === tokens * c.dim, "BAD_SHAPE", `the saved hidden states hold ${hidden.length} values, ${opts.calibration.length} windows of ${tokens} tokens × ${c.dim} need ${tokens * c.dim}`);
  } else {
    const parts = await src.embed(opts.calibration);
    hidden = new Float32Array(tokens * c.dim);
    let o = 0;
    for (const p of parts) {
      hidden.set(p, o);
      o += p.length;
    }
  }
  const rt = await LlamaRuntime.streamed(c, opts.backend);
  const errors: LayerError[] = [];
  try {
    const steps = c.nLayers * GROUPS.length;
    for (let i = first; i < c.nLayers; i++) {
      const tl = performance.now();
      await checkpoint("quantize layers", i * GROUPS.length, steps);
      const L = await src.layer(i);
      rt.loadLayer(i, L);
      const linears = new Map<LinearName, QuantizedLinear>();
      const layerErrors: LayerError[] = [];
      // the step's checkpoint comes before its stage runs, so the method's own progress (GPTQ's column
      // sweep) starts a while after the last yield and is what a display sees when it next updates
      const quantizeGroup = async (gi: number, stage: () => Matrix): Promise<Matrix> => {
        await checkpoint("quantize layers", i * GROUPS.length + gi, steps);
        const X = stage();
        const todo = GROUPS[gi]!.filter((n) => !opts.skip?.(i, n));
        if (todo.length === 0) return X;
        const weights = todo.map((n) => L[n]);
        const ts = performance.now();
        const q = await opts.quantizer({ layer: i, names: todo, weights, inputs: X });
        const secs = (performance.now() - ts) / 1000 / todo.length;
        check(q.length === todo.length, "BAD_SHAPE", `the quantizer returned ${q.length} layers for ${todo.length} (${todo.join(", ")})`);
        todo.forEach((n, k) => {
          const W = weights[k]!, Wq = q[k]!.weight;
          check(Wq.rows === W.rows && Wq.cols === W.cols, "BAD_SHAPE",
            `the quantizer returned ${Wq.rows} × ${Wq.cols} for blk.${i}.${n} (${W.rows} × ${W.cols})`);
          const err: LayerError = {
            layer: i, name: n, format: q[k]!.format,
            relOutputError: relOutputError(X, W, Wq), weightMse: mse(W.data, Wq.data), seconds: secs,
          };
          if (q[k]!.loss !== undefined) err.loss = q[k]!.loss;
          layerErrors.push(err);
          opts.onLayer?.(err);
          linears.set(n, q[k]!);
          L[n] = Wq;
          rt.setLinear(i, n, Wq);
        });
        return X;
      };
      const { dim, hiddenDim } = c;
      const rows = (data: Float32Array, cols: number): Matrix => ({ rows: tokens, cols, data });
      // each stage's output is dropped once the next stage has read it: at the peak the residual X1, the
      // FFN input and the SwiGLU activations are alive, not every stage of the block
      let H: Matrix | null = await quantizeGroup(0, () => rows(mapWindows(lengths, dim, [{ data: hidden, cols: dim }], (x) => rt.attnInput(i, x)), dim));
      let O: Matrix | null = await quantizeGroup(1, () => rows(mapWindows(lengths, dim, [{ data: H!.data, cols: dim }], (h) => rt.attend(i, h)), dim));
      H = null;
      let X1: Float32Array = new Float32Array(0);
      let H2: Matrix | null = await quantizeGroup(2, () => {
        X1 = mapWindows(lengths, dim, [{ data: hidden, cols: dim }, { data: O!.data, cols: dim }], (x, o) => rt.attnResidual(i, x, o));
        hidden = X1;
        O = null;
        return rows(mapWindows(lengths, dim, [{ data: X1, cols: dim }], (x1) => rt.ffnInput(i, x1)), dim);
      });
      const A = await quantizeGroup(3, () => {
        const a = mapWindows(lengths, hiddenDim, [{ data: H2!.data, cols: dim }], (h2) => rt.ffnAct(i, h2));
        H2 = null;
        return rows(a, hiddenDim);
      });
      hidden = mapWindows(lengths, dim, [{ data: X1, cols: dim }, { data: A.data, cols: hiddenDim }], (x1, a) => rt.ffnResidual(i, x1, a));
      rt.unloadLayer(i);
      errors.push(...layerErrors);
      await opts.onLayerDone?.({ layer: i, weights: L, linears, errors: layerErrors, hidden, seconds: (performance.now() - tl) / 1000 });
    }
    await checkpoint("quantize layers", steps, steps);
  } finally {
    rt.dispose();
  }
  return { errors, seconds: (performance.now() - t0) / 1000 };
}

/** Quantizes every linear of `model` block by block; returns a new model (the input is not changed). */
export async function quantizeModel(model: LlamaModel, opts: QuantizeModelOptions): Promise<QuantizedModel> {
  const layers: LlamaLayer[] = [];
  const linears = new Map<string, QuantizedLinear>();
  const r = await quantizeLayers(modelLayers(model), {
    ...opts,
    onLayerDone: (d) => {
      layers[d.layer] = d.weights;
      for (const [n, q] of d.linears) linears.set(`blk.${d.layer}.${n}.weight`, q);
    },
  });
  const cp = (x: Matrix): Matrix => ({ rows: x.rows, cols: x.cols, data: x.data.slice() });
  const out: LlamaModel = {
    ...model,
    config: { ...model.config, ...(model.config.ropeFreqFactors ? { ropeFreqFactors: model.config.ropeFreqFactors.slice() } : {}) },
    tokenEmbedding: cp(model.tokenEmbedding), output: model.output ? cp(model.output) : null, outputNorm: model.outputNorm.slice(), layers,
  };
  return new QuantizedModel(out, linears, r.errors, r.seconds);
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
