/**
 * The spec vocabulary and its resolution: what `bits`, `groupSize`, `scheme`, `format`, `round`, `scale`
 * and `zeroPoint` mean, the defaults a short spec stands for, and the checks every quantizer relies on.
 * Every quantizer (RTN, the ruler, GPTQ, AWQ, the model workflow, the CLI) takes these names and resolves a
 * spec once, here, with its true granularity.
 *
 * Conventions (the `convention` option; REFERENCE.md §1, §4, §5):
 *   "course"      asymmetric min–max as the course writes it: scale = (max − min)/(2^b − 1),
 *                 q = round((x − min)/scale), x̂ = min + q·scale.
 *   "zero-point"  the integer-zero-point form: zero = round(−min/scale), q = clamp(round(x/scale) + zero),
 *                 x̂ = (q − zero)·scale. Differs from "course" when −min/scale is not an integer.
 *   "gptq"        GPTQ's quantizer: the range always includes 0; symmetric puts zero = (maxq + 1)/2.
 *   "awq"         AWQ's: zero-point form, range not forced to include 0, range clamped to ≥ 1e-5.
 * Symmetric (absmax) under "course"/"zero-point": scale = max|x| / (2^(b−1) − 1), signed codes, zero 0.
 * Non-uniform grids (NF4, FP4, FP8, a custom codebook): scale = max|x| / max|grid| per group, the code is
 * the nearest grid value of x/scale.
 * Rounding is half to even unless the spec passes its own `round`.
 */
import { check } from "../errors.js";
import { format as lookupFormat, type CodebookFormatName, type FormatName, type IntFormatName } from "./formats.js";
import { describeGranularity, granularity, type Granularity, type GroupSize } from "./granularity.js";
import { roundHalfEven, type RoundingRule } from "./round.js";

/**
 * How a group's range maps onto the codes: "asymmetric" (min–max, with a zero point) or "symmetric"
 * (absmax, centred on 0, no zero point). Asymmetric wastes no codes on a skewed group; symmetric is
 * cheaper to store and to multiply.
 */
export type Scheme = "asymmetric" | "symmetric";
/**
 * Whose formulas the ruler uses for scale and zero point: "course" (the course's min–max form, the
 * default), "zero-point" (an integer zero point), "gptq" or "awq" (the papers' code, to match their codes
 * bit for bit). They differ in small details, such as whether the range must include 0.
 */
export type Convention = "course" | "zero-point" | "gptq" | "awq";

export interface ScaleContext {
  bits: number;
  /** Smallest and largest code of the grid. */
  qmin: number;
  qmax: number;
  scheme: Scheme;
}
/** A learner's own scale formula: values of one group → the scale. */
export type ScaleRule = (x: Float32Array, ctx: ScaleContext) => number;
/** A learner's own zero-point formula: values of one group and its scale → the zero point. */
export type ZeroPointRule = (x: Float32Array, scale: number, ctx: ScaleContext) => number;

/**
 * The options of a quantizer: bits, scheme, format, granularity, and your own scale, zero-point or
 * rounding rule. Every field has a default (8-bit asymmetric, one scale per tensor, round half to even),
 * so `{ bits: 4, groupSize: 128 }` is a complete spec. `ruler`, `quantize` and the sweeps all take one.
 */
export type QuantSpec = IntQuantSpec | GridQuantSpec;

/** Options every spec shares, whatever its grid. */
export interface QuantSpecCommon {
  /** Which weights share a scale: a group length, "channel", "tensor" or a Granularity (default "tensor"). */
  groupSize?: GroupSize | Granularity;
  /** Let the last group of a row be shorter when the group size does not divide the row. */
  pad?: boolean;
  /** Your scale formula (replaces the convention's). */
  scale?: ScaleRule;
  /** Your rounding rule (default round half to even). */
  round?: RoundingRule;
  /** Bits stored per scale (default 16: an FP16 scale). */
  scaleBits?: number;
}

/** A uniform integer grid: INT-b codes with a scale and (asymmetric) a zero point. */
export interface IntQuantSpec extends QuantSpecCommon {
  /** "int" (the default), or an integer format name such as "int4" or "uint8" (which sets the bits). */
  format?: "int" | IntFormatName;
  /** Bits per code, 2–8 (default 8). */
  bits?: number;
  /** "asymmetric" (min–max, default) or "symmetric" (absmax). */
  scheme?: Scheme;
  /** Whose formulas (default "course"); see the module comment. */
  convention?: Convention;
  /** Your zero-point formula (zero-point conventions only). */
  zeroPoint?: ZeroPointRule;
  /** Bits stored per zero point (default: `bits` for asymmetric grids, 0 for symmetric). */
  zeroBits?: number;
}

