/**
 * Quantizes a whole model file by a type mix, as `llama-quantize IN OUT Q4_K_M` does: plan the
 * per-tensor types (mix.ts), re-encode every tensor whose type changes with the bit-exact block
 * quantizers (quants.ts), copy the rest, and write GGUF v3 with general.file_type and
 * general.quantization_version = 2 set.
 *
 *   const { plan, content } = quantizeGgufModel(await readGguf("model.gguf"), "Q4_K_M");
 *   console.log(mixTable(plan)); await writeGguf("model-Q4_K_M.gguf", content);
 *
 * Inputs: a GGUF file in memory (any version, F32/F16/BF16 tensors; already-quantized tensors only with
 * allowRequantize, as llama.cpp), or any tensor source (source.ts) — a GGUF opened by its header, a
 * Hugging Face checkpoint laid out as llama.cpp's converter would (src/model/formats opens those) — read
 * one tensor at a time.
 */
import { check, QuantLabError } from "../errors.js";
import { checkpoint } from "../progress.js";
import { parseGguf, tensorBytes, tensorF32, writeGgufStream, type GgufFile, type GgufTensorInput, type GgufValue, type GgufWriteInput } from "./file.js";
import { planMix, type MixModelInfo, type MixName, type MixOverrides, type MixPlan } from "./mix.js";
import { quantize } from "./quants.js";
import { readF32, type SourceTensor, type TensorSource } from "./source.js";
import { decodableType, decodeOnlyReason, ggufType, type GgufTypeName } from "./types.js";

// The imatrix readers live with the rest of the importance matrix; re-exported for existing callers.
export { imatrixFromGguf, readImatrix } from "./imatrix.js";

/** llama-quantize's options: its overrides (mix.ts MixOverrides) plus these. */
export interface ModelQuantizeOptions extends MixOverrides {
  /** Re-encode tensors that are already quantized (llama-quantize --allow-requantize). */
  allowRequantize?: boolean;
  /**
   * Per-tensor importance matrices (one weight per input column), keyed by tensor name, e.g. from
   * `readImatrix("imatrix.gguf")` (imatrix.ts). Used, as by llama-quantize, for the tensors that are re-encoded.
   */
  imatrices?: Map<string, Float32Array>;
}

export interface QuantizedGgufModel {
  plan: MixPlan;
  content: GgufWriteInput;
}

const num = (v: GgufValue | undefined): number | undefined => (v && typeof v.value === "number" ? v.value : v && typeof v.value === "bigint" ? Number(v.value) : undefined);

/** The model facts llama.cpp's mix rules read from the metadata (block_count, default highest blk.N + 1; experts; GQA). */
export function mixModelInfo(file: Pick<TensorSource, "metadata" | "tensors">): MixModelInfo {
  const m = file.metadata;
  const archV = m.get("general.architecture");
  const arch = archV && typeof archV.value === "string" ? archV.value : undefined;
  const p = arch ? `${arch}.` : "";
  const nLayer = num(m.get(`${p}block_count`));
  const nExpert = num(m.get(`${p}expert_count`));
  const nHead = num(m.get(`${p}attention.head_count`));
  const nHeadKv = num(m.get(`${p}attention.head_count_kv`));
  const highest = file.tensors.reduce((m, t) => Math.max(m, Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1)), -1);
  const out: MixModelInfo = { nLayers: nLayer ?? highest + 1 };
  if (nExpert !== undefined) out.nExpert = nExpert;
  if (nHead !== undefined && nHeadKv) out.nGqa = Math.trunc(nHead / nHeadKv);
  return out;
}

/** Plans and encodes `file` (held in memory) quantized by `mix`; nothing is written. */
export function quantizeGgufModel(file: GgufFile, mix: MixName | string, options: ModelQuantizeOptions = {}): QuantizedGgufModel {
  const plan = planFor(file, mix, options);
  const tensors = file.tensors.map((t, i) => {
    const e = plan.choices[i]!;
    if (e.to === t.type.name) return { name: t.name, dims: t.dims, type: t.type, data: tensorBytes(file, t.name) };
    checkRequantize(t, e.to, options);
    return requantize(t, e.to, tensorF32(file, t.name), options);
  });
  return { plan, content: { metadata: quantizedMetadata(file.metadata, plan), tensors, alignment: file.alignment } };
}

/**
 * Plans and encodes a tensor source quantized by `mix`, reading one tensor at a time in its stored
 * type (a GGUF opened by its header, a Hugging Face folder, …); nothing is written.
 */
