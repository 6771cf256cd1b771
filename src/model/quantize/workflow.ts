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
import { hessian, outputErrorFromHessian } from "../../algorithms/hessian.js";
import type { GroupQuantized } from "../../numerics/grouped.js";
import type { Matrix } from "../../numerics/matrix.js";
import { GATE_UP, LlamaRuntime, QKV } from "../runtime/forward.js";
import { modelLayers, type LayerSource } from "../runtime/layer-source.js";
import type { LinearName, LlamaLayer, LlamaModel } from "../llama.js";
import { tf } from "../runtime/tf.js";
import { GemmStages } from "../runtime/gemm-forward.js";
import { gemmKernel, type EvalKernel } from "../runtime/layer-major.js";

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
  /** GPTQ's Hessian 2/N·XᵀX of `inputs`: computed on the first call, shared with the layer's error report. */
  hessian(): Promise<Float32Array>;
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
  /** What runs the block's stages (layer-major.ts `EvalKernel`; "auto": the GEMM from dim 256 on the wasm backend). */
  kernel?: EvalKernel;
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
  /**
   * Hidden states leaving the layer: every calibration window's rows, concatenated (tokens × dim). This is
   * the run's residual stream, which the next layer updates in place: read or store it in the callback,
   * or copy it to keep it.
   */
  hidden: Float32Array;
  /** Wall seconds this layer took (reading, calibration passes, quantization). */
  seconds: number;
}

export interface QuantizeLayersOptions extends QuantizeModelOptions {
  /**
   * Continue at this layer with the hidden states entering it (a resumed run; default: layer 0,
   * embeddings). The run updates them in place as its residual stream.
   */
  start?: { layer: number; hidden: Float32Array };
  /** Called when a layer is finished, before the next one is read (a writer stores it here). */
  onLayerDone?(done: LayerDone): void | Promise<void>;
}

/**
 * A decoder block's stages, each over every calibration window's rows (tokens × cols). Attention and the
 * residuals work in place and the others write into `out`, so the workflow's two activation buffers
 * (the residual stream and one tokens × hiddenDim scratch) serve every layer: no stage allocates
 * activations, so a 1.1B model over 128 × 512 tokens holds 2 GB of them whenever the collector runs.
 */
interface LayerStages {
  /** RMSNorm(x)·attnNorm into out. */
  attnInput(x: Float32Array, out: Float32Array): Promise<void>;
  /** The attention of the normed rows h, in place (h becomes attn_output's input). */
  attend(h: Float32Array): Promise<void>;
  /** x += o·W_oᵀ (+ bias), in place. */
  attnResidual(x: Float32Array, o: Float32Array): Promise<void>;
  /** RMSNorm(x1)·ffnNorm into out. */
  ffnInput(x1: Float32Array, out: Float32Array): Promise<void>;
  /** SwiGLU of RMSNorm(x1)·ffnNorm into out (tokens × hiddenDim), which may hold ffnInput's result. */
  ffnAct(x1: Float32Array, out: Float32Array): Promise<void>;
  /** x1 += a·W_downᵀ (+ bias), in place. */
  ffnResidual(x1: Float32Array, a: Float32Array): Promise<void>;
}

/** Every window's rows, concatenated, into `out`: `f` maps one window's [T, cols] tensors to [T, outCols]. */
function mapWindows(lengths: readonly number[], outCols: number, inputs: { data: Float32Array; cols: number }[],
  f: (...x: tf.Tensor2D[]) => tf.Tensor2D, out: Float32Array): void {
  let row = 0;
  for (const T of lengths) {
    const xs = inputs.map((m) => tf.tensor2d(m.data.subarray(row * m.cols, (row + T) * m.cols), [T, m.cols]));
    const y = f(...xs);
    out.set(y.dataSync() as Float32Array, row * outCols);
    y.dispose();
    xs.forEach((x) => x.dispose());
    row += T;
  }
}

