/**
 * What GPTQ and AWQ share before they differ: the spec of one linear layer, in the vocabulary every
 * QuantLab function uses (`bits`, `groupSize`, `scheme`, `scale`, `zeroPoint`, `round`), its checks, and
 * its resolution — once, with the group size as its true granularity — so both name a bad group size the
 * same way and both hand every rounding decision to the same affine primitives.
 */
import { check } from "../errors.js";
import { groupLength, resolveSpec, type IntQuantSpec, type ResolvedSpec } from "../numerics/spec.js";

/** The quantizer options of gptq() and awq(). */
export interface LayerQuantOptions extends Pick<IntQuantSpec, "scheme" | "scale" | "zeroPoint" | "round"> {
  /** Bits per code, 2–8 (default 4). */
  bits?: number;
  /** Weights per group along a row, or "channel" (default 128). */
  groupSize?: number | "channel";
  /** Allow a group size that does not divide in_features (the last group of a row is shorter). */
  pad?: boolean;
  /**
   * "asymmetric" (the default: a zero point per group) or "symmetric" (GPTQ puts zero = (maxq + 1)/2,
   * AWQ scales by absmax with zero 0).
   */
  scheme?: IntQuantSpec["scheme"];
  /** tfjs backend ("wasm", "cpu", "webgpu", "tensorflow"); default: the one running or QUANTLAB_BACKEND. */
  backend?: string;
  /** Skip the output-error report (it costs two tokens × in × out products). */
  skipOutputError?: boolean;
}

/**
 * The resolved spec of a layer with `cols` inputs under GPTQ's or AWQ's convention, and its group length
 * (the whole row per channel).
 */
export function layerSpec(cols: number, opts: LayerQuantOptions, convention: "gptq" | "awq"): { rs: ResolvedSpec; gs: number } {
  const gsOpt = opts.groupSize ?? 128;
  check(gsOpt === "channel" || (Number.isInteger(gsOpt) && gsOpt > 0), "BAD_ARGUMENT", `group size must be a positive integer or "channel", got ${String(gsOpt)}`);
  const gs = gsOpt === "channel" ? cols : gsOpt;
  check(opts.pad || cols % gs === 0, "BAD_ARGUMENT",
    `group size ${gs} does not divide in_features ${cols}: use a divisor of ${cols} (e.g. ${[32, 64, 128].filter((d) => cols % d === 0).join(", ") || "channel"}), "channel", or pad: true`);
  const rs = resolveSpec({
    bits: opts.bits ?? 4, scheme: opts.scheme ?? "asymmetric", convention, groupSize: gsOpt, pad: opts.pad ?? false,
    ...(opts.scale ? { scale: opts.scale } : {}), ...(opts.zeroPoint ? { zeroPoint: opts.zeroPoint } : {}), ...(opts.round ? { round: opts.round } : {}),
  });
  return { rs, gs: groupLength(rs, 1, cols) };
}
