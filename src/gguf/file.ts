/**
 * The GGUF container (llama.cpp's `docs/gguf.md`): read versions 1, 2 and 3, write version 3.
 *
 * Layout: magic "GGUF", u32 version, tensor count, metadata count, the metadata key/value pairs, the tensor
 * infos (name, n_dims, dims, ggml type, offset relative to the data section), padding to
 * `general.alignment` (default 32), then the tensor data. Version 1 stores counts, string lengths, array
 * lengths and dims as u32 where versions 2 and 3 use u64.
 *
 * Metadata keeps its GGUF types: every value is a record `{ type, value }` (arrays also carry `itemType`),
 * so read → write reproduces the same bytes-on-disk types (a u32 stays u32, a float32 stays float32).
 * Numbers are JS numbers except UINT64/INT64, which are bigints so nothing is rounded; numeric arrays are
 * the matching typed arrays (FLOAT32 → Float32Array, UINT64 → BigUint64Array …), string arrays are
 * string[], bool arrays boolean[], and nested arrays are arrays of array records.
 *
 * Hostile files: every count, length, dimension and offset is checked against the bytes that remain
 * before anything of that size is allocated, so a lying header costs no more memory than the file itself;
 * arrays of arrays are charged against the file's size too (each costs a JS object whatever its bytes),
 * so a file of empty nested arrays cannot cost gigabytes; every failure is QuantLabError("BAD_FILE")
 * naming the field and its byte offset.
 *
 * Files of any size: `readGgufHeader` and `openGguf` read the header alone and tensors by offset on
 * demand (`openGguf(path).read(name)`), so neither Node's 2 GiB read limit nor memory bounds the file.
 */
import { check, QuantLabError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { openAtomicStream } from "../io/atomic-stream.js";
import { RangedFile } from "../io/ranged.js";
import { dequantize } from "./quants.js";
import { decodableType, decodableTypeList, ggmlType, ggmlTypeById, type DecodableTypeName, type GgmlType, type GgufTypeName } from "./types.js";

export type GgufValueType =
  | "UINT8" | "INT8" | "UINT16" | "INT16" | "UINT32" | "INT32" | "FLOAT32" | "BOOL" | "STRING" | "ARRAY"
  | "UINT64" | "INT64" | "FLOAT64";

/** GGUF's value type ids, in file order (UINT8 = 0 … FLOAT64 = 12). */
export const GGUF_VALUE_TYPES: readonly GgufValueType[] = [
  "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
];

export type GgufNumberType = "UINT8" | "INT8" | "UINT16" | "INT16" | "UINT32" | "INT32" | "FLOAT32" | "FLOAT64";
export type GgufBigIntType = "UINT64" | "INT64";

export type GgufArrayItems =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array | boolean[] | string[] | GgufArray[];

export interface GgufArray {
  type: "ARRAY";
  itemType: GgufValueType;
  value: GgufArrayItems;
}

/** A typed GGUF metadata value: `{ type: "UINT32", value: 5 }`, arrays also carry `itemType`. */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: "BOOL"; value: boolean }
  | { type: "STRING"; value: string }
  | GgufArray;

/** One tensor's entry in a GGUF file: name, dims (ggml order), type, absolute offset and size. */
export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the row length (the fastest-varying dimension). */
  dims: number[];
  /** Any ggml type (IQ*, TQ* … too, so such files can be inspected); tensorF32 decodes the DecodableType ones. */
  type: GgmlType;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  nbytes: number;
}

/** A parsed GGUF file: version, typed metadata, tensor infos (absolute offsets) and the bytes. */
export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** Absolute byte offset of the data section. */
  dataOffset: number;
  alignment: number;
  /** The whole file (tensor data are views into it), or only its header after a header-only read. */
  bytes: Uint8Array;
  /** The file's size in bytes (more than bytes.length after a header-only read). */
  fileSize: number;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
// bitwise tricks truncate to 32 bits, so large lying alignments are checked through log2
const isPowerOfTwo = (a: number): boolean => Number.isInteger(a) && a > 0 && a <= 2 ** 30 && Number.isInteger(Math.log2(a));
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;
/** Arrays nested in arrays allowed per byte of file: one per 256 bytes, and 4096 in any file. */
const NESTED_BYTES = 256;
const NESTED_FLOOR = 4096;

const SCALAR_SIZE: Partial<Record<GgufValueType, number>> = {
  UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4, FLOAT32: 4, BOOL: 1, UINT64: 8, INT64: 8, FLOAT64: 8,
};

