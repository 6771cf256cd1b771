/**
 * Reading a weight or activation matrix from a safetensors file, for the commands that take one. Only the
 * chosen tensor's bytes are read (by its offset, whatever else the file holds), and an F32 tensor is used
 * in place of the fresh read buffer: no second 4·rows·cols copy before the algorithm starts.
 */
import { QuantLabError } from "../errors.js";
import { decodeData, openSafetensors } from "../io/safetensors.js";
import { matrix, type Matrix } from "../numerics/matrix.js";

/** One 2-D float tensor of a safetensors file (the named one, or the only one) as a Matrix. */
export async function readMatrix(path: string, name: string | undefined, what: string): Promise<[string, Matrix]> {
  const file = await openSafetensors(path);
  try {
    const names = [...file.entries.keys()];
    if (name !== undefined && !file.entries.has(name)) {
      throw new QuantLabError("NOT_FOUND", `${path} has no tensor '${name}': it holds ${names.join(", ") || "no tensors"}`);
    }
    if (name === undefined && names.length !== 1) {
      throw new QuantLabError("BAD_ARGUMENT", `${path} holds ${names.length} tensors (${names.slice(0, 8).join(", ")}): choose one with --tensor NAME`);
    }
    const tname = name ?? names[0]!;
    const e = file.entries.get(tname)!;
    if (e.shape.length !== 2) throw new QuantLabError("BAD_SHAPE", `${what} '${tname}' in ${path} has shape [${e.shape.join(", ")}]: it must be 2-D [rows, cols]`);
    if (!["F32", "F16", "BF16", "F64"].includes(e.dtype)) throw new QuantLabError("BAD_ARGUMENT", `${what} '${tname}' in ${path} is ${e.dtype}: it must be F32, F16 or BF16`);
    const bytes = await file.read(tname);
    // the read buffer is fresh and starts at 0, so F32 (little-endian, as safetensors stores it) needs no copy
    const data = e.dtype === "F32" && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? new Float32Array(bytes.buffer)
      : (decodeData(e.dtype, bytes) as Float32Array);
    return [tname, matrix(e.shape[0]!, e.shape[1]!, data)];
  } finally {
    await file.close();
  }
}
