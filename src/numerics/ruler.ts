/**
 * The notebook's ruler: a quantization spec you can fit to a row, apply to a row or matrix and explain,
 * with a display for each step. The arithmetic lives below it (spec.ts resolves the spec, affine.ts fits
 * and codes, rtn.ts quantizes); this module only puts a face on it.
 */
import { fitGroup, type GroupParams } from "./affine.js";
import type { Matrix } from "./matrix.js";
import { assertFinite } from "./metrics.js";
import { fmt, keyValueBundle, withDisplay } from "./present.js";
import { quantize, type Quantized } from "./rtn.js";
import { describeSpec, resolveSpec, specOf, type QuantSpec, type ResolvedSpec } from "./spec.js";

/** A fitted group's parameters, as `ruler(...).fit(row)` returns them. */
export interface Fit extends GroupParams {
  bits: number;
  qmin: number;
  qmax: number;
  zeroPoint: number;
}

/**
 * A quantization spec you can use on data: `fit` a row to see its scale and zero point, `quantize` to get
 * codes and the error report, `dequantize` for the reconstruction. Made by `ruler(spec)`.
 */
export interface Ruler {
  spec: ResolvedSpec;
  /** Scale, zero point, min and max of a row (one group: the ruler's granularity applies in quantize). */
  fit(row: ArrayLike<number>): Fit;
  /** Codes, dequantized values and the error report of a row or matrix. */
  quantize(x: Matrix | ArrayLike<number>): Quantized;
  /** The reconstruction x̂ of a row or matrix. */
  dequantize(x: Matrix | ArrayLike<number>): Float32Array;
}

/**
 * A ruler: a quantization spec you can fit, apply and explain. The course's INT8 example:
 * @example
 * ```ts
 * const row = [0.10, -0.30, 0.70, -1.00, 0.50];
 * const int8 = ruler({ bits: 8, scheme: "asymmetric" });
 * int8.fit(row).scale        // 1.70 / 255 = 0.0066667
 * int8.quantize(row).codes   // 165 for 0.10
 * const mine = ruler({ bits: 4, scheme: "symmetric", scale: (x) => Math.max(...x.map(Math.abs)) / 7 });
 * mine.quantize(row).report.maxError
 * ```
 */
export function ruler(spec: QuantSpec = {}): Ruler {
  const rs = resolveSpec(spec);
  const r: Ruler = {
    spec: rs,
    fit(row) {
      const data = row instanceof Float32Array ? row : Float32Array.from(row);
      assertFinite(data, "the row");
      const p = fitGroup(rs, data);
      const fit: Fit = { ...p, bits: rs.bits, qmin: rs.qmin, qmax: rs.qmax, zeroPoint: p.zero };
      return withDisplay(fit, () => keyValueBundle(`${describeSpec(rs)}: fitted`, [
        ["min", fmt(p.min)], ["max", fmt(p.max)], ["scale", fmt(p.scale)],
        ["zero point", fmt(p.zero)], ["codes", `${rs.qmin} … ${rs.qmax}`],
        ...(rs.grid ? [] : [["worst error (scale/2)", fmt(p.scale / 2)] as [string, string]]),
      ]));
    },
    quantize: (x) => quantize(x, { ...specOf(rs) }),
    dequantize: (x) => quantize(x, { ...specOf(rs) }).dequantized,
  };
  return withDisplay(r, () => keyValueBundle("ruler", [["spec", describeSpec(rs)], ["levels", String(rs.qmax - rs.qmin + 1)]]));
}