/** Elements in a tensor of these dims (ggml order). */
export function tensorElements(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** A tensor's rows: each is dims[0] values (`rowBytes` in its stored type), counted over the other dims. */
export function tensorRows(t: { readonly dims: readonly number[]; readonly type: GgmlType }): { rows: number; rowBytes: number } {
  const cols = t.dims[0] ?? 1;
  return { rows: t.dims.slice(1).reduce((a, b) => a * b, 1), rowBytes: (cols / t.type.blockSize) * t.type.typeSize };
}

/** The row layout of `t`, after checking that [r0, r1) is a range of its rows (for readRows implementations). */
export function checkRows(t: { readonly name: string; readonly dims: readonly number[]; readonly type: GgmlType }, r0: number, r1: number,
  label: string): { rows: number; rowBytes: number } {
  const layout = tensorRows(t);
  check(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= layout.rows, "BAD_ARGUMENT", () =>
    `rows ${r0}…${r1} of tensor '${t.name}' of ${label} are not within its ${layout.rows} rows: ask for 0 ≤ r0 ≤ r1 ≤ ${layout.rows}`);
  return layout;
}

/** A header-only read ran past the prefix it was given: read at least `upTo` bytes and parse again. */
class NeedMore extends Error {
  constructor(readonly upTo: number) {
    super(`the GGUF header continues past the bytes read (to at least byte ${upTo})`);
  }
}

class Reader {
  pos: number;
  readonly dv: DataView;
  readonly v1: boolean;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Nested arrays still allowed: each costs an object and a typed array, even when empty (12 bytes on disk). */
  nestedLeft: number;
  /** `bytes` may be a prefix of a file of `fileSize` bytes (header-only reads); counts are bounded by the file. */
  constructor(readonly bytes: Uint8Array, version: number, pos: number, readonly fileSize = bytes.length) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.v1 = version === 1;
    this.pos = pos;
    this.nestedLeft = NESTED_FLOOR + Math.floor(fileSize / NESTED_BYTES);
  }
  fail(field: string, at: number, what: string): never {
    throw new QuantLabError("BAD_FILE", `GGUF: ${field} at byte ${at} ${what}: the file is corrupt or truncated`);
  }
  get left(): number {
    return this.fileSize - this.pos;
  }
  need(n: number, field: string): void {
    if (n > this.left) this.fail(field, this.pos, `needs ${n} bytes but only ${this.left} remain of ${this.fileSize}`);
    if (this.pos + n > this.bytes.length) throw new NeedMore(this.pos + n);
  }
  u8(field: string): number { this.need(1, field); return this.dv.getUint8(this.pos++); }
  u32(field: string): number { this.need(4, field); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(field: string): bigint { this.need(8, field); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  /** A count or length: u32 in v1, u64 later; bounded by `perItem` bytes each in what remains. */
  count(field: string, perItem: number): number {
    const at = this.pos;
    const raw = this.v1 ? BigInt(this.u32(field)) : this.u64(field);
    const room = BigInt(Math.floor(this.left / Math.max(perItem, 1)));
    if (raw > room) this.fail(field, at, `is ${raw}, but ${this.left} remaining bytes hold at most ${room} items of ${perItem}+ bytes`);
    return Number(raw);
  }
  str(field: string): string {
    const n = this.count(`${field} length`, 1);
    this.need(n, field);
    const at = this.pos;
    try {
      return this.decoder.decode(this.bytes.subarray(at, (this.pos += n)));
    } catch {
      return this.fail(field, at, "is not valid UTF-8");
    }
  }
}

function valueType(r: Reader, field: string): GgufValueType {
  const at = r.pos;
  const id = r.u32(`${field} type`);
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined) r.fail(`${field} type`, at, `is ${id}, not a GGUF value type (0–12)`);
  return t;
}

function readScalar(r: Reader, t: GgufValueType, field: string): GgufValue {
  const size = SCALAR_SIZE[t]!;
  r.need(size, field);
  const p = r.pos;
  r.pos += size;
  const dv = r.dv;
  switch (t) {
    case "UINT8": return { type: t, value: dv.getUint8(p) };
    case "INT8": return { type: t, value: dv.getInt8(p) };
    case "UINT16": return { type: t, value: dv.getUint16(p, true) };
    case "INT16": return { type: t, value: dv.getInt16(p, true) };
    case "UINT32": return { type: t, value: dv.getUint32(p, true) };
    case "INT32": return { type: t, value: dv.getInt32(p, true) };
    case "FLOAT32": return { type: t, value: dv.getFloat32(p, true) };
    case "FLOAT64": return { type: t, value: dv.getFloat64(p, true) };
    case "UINT64": return { type: t, value: dv.getBigUint64(p, true) };
    case "INT64": return { type: t, value: dv.getBigInt64(p, true) };
    case "BOOL": {
      const b = dv.getUint8(p);
      if (b > 1) r.fail(field, p, `is a bool of value ${b} (must be 0 or 1)`);
      return { type: t, value: b === 1 };
    }
    default: throw new Error(`unreachable scalar type ${t}`);
  }
}

/** Copies `n` little-endian elements into a fresh (aligned) typed array. */
function typedArray(r: Reader, t: GgufValueType, n: number): GgufArrayItems {
  const size = SCALAR_SIZE[t]!;
  r.need(n * size, "array items");
  const copy = new Uint8Array(n * size);
  copy.set(r.bytes.subarray(r.pos, r.pos + n * size));
  r.pos += n * size;
  const b = copy.buffer;
  switch (t) {
    case "UINT8": return copy;
    case "INT8": return new Int8Array(b);
    case "UINT16": return new Uint16Array(b);
    case "INT16": return new Int16Array(b);
    case "UINT32": return new Uint32Array(b);
    case "INT32": return new Int32Array(b);
    case "FLOAT32": return new Float32Array(b);
    case "FLOAT64": return new Float64Array(b);
    case "UINT64": return new BigUint64Array(b);
    case "INT64": return new BigInt64Array(b);
    default: throw new Error(`unreachable array type ${t}`);
  }
}

function readArray(r: Reader, field: string, depth: number): GgufArray {
  if (depth > 64) r.fail(field, r.pos, "nests arrays more than 64 deep");
  const itemType = valueType(r, `${field} item`);
  const lenSize = r.v1 ? 4 : 8;
  const minItem = itemType === "STRING" ? lenSize : itemType === "ARRAY" ? 4 + lenSize : SCALAR_SIZE[itemType]!;
  const n = r.count(`${field} length`, minItem);
  if (itemType === "STRING") {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(r.str(`${field}[${i}]`));
    return { type: "ARRAY", itemType, value: out };
  }
  if (itemType === "ARRAY") {
    if (n > r.nestedLeft) {
      r.fail(`${field} length`, r.pos - lenSize, `is ${n} nested arrays: a ${r.fileSize}-byte file may hold at most ` +
        `${NESTED_FLOOR + Math.floor(r.fileSize / NESTED_BYTES)} arrays inside arrays in all (one per ${NESTED_BYTES} bytes), and ${r.nestedLeft} remain`);
    }
    r.nestedLeft -= n;
    const out: GgufArray[] = [];
    for (let i = 0; i < n; i++) out.push(readArray(r, `${field}[${i}]`, depth + 1));
    return { type: "ARRAY", itemType, value: out };
  }
  if (itemType === "BOOL") {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push((readScalar(r, "BOOL", `${field}[${i}]`) as { value: boolean }).value);
    return { type: "ARRAY", itemType, value: out };
  }
  return { type: "ARRAY", itemType, value: typedArray(r, itemType, n) };
}

function readValue(r: Reader, t: GgufValueType, field: string): GgufValue {
  if (t === "STRING") return { type: t, value: r.str(field) };
  if (t === "ARRAY") return readArray(r, field, 0);
  return readScalar(r, t, field);
}

/**
 * Parses a GGUF file held in memory (versions 1, 2, 3). Tensor data stay in `bytes`.
 * @example
 * const f = parseGguf(new Uint8Array(await (await import("node:fs/promises")).readFile(sharedModelPath())))
 * console.log(f.version, f.dataOffset)   // 1 11456
 */
export function parseGguf(bytes: Uint8Array): GgufFile {
  check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "parseGguf takes the file's bytes as a Uint8Array (e.g. from fs.readFile)");
  return parseGgufPrefix(bytes, bytes.length);
}

