/**
 * RTN, GPTQ and AWQ as the model workflow's GroupQuantizers, over the numeric core's ruler (H1) and
 * the algorithms (H6). All three use the same integer grid per group of `groupSize` weights along a
 * row (asymmetric with a zero point, GPTQ's convention for RTN and GPTQ, AWQ's own for AWQ), so their
 * perplexities compare methods, not grids. A row length the group does not divide (stories260K's
 * ffn_down has 172 columns) gets a shorter last group (`pad`), as GPTQ's reference does.
 */
import { QuantLabError } from "../../errors.js";
import { awqBlock } from "../../algorithms/awq.js";
import { gptq } from "../../algorithms/gptq.js";
import { hessian } from "../../algorithms/hessian.js";
import type { Matrix } from "../../numerics/matrix.js";
import { rtn } from "../../numerics/ruler.js";
import type { GroupQuantizer, QuantizedLinear } from "./workflow.js";

export type WeightMethod = "rtn" | "gptq" | "awq";

export function rtnLinear(W: Matrix, bits: number, groupSize: number, symmetric: boolean): QuantizedLinear {
  const q = rtn(W, { bits, groupSize, pad: W.cols % groupSize !== 0, scheme: symmetric ? "symmetric" : "asymmetric", convention: "gptq" });
  return {
    weight: { rows: W.rows, cols: W.cols, data: q.dequantized },
    format: `RTN int${bits} g${groupSize}`,
    codes: q.codes, scales: q.scales, zeros: q.zeros, bits, groupSize,
  };
}

/** GPTQ of the linears sharing one input: one Hessian 2/N·XᵀX for all of them. */
export async function gptqGroup(weights: Matrix[], X: Matrix, bits: number, groupSize: number, symmetric: boolean): Promise<QuantizedLinear[]> {
  const H = await hessian(X);
  const out: QuantizedLinear[] = [];
  for (const W of weights) {
    const g = await gptq(W, { H }, { bits, groupSize, pad: W.cols % groupSize !== 0, sym: symmetric, skipOutputError: true });
    out.push({
      weight: { rows: W.rows, cols: W.cols, data: g.dequantized },
      format: `GPTQ int${bits} g${groupSize}`,
      codes: g.codes, scales: g.scales, zeros: g.zeros, bits, groupSize, loss: g.report.loss,
    });
  }
  return out;
}

/**
 * AWQ of the linears sharing one input, scaled together (one per-input-channel scale s for q/k/v, one
 * for gate/up), with llm-awq's clip search except on q and k. The forward pass uses the effective weight
 * Q(W·s)/s; codes and scales describe W·s, so they travel with `inputScales` (a GGUF writer would have
 * to fold 1/s into the previous op to store them losslessly).
 */
export async function awqGroup(names: readonly string[], weights: Matrix[], X: Matrix, bits: number, groupSize: number, symmetric: boolean): Promise<QuantizedLinear[]> {
  const pad = weights[0].cols % groupSize !== 0;
  const clip = names.map((n) => n !== "attn_q" && n !== "attn_k");
  const r = await awqBlock(weights, X, { bits, groupSize, pad, sym: symmetric, clip, skipOutputError: true });
  return r.layers.map((l, k) => ({
    weight: { rows: weights[k].rows, cols: weights[k].cols, data: l.dequantized },
    format: `AWQ int${bits} g${groupSize}`,
    codes: l.codes, scales: l.scales, zeros: l.zeros, bits, groupSize, inputScales: r.inputScales, loss: l.report.loss,
  }));
}

export function weightMethodQuantizer(method: WeightMethod, bits: number, groupSize: number, symmetric: boolean): GroupQuantizer {
  switch (method) {
    case "rtn":
      return (job) => job.weights.map((W) => rtnLinear(W, bits, groupSize, symmetric));
    case "gptq":
      return (job) => gptqGroup(job.weights, job.inputs, bits, groupSize, symmetric);
    case "awq":
      return (job) => awqGroup(job.names, job.weights, job.inputs, bits, groupSize, symmetric);
    default:
      throw new QuantLabError("UNSUPPORTED", `unknown weight method ${String(method)}: use rtn, gptq or awq`);
  }
}