export async function quantizeTensorSource(source: TensorSource, mix: MixName | string, options: ModelQuantizeOptions & Pick<StreamHooks, "onPlan"> = {}): Promise<QuantizedGgufModel> {
  const plan = planFor(source, mix, options);
  options.onPlan?.(plan);
  const tensors: GgufTensorInput[] = [];
  for (const [i, t] of source.tensors.entries()) {
    await checkpoint("GGUF quantize tensors", i, source.tensors.length);
    const e = plan.choices[i]!;
    if (e.to === t.type.name) tensors.push({ name: t.name, dims: t.dims, type: t.type, data: await source.read(t.name) });
    else {
      checkRequantize(t, e.to, options);
      tensors.push(requantize(t, e.to, await readF32(source, t.name), options));
    }
  }
  return { plan, content: { metadata: quantizedMetadata(source.metadata, plan), tensors, alignment: source.alignment } };
}

export interface StreamHooks {
  /** Sees the plan before any tensor is read (to print it, or to check the memory it needs). */
  onPlan?(plan: MixPlan): void;
  /** After each tensor is encoded: how many are done, of how many, and its output size. */
  onTensor?(done: number, total: number, tensor: SourceTensor, bytes: number): void;
}

/**
 * Quantizes a tensor source by `mix` straight into a GGUF file: the header is written from the plan's
 * types and sizes, then each tensor as soon as it is encoded, so memory holds one tensor (its input and
 * its output) at a time whatever the model's size. The file is complete or absent (atomic rename), and
 * byte for byte what writing quantizeTensorSource's content gives.
 */
export async function quantizeTensorSourceToFile(source: TensorSource, mix: MixName | string, path: string,
  options: ModelQuantizeOptions & StreamHooks = {}): Promise<MixPlan> {
  const plan = planFor(source, mix, options);
  options.onPlan?.(plan);
  // refuse a tensor that cannot be encoded before anything is written
  for (const [i, t] of source.tensors.entries()) if (plan.choices[i]!.to !== t.type.name) checkRequantize(t, plan.choices[i]!.to, options);
  const headers = source.tensors.map((t, i) => ({ name: t.name, dims: t.dims, type: plan.choices[i]!.to }));
  await writeGgufStream(path, { metadata: quantizedMetadata(source.metadata, plan), tensors: headers, alignment: source.alignment }, async (i) => {
    const t = source.tensors[i]!, to = plan.choices[i]!.to;
    const data = to === t.type.name ? await source.read(t.name) : requantize(t, to, await readF32(source, t.name), options).data;
    options.onTensor?.(i + 1, source.tensors.length, t, data.length);
    return data;
  });
  return plan;
}

function planFor(file: Pick<TensorSource, "metadata" | "tensors">, mix: MixName | string, options: ModelQuantizeOptions): MixPlan {
  return planMix(mix, file.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: t.type.name })), mixModelInfo(file),
    { ...options, imatrix: options.imatrices !== undefined });
}

/** Whether `t` may be re-encoded as `to`: checked before its data are read. */
function checkRequantize(t: SourceTensor, to: string, options: ModelQuantizeOptions): GgufTypeName {
  const toType = ggufType(to);
  check(toType, "UNSUPPORTED", () => `the plan gives tensor '${t.name}' type ${to}, which QuantLab cannot encode` +
    (decodeOnlyReason(to) ? ` (${decodeOnlyReason(to)})` : ""));
  const fromType = decodableType(t.type.name);
  check(fromType, "UNSUPPORTED", `tensor '${t.name}' is ${t.type.name}, which QuantLab cannot decode: requantize from an F32/F16/BF16 model`);
  check(fromType.blockSize === 1 || options.allowRequantize, "BAD_ARGUMENT",
    `tensor '${t.name}' is already ${t.type.name}: requantizing loses accuracy twice; start from the F32/F16 model, or pass allowRequantize (--allow-requantize)`);
  return toType.name;
}

function requantize(t: SourceTensor, to: string, values: Float32Array, options: ModelQuantizeOptions): GgufTensorInput {
  const type = checkRequantize(t, to, options);
  const im = options.imatrices?.get(t.name);
  if (im && im.length !== t.dims[0]) {
    // llama.cpp forgives a mismatched imatrix only for the token embedding (it never has activations)
    check(t.name === "token_embd.weight", "BAD_SHAPE",
      `the importance matrix for '${t.name}' has ${im.length} weights but its rows have ${t.dims[0]}: it was computed for another model`);
    return { name: t.name, dims: t.dims, type, data: quantize(type, values, t.dims[0]!) };
  }
  return { name: t.name, dims: t.dims, type, data: quantize(type, values, t.dims[0]!, im) };
}

function quantizedMetadata(source: Map<string, GgufValue>, plan: MixPlan): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>(source);
  for (const k of ["split.no", "split.count", "split.tensors.count"]) metadata.delete(k);
  metadata.set("general.quantization_version", { type: "UINT32", value: 2 });
  metadata.set("general.file_type", { type: "UINT32", value: plan.ftype });
  return metadata;
}