function parseGgufPrefix(bytes: Uint8Array, fileSize: number): GgufFile {
  // a Node Buffer's slice() shares memory; a plain view makes every copy below a real copy
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) {
    throw new QuantLabError("BAD_FILE", `GGUF: the file is ${bytes.length} bytes, too short for the magic and version at byte 0: it is truncated or not a GGUF file`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) {
    const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new QuantLabError("BAD_FILE", `GGUF: magic at byte 0 is ${seen}, not "GGUF" (47 47 55 46): this is not a GGUF file`);
  }
  const version = dv.getUint32(4, true);
  if (version < 1 || version > 3) {
    throw new QuantLabError("BAD_FILE", `GGUF: version at byte 4 is ${version}: QuantLab reads GGUF versions 1, 2 and 3`);
  }
  const r: Reader = new Reader(bytes, version, 8, fileSize);
  const lenSize = r.v1 ? 4 : 8;
  // smallest tensor info: empty name, n_dims 0, type, offset
  const nTensors = r.count("tensor count", lenSize + 4 + 4 + 8);
  // smallest key/value: empty key, type, one-byte value
  const nKv = r.count("metadata count", lenSize + 4 + 1);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = r.pos;
    const key = r.str(`metadata key #${i}`);
    if (metadata.has(key)) r.fail(`metadata key '${key}'`, keyAt, "appears twice");
    const t = valueType(r, `metadata '${key}'`);
    metadata.set(key, readValue(r, t, `metadata '${key}'`));
  }

  let alignment = DEFAULT_ALIGNMENT;
  const al = metadata.get("general.alignment");
  if (al !== undefined) {
    const a = typeof al.value === "number" || typeof al.value === "bigint" ? Number(al.value) : NaN;
    if (!isPowerOfTwo(a)) {
      throw new QuantLabError("BAD_FILE", `GGUF: general.alignment is ${String(al.value)}: it must be a power of two (default 32)`);
    }
    alignment = a;
  }

  const raw: { name: string; dims: number[]; type: GgmlType; rel: bigint; at: number; nbytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = r.pos;
    const name = r.str(`tensor #${i} name`);
    if (names.has(name)) r.fail(`tensor '${name}'`, at, "appears twice");
    names.add(name);
    const ndAt = r.pos;
    const nDims = r.u32(`tensor '${name}' n_dims`);
    if (nDims > MAX_DIMS) r.fail(`tensor '${name}' n_dims`, ndAt, `is ${nDims}, more than ggml's ${MAX_DIMS}`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const dAt = r.pos;
      const v = r.v1 ? BigInt(r.u32(`tensor '${name}' dim ${d}`)) : r.u64(`tensor '${name}' dim ${d}`);
      // a cheap bound before the exact size check: no ggml type stores fewer than 1.5 bits per weight
      if (v > BigInt(fileSize) * 8n || (elements * Number(v)) > fileSize * 8) {
        r.fail(`tensor '${name}' dim ${d}`, dAt, `is ${v}: the tensor would be larger than the whole file (${fileSize} bytes)`);
      }
      dims.push(Number(v));
      elements *= Number(v);
    }
    const tAt = r.pos;
    const typeId = r.u32(`tensor '${name}' type`);
    const type = ggmlTypeById(typeId);
    if (!type) r.fail(`tensor '${name}' type`, tAt, `is ${typeId}, not a ggml tensor type`);
    // n_dims 0 is a scalar (ggml pads ne with 1s): one element, which only a 1-element block can hold
    if ((dims[0] ?? 1) % type.blockSize !== 0) {
      r.fail(`tensor '${name}' dim 0`, ndAt + 4, `is ${dims[0] ?? 1}, not a multiple of ${type.name}'s block of ${type.blockSize}`);
    }
    const oAt = r.pos;
    const rel = r.u64(`tensor '${name}' offset`);
    if (rel % BigInt(alignment) !== 0n) r.fail(`tensor '${name}' offset`, oAt, `is ${rel}, not a multiple of the alignment ${alignment}`);
    raw.push({ name, dims, type, rel, at: oAt, nbytes: (elements / type.blockSize) * type.typeSize });
  }

  const dataOffset = nTensors === 0 && r.pos === fileSize ? r.pos : Math.ceil(r.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > fileSize) {
    r.fail("data section", dataOffset, `starts past the end of the file (${fileSize} bytes)`);
  }
  const tensors: GgufTensorInfo[] = raw.map((t) => {
    const end = BigInt(dataOffset) + t.rel + BigInt(t.nbytes);
    if (end > BigInt(fileSize)) {
      r.fail(`tensor '${t.name}' offset`, t.at,
        `is ${t.rel}: its ${t.nbytes} bytes of ${t.type.name} [${t.dims.join(", ")}] would end at byte ${end}, past the end of the file (${fileSize} bytes)`);
    }
    return { name: t.name, dims: t.dims, type: t.type, offset: dataOffset + Number(t.rel), nbytes: t.nbytes };
  });
  return { version, metadata, tensors, dataOffset, alignment, bytes, fileSize };
}

