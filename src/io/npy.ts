/**
 * NumPy's .npy format (versions 1–3): magic "\x93NUMPY", version, a header length (u16 in v1, u32 in
 * v2/v3), a Python-literal header {'descr': '<f4', 'fortran_order': False, 'shape': (r, c), }, then C-order
 * data. Sizes are checked against the file before allocating.
 */
import { QuantLabError } from "../errors.js";
import { readAndParse, writeFileAtomic } from "./atomic.js";
import { decodeData, encodeData } from "./safetensors.js";
import { DTYPE_BYTES, numel, type DType, type Tensor } from "./tensor.js";

const DESCR: Record<string, DType> = {
  "<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<u4": "U32", "<i2": "I16", "<u2": "U16",
  "|i1": "I8", "|u1": "U8", "|b1": "BOOL", "<i1": "I8", "<u1": "U8",
};
const DESCR_OF: Partial<Record<DType, string>> = Object.fromEntries(
  Object.entries(DESCR).filter(([k]) => !k.startsWith("<i1") && !k.startsWith("<u1")).map(([k, v]) => [v, k]),
);

const bad = (msg: string) => new QuantLabError("BAD_FILE", `npy: ${msg}`);

/**
 * The header as NumPy reads it (a Python dict literal, evaluated by ast.literal_eval and then checked):
 * exactly the keys 'descr' (a string), 'fortran_order' (True or False) and 'shape' (a tuple of
 * non-negative decimal integers: `()`, `(3,)`, `(3, 4)`), in any order, with an optional trailing
 * comma, then only padding. What NumPy refuses is refused here too — `(,)`, `(1e3,)`, `(3.0,)`, a
 * bare `3` — and so is what no NumPy writes, such as `(0x10,)` or `(1_000,)`.
 */
function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  let i = 0;
  const fail = (what: string): never => {
    throw bad(`header ${JSON.stringify(text.trim().slice(0, 200))} is not a NumPy header: ${what} at character ${i}`);
  };
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const eat = (c: string) => {
    ws();
    if (text[i] !== c) fail(`expected '${c}'`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') fail("expected a quoted string");
    const end = text.indexOf(q!, i + 1);
    if (end < 0) fail("an unterminated string");
    const v = text.slice(i + 1, end);
    if (v.includes("\\") || v.includes("\n")) fail("an escape or line break inside a string");
    i = end + 1;
    return v;
  };
  const bool = (): boolean => {
    ws();
    for (const [word, v] of [["True", true], ["False", false]] as const) {
      if (text.startsWith(word, i) && !/[\w]/.test(text[i + word.length] ?? "")) {
        i += word.length;
        return v;
      }
    }
    return fail("expected True or False");
  };
  const tuple = (): number[] => {
    eat("(");
    const dims: number[] = [];
    let comma = false;
    for (;;) {
      ws();
      if (text[i] === ")") {
        // "(3)" is the integer 3 in Python, not a tuple
        if (dims.length === 1 && !comma) fail("a one-element shape needs a trailing comma, (n,)");
        i++;
        return dims;
      }
      const m = /^(0|[1-9][0-9]*)(?![\w.])/.exec(text.slice(i, i + 32));
      if (!m) fail("a shape entry that is not a non-negative decimal integer");
      const d = Number(m![1]);
      if (!Number.isSafeInteger(d)) fail("a dimension too large");
      dims.push(d);
      i += m![0].length;
      ws();
      comma = text[i] === ",";
      if (comma) i++;
      else if (text[i] !== ")") fail("expected ',' or ')' in the shape");
    }
  };
  const seen: Record<string, unknown> = {};
  eat("{");
  for (;;) {
    ws();
    if (text[i] === "}") break;
    const key = str();
    if (Object.hasOwn(seen, key)) fail(`a second '${key}'`);
    eat(":");
    if (key === "descr") seen.descr = str();
    else if (key === "fortran_order") seen.fortran_order = bool();
    else if (key === "shape") seen.shape = tuple();
    else fail(`the key '${key}' (NumPy allows only descr, fortran_order and shape)`);
    ws();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail("expected ',' or '}'");
  }
  i++;
  ws();
  if (i < text.length) fail("text after the closing brace");
  for (const k of ["descr", "fortran_order", "shape"]) if (!Object.hasOwn(seen, k)) fail(`no '${k}'`);
  return { descr: seen.descr as string, fortran: seen.fortran_order as boolean, shape: seen.shape as number[] };
}

