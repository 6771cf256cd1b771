/**
 * The notebook's file vocabulary: safetensors, .npy and GGUF in and out, a GGUF file inspected, one of
 * its tensors as a matrix, and a whole model re-quantized by a llama.cpp mix with the per-tensor plan.
 *
 *   const f = await readGguf(sharedModelPath())          // metadata, tensors, offsets
 *   inspectGguf(f)                                       // the table: types, shapes, bytes, bits/weight
 *   const W = ggufTensor(f, "blk.0.attn_q.weight")       // a Matrix (rows × row length), dequantized
 *   ggufMix(f, "Q4_K_M")                                 // what llama-quantize would choose, tensor by tensor
 *   await quantizeGgufFile(sharedModelPath(), "q4km.gguf", "Q4_K_M")
 */
import { check } from "../errors.js";
import { matrix, type Matrix } from "../numerics/matrix.js";
import { readGgufHeader, tensorElements, tensorF32, writeGguf, type GgufFile } from "../gguf/file.js";
import { inspectGguf as inspect, type GgufInspection } from "../gguf/inspect.js";
import { type MixName, type MixOptions, type MixPlan } from "../gguf/mix.js";
import { quantizeTensorSource, type ModelQuantizeOptions } from "../gguf/model-quantize.js";
import { tensorSourceOf } from "../gguf/source.js";
import { openModelSource } from "../model/formats/source.js";

export { readSafetensors, writeSafetensors, parseSafetensors, encodeSafetensors } from "../io/safetensors.js";
export { readNpy, writeNpy, parseNpy, encodeNpy } from "../io/npy.js";
export type { Tensor, DType } from "../io/tensor.js";
export { readGguf, writeGguf, parseGguf, tensorF32, tensorBytes } from "../gguf/file.js";
export type { GgufFile, GgufValue, GgufTensorInfo } from "../gguf/file.js";
export { MIXES, mixSummary, mixTable } from "../gguf/mix.js";
export type { MixName, MixOptions, MixOverrides, MixPlan, TensorTypeOverride } from "../gguf/mix.js";

// inspecting needs the header alone, so a path of any size is read in kilobytes
const open = async (f: GgufFile | string): Promise<GgufFile> => (typeof f === "string" ? readGgufHeader(f) : f);

/**
 * What a GGUF file (or its path) holds: metadata, tensors, types, bytes, bits per weight.
 * @example
 * const info = await inspectGguf(sharedModelPath())
 * console.log(info.version, info.tensors.length, info.bitsPerWeight)   // 1 48 32
 */
export async function inspectGguf(file: GgufFile | string): Promise<GgufInspection> {
  return inspect(await open(file));
}

/**
 * One tensor of a GGUF file as a Matrix: rows = dims[1] · dims[2] · …, cols = dims[0], dequantized to FP32.
 * @example
 * const Wk = ggufTensor(await readGguf(sharedModelPath()), "blk.0.attn_k.weight")
 * console.log(Wk.rows, Wk.cols)   // 32 64
 */
export function ggufTensor(file: GgufFile, name: string): Matrix {
  const t = file.tensors.find((x) => x.name === name);
  check(t, "NOT_FOUND", () => `the GGUF file has no tensor '${name}': try one of ${file.tensors.slice(0, 5).map((x) => x.name).join(", ")} …`);
  const cols = t.dims[0]!;
  return matrix(tensorElements(t.dims) / cols, cols, tensorF32(file, name));
}

/**
 * The per-tensor types llama-quantize would choose for `mix` (nothing is quantized or written), with
 * its overrides in `options` (outputTensorType, tokenEmbeddingType, pure, tensorTypes; `imatrix`: whether
 * one will be given).
 * @example
 * const plan = await ggufMix(sharedModelPath(), "Q4_K_M")
 * console.log(plan.choices.find((c) => c.name === "blk.0.ffn_down.weight")?.to)   // F16: rows of 172
 * ggufMix(sharedModelPath(), "Q4_K_M", { tensorTypes: [{ pattern: "attn_v", type: "Q8_0" }] })
 */
export async function ggufMix(file: GgufFile | string, mix: MixName | string, options: MixOptions = {}): Promise<MixPlan> {
  // a path is opened by its headers: planning reads no tensor
  const f = typeof file === "string" ? await openModelSource(file) : tensorSourceOf(file);
  try {
    const { planMix } = await import("../gguf/mix.js");
    const { mixModelInfo } = await import("../gguf/model-quantize.js");
    return planMix(mix, f.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: t.type.name })), mixModelInfo(f), options);
  } finally {
    await f.close();
  }
}

/**
 * Quantizes a model file (.gguf, a Hugging Face folder or .safetensors with config.json, a llama2.c .bin)
 * by a llama.cpp mix, reading it tensor by tensor, and writes GGUF v3 that llama.cpp loads; returns the
 * plan (its display is the per-tensor table).
 * @example
 * const plan = await quantizeGgufFile(sharedModelPath(), "stories-q8_0.gguf", "Q8_0")
 * console.log(plan.bitsPerWeight.toFixed(2))
 */
export async function quantizeGgufFile(input: string, output: string, mix: MixName | string, options: ModelQuantizeOptions = {}): Promise<MixPlan> {
  check(output.endsWith(".gguf"), "BAD_ARGUMENT", `the output ${output} must be a .gguf file`);
  const source = await openModelSource(input);
  let result;
  try {
    result = await quantizeTensorSource(source, mix, options);
  } finally {
    await source.close();
  }
  await writeGguf(output, result.content);
  const { plan } = result;
  return plan;
}
