/**
 * Writes models out: GGUF v3 for llama.cpp (through src/gguf's writer) and safetensors with the codes,
 * scales and zero points of every quantized linear (through src/io's writer).
 *
 * GGUF tensor types: a linear encoded by a GGUF method keeps its bytes; a GPTQ/RTN group-wise result whose
 * spec says it fits (codes 0 … 15, contiguous groups of a multiple of 32) is stored losslessly as Q4_1
 * (see pack.ts); an AWQ result has its input scales folded into the previous operations first and its
 * grids stored as Q4_1 the same way (awq-gguf.ts, whose plan names what it re-encodes); any other quantized
 * linear is re-encoded from its effective weights as Q8_0 (or, by llama.cpp's fallback rule in
 * src/gguf/mix.ts, F16 when its rows do not split into 32-blocks). Norms and the embedding stay F32.
 */
import { check } from "../../errors.js";
import type { GgufTypeName } from "../../gguf/types.js";
import { ggufType } from "../../gguf/types.js";
import { quantize } from "../../gguf/quants.js";
import { fallbackType } from "../../gguf/mix.js";
import { llamaGgufMetadata } from "../formats/gguf.js";
import { headDim, LINEAR_NAMES, type LinearName, type LlamaConfig, type LlamaModel } from "../llama.js";
import { packQ4_1 } from "./pack.js";
import { awqGguf, hasInputScales, type AwqGgufPlanRow } from "./awq-gguf.js";
import { writeGguf, type GgufValue } from "../../gguf/file.js";
import { writeSafetensors } from "../../io/safetensors.js";
import type { Tensor } from "../../io/tensor.js";
import { contiguousGroups, type GroupQuantized } from "../../numerics/grouped.js";
import { groupLength } from "../../numerics/spec.js";
import type { QuantizedLinear, QuantizedModel } from "./workflow.js";

export interface OutTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  type: GgufTypeName;
  data: Uint8Array;
}

export interface GgufContent {
  metadata: Map<string, GgufValue>;
  tensors: OutTensor[];
}

const f32Bytes = (x: Float32Array): Uint8Array => new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));

/**
 * Whether a linear's group-wise result fits llama.cpp's Q4_1 as it stands (x = q·d + m per 32-block),
 * read from its spec: a uniform integer grid whose code range is within 0 … 15, groups that are
 * contiguous runs of a multiple of 32 columns tiling the row, and no input scales to fold (AWQ's grid
 * lives on W·s, not W).
 */
export function fitsQ4_1(q: QuantizedLinear): q is QuantizedLinear & { grouped: GroupQuantized } {
  const g = q.grouped;
  if (!g || q.inputScales) return false;
  const { spec } = g;
  if (spec.grid || spec.qmin < 0 || spec.qmax > 15) return false;
  if (spec.granularity.kind !== "group" && spec.granularity.kind !== "channel") return false;
  const gs = groupLength(spec, g.rows, g.cols);
  return gs % 32 === 0 && g.cols % gs === 0 && contiguousGroups(g);
}

/** How one quantized linear is stored in GGUF (type and bytes). */
export function ggufTensorOf(q: QuantizedLinear): { type: GgufTypeName; data: Uint8Array; lossless: boolean } {
  if (q.gguf) return { type: q.gguf.type as GgufTypeName, data: q.gguf.bytes, lossless: true };
  const W = q.weight;
  if (fitsQ4_1(q)) {
    const g = q.grouped;
    return { type: "Q4_1", data: packQ4_1(g.codes, g.scales, g.zeros, W.rows, W.cols, groupLength(g.spec, W.rows, W.cols)), lossless: true };
  }
  const type = fallbackType("Q8_0", W.cols);
  return { type, data: quantize(type, W.data, W.cols), lossless: false };
}

/** One tensor of a Llama GGUF in file order: its name, ggml dims, and the linear it is, if it is one. */
export interface LlamaGgufSlot {
  name: string;
  dims: number[];
  linear?: { layer: number; name: LinearName };
}