/** Parse errors name the file they came from. */
function inPath<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof QuantLabError) throw new QuantLabError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Reads and parses a GGUF file (versions 1, 2, 3) into memory; metadata values keep their GGUF types as
 * `{ type, value }`. For files too large to hold (a real 7B model), `openGguf` reads tensors on demand.
 * @example
 * const f = await readGguf(sharedModelPath())
 * console.log(f.tensors.length, f.metadata.get("general.architecture")?.value)   // 48 llama
 */
export async function readGguf(path: string): Promise<GgufFile> {
  const f = await RangedFile.open(path, "GGUF file");
  try {
    const bytes = await f.read(0, f.size).catch((e: unknown) => {
      if (e instanceof QuantLabError && e.code === "UNSUPPORTED") {
        throw new QuantLabError("UNSUPPORTED", `${path} is ${f.size} bytes, too large to hold in memory as one array: open it with openGguf, which reads tensors on demand`, { cause: e });
      }
      throw e;
    });
    return inPath(path, () => parseGguf(bytes));
  } finally {
    await f.close();
  }
}

/** The header of an open file: read a window, and a larger one while the header continues past it. */
async function readHeaderOf(f: RangedFile): Promise<GgufFile> {
  let want = Math.min(f.size, 1 << 22);
  for (;;) {
    const prefix = await f.read(0, want);
    try {
      return inPath(f.path, () => parseGgufPrefix(prefix, f.size));
    } catch (e) {
      if (!(e instanceof NeedMore) || want >= f.size) throw e;
      want = Math.min(f.size, Math.max(want * 2, e.upTo));
    }
  }
}

/**
 * Reads only the header of a GGUF file — metadata and tensor infos, validated against the file's size —
 * so files larger than memory (or than Node's 2 GiB readFile limit) can be inspected and planned.
 * `bytes` holds the header alone (tensorBytes/tensorF32 need readGguf, or openGguf's read).
 */
export async function readGgufHeader(path: string): Promise<GgufFile> {
  const f = await RangedFile.open(path, "GGUF file");
  try {
    return await readHeaderOf(f);
  } finally {
    await f.close();
  }
}