/**
 * Decodes the bytes of a NumPy .npy file into a Tensor, checking every size first.
 * Use it for bytes you already hold; `readNpy` reads a file.
 * @example
 * ```ts
 * const bytes = encodeNpy({ dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
 * parseNpy(bytes).shape   // [2, 2]
 * ```
 */
export function parseNpy(bytes: Uint8Array): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw bad("missing the \\x93NUMPY magic at byte 0: not an .npy file");
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw bad(`version ${major}.${bytes[7]} at byte 6 is not supported (1, 2 or 3)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw bad("file ends inside the header length: truncated");
  const hl = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (start + hl > bytes.length) throw bad(`header length ${hl} at byte 8 runs past the end of the ${bytes.length}-byte file: truncated`);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + hl));
  const { descr, fortran, shape } = parseHeader(header);
  const dtype = DESCR[descr];
  if (!dtype) throw bad(`dtype '${descr}' is not supported: save as float32 ('<f4'), float16, float64 or a little-endian integer`);
  if (fortran) throw bad("fortran_order is True: save a C-ordered array (numpy.ascontiguousarray(a)) and try again");
  const need = numel(shape) * DTYPE_BYTES[dtype];
  const dataStart = start + hl;
  if (dataStart + need > bytes.length) {
    throw bad(`shape (${shape.join(", ")}) of ${descr} needs ${need} bytes of data but only ${bytes.length - dataStart} follow the header: truncated`);
  }
  return { dtype, shape, data: decodeData(dtype, bytes.subarray(dataStart, dataStart + need)) };
}

/**
 * Reads a NumPy .npy file (as `numpy.save` writes it) into a Tensor: the way to bring weights or
 * activations from Python into a notebook.
 * @example
 * ```ts
 * await writeNpy("w.npy", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
 * const t = await readNpy("w.npy");
 * const W = matrix(t.shape[0], t.shape[1], t.data);   // ready for quantize(W, …)
 * ```
 */
export async function readNpy(path: string): Promise<Tensor> {
  return readAndParse(path, parseNpy);
}

/**
 * Encodes a Tensor as the bytes of a NumPy .npy file (version 1, C order); NumPy has no BF16, so use F32.
 * @example
 * ```ts
 * const bytes = encodeNpy({ dtype: "F16", shape: [3], data: new Float32Array([0.1, 1, 65504]) });
 * bytes.length                 // 134: a 128-byte header, then 3 × 2 bytes of FP16
 * parseNpy(bytes).data[0]      // 0.0999755859375: 0.1 rounded to FP16
 * ```
 */
export function encodeNpy(t: Tensor): Uint8Array {
  const descr = t.dtype === "BF16" ? undefined : DESCR_OF[t.dtype];
  if (!descr) throw new QuantLabError("BAD_ARGUMENT", `.npy has no ${t.dtype}: store it as F32 (NumPy has no bfloat16)`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // pad so the data starts on a 64-byte boundary, header ends with a newline
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const data = encodeData(t);
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

/**
 * Writes a Tensor to a NumPy .npy file (atomically), for `numpy.load` in Python.
 * @example
 * ```ts
 * const q = quantize(randn(4, 8, { seed: 1 }), { bits: 4 });
 * await writeNpy("dequantized.npy", { dtype: "F32", shape: [4, 8], data: q.dequantized });
 * (await readNpy("dequantized.npy")).shape   // [4, 8]
 * ```
 */
export async function writeNpy(path: string, t: Tensor): Promise<void> {
  await writeFileAtomic(path, encodeNpy(t));
}
