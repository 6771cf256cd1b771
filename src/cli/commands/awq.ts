/**
 * `quantlab awq`: AWQ of one weight matrix from safetensors, with calibration activations X. The output
 * weight is the effective Q(W·s)/s (scales folded back), so X·Qᵀ compares directly with X·Wᵀ; "codes",
 * "scales", "zeros" quantize W·s, and "input_scales" is s (what the previous operation divides by).
 */
import { parse, num, str, type Parsed } from "../args.js";
import { COMMON, preload, readInputs, schemeOf, writeResult } from "./gptq.js";

export const summary = "AWQ (activation-aware scales + clip search) of a weight matrix (safetensors in and out)";

const USAGE = `usage: quantlab awq --weights W.safetensors --calib X.safetensors [--tensor NAME] [--calib-tensor NAME]
                    --bits 4 --group-size 128|channel [--sym] [--no-clip] [--duo] [--grid 20] [--search-tokens 512]
                    [--backend wasm|cpu|webgpu|tensorflow] --out Q.safetensors [--json]
  W is [out_features, in_features], X is [tokens, in_features] (F32, F16 or BF16). --out holds "weight" (the
  effective dequantized weight Q(W·s)/s in W's shape), "codes", "scales", "zeros" (of W·s) and "input_scales" s.
  --json prints {"outputError","mse","loss","seconds","backend"}; outputError = ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖².`;

function tokens(p: Parsed, name: string): number | undefined {
  const v = str(p, name);
  return v === undefined ? undefined : v === "all" ? Infinity : num(name, v);
}

export async function run(argv: string[]): Promise<number> {
  const p = parse("awq", argv, {
    ...COMMON, "no-clip": { type: "boolean" }, duo: { type: "boolean" }, grid: { type: "string" },
    "search-tokens": { type: "string" }, "clip-tokens": { type: "string" },
  }, USAGE);
  if (!p) return 0;
  const alg = preload(() => import("../../algorithms/awq.js"));
  const inp = await readInputs(p);
  const { awq } = await alg;
  const a = await awq(inp.W, inp.X, {
    bits: inp.bits, groupSize: inp.groupSize, scheme: schemeOf(p), clip: !p.values["no-clip"], duo: Boolean(p.values.duo),
    grid: num("grid", str(p, "grid"), 20), searchTokens: tokens(p, "search-tokens"), clipTokens: tokens(p, "clip-tokens"), backend: str(p, "backend"),
  });
  return writeResult(p, "awq", inp, a, a.report, { input_scales: { dtype: "F32", shape: [a.cols], data: a.inputScales } });
}
