/**
 * The quantization methods the model workflow offers, as `GroupQuantizer`s: llama.cpp block types
 * (bit-exact through src/gguf/quants), and RTN / GPTQ / AWQ (rtn-gptq-awq.ts, over the project's
 * numerics and algorithms). A spec is either `{ method, bits, groupSize, scheme? }` or
 * `{ gguf: "Q4_0" }`, and `perTensor` lets a mix choose per layer and tensor (as llama.cpp's Q4_K_M does).
 */
import { check } from "../../errors.js";
import { imatrixFromActivations } from "../../gguf/imatrix.js";
import { fallbackType } from "../../gguf/mix.js";
import { dequantize, quantize, typeOf } from "../../gguf/quants.js";
import { decodeOnlyReason, ggufType, type GgufTypeName } from "../../gguf/types.js";
import type { Matrix } from "../../numerics/matrix.js";
import type { LinearName } from "../llama.js";
import type { GroupJob, GroupQuantizer, QuantizedLinear } from "./workflow.js";
import { weightMethodQuantizer, type WeightGrid, type WeightMethodSpec } from "./rtn-gptq-awq.js";

/**
 * One way to quantize every linear of a model: RTN, GPTQ or AWQ with `bits`, `groupSize` and `scheme`
 * (default "asymmetric"), or a llama.cpp GGUF type.
 */
export type MethodSpec =
  | WeightMethodSpec
  | { gguf: GgufTypeName; imatrix?: boolean };

export function specLabel(s: MethodSpec): string {
  return "gguf" in s ? s.gguf + (s.imatrix ? "+imatrix" : "") : `${s.method.toUpperCase()} ${s.bits}-bit g${s.groupSize}${s.scheme === "symmetric" ? " sym" : ""}`;
}

/** Mean of x² per input column: llama.cpp's importance matrix for one tensor (src/gguf/imatrix.ts). */
export function importance(X: Matrix): Float32Array {
  return imatrixFromActivations(X.data, X.cols);
}

/**
 * Encodes one weight as a GGUF type. A row length that is not a multiple of the type's block size
 * (stories260K's ffn_down has 172 columns) is encoded as llama.cpp's quantizer would (src/gguf/mix.ts
 * fallbackType: Q4_K → Q5_0 …, F16 when nothing divides the row), and the label says so.
 */
export function ggufLinear(W: Matrix, type: GgufTypeName, imatrix?: Float32Array): QuantizedLinear {
  const t = typeOf(type);
  const use = fallbackType(t.name, W.cols);
  const bytes = quantize(use, W.data, W.cols, imatrix);
  const data = dequantize(use, bytes, W.data.length);
  return { weight: { rows: W.rows, cols: W.cols, data }, format: use === t.name ? use : `${use} (row ${W.cols} ∤ ${t.blockSize})`, gguf: { type: use, bytes } };
}

function ggufQuantizer(type: GgufTypeName, useImatrix: boolean): GroupQuantizer {
  return (job: GroupJob) => {
    const im = useImatrix ? importance(job.inputs) : undefined;
    return job.weights.map((W) => ggufLinear(W, type, im));
  };
}

export function quantizerFor(spec: MethodSpec): GroupQuantizer {
  if ("gguf" in spec) return ggufQuantizer(spec.gguf, spec.imatrix ?? false);
  return weightMethodQuantizer(spec);
}

/** One quantizer choosing a spec per (layer, tensor); groups sharing an input are split when specs differ. */
export function mixedQuantizer(perTensor: (layer: number, name: LinearName) => MethodSpec): GroupQuantizer {
  return async (job: GroupJob) => {
    const specs = job.names.map((n) => perTensor(job.layer, n));
    const key = specs.map((s) => JSON.stringify(s));
    if (key.every((k) => k === key[0])) return quantizerFor(specs[0])(job);
    const out: QuantizedLinear[] = [];
    for (let k = 0; k < job.names.length; k++) {
      const sub = { ...job, names: [job.names[k]], weights: [job.weights[k]] };
      out.push(...(await quantizerFor(specs[k])(sub)));
    }
    return out;
  };
}

/**
 * A method name from the command line (rtn, gptq, awq, or a GGUF type name: Q8_0, Q4_0, Q4_K …) with the
 * grid its flags give, as a MethodSpec.
 * @example
 * ```ts
 * parseMethod("gptq", { bits: 4, groupSize: 32, scheme: "symmetric" })   // { method: "gptq", bits: 4, groupSize: 32, scheme: "symmetric" }
 * ```
 */
export function parseMethod(name: string, grid: WeightGrid): MethodSpec {
  const lower = name.toLowerCase();
  if (lower === "rtn" || lower === "gptq" || lower === "awq") {
    const { bits, groupSize } = grid;
    check(Number.isInteger(bits) && bits >= 2 && bits <= 8, "BAD_ARGUMENT", `--bits ${bits} is out of range: use 2 … 8`);
    check(Number.isInteger(groupSize) && groupSize > 0, "BAD_ARGUMENT", `--group-size ${groupSize} must be a positive integer (e.g. 32 or 128)`);
    return { method: lower, bits, groupSize, ...(grid.scheme ? { scheme: grid.scheme } : {}) };
  }
  const t = ggufType(name);
  check(t, "BAD_ARGUMENT", () => `${decodeOnlyReason(name) ?? `unknown method '${name}'`}: use rtn, gptq, awq or a GGUF type (Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K …)`);
  return { gguf: t.name };
}