/** A GGUF file opened from its header: tensors read by offset when asked, in their stored type. */
export interface GgufSource {
  /** The header: version, metadata, tensor infos with absolute offsets, fileSize. */
  readonly file: GgufFile;
  readonly label: string;
  readonly metadata: Map<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** A tensor's stored bytes (a fresh array), read from the file. */
  read(name: string): Promise<Uint8Array>;
  /** Rows [r0, r1) of a tensor (a row is dims[0] values) in its stored type, by offset; into `into` when it is large enough. */
  readRows(name: string, r0: number, r1: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Opens a GGUF file of any size by its header; `read(name)` fetches one tensor's bytes by offset.
 * @example
 * const src = await openGguf(sharedModelPath())
 * const bytes = await src.read("output_norm.weight")   // 256 bytes: 64 F32 values
 * await src.close()
 */
export async function openGguf(path: string): Promise<GgufSource> {
  const f = await RangedFile.open(path, "GGUF file");
  let file: GgufFile;
  try {
    file = await readHeaderOf(f);
  } catch (e) {
    await f.close();
    throw e;
  }
  return {
    file, label: path, metadata: file.metadata, tensors: file.tensors, alignment: file.alignment,
    read: async (name) => {
      const t = findTensor(file, name);
      return f.read(t.offset, t.nbytes);
    },
    readRows: async (name, r0, r1, into) => {
      const t = findTensor(file, name);
      const { rowBytes } = checkRows(t, r0, r1, path);
      return f.read(t.offset + r0 * rowBytes, (r1 - r0) * rowBytes, into);
    },
    close: () => f.close(),
  };
}

function findTensor(file: GgufFile, name: string): GgufTensorInfo {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) {
    const some = file.tensors.slice(0, 8).map((x) => x.name).join(", ");
    throw new QuantLabError("NOT_FOUND", `the GGUF file has no tensor '${name}': it holds ${file.tensors.length} tensors (${some}${file.tensors.length > 8 ? ", …" : ""})`);
  }
  return t;
}

/**
 * The raw encoded bytes of a tensor (a view into the file, not a copy).
 * @example
 * const f = await readGguf(sharedModelPath())
 * console.log(tensorBytes(f, "output_norm.weight").length)   // 256: 64 F32 values
 */
export function tensorBytes(file: GgufFile, name: string): Uint8Array {
  const t = findTensor(file, name);
  check(t.offset + t.nbytes <= file.bytes.length, "UNSUPPORTED", () =>
    `tensor '${name}' lies past the ${file.bytes.length} bytes held (a header-only read): read it with readGguf, or read one tensor with openGguf(path).read(name)`);
  return file.bytes.subarray(t.offset, t.offset + t.nbytes);
}

/**
 * A tensor's values as FP32, dequantized exactly as llama.cpp does; row-major with dims[0] as the row.
 * @example
 * const f = await readGguf(sharedModelPath())
 * console.log(tensorF32(f, "blk.0.attn_k.weight").length)   // 2048 = 64 × 32
 */
export function tensorF32(file: GgufFile, name: string): Float32Array {
  const t = findTensor(file, name);
  check(t.offset + t.nbytes <= file.bytes.length, "UNSUPPORTED", () =>
    `tensor '${name}' lies past the ${file.bytes.length} bytes held (a header-only read): read it with readGguf, or read one tensor with openGguf(path).read(name)`);
  check(decodableType(t.type.name), "UNSUPPORTED", () =>
    `tensor '${name}' is ${t.type.name}, which QuantLab cannot decode: it decodes ${decodableTypeList()}`);
  return dequantize(t.type.name as DecodableTypeName, file.bytes.subarray(t.offset, t.offset + t.nbytes), tensorElements(t.dims));
}

/** A metadata value without its type record (bigints stay bigints), or undefined. */
export function ggufMeta(file: Pick<GgufFile, "metadata">, key: string): unknown {
  return file.metadata.get(key)?.value;
}

// ---------------------------------------------------------------------------------------------- writing

export interface GgufTensorInput {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: readonly number[];
  type: GgufTypeName | GgmlType | string;
  /** Encoded bytes, exactly the tensor's size (e.g. from quants.quantize). */
  data: Uint8Array;
}

export interface GgufWriteInput {
  /**
   * Typed records as parseGguf returns them; plain values are also accepted and typed as llama.cpp's
   * converters do: string → STRING, boolean → BOOL, integer → UINT32 (INT32 if negative), other number →
   * FLOAT32, bigint → UINT64 (INT64 if negative), string[] → ARRAY of STRING, number[] → ARRAY of
   * FLOAT32 unless all integers (then INT32), typed arrays → ARRAY of their type.
   */
  metadata: Map<string, GgufValue | unknown> | Record<string, GgufValue | unknown> | readonly (readonly [string, GgufValue | unknown])[];
  tensors: readonly GgufTensorInput[];
  /** Data alignment; defaults to general.alignment in the metadata, or 32. */
  alignment?: number;
}

const TYPED_ITEM: [new (...a: never[]) => unknown, GgufValueType][] = [
  [Uint8Array, "UINT8"], [Int8Array, "INT8"], [Uint16Array, "UINT16"], [Int16Array, "INT16"], [Uint32Array, "UINT32"],
  [Int32Array, "INT32"], [Float32Array, "FLOAT32"], [Float64Array, "FLOAT64"], [BigUint64Array, "UINT64"], [BigInt64Array, "INT64"],
];

function isRecord(v: unknown): v is GgufValue {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v) &&
    typeof (v as { type?: unknown }).type === "string" && GGUF_VALUE_TYPES.includes((v as { type: GgufValueType }).type) && "value" in v;
}

function toBig(v: unknown, key: string): bigint {
  check(typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v)), "BAD_ARGUMENT",
    `metadata '${key}' holds ${String(v)} in a 64-bit integer array: pass integers (bigints above 2^53)`);
  return BigInt(v as number | bigint);
}

/** Short type names some callers use (src/model/export.ts): "u32", "f32[]" … */
const ALIASES: Record<string, GgufValueType> = {
  u8: "UINT8", i8: "INT8", u16: "UINT16", i16: "INT16", u32: "UINT32", i32: "INT32", f32: "FLOAT32", bool: "BOOL",
  string: "STRING", u64: "UINT64", i64: "INT64", f64: "FLOAT64",
};