/**
 * The layer-major core: quantizes every linear of the layers `src` gives, one decoder layer at a time.
 * Only the calibration hidden states (tokens × dim) and one layer live between layers. Inside a layer
 * the block runs in its stages (`LayerStages`: on the GEMM at real sizes, else forward.ts's on tfjs),
 * each stage once over every window: its output is both the next group's calibration input and the
 * next stage's input, so no stage is computed twice, and the numbers are those of running the whole
 * block again after each group.
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
  const scratch = new Float32Array(tokens * Math.max(c.dim, c.hiddenDim)), narrow = scratch.subarray(0, tokens * c.dim);
  const gemm = gemmKernel(c, opts.backend, {}, opts.kernel) ? new GemmStages(c, lengths) : null;
  /** Layer i's stages over every window's rows: on the GEMM (real sizes) or window by window on the runtime's tfjs ops. */
  const stages = (i: number, L: LlamaLayer): LayerStages => {
    if (gemm) return {
      attnInput: async (x, out) => void gemm.norm(x, L.attnNorm, out),
      attend: async (h) => void (await gemm.attend(L, h)),
      attnResidual: async (x, o) => void (await gemm.residual(x, o, L.attn_output, L.bias?.attn_output)),
      ffnInput: async (x1, out) => void gemm.norm(x1, L.ffnNorm, out),
      ffnAct: async (x1, out) => void (await gemm.ffnAct(L, x1, L.ffnNorm, out)),
      ffnResidual: async (x1, a) => void (await gemm.residual(x1, a, L.ffn_down, L.bias?.ffn_down)),
    };
    const { dim, hiddenDim } = c;
    const of = (data: Float32Array, cols = dim) => ({ data, cols });
    // a window's rows are read before its result is written, so in place is safe window by window
    return {
      attnInput: async (x, out) => mapWindows(lengths, dim, [of(x)], (t) => rt.attnInput(i, t), out),
      attend: async (h) => mapWindows(lengths, dim, [of(h)], (t) => rt.attend(i, t), h),
      attnResidual: async (x, o) => mapWindows(lengths, dim, [of(x), of(o)], (a, b) => rt.attnResidual(i, a, b), x),
      ffnInput: async (x1, out) => mapWindows(lengths, dim, [of(x1)], (t) => rt.ffnInput(i, t), out),
      ffnAct: async (x1, out) => mapWindows(lengths, hiddenDim, [of(x1)], (t) => tf.tidy(() => rt.ffnAct(i, rt.ffnInput(i, t))), out),
      ffnResidual: async (x1, a) => mapWindows(lengths, dim, [of(x1), of(a, hiddenDim)], (x, y) => rt.ffnResidual(i, x, y), x1),
    };
  };
  const errors: LayerError[] = [];
  try {
    const steps = c.nLayers * GROUPS.length;
    for (let i = first; i < c.nLayers; i++) {
      const tl = performance.now();
      await checkpoint("quantize layers", i * GROUPS.length, steps);
      const L = await src.layer(i);
      if (!gemm) rt.loadLayer(i, L);
      const linears = new Map<LinearName, QuantizedLinear>();
      const layerErrors: LayerError[] = [];
      // the step's checkpoint comes before its stage runs, so the method's own progress (GPTQ's column
      // sweep) starts a while after the last yield and is what a display sees when it next updates
      const quantizeGroup = async (gi: number, stage: () => Promise<Matrix>): Promise<Matrix> => {
        await checkpoint("quantize layers", i * GROUPS.length + gi, steps);
        const X = await stage();
        const todo = GROUPS[gi]!.filter((n) => !opts.skip?.(i, n));
        if (todo.length === 0) return X;
        const weights = todo.map((n) => L[n]);
        const ts = performance.now();
        let gram: Promise<Float32Array> | undefined;
        const hessianOfX = () => (gram ??= hessian(X));
        const q = await opts.quantizer({ layer: i, names: todo, weights, inputs: X, hessian: hessianOfX });
        const secs = (performance.now() - ts) / 1000 / todo.length;
        check(q.length === todo.length, "BAD_SHAPE", `the quantizer returned ${q.length} layers for ${todo.length} (${todo.join(", ")})`);
        for (const [k, n] of todo.entries()) {
          const W = weights[k]!, Wq = q[k]!.weight;
          check(Wq.rows === W.rows && Wq.cols === W.cols, "BAD_SHAPE",
            `the quantizer returned ${Wq.rows} × ${Wq.cols} for blk.${i}.${n} (${W.rows} × ${W.cols})`);
          const err: LayerError = {
            layer: i, name: n, format: q[k]!.format,
            relOutputError: await outputErrorFromHessian(await hessianOfX(), W, Wq.data), weightMse: mse(W.data, Wq.data), seconds: secs,
          };
          if (q[k]!.loss !== undefined) err.loss = q[k]!.loss;
          layerErrors.push(err);
          opts.onLayer?.(err);
          linears.set(n, q[k]!);
          L[n] = Wq;
          if (!gemm) rt.setLinear(i, n, Wq);
        }
        return X;
      };
      const { dim, hiddenDim } = c;
      const rows = (data: Float32Array, cols: number): Matrix => ({ rows: tokens, cols, data });
      const st = stages(i, L);
      // `hidden` is the residual stream, updated in place; `scratch` holds each group's input in turn
      await quantizeGroup(0, async () => (await st.attnInput(hidden, narrow), rows(narrow, dim)));
      await quantizeGroup(1, async () => (await st.attend(narrow), rows(narrow, dim)));
      await quantizeGroup(2, async () => {
        await st.attnResidual(hidden, narrow);
        await st.ffnInput(hidden, narrow);
        return rows(narrow, dim);
      });
      await quantizeGroup(3, async () => (await st.ffnAct(hidden, scratch), rows(scratch, hiddenDim)));
      await st.ffnResidual(hidden, scratch);
      if (!gemm) rt.unloadLayer(i);
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
