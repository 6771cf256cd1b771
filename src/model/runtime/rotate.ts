/**
 * QuaRot's rotations, fused into the weights so the full-precision model computes the same function:
 *  1. every RMSNorm's weight is folded into the linears it feeds (q/k/v, gate/up, the output head),
 *     leaving unit norms — RMSNorm(x·Q) = RMSNorm(x)·Q only holds for an unweighted norm;
 *  2. the residual stream is rotated by Q = D·H (a randomized Hadamard): the embedding becomes E·Q,
 *     linears reading the stream W·Q, linears writing it Qᵀ·W; the head reads the rotated stream;
 *  3. optionally an online Hadamard on the down-projection's input (the SwiGLU output, where the
 *     worst activation outliers live): W_down·H in the weights, x·H at run time (a `linearInput` hook).
 * A tied embedding is untied (the head carries the folded output norm).
 */
import { check } from "../../errors.js";
import { matrix, type Matrix } from "../../numerics/matrix.js";
import type { LlamaLayer, LlamaModel, LinearName } from "../llama.js";
import { hadamardBlock, hadamardRows, randomizedHadamard } from "./hadamard.js";
import type { BlockHooks } from "./forward.js";
import { tf } from "./tf.js";

function scaleColumns(W: Matrix, s: ArrayLike<number>): Matrix {
  const out = new Float32Array(W.data.length);
  for (let r = 0; r < W.rows; r++) for (let c = 0; c < W.cols; c++) out[r * W.cols + c] = W.data[r * W.cols + c] * s[c];
  return matrix(W.rows, W.cols, out);
}

function transpose(W: Matrix): Matrix {
  const out = new Float32Array(W.data.length);
  for (let r = 0; r < W.rows; r++) for (let c = 0; c < W.cols; c++) out[c * W.rows + r] = W.data[r * W.cols + c];
  return matrix(W.cols, W.rows, out);
}

const ones = (n: number) => new Float32Array(n).fill(1);

/** The same model with unit RMSNorm weights, each norm's weight folded into the columns of the linears it feeds. */
export function foldNorms(m: LlamaModel): LlamaModel {
  return {
    ...m,
    layers: m.layers.map((l) => ({
      ...l,
      attnNorm: ones(l.attnNorm.length),
      ffnNorm: ones(l.ffnNorm.length),
      attn_q: scaleColumns(l.attn_q, l.attnNorm),
      attn_k: scaleColumns(l.attn_k, l.attnNorm),
      attn_v: scaleColumns(l.attn_v, l.attnNorm),
      ffn_gate: scaleColumns(l.ffn_gate, l.ffnNorm),
      ffn_up: scaleColumns(l.ffn_up, l.ffnNorm),
    })),
    outputNorm: ones(m.outputNorm.length),
    output: scaleColumns(m.output ?? m.tokenEmbedding, m.outputNorm),
  };
}

export interface RotateOptions {
  /** Seed of the random signs D (default 0). */
  seed?: number;
  /** Also an online Hadamard on the down-projection input (default true). */
  online?: boolean;
}

export interface RotatedModel {
  model: LlamaModel;
  /** The run-time half of the online Hadamard (empty without it): pass to every forward of `model`. */
  hooks: BlockHooks;
  /** The size of the online Hadamard's blocks (the hidden size when it is a power of two). */
  onlineBlock: number;
}

/** The rotated model (same function in exact arithmetic) and the hooks its forward needs. */
export function rotateModel(m: LlamaModel, opts: RotateOptions = {}): RotatedModel {
  const seed = opts.seed ?? 0, online = opts.online ?? true;
  const dim = m.config.dim;
  check(m.tokenEmbedding.cols === dim, "BAD_SHAPE", `the embedding has ${m.tokenEmbedding.cols} columns, the config says dim ${dim}`);
  const f = foldNorms(m);
  // Reading the stream: y = (x·Q)·(W·Q)ᵀ = x·Wᵀ. Writing it: (a·Wᵀ)·Q = a·(Qᵀ·W)ᵀ.
  const reads = (W: Matrix) => randomizedHadamard(W, seed);
  const writes = (W: Matrix) => transpose(randomizedHadamard(transpose(W), seed));
  const hiddenBlock = hadamardBlock(m.config.hiddenDim);
  const downOnline = (W: Matrix) => {
    if (!online) return W;
    const out = Float32Array.from(W.data);
    hadamardRows(out, W.cols);
    return matrix(W.rows, W.cols, out);
  };
  const layers: LlamaLayer[] = f.layers.map((l) => ({
    ...l,
    attn_q: reads(l.attn_q), attn_k: reads(l.attn_k), attn_v: reads(l.attn_v),
    ffn_gate: reads(l.ffn_gate), ffn_up: reads(l.ffn_up),
    attn_output: writes(l.attn_output),
    ffn_down: writes(downOnline(l.ffn_down)),
  }));
  const model: LlamaModel = { ...f, layers, tokenEmbedding: randomizedHadamard(m.tokenEmbedding, seed), output: reads(f.output!) };
  const hooks: BlockHooks = online ? onlineHadamardHooks(["ffn_down"]) : {};
  return { model, hooks, onlineBlock: hiddenBlock };
}

/** Rotates the inputs of the named linears by the block Hadamard at run time (their weights must carry W·H). */
export function onlineHadamardHooks(names: readonly LinearName[]): BlockHooks {
  return {
    linearInput: (_layer, n, x) => {
      if (!names.includes(n[0])) return x;
      const d = Float32Array.from(x.dataSync() as Float32Array);
      hadamardRows(d, x.shape[1]);
      return tf.tensor2d(d, x.shape);
    },
  };
}

/** Kurtosis E[(x−μ)⁴]/σ⁴ (3 for a Gaussian; large when a few values dominate) and max|x| / mean|x|. */
export function outlierStats(x: ArrayLike<number>): { kurtosis: number; maxOverMean: number } {
  const n = x.length;
  check(n > 0, "BAD_ARGUMENT", "outlier statistics need at least one value");
  let mean = 0, absMean = 0, max = 0;
  for (let i = 0; i < n; i++) { mean += x[i]; absMean += Math.abs(x[i]); max = Math.max(max, Math.abs(x[i])); }
  mean /= n;
  absMean /= n;
  let m2 = 0, m4 = 0;
  for (let i = 0; i < n; i++) { const d = x[i] - mean; m2 += d * d; m4 += d ** 4; }
  m2 /= n;
  m4 /= n;
  return { kurtosis: m2 > 0 ? m4 / (m2 * m2) : 0, maxOverMean: absMean > 0 ? max / absMean : 0 };
}