/**
 * The tensors of a Llama model's GGUF in the order QuantLab writes them (rope factors, embedding, each
 * block's norms, linears and biases, final norm, output): the one layout of `ggufContent` and of the
 * streamed writer that assembles a quantize-model output layer by layer.
 */
export function llamaGgufSlots(c: LlamaConfig, has: { output: boolean; bias(layer: number, name: LinearName): number | undefined }): LlamaGgufSlot[] {
  const kv = headDim(c) * c.nKvHeads;
  const rows: Record<LinearName, number> = { attn_q: c.dim, attn_k: kv, attn_v: kv, attn_output: c.dim, ffn_gate: c.hiddenDim, ffn_up: c.hiddenDim, ffn_down: c.dim };
  const out: LlamaGgufSlot[] = [];
  if (c.ropeFreqFactors) out.push({ name: "rope_freqs.weight", dims: [c.ropeFreqFactors.length] });
  out.push({ name: "token_embd.weight", dims: [c.dim, c.vocabSize] });
  for (let i = 0; i < c.nLayers; i++) {
    out.push({ name: `blk.${i}.attn_norm.weight`, dims: [c.dim] });
    for (const n of LINEAR_NAMES) {
      out.push({ name: `blk.${i}.${n}.weight`, dims: [n === "ffn_down" ? c.hiddenDim : c.dim, rows[n]], linear: { layer: i, name: n } });
      const b = has.bias(i, n);
      if (b !== undefined) out.push({ name: `blk.${i}.${n}.bias`, dims: [b] });
    }
    out.push({ name: `blk.${i}.ffn_norm.weight`, dims: [c.dim] });
  }
  out.push({ name: "output_norm.weight", dims: [c.dim] });
  if (has.output) out.push({ name: "output.weight", dims: [c.dim, c.vocabSize] });
  return out;
}

/** Metadata and tensors of a model as GGUF; `linears` (from the workflow) replaces F32 linears. */
export function ggufContent(model: LlamaModel, opts: { name?: string; description?: string; linears?: Map<string, QuantizedLinear> } = {}): GgufContent {
  const c = model.config;
  const meta = llamaGgufMetadata(c, opts.name ?? model.source, model.tokenizer, opts.description);
  const tensors: OutTensor[] = [];
  let quantized = false;
  const f32OfSlot = (name: string): Float32Array => {
    if (name === "rope_freqs.weight") return c.ropeFreqFactors!;
    if (name === "token_embd.weight") return model.tokenEmbedding.data;
    if (name === "output_norm.weight") return model.outputNorm;
    if (name === "output.weight") return model.output!.data;
    const [, i, n, kind] = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name)!;
    const l = model.layers[Number(i)]!;
    if (n === "attn_norm") return l.attnNorm;
    if (n === "ffn_norm") return l.ffnNorm;
    return kind === "bias" ? l.bias![n as LinearName]! : l[n as LinearName].data;
  };
  const slots = llamaGgufSlots(c, { output: model.output !== null, bias: (i, n) => model.layers[i]!.bias?.[n]?.length });
  for (const s of slots) {
    const q = s.linear && opts.linears?.get(s.name);
    if (q) {
      const t = ggufTensorOf(q);
      quantized ||= ggufType(t.type)!.blockSize > 1;
      tensors.push({ name: s.name, dims: s.dims, type: t.type, data: t.data });
    } else tensors.push({ name: s.name, dims: s.dims, type: "F32", data: f32Bytes(f32OfSlot(s.name)) });
  }
  if (quantized) meta.set("general.quantization_version", { type: "UINT32", value: 2 });
  return { metadata: meta, tensors };
}

/** Writes a model (FP32 weights) as GGUF v3. */
export async function writeModelGguf(model: LlamaModel, path: string, opts: { name?: string; description?: string } = {}): Promise<void> {
  await writeGguf(path, ggufContent(model, opts));
}

/**
 * Writes the workflow's result as GGUF v3 that llama.cpp loads (tensor types: see the module comment).
 * An AWQ result is first folded (awq-gguf.ts) so its grids go in as Q4_1. The returned plan gives each
 * quantized linear's GGUF type and whether its grid was stored as it is or re-encoded (and why).
 */
