/**
 * Rounding rules. QuantLab rounds half to even everywhere (numpy.round and torch.round do the same,
 * and so does the hardware's FP32 → FP16 conversion), so codes match the Python references.
 * llama.cpp's Q8_0 is the one place that rounds half away from zero (C's roundf): see `roundHalfAway`.
 */

/**
 * Round to nearest, ties to even: `roundHalfEven(2.5) === 2`, `roundHalfEven(3.5) === 4`.
 * The rule QuantLab, numpy and torch use, so codes match the Python references.
 * @example
 * ```ts
 * [0.5, 1.5, 2.5, -2.5].map(roundHalfEven)   // [0, 2, 2, -2]: ties go to the even neighbour
 * ```
 */
export function roundHalfEven(x: number): number {
  // Math.round breaks ties towards +∞; step back where that landed on an odd integer.
  const q = Math.round(x);
  return q - x === 0.5 && (q & 1) !== 0 ? q - 1 : q;
}

/**
 * Round to nearest, ties away from zero (C's roundf): `roundHalfAway(2.5) === 3`, `roundHalfAway(-2.5) === -3`.
 * llama.cpp's Q8_0 rounds this way; pass it as a spec's `round` to compare.
 * @example
 * ```ts
 * [0.5, 1.5, 2.5, -2.5].map(roundHalfAway)   // [1, 2, 3, -3]
 * ruler({ bits: 4, round: roundHalfAway }).quantize([0.1, -0.3, 0.7, -1, 0.5]).codes
 * ```
 */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * 1.5 · 2^52: for |v| < 2^51, (v + TIES_EVEN_SHIFT) − TIES_EVEN_SHIFT is v rounded to an integer, ties to
 * even, by the FPU's own rounding mode and with no branch: `roundHalfEven` in the form the hot RTN loops
 * inline. Larger |v| only happen for out-of-range codes, which those loops clamp.
 */
export const TIES_EVEN_SHIFT = 6755399441055744;

/** A rounding rule a learner can swap in: any function from a real to an integer. */
export type RoundingRule = (x: number) => number;

export const ROUNDING: Record<"half-even" | "half-away" | "floor" | "ceil" | "truncate", RoundingRule> = {
  "half-even": roundHalfEven,
  "half-away": roundHalfAway,
  floor: Math.floor,
  ceil: Math.ceil,
  truncate: Math.trunc,
};

export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