function fromAlias(v: unknown, key: string): GgufValue | undefined {
  if (v === null || typeof v !== "object" || !("type" in v) || !("value" in v)) return undefined;
  const { type, value } = v as { type: unknown; value: unknown };
  if (typeof type !== "string") return undefined;
  const arr = type.endsWith("[]");
  const t = ALIASES[arr ? type.slice(0, -2) : type];
  if (!t) return undefined;
  if (!arr) return { type: t, value } as GgufValue;
  check(Array.isArray(value) || ArrayBuffer.isView(value), "BAD_ARGUMENT", `metadata '${key}' of type ${type} needs an array value`);
  const items = value as ArrayLike<unknown>;
  const TA = TYPED_ITEM.find(([, n]) => n === t)?.[0] as unknown as { from(x: ArrayLike<unknown>, f?: (v: unknown) => unknown): GgufArrayItems } | undefined;
  const wide = t === "UINT64" || t === "INT64";
  return { type: "ARRAY", itemType: t, value: TA ? (wide ? TA.from(items, (v) => toBig(v, key)) : TA.from(items)) : (Array.from(items) as string[] | boolean[]) };
}

/** Gives a plain JS value its GGUF type (see GgufWriteInput.metadata); records pass through. */
export function toGgufValue(v: unknown, key = "value"): GgufValue {
  if (isRecord(v)) return v;
  const aliased = fromAlias(v, key);
  if (aliased) return aliased;
  if (typeof v === "string") return { type: "STRING", value: v };
  if (typeof v === "boolean") return { type: "BOOL", value: v };
  if (typeof v === "bigint") return { type: v < 0n ? "INT64" : "UINT64", value: v };
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return { type: "UINT32", value: v };
    if (Number.isInteger(v) && v < 0 && v >= -0x80000000) return { type: "INT32", value: v };
    return { type: "FLOAT32", value: v };
  }
  for (const [ctor, t] of TYPED_ITEM) if (v instanceof ctor) return { type: "ARRAY", itemType: t, value: v as GgufArrayItems };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) return { type: "ARRAY", itemType: "STRING", value: v as string[] };
    if (v.every((x) => typeof x === "boolean")) return { type: "ARRAY", itemType: "BOOL", value: v as boolean[] };
    if (v.every((x) => typeof x === "number")) {
      const ints = v.every((x) => Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff);
      return ints ? { type: "ARRAY", itemType: "INT32", value: Int32Array.from(v) } : { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from(v) };
    }
    if (v.every((x) => isRecord(x) && x.type === "ARRAY") || v.every((x) => Array.isArray(x) || ArrayBuffer.isView(x))) {
      return { type: "ARRAY", itemType: "ARRAY", value: v.map((x, i) => toGgufValue(x, `${key}[${i}]`) as GgufArray) };
    }
  }
  throw new QuantLabError("BAD_ARGUMENT",
    `metadata '${key}' is ${Array.isArray(v) ? "a mixed array" : typeof v}: GGUF holds numbers, bigints, booleans, strings and arrays of one kind; pass a { type, value } record to choose the type`);
}

const UTF8 = new TextEncoder();

class Writer {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private dv = new DataView(this.cur.buffer);
  private p = 0;
  length = 0;
  private room(n: number): void {
    if (this.p + n <= this.cur.length) return;
    this.flush();
    if (n > this.cur.length) { this.cur = new Uint8Array(n); this.dv = new DataView(this.cur.buffer); }
  }
  private flush(): void {
    if (this.p > 0) this.chunks.push(this.cur.slice(0, this.p));
    this.p = 0;
  }
  u8(v: number) { this.room(1); this.dv.setUint8(this.p, v); this.p += 1; this.length += 1; }
  i8(v: number) { this.room(1); this.dv.setInt8(this.p, v); this.p += 1; this.length += 1; }
  u16(v: number) { this.room(2); this.dv.setUint16(this.p, v, true); this.p += 2; this.length += 2; }
  i16(v: number) { this.room(2); this.dv.setInt16(this.p, v, true); this.p += 2; this.length += 2; }
  u32(v: number) { this.room(4); this.dv.setUint32(this.p, v, true); this.p += 4; this.length += 4; }
  i32(v: number) { this.room(4); this.dv.setInt32(this.p, v, true); this.p += 4; this.length += 4; }
  f32(v: number) { this.room(4); this.dv.setFloat32(this.p, v, true); this.p += 4; this.length += 4; }
  f64(v: number) { this.room(8); this.dv.setFloat64(this.p, v, true); this.p += 8; this.length += 8; }
  u64(v: bigint) { this.room(8); this.dv.setBigUint64(this.p, v, true); this.p += 8; this.length += 8; }
  i64(v: bigint) { this.room(8); this.dv.setBigInt64(this.p, v, true); this.p += 8; this.length += 8; }
  raw(b: Uint8Array) { this.flush(); this.chunks.push(b); this.length += b.length; }
  /** Small byte runs are copied into the current chunk: a vocabulary of 10⁵ strings stays a few chunks, not 10⁵ writes. */
  bytes(b: Uint8Array) {
    if (b.length > 4096) return this.raw(b);
    this.room(b.length);
    this.cur.set(b, this.p);
    this.p += b.length;
    this.length += b.length;
  }
  str(s: string) { const b = UTF8.encode(s); this.u64(BigInt(b.length)); this.bytes(b); }
  pad(alignment: number) { while (this.length % alignment !== 0) this.u8(0); }
  done(): Uint8Array[] { this.flush(); return this.chunks; }
}

function intIn(key: string, t: GgufValueType, v: unknown, lo: number, hi: number): number {
  check(typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi, "BAD_ARGUMENT", () =>
    `metadata '${key}' is ${String(v)}, not a ${t} (an integer in ${lo}…${hi}): pick a wider type or fix the value`);
  return v as number;
}

