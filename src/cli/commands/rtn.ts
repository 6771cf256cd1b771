import { parse, num, str, printJson } from "../args.js";
import { QuantLabError } from "../../errors.js";
import { writeSafetensors } from "../../io/safetensors.js";
import type { Tensor } from "../../io/tensor.js";
import { quantize } from "../../numerics/rtn.js";
import { describeSpec, type Scheme, type Convention } from "../../numerics/spec.js";
import type { GroupSize } from "../../numerics/granularity.js";
import { outputError } from "../../algorithms/hessian.js";
import { readMatrix } from "../matrix-file.js";
import { checkInput, checkOutput, finite } from "../paths.js";

export const summary = "round-to-nearest quantization of a weight matrix from a safetensors file";

const USAGE = `usage: quantlab rtn --weights W.safetensors [--tensor NAME] --bits 4 --group-size 128|channel|tensor
                    [--scheme asymmetric|symmetric] [--convention course|zero-point|gptq|awq] [--calib X.safetensors]
                    --out Q.safetensors [--force] [--json]
  W is [out_features, in_features] (F32, F16 or BF16). --out holds the dequantized weight in W's shape
  ("weight") plus "codes", "scales" and "zeros". --json prints {"mse","maxError","sqnrDb","seconds"} (and
  "outputError" = ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖² with --calib X [tokens, in_features]).`;


export function parseGroupSize(v: string | undefined, fallback: GroupSize): GroupSize {
  if (v === undefined) return fallback;
  if (v === "channel" || v === "tensor") return v;
  return num("group-size", v);
}

export async function run(argv: string[]): Promise<number> {
  const p = parse("rtn", argv, {
    weights: { type: "string" }, tensor: { type: "string" }, bits: { type: "string" }, "group-size": { type: "string" },
    scheme: { type: "string" }, convention: { type: "string" }, calib: { type: "string" }, out: { type: "string" }, json: { type: "boolean" },
    force: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const weights = str(p, "weights");
  const out = str(p, "out");
  if (!weights) throw new QuantLabError("BAD_ARGUMENT", "--weights W.safetensors is required");
  if (!out) throw new QuantLabError("BAD_ARGUMENT", "--out Q.safetensors is required");
  const calib = str(p, "calib");
  checkInput("--weights", weights);
  if (calib) checkInput("--calib", calib);
  checkOutput("--out", out, { inputs: calib ? [weights, calib] : [weights], force: p.values.force === true });
  const [name, W] = await readMatrix(weights, str(p, "tensor"), "weight");
  const scheme = (str(p, "scheme") ?? "asymmetric") as Scheme;
  const q = quantize(W, {
    bits: num("bits", str(p, "bits"), 4),
    scheme,
    convention: (str(p, "convention") ?? (scheme === "symmetric" ? "course" : "zero-point")) as Convention,
    groupSize: parseGroupSize(str(p, "group-size"), 128),
  });
  const bad = q.dequantized.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0 || q.scales.some((v) => !Number.isFinite(v))) {
    throw new QuantLabError("NUMERICAL", `rtn on '${name}' of ${weights} gives non-finite ${bad >= 0 ? `weights (index ${bad}: ${q.dequantized[bad]})` : "scales"}: its values reach ${Math.max(...W.data.slice(0, 1 << 16).map(Math.abs)).toExponential(2)} or more, where a scale overflows FP32; rescale the weights, or use --scheme symmetric on a smaller range`);
  }
  const X = calib ? (await readMatrix(calib, undefined, "calibration input"))[1] : undefined;
  if (X) {
    const i = X.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new QuantLabError("BAD_VALUE", `--calib ${calib} holds ${X.data[i]} at row ${Math.floor(i / X.cols)}, column ${i % X.cols}: calibration activations must be finite numbers`);
  }
  const outErr = X ? finite(await outputError(X, W, q.dequantized), "the output error", "the activations overflow FP32 in X·Wᵀ: rescale the calibration input") : undefined;
  const groups = q.scales.length;
  const tensors: Record<string, Tensor> = {
    weight: { dtype: "F32", shape: [W.rows, W.cols], data: q.dequantized },
    codes: { dtype: q.spec.qmin < 0 ? "I8" : "U8", shape: [W.rows, W.cols], data: q.spec.qmin < 0 ? Int8Array.from(q.codes) : Uint8Array.from(q.codes) },
    scales: { dtype: "F32", shape: q.groupsPerRow ? [W.rows, q.groupsPerRow] : [groups], data: q.scales },
    zeros: { dtype: "F32", shape: q.groupsPerRow ? [W.rows, q.groupsPerRow] : [groups], data: q.zeros },
  };
  await writeSafetensors(out, tensors, { method: "rtn", spec: describeSpec(q.spec), source: `${weights}:${name}` });
  const r = q.report;
  const result = { mse: r.mse, maxError: r.maxError, sqnrDb: r.sqnrDb, seconds: r.seconds ?? 0, ...(outErr === undefined ? {} : { outputError: outErr }) };
  if (p.values.json) printJson(result);
  else {
    console.log(`${describeSpec(q.spec)} on '${name}' [${W.rows} × ${W.cols}] → ${out}`);
    console.log(`MSE ${r.mse.toExponential(3)}  max error ${r.maxError.toExponential(3)}  SQNR ${r.sqnrDb.toFixed(2)} dB  ${r.bitsPerWeight.toFixed(3)} bits/weight  ${(r.seconds ?? 0).toFixed(3)} s` +
      (outErr === undefined ? "" : `  output error ${outErr.toExponential(3)}`));
  }
  return 0;
}
