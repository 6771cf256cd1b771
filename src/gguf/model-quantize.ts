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
 * a block of rows at a time (ROW_CHUNK_BYTES of FP32) when the source reads rows by offset, else one
 * tensor at a time.
 */
import { check, QuantLabError } from "../errors.js";
import { checkpoint } from "../progress.js";
import { parseGguf, tensorBytes, tensorF32, writeGgufStream, type GgufFile, type GgufTensorInput, type GgufValue, type GgufWriteInput } from "./file.js";
import { planMix, type MixModelInfo, type MixName, type MixOverrides, type MixPlan } from "./mix.js";
import { dequantizeInto, quantize, quantizeInto } from "./quants.js";
import { tensorRows, type SourceTensor, type TensorSource } from "./source.js";
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
  /**
   * At most this many bytes of FP32 values are quantized at a time (whole rows, at least one; default
   * ROW_CHUNK_BYTES), so the peak is set by this, not by the largest tensor. The output does not depend on it.
   */
  rowChunkBytes?: number;
}

/**
 * 64 MiB of FP32 per block of rows: 4096 rows of a 4096-wide matrix, 32 blocks for Llama 3's embedding.
 * Large enough that the per-block read and call overhead is lost in the encoding time.
 */
export const ROW_CHUNK_BYTES = 64 * 2 ** 20;

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
      const type = checkRequantize(t, e.to, options);
      // the output is kept whole, but the input goes by blocks of rows as when streaming
      const { rows, rowBytes } = tensorRows({ dims: t.dims, type: ggufType(type)! });
      const data = new Uint8Array(rows * rowBytes);
      let at = 0;
      for await (const part of encodeRows(source, t, type, options)) { data.set(part, at); at += part.length; }
      tensors.push({ name: t.name, dims: t.dims, type, data });
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
 * types and sizes, then each tensor a block of rows at a time (read by offset in its stored type,
 * converted to FP32 and encoded in reused buffers, written at once), so memory holds one block of rows
 * (rowChunkBytes of FP32, its stored bytes and its encoding) whatever the size of the model or of its
 * largest tensor. The file is complete or absent (atomic rename), and byte for byte what writing
 * quantizeTensorSource's content gives.
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
    const parts = to === t.type.name ? copyRows(source, t, options) : encodeRows(source, t, checkRequantize(t, to, options), options);
    return (async function* () {
      let bytes = 0;
      for await (const part of parts) { bytes += part.length; yield part; }
      options.onTensor?.(i + 1, source.tensors.length, t, bytes);
    })();
  });
  return plan;
}

/** Rows per block for rows of `rowBytes` (at least one row, whatever the limit). */
function rowsPerBlock(rowBytes: number, options: ModelQuantizeOptions): number {
  const limit = options.rowChunkBytes ?? ROW_CHUNK_BYTES;
  check(Number.isFinite(limit) && limit > 0, "BAD_ARGUMENT", `rowChunkBytes ${limit} must be a positive number of bytes (default ${ROW_CHUNK_BYTES})`);
  return Math.max(1, Math.floor(limit / Math.max(1, rowBytes)));
}

/**
 * Reads rows [r0, r1) of `t` in its stored type, by offset when the source can (readRows), else from
 * the whole tensor read once — the fallback that holds one tensor, for sources that cannot seek.
 */
function rowReader(source: TensorSource, t: SourceTensor): (r0: number, r1: number, into: Uint8Array) => Promise<Uint8Array> {
  if (source.readRows) return (r0, r1, into) => source.readRows!(t.name, r0, r1, into);
  const { rowBytes } = tensorRows(t);
  let whole: Promise<Uint8Array> | undefined;
  return async (r0, r1) => (await (whole ??= source.read(t.name))).subarray(r0 * rowBytes, r1 * rowBytes);
}

/** A tensor kept in its stored type, as consecutive blocks of rows (each valid until the next is asked for). */
async function* copyRows(source: TensorSource, t: SourceTensor, options: ModelQuantizeOptions): AsyncGenerator<Uint8Array> {
  const { rows, rowBytes } = tensorRows(t);
  // the same byte budget as the FP32 blocks: a copy needs no conversion
  const per = rowsPerBlock(rowBytes, options), read = rowReader(source, t);
  const buf = new Uint8Array(Math.min(per, rows) * rowBytes);
  for (let r0 = 0; r0 < rows; r0 += per) yield await read(r0, Math.min(rows, r0 + per), buf);
}

/**
 * A tensor encoded as `to` by blocks of rows: each block read in its stored type, converted to FP32 and
 * encoded in buffers reused from block to block, the next block's read overlapping this one's encoding.
 * Each yielded part is valid until the next is asked for. GGUF block types encode each row on its own
 * and an importance matrix is per column, so the parts are exactly the whole tensor's encoding, cut at rows.
 */
async function* encodeRows(source: TensorSource, t: SourceTensor, to: GgufTypeName, options: ModelQuantizeOptions): AsyncGenerator<Uint8Array> {
  const from = decodableType(t.type.name)!, toType = ggufType(to)!;
  const nPerRow = t.dims[0]!;
  const { rows, rowBytes: inRowBytes } = tensorRows(t);
  const per = rowsPerBlock(4 * nPerRow, options), read = rowReader(source, t);
  const im = imatrixFor(t, options);
  const block = Math.min(per, rows);
  const input = new Uint8Array(block * inRowBytes), values = new Float32Array(block * nPerRow);
  const output = new Uint8Array(block * tensorRows({ dims: t.dims, type: toType }).rowBytes);
  let pending: Promise<Uint8Array> | undefined = rows > 0 ? read(0, block, input) : undefined;
  for (let r0 = 0; r0 < rows; r0 += per) {
    const r1 = Math.min(rows, r0 + per);
    const x = dequantizeInto(from.name, await pending!, (r1 - r0) * nPerRow, values);
    // the stored bytes are converted: the input buffer takes the next block while this one is encoded
    pending = r1 < rows ? read(r1, Math.min(rows, r1 + per), input) : undefined;
    pending?.catch(() => {}); // awaited on the next turn; a consumer that stops early must not leave it unhandled
    yield quantizeInto(to, x, nPerRow, output, im);
  }
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
  return { name: t.name, dims: t.dims, type, data: quantize(type, values, t.dims[0]!, imatrixFor(t, options)) };
}

/** The importance matrix `t` is encoded with, if any. */
function imatrixFor(t: SourceTensor, options: ModelQuantizeOptions): Float32Array | undefined {
  const im = options.imatrices?.get(t.name);
  if (im && im.length !== t.dims[0]) {
    // llama.cpp forgives a mismatched imatrix only for the token embedding (it never has activations)
    check(t.name === "token_embd.weight", "BAD_SHAPE",
      `the importance matrix for '${t.name}' has ${im.length} weights but its rows have ${t.dims[0]}: it was computed for another model`);
    return undefined;
  }
  return im;
}

function quantizedMetadata(source: Map<string, GgufValue>, plan: MixPlan): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>(source);
  for (const k of ["split.no", "split.count", "split.tensors.count"]) metadata.delete(k);
  metadata.set("general.quantization_version", { type: "UINT32", value: 2 });
  metadata.set("general.file_type", { type: "UINT32", value: plan.ftype });
  return metadata;
}
