/** Reading a weight or activation matrix from a safetensors file, for the commands that take one. */
import { QuantLabError } from "../errors.js";
import { pickTensor, readSafetensors } from "../io/safetensors.js";
import { matrix, type Matrix } from "../numerics/matrix.js";

/** One 2-D float tensor of a safetensors file (the named one, or the only one) as a Matrix. */
export async function readMatrix(path: string, name: string | undefined, what: string): Promise<[string, Matrix]> {
  const file = await readSafetensors(path);
  const [tname, t] = pickTensor(file, name, path);
  if (t.shape.length !== 2) throw new QuantLabError("BAD_SHAPE", `${what} '${tname}' in ${path} has shape [${t.shape.join(", ")}]: it must be 2-D [rows, cols]`);
  if (!(t.data instanceof Float32Array)) throw new QuantLabError("BAD_ARGUMENT", `${what} '${tname}' in ${path} is ${t.dtype}: it must be F32, F16 or BF16`);
  return [tname, matrix(t.shape[0]!, t.shape[1]!, t.data)];
}
