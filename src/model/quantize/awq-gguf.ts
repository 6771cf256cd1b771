/**
 * AWQ into GGUF at 4 bits: the input scales folded into the previous operations (fold.ts), each grid
 * that llama.cpp's Q4_1 holds (x = q·d + m per 32-block: codes 0 … 15, contiguous groups of a multiple of
 * 32) stored losslessly through pack.ts, and every other AWQ linear re-encoded from the float weights it
 * computes — as Q8_0 by default (near-lossless, so the file still computes AWQ's function), or Q4_1 when
 * size matters more (`reencode`), where its rows split into 32-blocks, else F16. Under grouped-query
 * attention that is o_proj (about a tenth of a Llama's linear weights), so the file stays near Q4_1's
 * size either way. The plan names each re-encoded tensor and why.
 */
import { dequantize, quantize } from "../../gguf/quants.js";
import type { GgufTypeName } from "../../gguf/types.js";
import { groupLength } from "../../numerics/spec.js";
import type { LlamaModel } from "../llama.js";
import { foldAwq } from "./fold.js";
import type { QuantizedLinear, QuantizedModel } from "./workflow.js";

export interface AwqGgufPlanRow {
  tensor: string;
  type: GgufTypeName;
  /** true: the AWQ grid stored as it is; false: re-encoded from the float weights (reason says why). */
  lossless: boolean;
  reason?: string;
}

export interface AwqGguf {
  model: LlamaModel;
  linears: Map<string, QuantizedLinear>;
  plan: AwqGgufPlanRow[];
}

/** Whether a model's linears carry AWQ input scales (the writers then fold them). */
export const hasInputScales = (q: QuantizedModel): boolean => [...q.linears.values()].some((l) => l.inputScales);

/**
 * The folded model and its linears as the GGUF writer takes them.
 * @example
 * ```ts
 * const { plan } = awqGguf(q);
 * plan.filter((r) => !r.lossless)   // the tensors re-encoded, and why
 * ```
 */
export function awqGguf(q: QuantizedModel, opts: { reencode?: "Q8_0" | "Q4_1" } = {}): AwqGguf {
  const fold = foldAwq(q, (_n, g) => {
    const gs = groupLength(g.spec, g.rows, g.cols);
    if (g.spec.qmax - g.spec.qmin > 15) return `its ${g.spec.bits}-bit codes do not fit Q4_1's 4 bits`;
    if (gs % 32 !== 0 || g.cols % gs !== 0) return `its groups of ${gs} over rows of ${g.cols} do not tile Q4_1's 32-blocks`;
    return null;
  });
  const linears = new Map<string, QuantizedLinear>();
  const plan: AwqGgufPlanRow[] = [];
  for (const [name, f] of fold.linears) {
    const W = f.weight;
    if (f.grid) {
      const p = f.grid, off = p.offset;
      const codes = Int16Array.from(p.codes as ArrayLike<number>, (v) => v + off);
      const zeros = Float32Array.from(p.zeros as ArrayLike<number>, (v) => v + off);
      const src = q.linears.get(name)!.grouped!;
      linears.set(name, {
        weight: W, format: `${f.format} (folded)`,
        grouped: { ...src, codes, zeros, scales: Float32Array.from(p.scales as ArrayLike<number>), gIdx: null, spec: { ...src.spec, qmin: src.spec.qmin + off, qmax: src.spec.qmax + off } },
      });
      plan.push({ tensor: name, type: "Q4_1", lossless: true });
      continue;
    }
    const type = W.cols % 32 === 0 ? opts.reencode ?? "Q8_0" : "F16";
    const bytes = quantize(type, W.data, W.cols);
    linears.set(name, { weight: { rows: W.rows, cols: W.cols, data: dequantize(type, bytes, W.data.length) }, format: `${f.format} re-encoded ${type}`, gguf: { type, bytes } });
    plan.push({ tensor: name, type, lossless: false, reason: f.reason ?? "not an integer grid" });
  }
  return { model: fold.model, linears, plan };
}
