/**
 * The importance matrix, in one place: computing it from calibration activations, and reading and
 * writing llama.cpp's imatrix files. For a linear layer y = W·x it holds one weight per input column j,
 * the mean of x_j² over the calibration activations that reach the layer, as `llama-imatrix` builds it.
 * Quantizers that take it (types.ts IMATRIX_TYPES) then fit each block's scales to minimise the error
 * weighted by how strongly each input channel is driven — the GGUF world's answer to AWQ.
 *
 *   const im = imatrixFromActivations(X, 512);   // X: tokens × 512 activations, row-major
 *   const q = quantize("Q4_K", W, 512, im);
 *   await writeImatrix("imatrix.gguf", new Map([["blk.0.attn_q.weight", im]]));
 *   (await readImatrix("imatrix.gguf")).get("blk.0.attn_q.weight")
 */
import { readFile } from "node:fs/promises";
import { check, QuantLabError } from "../errors.js";
import { parseGguf, tensorF32, writeGguf, type GgufFile, type GgufValue } from "./file.js";

/**
 * Mean of x² per column of `x` (nRows × nCols, row-major), accumulated in double so that long
 * calibration runs lose nothing to float32 rounding; checks that every column is finite.
 */
export function imatrixFromActivations(x: Float32Array, nCols: number): Float32Array {
  check(Number.isInteger(nCols) && nCols > 0, "BAD_SHAPE", `column count ${nCols} must be a positive integer`);
  check(x.length > 0 && x.length % nCols === 0, "BAD_SHAPE", () =>
    `${x.length} activations are not a whole number of rows of ${nCols}: pass tokens × ${nCols} values (one row per token)`);
  const nRows = x.length / nCols;
  const sum = new Float64Array(nCols);
  for (let r = 0; r < nRows; r++) {
    const o = r * nCols;
    for (let j = 0; j < nCols; j++) {
      const v = x[o + j]!;
      sum[j] += v * v;
    }
  }
  const out = new Float32Array(nCols);
  for (let j = 0; j < nCols; j++) {
    check(Number.isFinite(sum[j]!), "BAD_VALUE", () => `calibration activations in column ${j} are NaN or infinite: clean the calibration data`);
    out[j] = sum[j]! / nRows;
  }
  return out;
}

const imatrixBad = (path: string, msg: string) => new QuantLabError("BAD_FILE", `${path}: ${msg}`);

/**
 * Reads llama.cpp's importance matrix (`llama-imatrix -o FILE`) as llama-quantize does: the GGUF format
 * (tensors `<name>.in_sum2` [n, matrices] and `<name>.counts` [1, matrices]; weight = sum / count, 1
 * where nothing was counted) or the legacy .dat format (i32 entry count; per entry i32 name length, name,
 * i32 calls, i32 values, f32 sums; weight = sum / calls). Keyed by tensor name.
 */
export async function readImatrix(path: string): Promise<Map<string, Float32Array>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new QuantLabError("NOT_FOUND", `cannot read the importance matrix ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isGguf = bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46;
  return isGguf ? imatrixFromGguf(parseGguf(bytes), path) : imatrixFromLegacy(bytes, path);
}

/** The importance weights of an imatrix GGUF already parsed. */
export function imatrixFromGguf(file: GgufFile, path = "the imatrix file"): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of file.tensors) {
    if (!t.name.endsWith(".in_sum2")) continue;
    const name = t.name.slice(0, -".in_sum2".length);
    const countsInfo = file.tensors.find((c) => c.name === `${name}.counts`);
    if (!countsInfo) throw imatrixBad(path, `'${t.name}' has no '${name}.counts' beside it: the imatrix file is incomplete`);
    const sums = tensorF32(file, t.name);
    const counts = tensorF32(file, countsInfo.name);
    const nMat = counts.length;
    if (nMat < 1 || sums.length % nMat !== 0) {
      throw imatrixBad(path, `'${t.name}' holds ${sums.length} sums for ${nMat} counts: they must split evenly`);
    }
    const n = sums.length / nMat;
    const w = new Float32Array(sums.length);
    for (let j = 0; j < nMat; j++) {
      const c = counts[j]!;
      for (let i = 0; i < n; i++) w[j * n + i] = c > 0 ? sums[j * n + i]! / c : 1;
    }
    out.set(name, w);
  }
  if (out.size === 0) throw imatrixBad(path, `no '<tensor>.in_sum2' tensors: this GGUF is not an importance matrix (make one with llama-imatrix)`);
  return out;
}

function imatrixFromLegacy(bytes: Uint8Array, path: string): Map<string, Float32Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const i32 = (what: string) => {
    if (pos + 4 > bytes.length) throw imatrixBad(path, `${what} at byte ${pos} runs past the end (${bytes.length} bytes): the file is truncated or not an imatrix`);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const n = i32("the entry count");
  if (n < 1 || n * 12 > bytes.length) throw imatrixBad(path, `entry count ${n} at byte 0 does not fit the ${bytes.length}-byte file: not an imatrix (GGUF or legacy .dat)`);
  const out = new Map<string, Float32Array>();
  for (let e = 0; e < n; e++) {
    const len = i32(`entry ${e} name length`);
    if (len < 0 || pos + len > bytes.length) throw imatrixBad(path, `entry ${e} name length ${len} at byte ${pos - 4} runs past the end of the file`);
    const name = new TextDecoder().decode(bytes.subarray(pos, pos + len));
    pos += len;
    const calls = i32(`entry '${name}' call count`);
    const nval = i32(`entry '${name}' value count`);
    if (nval < 1 || pos + nval * 4 > bytes.length) throw imatrixBad(path, `entry '${name}' value count ${nval} at byte ${pos - 4} runs past the end of the file`);
    const w = new Float32Array(nval);
    for (let i = 0; i < nval; i++) {
      const s = dv.getFloat32(pos + 4 * i, true);
      w[i] = calls > 0 ? s / calls : s;
    }
    pos += nval * 4;
    out.set(name, w);
  }
  return out;
}


/**
 * Writes importance weights as llama.cpp's GGUF imatrix file (what `llama-imatrix -o FILE.gguf` writes and
 * `llama-quantize --imatrix` reads): per tensor `<name>.in_sum2` [n, 1] and `<name>.counts` [1, 1]. The
 * weights are stored as sums over one call, so readImatrix and llama-quantize read back exactly `imatrices`.
 */
export async function writeImatrix(path: string, imatrices: ReadonlyMap<string, Float32Array>, datasets: readonly string[] = ["quantlab"]): Promise<void> {
  check(imatrices.size > 0, "BAD_ARGUMENT", `no importance weights to write to ${path}: pass a map from tensor name to weights`);
  const tensors = [...imatrices].flatMap(([name, w]) => {
    check(w instanceof Float32Array && w.length > 0, "BAD_ARGUMENT", () =>
      `the importance weights for '${name}' must be a non-empty Float32Array (one weight per input column)`);
    const sums = Float32Array.from(w);
    return [
      { name: `${name}.in_sum2`, dims: [w.length, 1], type: "F32" as const, data: new Uint8Array(sums.buffer) },
      { name: `${name}.counts`, dims: [1, 1], type: "F32" as const, data: new Uint8Array(Float32Array.of(1).buffer) },
    ];
  });
  await writeGguf(path, {
    metadata: new Map<string, GgufValue>([
      ["general.type", { type: "STRING", value: "imatrix" }],
      ["imatrix.datasets", { type: "ARRAY", itemType: "STRING", value: [...datasets] }],
      ["imatrix.chunk_count", { type: "UINT32", value: 1 }],
    ]),
    tensors,
  });
}
