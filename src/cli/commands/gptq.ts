/**
 * `quantlab gptq`: GPTQ of one weight matrix from safetensors, with calibration activations X.
 * The safetensors plumbing here is shared with `quantlab awq` (same inputs, same outputs, same JSON).
 */
import { parse, num, str, printJson, type Options, type Parsed } from "../args.js";
import { QuantLabError } from "../../errors.js";
import { writeSafetensors } from "../../io/safetensors.js";
import type { Tensor } from "../../io/tensor.js";
import type { Matrix } from "../../numerics/matrix.js";
import type { GroupQuantized } from "../../numerics/grouped.js";
import { describeSpec, groupLength } from "../../numerics/spec.js";
import { readMatrix } from "../matrix-file.js";

export const summary = "GPTQ of a weight matrix with calibration activations (safetensors in and out)";

const USAGE = `usage: quantlab gptq --weights W.safetensors --calib X.safetensors [--tensor NAME] [--calib-tensor NAME]
                     --bits 4 --group-size 128|channel [--act-order] [--static-groups] [--sym] [--block-size 128]
                     [--percdamp 0.01] [--mse] [--backend wasm|cpu|webgpu|tensorflow] --out Q.safetensors [--json]
  W is [out_features, in_features], X is [tokens, in_features] (F32, F16 or BF16). --out holds "weight" (the
  dequantized weight in W's shape), "codes", "scales", "zeros" [out, groups] and "g_idx" [in_features].
  --json prints {"outputError","mse","loss","seconds","backend"}; outputError = ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖².`;

/** Options gptq and awq share. */
export const COMMON: Options = {
  weights: { type: "string" }, calib: { type: "string" }, tensor: { type: "string" }, "calib-tensor": { type: "string" },
  bits: { type: "string" }, "group-size": { type: "string" }, sym: { type: "boolean" }, backend: { type: "string" },
  out: { type: "string" }, json: { type: "boolean" },
};


export interface Inputs {
  name: string;
  W: Matrix;
  X: Matrix;
  out: string;
  bits: number;
  groupSize: number | "channel";
}

/** `--sym` is the papers' flag; the options take the spec vocabulary's `scheme`. */
export function schemeOf(p: Parsed): "symmetric" | "asymmetric" {
  return p.values.sym ? "symmetric" : "asymmetric";
}

/** The required inputs of gptq/awq, read and shape-checked. */
export async function readInputs(p: Parsed): Promise<Inputs> {
  const weights = str(p, "weights");
  const calib = str(p, "calib");
  const out = str(p, "out");
  if (!weights) throw new QuantLabError("BAD_ARGUMENT", "--weights W.safetensors is required");
  if (!calib) throw new QuantLabError("BAD_ARGUMENT", "--calib X.safetensors (activations [tokens, in_features]) is required");
  if (!out) throw new QuantLabError("BAD_ARGUMENT", "--out Q.safetensors is required");
  // both files at once: the reads wait on the disk, not on each other
  const [[name, W], [, X]] = await Promise.all([
    readMatrix(weights, str(p, "tensor"), "weight"), readMatrix(calib, str(p, "calib-tensor"), "calibration input"),
  ]);
  if (X.cols !== W.cols) {
    throw new QuantLabError("BAD_SHAPE", `calibration X is [${X.rows}, ${X.cols}] but W '${name}' is [${W.rows}, ${W.cols}]: X must be [tokens, ${W.cols}]`);
  }
  const gsv = str(p, "group-size");
  const groupSize = gsv === undefined ? 128 : gsv === "channel" ? "channel" : num("group-size", gsv);
  return { name, W, X, out, bits: num("bits", str(p, "bits"), 4), groupSize };
}

/** Codes as bytes: TypedArray.set converts in one native pass (TypedArray.from iterates, ≈ 10× slower at 4096²). */
function narrow(codes: ArrayLike<number>, signed: boolean): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(codes.length) : new Uint8Array(codes.length);
  out.set(codes);
  return out;
}

/**
 * Starts loading an algorithm module while the inputs are read (the import is compile work on this
 * thread, the reads wait on the disk); a failure surfaces where it is awaited, never as an unhandled rejection.
 */
export function preload<T>(load: () => Promise<T>): Promise<T> {
  const m = load();
  m.catch(() => {});
  return m;
}

/** Writes the contract's tensors and prints the JSON object (or a line of text). */
export async function writeResult(
  p: Parsed, method: string, inp: Inputs,
  q: GroupQuantized,
  report: { outputError?: number; mse: number; loss: number; seconds: number; backend: string },
  extra: Record<string, Tensor> = {},
): Promise<number> {
  const { W } = inp;
  const ng = q.scales.length / W.rows;
  const signed = q.spec.qmin < 0;
  const groupSize = groupLength(q.spec, W.rows, W.cols);
  await writeSafetensors(inp.out, {
    weight: { dtype: "F32", shape: [W.rows, W.cols], data: q.dequantized },
    codes: { dtype: signed ? "I8" : "U8", shape: [W.rows, W.cols], data: narrow(q.codes, signed) },
    scales: { dtype: "F32", shape: [W.rows, ng], data: q.scales },
    zeros: { dtype: "F32", shape: [W.rows, ng], data: q.zeros },
    ...extra,
  }, { method, spec: describeSpec(q.spec), groupSize: String(groupSize), source: inp.name });
  const j = { outputError: report.outputError ?? null, mse: report.mse, loss: report.loss, seconds: report.seconds, backend: report.backend };
  if (p.values.json) printJson(j);
  else {
    console.log(`${method} ${describeSpec(q.spec)} on '${inp.name}' [${W.rows} × ${W.cols}], ${inp.X.rows} tokens → ${inp.out}`);
    console.log(`output error ${j.outputError?.toExponential(3)}  MSE ${j.mse.toExponential(3)}  loss ${j.loss.toExponential(3)}  ${j.seconds.toFixed(2)} s on ${j.backend}`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const p = parse("gptq", argv, {
    ...COMMON, "act-order": { type: "boolean" }, "static-groups": { type: "boolean" }, "block-size": { type: "string" },
    percdamp: { type: "string" }, mse: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const alg = preload(() => import("../../algorithms/gptq.js"));
  const inp = await readInputs(p);
  const { gptq } = await alg;
  const g = await gptq(inp.W, inp.X, {
    bits: inp.bits, groupSize: inp.groupSize, scheme: schemeOf(p), actOrder: Boolean(p.values["act-order"]),
    staticGroups: Boolean(p.values["static-groups"]), blockSize: num("block-size", str(p, "block-size"), 128),
    percdamp: num("percdamp", str(p, "percdamp"), 0.01), mse: Boolean(p.values.mse), backend: str(p, "backend"),
  });
  for (const w of g.report.warnings) process.stderr.write(`quantlab gptq: ${w}\n`);
  return writeResult(p, "gptq", inp, g, g.report, { g_idx: { dtype: "I32", shape: [g.cols], data: g.gIdx } });
}