function writeScalar(w: Writer, t: GgufValueType, v: unknown, key: string): void {
  switch (t) {
    case "UINT8": return w.u8(intIn(key, t, v, 0, 0xff));
    case "INT8": return w.i8(intIn(key, t, v, -0x80, 0x7f));
    case "UINT16": return w.u16(intIn(key, t, v, 0, 0xffff));
    case "INT16": return w.i16(intIn(key, t, v, -0x8000, 0x7fff));
    case "UINT32": return w.u32(intIn(key, t, v, 0, 0xffffffff));
    case "INT32": return w.i32(intIn(key, t, v, -0x80000000, 0x7fffffff));
    case "FLOAT32": case "FLOAT64":
      check(typeof v === "number", "BAD_ARGUMENT", `metadata '${key}' is ${typeof v}, not a number for ${t}`);
      return t === "FLOAT32" ? w.f32(v) : w.f64(v);
    case "UINT64": case "INT64": {
      check(typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v)), "BAD_ARGUMENT",
        `metadata '${key}' is ${String(v)}, not an integer for ${t}: pass a bigint`);
      const b = BigInt(v);
      check(t === "UINT64" ? b >= 0n && b < 1n << 64n : b >= -(1n << 63n) && b < 1n << 63n, "BAD_ARGUMENT",
        `metadata '${key}' is ${b}, out of range for ${t}`);
      return t === "UINT64" ? w.u64(b) : w.i64(b);
    }
    case "BOOL":
      check(typeof v === "boolean", "BAD_ARGUMENT", `metadata '${key}' is ${typeof v}, not a boolean for BOOL`);
      return w.u8(v ? 1 : 0);
    case "STRING":
      check(typeof v === "string", "BAD_ARGUMENT", `metadata '${key}' is ${typeof v}, not a string for STRING`);
      return w.str(v);
    default: throw new QuantLabError("BAD_ARGUMENT", `metadata '${key}' has type ${String(t)}: use one of ${GGUF_VALUE_TYPES.join(", ")}`);
  }
}

function writeValue(w: Writer, val: GgufValue, key: string): void {
  if (val.type !== "ARRAY") return writeScalar(w, val.type, val.value, key);
  const items = val.value as ArrayLike<unknown>;
  check(GGUF_VALUE_TYPES.includes(val.itemType), "BAD_ARGUMENT", `metadata '${key}' has item type ${String(val.itemType)}: use one of ${GGUF_VALUE_TYPES.join(", ")}`);
  w.u32(GGUF_VALUE_TYPES.indexOf(val.itemType));
  w.u64(BigInt(items.length));
  for (let i = 0; i < items.length; i++) {
    if (val.itemType === "ARRAY") {
      const inner = items[i];
      check(isRecord(inner) && inner.type === "ARRAY", "BAD_ARGUMENT", `metadata '${key}[${i}]' must be an ARRAY record in an array of arrays`);
      writeValue(w, inner, `${key}[${i}]`);
    } else {
      writeScalar(w, val.itemType, items[i], `${key}[${i}]`);
    }
  }
}

/** A tensor of a GGUF to be streamed: its info now, its bytes when the writer asks for them. */
export type GgufTensorHeader = Omit<GgufTensorInput, "data">;

export interface GgufStreamInput extends Omit<GgufWriteInput, "tensors"> {
  tensors: readonly GgufTensorHeader[];
}

interface PreparedTensor { name: string; dims: readonly number[]; type: GgmlType; nbytes: number }

/** Checks and types the metadata and tensor infos; the tensors' sizes come from their type and dims. */
function prepareGguf(input: GgufStreamInput): { meta: (readonly [string, GgufValue])[]; infos: PreparedTensor[]; alignment: number } {
  const md = input.metadata;
  const entries = md instanceof Map ? [...md] : Array.isArray(md) ? (md as [string, unknown][]) : Object.entries(md);
  const meta = entries.map(([k, v]) => [k, toGgufValue(v, k)] as const);
  const metaAlign = meta.find(([k]) => k === "general.alignment")?.[1];
  const metaAlignN = metaAlign && (typeof metaAlign.value === "number" || typeof metaAlign.value === "bigint") ? Number(metaAlign.value) : undefined;
  const alignment = input.alignment ?? metaAlignN ?? DEFAULT_ALIGNMENT;
  check(isPowerOfTwo(alignment), "BAD_ARGUMENT",
    `alignment ${alignment} must be a power of two (llama.cpp uses 32)`);
  if (metaAlign && Number(metaAlign.value) !== alignment) {
    throw new QuantLabError("BAD_ARGUMENT", `general.alignment is ${String(metaAlign.value)} but alignment ${alignment} was asked for: make them agree`);
  }
  if (!metaAlign && alignment !== DEFAULT_ALIGNMENT) meta.push(["general.alignment", { type: "UINT32", value: alignment }]);

  const names = new Set<string>();
  const infos = input.tensors.map((t) => {
    check(!names.has(t.name), "BAD_ARGUMENT", `tensor '${t.name}' is given twice: tensor names must be unique`);
    names.add(t.name);
    const type = typeof t.type === "string" ? ggmlType(t.type) : t.type;
    check(type, "BAD_ARGUMENT", `tensor '${t.name}' has unknown type ${String(t.type)}: use F32, F16, BF16, Q4_0 … Q6_K`);
    check(t.dims.length >= 1 && t.dims.length <= MAX_DIMS && t.dims.every((d) => Number.isInteger(d) && d >= 0), "BAD_SHAPE",
      `tensor '${t.name}' has dims [${t.dims.join(", ")}]: GGUF takes 1 to 4 non-negative integer dims`);
    check(t.dims[0]! % type.blockSize === 0, "BAD_SHAPE",
      `tensor '${t.name}' has rows of ${t.dims[0]}, not a multiple of ${type.name}'s block of ${type.blockSize}: choose another type for it`);
    const nbytes = (tensorElements(t.dims) / type.blockSize) * type.typeSize;
    return { name: t.name, dims: t.dims, type, nbytes };
  });
  return { meta, infos, alignment };
}

