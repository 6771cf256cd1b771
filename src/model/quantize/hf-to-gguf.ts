/**
 * A Hugging Face GPTQ or AWQ checkpoint into GGUF without re-quantizing: each linear whose grid llama.cpp's
 * Q4_1 holds (at most 4 bits, groups that are contiguous runs of a multiple of 32 inputs) keeps its codes,
 * scales and zero points (pack.ts), with q/k rows permuted from rotate-half to llama.cpp's interleaved
 * pairs; any other linear (act-order groups, 8 bits, rows that do not split into 32-blocks) is re-encoded
 * from its dequantized weights as Q8_0 (F16 where its rows do not split into 32-blocks), and the plan says so.
 */
import { writeGguf } from "../../gguf/file.js";
import { dequantize, quantize } from "../../gguf/quants.js";
import { contiguousGIdx, type HfIntLinear } from "../formats/hf-quantized-layout.js";
import { hfModule, hfQuantizedModel, readHfQuantized, type HfQuantizedCheckpoint } from "../formats/hf-quantized.js";
import { halfToInterleavedOrder, headDim, LINEAR_NAMES, type LlamaModel } from "../llama.js";
import type { AwqGgufPlanRow } from "./awq-gguf.js";
import { ggufContent } from "./export.js";
import { packQ4_1 } from "./pack.js";
import type { QuantizedLinear } from "./workflow.js";

/** Why a linear's grid does not go into Q4_1 as it is (null: it does). */
function q41Misfit(l: HfIntLinear): string | null {
  if (l.bits > 4) return `its ${l.bits}-bit codes do not fit Q4_1's 4 bits`;
  if (l.groupSize % 32 !== 0 || l.in % l.groupSize !== 0) return `its groups of ${l.groupSize} over rows of ${l.in} do not tile Q4_1's 32-blocks`;
  const def = contiguousGIdx(l.in, l.groupSize);
  if (l.gIdx && l.gIdx.some((g, i) => g !== def[i])) return "its act-order groups (g_idx) are not contiguous runs of the input";
  return null;
}

/** Q4_1 bytes of an integer linear, rows taken in `order` (row d of the result is Hugging Face row order[d]). */
function q41Of(l: HfIntLinear, order: Int32Array | null): Uint8Array {
  const G = l.scales.length / l.out;
  const codes = new Uint8Array(l.out * l.in), scales = new Float32Array(l.out * G), zeros = new Float32Array(l.out * G);
  for (let d = 0; d < l.out; d++) {
    const e = order ? order[d]! : d;
    codes.set(l.codes.subarray(e * l.in, (e + 1) * l.in), d * l.in);
    for (let g = 0; g < G; g++) { scales[d * G + g] = l.scales[g * l.out + e]!; zeros[d * G + g] = l.zeros[g * l.out + e]!; }
  }
  return packQ4_1(codes, scales, zeros, l.out, l.in, l.groupSize);
}

/** The checkpoint's model and its linears as the GGUF writer takes them, with the plan. */
export function hfCheckpointGguf(ck: HfQuantizedCheckpoint, label: string): { model: LlamaModel; linears: Map<string, QuantizedLinear>; plan: AwqGgufPlanRow[] } {
  const model = hfQuantizedModel(ck, label), c = model.config;
  const ints = new Map(ck.entries.flatMap((e) => ("module" in e ? [[e.module, e.linear] as const] : [])));
  const linears = new Map<string, QuantizedLinear>();
  const plan: AwqGgufPlanRow[] = [];
  model.layers.forEach((layer, i) => {
    for (const n of LINEAR_NAMES) {
      const l = ints.get(hfModule(i, n));
      if (!l) continue;
      const name = `blk.${i}.${n}.weight`, W = layer[n];
      const why = q41Misfit(l);
      if (!why) {
        const order = n === "attn_q" ? halfToInterleavedOrder(c.dim, c.nHeads) : n === "attn_k" ? halfToInterleavedOrder(c.nKvHeads * headDim(c), c.nKvHeads) : null;
        const bytes = q41Of(l, order);
        linears.set(name, { weight: { rows: W.rows, cols: W.cols, data: dequantize("Q4_1", bytes, W.data.length) }, format: "Q4_1", gguf: { type: "Q4_1", bytes } });
        plan.push({ tensor: name, type: "Q4_1", lossless: true });
        continue;
      }
      const type = W.cols % 32 === 0 ? "Q8_0" : "F16";
      const bytes = quantize(type, W.data, W.cols);
      linears.set(name, { weight: { rows: W.rows, cols: W.cols, data: dequantize(type, bytes, W.data.length) }, format: `${type} (re-encoded)`, gguf: { type, bytes } });
      plan.push({ tensor: name, type, lossless: false, reason: why });
    }
  });
  return { model, linears, plan };
}

/**
 * Converts a GPTQ or AWQ checkpoint folder to a GGUF file llama.cpp runs at the checkpoint's size.
 * @example
 * ```ts
 * const plan = await hfQuantizedToGguf("llama-gptq-4bit", "llama-gptq.gguf");
 * plan.filter((r) => !r.lossless)   // what had to be re-encoded, and why
 * ```
 */
export async function hfQuantizedToGguf(dir: string, out: string): Promise<AwqGgufPlanRow[]> {
  const ck = await readHfQuantized(dir);
  const { model, linears, plan } = hfCheckpointGguf(ck, dir);
  await writeGguf(out, ggufContent(model, { name: `${dir} (${ck.method.toUpperCase()})`, linears }));
  return plan;
}