/**
 * A non-uniform grid scaled by absmax: NF4, FP4, FP8 or your own codebook. These have no zero point,
 * so `scheme: "asymmetric"` or a `zeroPoint` rule here is a type error.
 */
export interface GridQuantSpec extends QuantSpecCommon {
  /** "nf4", "fp4-bnb", "fp8-e4m3", "fp8-e5m2", "fp4-e2m1", or your own codebook values. */
  format: CodebookFormatName | "fp8-e4m3" | "fp8-e5m2" | "fp4-e2m1" | readonly number[];
  /** Only for a custom codebook: bits per code to count in storage (default ceil(log2(length))). */
  bits?: number;
  /** Always "symmetric" here: the grid is scaled by absmax. */
  scheme?: "symmetric";
  convention?: never;
  zeroPoint?: never;
  zeroBits?: never;
}

export interface ResolvedSpec {
  bits: number;
  scheme: Scheme;
  convention: Convention;
  /** null for the uniform integer grid; else the grid's values (a codebook or a float format's finite values). */
  grid: Float64Array | null;
  gridName: string;
  gridMax: number;
  granularity: Granularity;
  pad: boolean;
  qmin: number;
  qmax: number;
  scale: ScaleRule | undefined;
  zeroPoint: ZeroPointRule | undefined;
  round: RoundingRule;
  /** true when no user formula is set, so the fast loops apply. */
  builtin: boolean;
  scaleBits: number;
  zeroBits: number;
}

function floatGrid(name: FormatName): Float64Array {
  const f = lookupFormat(name);
  const values = new Set<number>();
  const limit = f.kind === "codebook" ? 16 : 2 ** f.bits;
  for (let c = 0; c < limit; c++) {
    const v = f.decode(c);
    if (Number.isFinite(v)) values.add(v === 0 ? 0 : v);
  }
  return Float64Array.from([...values].sort((a, b) => a - b));
}

/**
 * Fills in the defaults of a QuantSpec and checks it; every quantizer starts here.
 * Use it to see what a short spec means in full, e.g. the code range.
 * @example
 * ```ts
 * const rs = resolveSpec({ bits: 4 });
 * [rs.qmin, rs.qmax, rs.scheme]                           // [0, 15, "asymmetric"]
 * resolveSpec({ bits: 4, scheme: "symmetric" }).qmin      // -8
 * ```
 */
export function resolveSpec(spec: QuantSpec = {}): ResolvedSpec {
  const fmtOpt = spec.format ?? "int";
  let grid: Float64Array | null = null;
  let gridName = "int";
  let bits = spec.bits ?? 8;
  if (Array.isArray(fmtOpt) || ArrayBuffer.isView(fmtOpt)) {
    const arr = Array.from(fmtOpt as readonly number[]);
    check(arr.length >= 2 && arr.every(Number.isFinite), "BAD_ARGUMENT", "a codebook needs at least two finite values, e.g. [-1, -0.5, 0, 0.5, 1]");
    grid = Float64Array.from(arr);
    gridName = `codebook(${arr.length})`;
    bits = spec.bits ?? Math.ceil(Math.log2(arr.length));
  } else if (fmtOpt !== "int") {
    const f = lookupFormat(fmtOpt as string);
    if (f.kind === "int") {
      bits = f.bits;
    } else {
      check(f.kind !== "block", "BAD_ARGUMENT", `${f.name} carries its own block scales: use blockQuantize("${f.name}", row) instead of a ruler`);
      check(f.name !== "fp32" && f.name !== "fp16" && f.name !== "bf16", "BAD_ARGUMENT",
        `${f.name} needs no scale: use castTo("${f.name}", values) to round into it`);
      grid = floatGrid(f.name);
      gridName = f.name;
      bits = f.bits;
    }
  }
  check(Number.isInteger(bits) && bits >= 2 && bits <= 8, "BAD_ARGUMENT", `bits must be an integer from 2 to 8, got ${bits}: use 4 for INT4, 8 for INT8`);
  const scheme = spec.scheme ?? (grid ? "symmetric" : "asymmetric");
  check(scheme === "asymmetric" || scheme === "symmetric", "BAD_ARGUMENT", `scheme must be "asymmetric" or "symmetric", got ${String(scheme)}`);
  if (grid) {
    check(scheme === "symmetric", "BAD_ARGUMENT", `${gridName} is scaled by absmax and has no zero point: use scheme "symmetric" (the default for ${gridName})`);
    check(!spec.zeroPoint, "BAD_ARGUMENT", `${gridName} has no zero point: drop the zeroPoint rule`);
  }
  const convention = spec.convention ?? "course";
  check(["course", "zero-point", "gptq", "awq"].includes(convention), "BAD_ARGUMENT",
    `convention must be "course", "zero-point", "gptq" or "awq", got ${String(convention)}`);
  let qmin: number;
  let qmax: number;
  if (grid) {
    qmin = 0;
    qmax = grid.length - 1;
  } else if (scheme === "asymmetric" || convention === "gptq") {
    qmin = 0;
    qmax = 2 ** bits - 1;
  } else {
    qmin = -(2 ** (bits - 1));
    qmax = 2 ** (bits - 1) - 1;
  }
  let gridMax = 0;
  if (grid) for (const v of grid) gridMax = Math.max(gridMax, Math.abs(v));
  const asymInt = !grid && scheme === "asymmetric";
  return {
    bits, scheme, convention, grid, gridName, gridMax,
    granularity: granularity(spec.groupSize),
    pad: spec.pad ?? false, qmin, qmax,
    scale: spec.scale, zeroPoint: spec.zeroPoint, round: spec.round ?? roundHalfEven,
    builtin: !spec.scale && !spec.zeroPoint && !spec.round,
    scaleBits: spec.scaleBits ?? 16,
    zeroBits: spec.zeroBits ?? (asymInt || (convention === "gptq" && !grid) ? bits : 0),
  };
}

