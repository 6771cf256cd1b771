/**
 * What GPTQ and AWQ share before they differ: the grid options of one linear layer and their checks, so
 * both name a bad group size the same way and both hand every rounding decision to the same ruler.
 */
import { check } from "../errors.js";
import { resolveSpec, type QuantSpec, type ResolvedSpec, type Scheme } from "../numerics/ruler.js";

/** The quantizer options of gptq() and awq(). */
export interface LayerQuantOptions {
  /** Bits per code, 2–8 (default 4). */
  bits?: number;
  /** Weights per group along a row, or "channel" (default 128). */
  groupSize?: number | "channel";
  /** Allow a group size that does not divide in_features (the last group of a row is shorter). */
  pad?: boolean;
  /** Symmetric grid (GPTQ: zero = (maxq + 1)/2) instead of the asymmetric zero-point one (default false). */
  sym?: boolean;
  /** The same choice under the name every other QuantLab function uses: "symmetric" or "asymmetric" (wins over `sym`). */
  scheme?: Scheme;
  /** Your own scale / zero-point / rounding rules, passed to the ruler. */
  spec?: Pick<QuantSpec, "scale" | "zeroPoint" | "round">;
  /** tfjs backend ("wasm", "cpu", "webgpu", "tensorflow"); default: the one running or QUANTLAB_BACKEND. */
  backend?: string;
  /** Skip the output-error report (it costs two tokens × in × out products). */
  skipOutputError?: boolean;
}

/** The group length for a layer of `cols` inputs and the ruler under GPTQ's or AWQ's convention. */
export function layerSpec(cols: number, opts: LayerQuantOptions, convention: "gptq" | "awq"): { gs: number; rs: ResolvedSpec } {
  const gsOpt = opts.groupSize ?? 128;
  const gs = gsOpt === "channel" ? cols : gsOpt;
  check(Number.isInteger(gs) && gs > 0, "BAD_ARGUMENT", `group size must be a positive integer or "channel", got ${String(gsOpt)}`);
  check(opts.pad || cols % gs === 0, "BAD_ARGUMENT",
    `group size ${gs} does not divide in_features ${cols}: use a divisor of ${cols} (e.g. ${[32, 64, 128].filter((d) => cols % d === 0).join(", ") || "channel"}), "channel", or pad: true`);
  const scheme = opts.scheme ?? (opts.sym ? "symmetric" : "asymmetric");
  const rs = resolveSpec({ bits: opts.bits ?? 4, scheme, convention, groupSize: "channel", ...opts.spec });
  return { gs, rs };
}