export async function writeQuantizedGguf(q: QuantizedModel, path: string,
  opts: { name?: string; description?: string; awqReencode?: "Q8_0" | "Q4_1" } = {}): Promise<AwqGgufPlanRow[]> {
  if (hasInputScales(q)) {
    const f = awqGguf(q, opts.awqReencode ? { reencode: opts.awqReencode } : {});
    await writeGguf(path, ggufContent(f.model, { ...opts, linears: f.linears }));
    return f.plan;
  }
  const content = ggufContent(q.model, { ...opts, linears: q.linears });
  await writeGguf(path, content);
  const types = new Map(content.tensors.map((t) => [t.name, t.type]));
  return [...q.linears].map(([tensor, l]) => {
    const lossless = !!l.gguf || fitsQ4_1(l);
    return { tensor, type: types.get(tensor)!, lossless, ...(lossless ? {} : { reason: `no GGUF type holds its ${l.format} grid as it is` }) };
  });
}

/**
 * The quantized model as safetensors: every tensor under its GGUF name in F32 (linears dequantized,
 * so the file runs as is), and for each quantized linear `<name>.codes` (U8, or I16 for signed codes),
 * `<name>.scales` and `<name>.zeros` (F32, rows × groups) — x = (code − zero) · scale per group — and,
 * for AWQ, `<name>.input_scales` (the grid then describes W·s, and the weight is that divided by s).
 * `__metadata__` records each linear's format, bits and group size.
 */
export function safetensorsContent(q: QuantizedModel): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const m = q.model, c = m.config;
  const tensors = new Map<string, Tensor>();
  const put = (name: string, data: Float32Array, shape: number[]) => tensors.set(name, { dtype: "F32", shape, data });
  put("token_embd.weight", m.tokenEmbedding.data, [c.vocabSize, c.dim]);
  const formats: Record<string, string> = {};
  m.layers.forEach((l, i) => {
    put(`blk.${i}.attn_norm.weight`, l.attnNorm, [c.dim]);
    put(`blk.${i}.ffn_norm.weight`, l.ffnNorm, [c.dim]);
    for (const n of LINEAR_NAMES) {
      const name = `blk.${i}.${n}.weight`;
      const W = l[n];
      put(name, W.data, [W.rows, W.cols]);
      const ql = q.linears.get(name);
      if (!ql) continue;
      formats[name] = ql.format;
      const g = ql.grouped;
      if (g) {
        let lo = 0, hi = 0;
        for (let k = 0; k < g.codes.length; k++) { lo = Math.min(lo, g.codes[k]); hi = Math.max(hi, g.codes[k]); }
        const codes = lo >= 0 && hi <= 255 ? Uint8Array.from(g.codes) : Int16Array.from(g.codes);
        tensors.set(`${name}.codes`, { dtype: codes instanceof Uint8Array ? "U8" : "I16", shape: [W.rows, W.cols], data: codes });
        const groups = g.scales.length / W.rows;
        put(`${name}.scales`, Float32Array.from(g.scales), [W.rows, groups]);
        put(`${name}.zeros`, Float32Array.from(g.zeros), [W.rows, groups]);
        if (ql.inputScales) put(`${name}.input_scales`, ql.inputScales, [W.cols]);
        formats[`${name}.bits`] = String(g.spec.bits);
        formats[`${name}.group_size`] = String(groupLength(g.spec, W.rows, W.cols));
      }
    }
  });
  put("output_norm.weight", m.outputNorm, [c.dim]);
  if (m.output) put("output.weight", m.output.data, [c.vocabSize, c.dim]);
  return { tensors, metadata: { format: "quantlab-llama", config: JSON.stringify(c), ...formats } };
}

export async function writeQuantizedSafetensors(q: QuantizedModel, path: string): Promise<void> {
  const { tensors, metadata } = safetensorsContent(q);
  await writeSafetensors(path, tensors, metadata);
}