/** Storage per weight: the code bits plus each group's scale and zero point spread over its weights. */
export function bitsPerWeight(rs: ResolvedSpec, weightsPerGroup: number): number {
  return rs.bits + (rs.scaleBits + rs.zeroBits) / weightsPerGroup;
}

/**
 * Nominal weights per group of a rows × cols matrix under the spec's granularity (a padded row's last
 * group may be shorter): what `bitsPerWeight` spreads a group's scale and zero point over.
 * @example
 * ```ts
 * groupLength(resolveSpec({ bits: 4, groupSize: 128 }), 4096, 4096)       // 128
 * groupLength(resolveSpec({ bits: 4, groupSize: "channel" }), 4096, 4096) // 4096
 * ```
 */
export function groupLength(rs: ResolvedSpec, rows: number, cols: number): number {
  const g = rs.granularity;
  switch (g.kind) {
    case "tensor": return rows * cols;
    case "channel": return cols;
    case "group": return g.size;
    case "block": return g.rows * g.cols;
  }
}

/**
 * A resolved spec in one line of course language, as tables and reports title it.
 * @example
 * ```ts
 * describeSpec(resolveSpec({ bits: 4, groupSize: 128 }))      // "INT4 asymmetric (course), per group of 128"
 * describeSpec(resolveSpec({ format: "nf4", groupSize: 64 })) // "NF4 absmax, per group of 64"
 * ```
 */
export function describeSpec(rs: ResolvedSpec): string {
  const grid = rs.grid ? rs.gridName.toUpperCase() : `INT${rs.bits}`;
  const conv = rs.grid ? "absmax" : rs.scheme === "symmetric" ? `symmetric (${rs.convention})` : `asymmetric (${rs.convention})`;
  return `${grid} ${conv}, ${describeGranularity(rs.granularity)}`;
}

/** Back from a resolved spec to the options that produce it (for re-use with other data). */
export function specOf(rs: ResolvedSpec): QuantSpec {
  const common = {
    groupSize: rs.granularity, pad: rs.pad, scaleBits: rs.scaleBits,
    ...(rs.scale ? { scale: rs.scale } : {}), ...(rs.builtin ? {} : { round: rs.round }),
  };
  if (rs.grid) {
    const format = rs.gridName.startsWith("codebook") ? Array.from(rs.grid) : (rs.gridName as GridQuantSpec["format"]);
    return { ...common, format, bits: rs.bits, scheme: "symmetric" };
  }
  return {
    ...common, format: "int", bits: rs.bits, scheme: rs.scheme, convention: rs.convention, zeroBits: rs.zeroBits,
    ...(rs.zeroPoint ? { zeroPoint: rs.zeroPoint } : {}),
  };
}

