/**
 * Element formats a KV cache can be stored in, as the KV study needs them: the range a group's absmax
 * is scaled onto and the rounding onto the format's grid, both from the numeric core's format table
 * (so FP8 here is bit-for-bit the course's FP8). Integer caches are symmetric (codes −max … max,
 * zero point 0); FP8 saturates at its largest finite value, as engines' FP8 caches do. UINT4 / UINT2
 * are asymmetric (min–max per group with a zero point, codes 0 … 2^b − 1), as KIVI stores its cache.
 */
import { QuantLabError } from "../../errors.js";
import { format } from "../../numerics/formats.js";
import { clamp, roundHalfEven } from "../../numerics/round.js";

export interface ElementFormat {
  name: string;
  bits: number;
  /** Largest representable magnitude on the unscaled grid. */
  maxValue: number;
  /** Nearest grid value of x (x already divided by the scale; for asymmetric ones, shifted by the group's min). */
  round(x: number): number;
  /** Codes 0 … maxValue over [min, max] of each group, so each group also stores a zero point. */
  asymmetric?: boolean;
}

const NAMES: Record<string, string> = {
  INT8: "int8", INT4: "int4", INT2: "int2", UINT4: "uint4", UINT2: "uint2", FP8_E4M3: "fp8-e4m3", FP8_E5M2: "fp8-e5m2",
};
export const KV_FORMATS = Object.keys(NAMES);

export function elementFormat(name: string): ElementFormat {
  const key = name.toUpperCase().replace("-", "_");
  const fname = NAMES[key === "FP8" ? "FP8_E4M3" : key];
  if (!fname) throw new QuantLabError("BAD_ARGUMENT", `unknown KV cache format '${name}': use one of ${KV_FORMATS.join(", ")}`);
  const f = format(fname);
  if (f.kind === "int" && f.min === 0) {
    const q = f.max;
    return { name: key, bits: f.bits, maxValue: q, asymmetric: true, round: (x) => clamp(roundHalfEven(x), 0, q) };
  }
  if (f.kind === "int") {
    const q = f.max;
    return { name: key, bits: f.bits, maxValue: q, round: (x) => clamp(roundHalfEven(x), -q, q) };
  }
  return { name: key, bits: f.bits, maxValue: f.max, round: (x) => f.round(x, "saturate") };
}
