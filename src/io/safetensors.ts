/**
 * safetensors: an 8-byte little-endian header length, a JSON header mapping each tensor name to
 * { dtype, shape, data_offsets: [begin, end] } (offsets relative to the end of the header) plus an
 * optional "__metadata__" of strings, then the raw little-endian data.
 * Every size and offset is checked against the file before any tensor is allocated. Files are opened by
 * their header and tensors read by offset (openSafetensors), so a checkpoint of any size can be read.
 */
import { check, QuantLabError } from "../errors.js";
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from "../numerics/float-bits.js";
import { writeFileAtomic } from "./atomic.js";
import { RangedFile } from "./ranged.js";
import { DTYPE_BYTES, isFloat, numel, type DType, type Tensor, type TensorData } from "./tensor.js";

export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

const bad = (msg: string) => new QuantLabError("BAD_FILE", `safetensors: ${msg}`);

/** Decodes little-endian bytes of a dtype into its typed array (floats into Float32Array). */
export function decodeData(dtype: DType, bytes: Uint8Array): TensorData {
  const n = bytes.length / DTYPE_BYTES[dtype];
  // copy into a fresh, aligned buffer: the source may start at any byte offset (or be a pooled Buffer)
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case "F32": return new Float32Array(buf);
    case "F64": return Float32Array.from(new Float64Array(buf));
    case "F16": return f16ArrayToF32(new Uint16Array(buf));
    case "BF16": return bf16ArrayToF32(new Uint16Array(buf));
    case "I64": return new BigInt64Array(buf);
    case "I32": return new Int32Array(buf);
    case "U32": return new Uint32Array(buf);
    case "I16": return new Int16Array(buf);
    case "U16": return new Uint16Array(buf);
    case "I8": return new Int8Array(buf);
    case "U8": case "BOOL": return new Uint8Array(buf, 0, n);
  }
}

/** Encodes a tensor's data as little-endian bytes of its dtype (floats rounded to nearest even). */
export function encodeData(t: Tensor): Uint8Array {
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new QuantLabError("BAD_SHAPE", `tensor of shape [${t.shape.join(", ")}] needs ${n} values, got ${t.data.length}`);
  }
  const d = t.data;
  let out: ArrayBufferView;
  switch (t.dtype) {
    case "F32": out = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>); break;
    case "F64": out = d instanceof Float64Array ? d : Float64Array.from(d as ArrayLike<number>); break;
    case "F16": out = f32ArrayToF16(d as ArrayLike<number>); break;
    case "BF16": out = f32ArrayToBf16(d as ArrayLike<number>); break;
    case "I64": out = d instanceof BigInt64Array ? d : BigInt64Array.from(Array.from(d as ArrayLike<number>, (v) => BigInt(v))); break;
    case "I32": out = d instanceof Int32Array ? d : Int32Array.from(d as ArrayLike<number>); break;
    case "U32": out = d instanceof Uint32Array ? d : Uint32Array.from(d as ArrayLike<number>); break;
    case "I16": out = d instanceof Int16Array ? d : Int16Array.from(d as ArrayLike<number>); break;
    case "U16": out = d instanceof Uint16Array ? d : Uint16Array.from(d as ArrayLike<number>); break;
    case "I8": out = d instanceof Int8Array ? d : Int8Array.from(d as ArrayLike<number>); break;
    case "U8": case "BOOL": out = d instanceof Uint8Array ? d : Uint8Array.from(d as ArrayLike<number>); break;
    default: throw new QuantLabError("BAD_ARGUMENT", `unknown dtype ${String(t.dtype)}: use one of ${Object.keys(DTYPE_BYTES).join(", ")}`);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** One tensor's entry in a safetensors header, with its absolute byte offset in the file. */
export interface SafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  nbytes: number;
}

/** A safetensors header: the tensors' entries (in header order) and the string metadata. */
export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Absolute byte offset of the data section (8 + header length). */
  dataStart: number;
}

/** The safetensors reference reader's limit: a JSON header this large is not a checkpoint. */
const MAX_HEADER = 100_000_000;

