/**
 * RTN, GPTQ and AWQ as the model workflow's GroupQuantizers, over the numeric core and the algorithms.
 * All three use the same integer grid per group of `groupSize` weights along a row (asymmetric with a
 * zero point unless the spec says `scheme: "symmetric"`; GPTQ's convention for RTN and GPTQ, AWQ's own for
 * AWQ), so their perplexities compare methods, not grids. A row length the group does not divide
 * (stories260K's ffn_down has 172 columns) gets a shorter last group (`pad`), as GPTQ's reference does.
 * Each linear carries its group-wise result in the shape the three share (`grouped`).
 */
import { QuantLabError } from "../../errors.js";
import { awqBlock } from "../../algorithms/awq.js";
import { gptq } from "../../algorithms/gptq.js";
import type { Matrix } from "../../numerics/matrix.js";
import { rtn } from "../../numerics/rtn.js";
import type { Scheme } from "../../numerics/spec.js";
import type { GroupQuantizer, QuantizedLinear } from "./workflow.js";

export type WeightMethod = "rtn" | "gptq" | "awq";

/** The grid of a weight method, in the spec vocabulary: bits, weights per group, scheme (default asymmetric). */
export interface WeightGrid {
  bits: number;
  groupSize: number;
  scheme?: Scheme;
}

/** RTN, GPTQ or AWQ with its grid: the weight-method half of the workflow's `MethodSpec`. */
export interface WeightMethodSpec extends WeightGrid {
  method: WeightMethod;
}

/** "int4 g32", with " sym" for a symmetric grid: the format label the workflow's tables show. */
const label = (g: WeightGrid) => `int${g.bits} g${g.groupSize}${g.scheme === "symmetric" ? " sym" : ""}`;

/**
 * Round-to-nearest of one linear under GPTQ's convention (the grid GPTQ itself uses).
 * @example
 * ```ts
 * rtnLinear(W, { bits: 4, groupSize: 32 }).grouped!.scales
 * ```
 */
export function rtnLinear(W: Matrix, grid: WeightGrid): QuantizedLinear {
  const { bits, groupSize } = grid;
  const q = rtn(W, { bits, groupSize, pad: W.cols % groupSize !== 0, scheme: grid.scheme ?? "asymmetric", convention: "gptq" });
  return { weight: { rows: W.rows, cols: W.cols, data: q.dequantized }, format: `RTN ${label(grid)}`, grouped: q };
}

/** GPTQ of the linears sharing one input: one Hessian 2/N·XᵀX (of their calibration inputs) for all of them. */
export async function gptqGroup(weights: Matrix[], H: Float32Array, grid: WeightGrid): Promise<QuantizedLinear[]> {
  const { bits, groupSize } = grid;
  const out: QuantizedLinear[] = [];
  for (const W of weights) {
    const g = await gptq(W, { H }, { bits, groupSize, pad: W.cols % groupSize !== 0, scheme: grid.scheme ?? "asymmetric", skipOutputError: true });
    out.push({ weight: { rows: W.rows, cols: W.cols, data: g.dequantized }, format: `GPTQ ${label(grid)}`, grouped: g, loss: g.report.loss });
  }
  return out;
}

/**
 * AWQ of the linears sharing one input, scaled together (one per-input-channel scale s for q/k/v, one
 * for gate/up), with llm-awq's clip search except on q and k. The forward pass uses the effective weight
 * Q(W·s)/s; codes and scales describe W·s, so they travel with `inputScales` (a GGUF writer would have
 * to fold 1/s into the previous op to store them losslessly).
 */
export async function awqGroup(names: readonly string[], weights: Matrix[], X: Matrix, grid: WeightGrid): Promise<QuantizedLinear[]> {
  const { bits, groupSize } = grid;
  const pad = weights[0].cols % groupSize !== 0;
  const clip = names.map((n) => n !== "attn_q" && n !== "attn_k");
  const r = await awqBlock(weights, X, { bits, groupSize, pad, scheme: grid.scheme ?? "asymmetric", clip, skipOutputError: true });
  return r.layers.map((l, k) => ({
    weight: { rows: weights[k].rows, cols: weights[k].cols, data: l.dequantized },
    format: `AWQ ${label(grid)}`,
    grouped: l, inputScales: r.inputScales, loss: l.report.loss,
  }));
}

export function weightMethodQuantizer(spec: WeightMethodSpec): GroupQuantizer {
  switch (spec.method) {
    case "rtn":
      return (job) => job.weights.map((W) => rtnLinear(W, spec));
    case "gptq":
      return async (job) => gptqGroup(job.weights, await job.hessian(), spec);
    case "awq":
      return (job) => awqGroup(job.names, job.weights, job.inputs, spec);
    default:
      throw new QuantLabError("UNSUPPORTED", `unknown weight method ${String(spec.method)}: use rtn, gptq or awq`);
  }
}