const checkData = (t: PreparedTensor, data: Uint8Array | undefined) =>
  check(data instanceof Uint8Array && data.length === t.nbytes, "BAD_SHAPE",
    `tensor '${t.name}' (${t.type.name} [${t.dims.join(", ")}]) needs ${t.nbytes} bytes of data, got ${data?.length}`);

/** Header, metadata and tensor infos up to the (padded) start of the data section. */
function writeHeader(w: Writer, meta: (readonly [string, GgufValue])[], infos: PreparedTensor[], alignment: number): void {
  w.u32(MAGIC);
  w.u32(3);
  w.u64(BigInt(infos.length));
  w.u64(BigInt(meta.length));
  for (const [k, v] of meta) {
    w.str(k);
    w.u32(GGUF_VALUE_TYPES.indexOf(v.type));
    writeValue(w, v, k);
  }
  let rel = 0;
  for (const t of infos) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(BigInt(d));
    w.u32(t.type.id);
    w.u64(BigInt(rel));
    rel += Math.ceil(t.nbytes / alignment) * alignment;
  }
  w.pad(alignment);
}

/** Encodes a GGUF v3 file: the chunks to write, in order. */
export function encodeGguf(input: GgufWriteInput): Uint8Array[] {
  const { meta, infos, alignment } = prepareGguf(input);
  infos.forEach((t, i) => checkData(t, input.tensors[i]!.data));
  const w = new Writer();
  writeHeader(w, meta, infos, alignment);
  infos.forEach((t, i) => {
    w.raw(input.tensors[i]!.data);
    w.pad(alignment);
  });
  return w.done();
}

/**
 * Writes a GGUF v3 file as its tensors are produced: the header (offsets from each tensor's type and
 * dims) first, then `data(i)` for each tensor in order, so only one tensor's bytes need be in memory.
 * `data(i)` may instead give the tensor's bytes as consecutive parts (an async iterable, each part written
 * before the next is asked for, so the producer may reuse its buffer), and then not even one tensor need be.
 * The file appears at `path` only once complete (a partial file beside it is renamed); byte for byte it
 * is what writeGguf writes for the same tensors.
 */
export async function writeGgufStream(path: string, input: GgufStreamInput,
  data: (index: number, tensor: GgufTensorHeader) => Promise<Uint8Array | AsyncIterable<Uint8Array>>): Promise<void> {
  const { meta, infos, alignment } = prepareGguf(input);
  const out = await openAtomicStream(path);
  try {
    const w = new Writer();
    writeHeader(w, meta, infos, alignment);
    for (const c of w.done()) await out.write(c);
    const zeros = new Uint8Array(alignment);
    for (const [i, t] of infos.entries()) {
      const bytes = await data(i, input.tensors[i]!);
      if (bytes instanceof Uint8Array) {
        checkData(t, bytes);
        await out.write(bytes);
      } else {
        const start = out.length;
        for await (const part of bytes) {
          // a part past the tensor's size is refused before it is written
          check(part instanceof Uint8Array && out.length - start + part.length <= t.nbytes, "BAD_SHAPE", () =>
            `tensor '${t.name}' (${t.type.name} [${t.dims.join(", ")}]) needs ${t.nbytes} bytes of data, got more than ${out.length - start}` +
            `${part instanceof Uint8Array ? ` + ${part.length}` : " and a part that is not bytes"}`);
          await out.write(part);
        }
        check(out.length - start === t.nbytes, "BAD_SHAPE", () =>
          `tensor '${t.name}' (${t.type.name} [${t.dims.join(", ")}]) needs ${t.nbytes} bytes of data, got ${out.length - start}`);
      }
      const pad = (alignment - (out.length % alignment)) % alignment;
      if (pad) await out.write(zeros.subarray(0, pad));
    }
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
}

/**
 * Writes a GGUF v3 file atomically from typed (or plain) metadata and encoded tensors.
 * @example
 * const w = new Float32Array(64).fill(0.5)
 * await writeGguf("tiny.gguf", {
 *   metadata: { "general.architecture": "llama", "general.alignment": { type: "UINT32", value: 64 } },
 *   tensors: [{ name: "w", dims: [64], type: "F32", data: new Uint8Array(w.buffer) }],
 * })
 * console.log((await readGguf("tiny.gguf")).alignment)   // 64
 */
export async function writeGguf(path: string, input: GgufWriteInput): Promise<void> {
  await writeFileAtomic(path, encodeGguf(input));
}

/** Concatenates encodeGguf's chunks (for tests and in-memory round trips). */
export function encodeGgufBytes(input: GgufWriteInput): Uint8Array {
  const chunks = encodeGguf(input);
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of chunks) { out.set(c, p); p += c.length; }
  return out;
}