/** The header length in the first 8 bytes, checked against the file's size. */
function headerLength(first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || first8.length < 8) throw bad(`file is ${fileSize} bytes, shorter than the 8-byte header length: the file is truncated`);
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(fileSize - 8)) {
    throw bad(`header length ${headerLen} at byte 0 exceeds the ${fileSize - 8} bytes after it: the file is truncated or not safetensors`);
  }
  if (headerLen > BigInt(MAX_HEADER)) throw bad(`header length ${headerLen} at byte 0 is over ${MAX_HEADER} bytes: the file is corrupt or not safetensors`);
  return Number(headerLen);
}

/**
 * Parses and validates a header (the JSON bytes after the length) of a file of `fileSize` bytes: every
 * dtype, shape and span is checked against the file before anything of that size is allocated.
 */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number): SafetensorsHeader {
  const hl = json.length;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (e) {
    throw bad(`header (bytes 8…${8 + hl}) is not valid UTF-8 JSON (${(e as Error).message}): the file is corrupt`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw bad("header is not a JSON object");
  const dataStart = 8 + hl;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof info !== "object" || info === null) throw bad("__metadata__ must be an object of strings");
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== "string") throw bad(`__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== "object" || t === null) throw bad(`tensor '${name}': entry is not an object`);
    if (typeof t.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) {
      throw bad(`tensor '${name}': dtype ${JSON.stringify(t.dtype)} is not supported (use one of ${Object.keys(DTYPE_BYTES).join(", ")})`);
    }
    const dtype = t.dtype as DType;
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor '${name}': shape ${JSON.stringify(t.shape)} must be a list of non-negative integers`);
    }
    const shape = t.shape as number[];
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      throw bad(`tensor '${name}': data_offsets ${JSON.stringify(off)} must be two ordered non-negative integers`);
    }
    const [b, e] = off as [number, number];
    if (e > dataLen) {
      throw bad(`tensor '${name}': data_offsets [${b}, ${e}] reach byte ${dataStart + e} but the file has ${fileSize} bytes: the file is truncated`);
    }
    let n = 1;
    for (const d of shape) n *= d;
    if (n * DTYPE_BYTES[dtype] !== e - b) {
      throw bad(`tensor '${name}': shape [${shape.join(", ")}] of ${dtype} needs ${n * DTYPE_BYTES[dtype]} bytes but data_offsets span ${e - b}`);
    }
    spans.push([b, e, name]);
    entries.set(name, { dtype, shape, offset: dataStart + b, nbytes: e - b });
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) throw bad(`tensors '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap in the data section`);
  }
  return { entries, metadata, dataStart };
}

/**
 * Parses a safetensors file held in memory: every tensor by name, plus the string metadata.
 * @example
 * ```ts
 * const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array([0.5, -1]) } });
 * parseSafetensors(bytes).tensors.get("w")?.data   // Float32Array [0.5, -1]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array): Safetensors {
  const hl = headerLength(bytes, bytes.length);
  const { entries, metadata } = parseSafetensorsHeader(bytes.subarray(8, 8 + hl), bytes.length);
  const tensors = new Map<string, Tensor>();
  for (const [name, e] of entries) {
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: decodeData(e.dtype, bytes.subarray(e.offset, e.offset + e.nbytes)) });
  }
  return { tensors, metadata };
}

/** A safetensors file opened by its header: tensors read by offset when asked. */
export interface SafetensorsFile extends SafetensorsHeader {
  readonly path: string;
  readonly fileSize: number;
  /** A tensor's stored little-endian bytes (a fresh array). */
  read(name: string): Promise<Uint8Array>;
  /** `length` bytes of a tensor's stored data from byte `offset` within it (a part of a tensor too large to read whole); into `into` when given. */
  readRange(name: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /** A tensor decoded as `readSafetensors` gives it (floats as Float32Array). */
  tensor(name: string): Promise<Tensor>;
  close(): Promise<void>;
}

/**
 * Opens a .safetensors file of any size by its header; tensors are read one at a time on demand.
 * @example
 * ```ts
 * const f = await openSafetensors("model.safetensors");
 * [...f.entries.keys()].length; const emb = await f.tensor("model.embed_tokens.weight"); await f.close();
 * ```
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const f = await RangedFile.open(path, "safetensors file");
  let header: SafetensorsHeader;
  try {
    const hl = headerLength(await f.read(0, Math.min(8, f.size)), f.size);
    header = parseSafetensorsHeader(await f.read(8, hl), f.size);
  } catch (e) {
    await f.close();
    if (e instanceof QuantLabError) throw new QuantLabError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
  const entry = (name: string): SafetensorsEntry => {
    const e = header.entries.get(name);
    if (!e) throw new QuantLabError("NOT_FOUND", `${path} has no tensor '${name}': it holds ${[...header.entries.keys()].slice(0, 8).join(", ") || "no tensors"}`);
    return e;
  };
  const read = async (name: string) => { const e = entry(name); return f.read(e.offset, e.nbytes); };
  const readRange = async (name: string, offset: number, length: number, into?: Uint8Array) => {
    const e = entry(name);
    check(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= e.nbytes, "BAD_ARGUMENT", () =>
      `bytes ${offset}…${offset + length} are not within the ${e.nbytes} bytes of tensor '${name}' of ${path}`);
    return f.read(e.offset + offset, length, into);
  };
  return {
    ...header, path, fileSize: f.size, read, readRange,
    tensor: async (name) => { const e = entry(name); return { dtype: e.dtype, shape: [...e.shape], data: decodeData(e.dtype, await read(name)) }; },
    close: () => f.close(),
  };
}

/**
 * Reads a .safetensors file (the format of Hugging Face checkpoints): tensors by name and the metadata.
 * The header is read first and each tensor by its offset, so no single read is larger than one tensor.
 * @example
 * ```ts
 * await writeSafetensors("layer.safetensors", { "mlp.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
 * const file = await readSafetensors("layer.safetensors");
 * [...file.tensors.keys()]   // ["mlp.weight"]
 * ```
 */
export async function readSafetensors(path: string): Promise<Safetensors> {
  const f = await openSafetensors(path);
  try {
    const tensors = new Map<string, Tensor>();
    for (const name of f.entries.keys()) tensors.set(name, await f.tensor(name));
    return { tensors, metadata: f.metadata };
  } finally {
    await f.close();
  }
}

/**
 * Serialises tensors (in the given order, 8-byte aligned header) to safetensors bytes.
 * @example
 * ```ts
 * const bytes = encodeSafetensors({ w: { dtype: "BF16", shape: [2], data: new Float32Array([1.001, 3]) } });
 * parseSafetensors(bytes).tensors.get("w")?.data   // [1, 3]: stored as BF16, 7 mantissa bits
 * ```
 */
export function encodeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const parts = safetensorsParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let p = 0;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/** The file's bytes as [length + header, each tensor's data]: written one after another, no whole-file copy is made. */
function safetensorsParts(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array[] {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (!(t.dtype in DTYPE_BYTES)) throw new QuantLabError("BAD_ARGUMENT", `tensor '${name}': unknown dtype ${t.dtype}`);
    if (!isFloat(t.dtype) && t.data instanceof Float32Array) {
      // integer tensors from float arrays must hold integers
      for (const v of t.data) if (!Number.isInteger(v)) throw new QuantLabError("BAD_VALUE", `tensor '${name}' is ${t.dtype} but holds ${v}: round it or store it as F32`);
    }
    const blob = encodeData(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const json8 = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + json8.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json8.length), true);
  head.set(json8, 8);
  return [head, ...blobs];
}

/**
 * Writes tensors to a .safetensors file atomically, with optional string metadata.
 * @example
 * ```ts
 * const q = quantize(randn(4, 8, { seed: 1 }), { bits: 4 });
 * await writeSafetensors("q.safetensors", { "w.dequantized": { dtype: "F32", shape: [4, 8], data: q.dequantized } }, { spec: "int4" });
 * (await readSafetensors("q.safetensors")).metadata   // { spec: "int4" }
 * ```
 */
export async function writeSafetensors(path: string, tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, safetensorsParts(tensors, metadata));
}

/** Picks one tensor: the named one, or the only one; the error lists what the file holds. */
export function pickTensor(file: Safetensors, name: string | undefined, path = "the file"): [string, Tensor] {
  if (name !== undefined) {
    const t = file.tensors.get(name);
    if (!t) throw new QuantLabError("NOT_FOUND", `${path} has no tensor '${name}': it holds ${[...file.tensors.keys()].join(", ") || "no tensors"}`);
    return [name, t];
  }
  if (file.tensors.size !== 1) {
    throw new QuantLabError("BAD_ARGUMENT", `${path} holds ${file.tensors.size} tensors (${[...file.tensors.keys()].slice(0, 8).join(", ")}): choose one with --tensor NAME`);
  }
  return [...file.tensors][0]!;
}
