/**
 * `explain`: the hand arithmetic for one element, written the way the course text writes it, so a
 * learner can check each step with a calculator. Plain text, Markdown and LaTeX.
 */
import { check } from "../errors.js";
import { assertFinite } from "./metrics.js";
import { withDisplay, type Bundle } from "./present.js";
import { decode, encode, fitGroup } from "./affine.js";
import type { Ruler } from "./ruler.js";
import { resolveSpec, type QuantSpec } from "./spec.js";

export interface Explanation {
  x: number;
  code: number;
  xHat: number;
  error: number;
  /** Lines of arithmetic, plain text. */
  steps: string[];
  /** The same, LaTeX (one aligned block). */
  latex: string;
}

const n = (v: number, d = 7) => {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const s = a >= 1e-3 && a < 1e5 ? Number(v.toPrecision(d)).toString() : v.toExponential(d - 1);
  return s;
};
const neg = (v: number) => (v < 0 ? `(${n(v)})` : n(v));
/** A number for LaTeX: `2.514571 \times 10^{-8}`, not `2.514571e-8` (which TeX sets as an italic e). */
const tn = (v: number, d = 7) => {
  const s = n(v, d);
  const m = /^(-?[\d.]+)e([+-]\d+)$/.exec(s);
  return m ? `${m[1]!.replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "")} \\times 10^{${Number(m[2])}}` : s;
};
const tneg = (v: number) => (v < 0 ? `(${tn(v)})` : tn(v));

/**
 * Writes out how element `index` of `row` is quantized and reconstructed (one group: the whole row).
 * @example
 * ```ts
 * explain(ruler({ bits: 8 }), [0.10, -0.30, 0.70, -1.00, 0.50], 0)
 * // scale = (0.7 − (−1)) / 255 = 0.006666667; q = round(1.1 / 0.006666667) = 165; x̂ = 0.1
 * ```
 */
export function explain(r: Ruler | QuantSpec, row: ArrayLike<number>, index = 0): Explanation {
  const rs = "spec" in r && typeof (r as Ruler).fit === "function" ? (r as Ruler).spec : resolveSpec(r as QuantSpec);
  const data = Float32Array.from(row);
  assertFinite(data, "the row");
  check(Number.isInteger(index) && index >= 0 && index < data.length, "BAD_ARGUMENT", `index ${index} is outside the row of ${data.length}: use 0 … ${data.length - 1}`);
  const p = fitGroup(rs, data);
  const x = data[index]!;
  const q = encode(rs, x, p);
  const xHat = decode(rs, q, p);
  const steps: string[] = [];
  const tex: string[] = [];
  const levels = rs.qmax - rs.qmin;
  steps.push(`x = ${n(x)}   (element ${index}; row min = ${n(p.min)}, max = ${n(p.max)}; ${rs.bits} bits)`);
  if (rs.grid) {
    steps.push(`scale = max|x| / max|grid| = ${n(Math.max(Math.abs(p.min), Math.abs(p.max)))} / ${n(rs.gridMax)} = ${n(p.scale)}`);
    steps.push(`x / scale = ${n(x / p.scale)} → nearest ${rs.gridName} value ${n(rs.grid[q]!)} (code ${q})`);
    steps.push(`x̂ = ${n(rs.grid[q]!)} · ${n(p.scale)} = ${n(xHat)}`);
    tex.push(`s &= \\frac{\\max|x|}{\\max|g|} = \\frac{${tn(Math.max(Math.abs(p.min), Math.abs(p.max)))}}{${tn(rs.gridMax)}} = ${tn(p.scale)}`,
      `x/s &= ${tn(x / p.scale)} \\;\\rightarrow\\; g_{${q}} = ${tn(rs.grid[q]!)}`,
      `\\hat{x} &= g_q \\cdot s = ${tn(rs.grid[q]!)} \\cdot ${tn(p.scale)} = ${tn(xHat)}`);
  } else if (rs.scheme === "asymmetric" && rs.convention === "course" && !rs.scale) {
    const t = (x - p.min) / p.scale;
    steps.push(`scale = (max − min) / (2^${rs.bits} − 1) = ${n(p.max - p.min)} / ${levels} = ${n(p.scale)}`);
    steps.push(`q = round((x − min) / scale) = round(${n(x - p.min)} / ${n(p.scale)}) = round(${n(t, 6)}) = ${q}`);
    steps.push(`x̂ = min + q · scale = ${n(p.min)} + ${q} · ${n(p.scale)} = ${n(xHat)}`);
    tex.push(`s &= \\frac{x_{\\max} - x_{\\min}}{2^{${rs.bits}} - 1} = \\frac{${tn(p.max - p.min)}}{${levels}} = ${tn(p.scale)}`,
      `q &= \\operatorname{round}\\left(\\frac{x - x_{\\min}}{s}\\right) = \\operatorname{round}\\left(\\frac{${tn(x - p.min)}}{${tn(p.scale)}}\\right) = \\operatorname{round}(${tn(t, 6)}) = ${q}`,
      `\\hat{x} &= x_{\\min} + q\\,s = ${tn(p.min)} + ${q} \\cdot ${tn(p.scale)} = ${tn(xHat)}`);
  } else {
    const how = rs.scale ? "your scale rule" : rs.scheme === "symmetric" && rs.convention !== "gptq"
      ? `max|x| / (2^${rs.bits - 1} − 1) = ${n(Math.max(Math.abs(p.min), Math.abs(p.max)))} / ${rs.qmax}`
      : rs.convention === "gptq" ? `(max(max,0) − min(min,0)) / ${rs.qmax}` : `(max − min) / ${rs.qmax}`;
    steps.push(`scale = ${how} = ${n(p.scale)}`);
    if (p.zero !== 0) steps.push(`zero point = round(−min / scale) = round(${n(-p.min / p.scale, 6)}) = ${n(p.zero)}`);
    const t = x / p.scale;
    steps.push(`q = clamp(round(x / scale) + zero, ${rs.qmin}, ${rs.qmax}) = clamp(round(${n(t, 6)}) + ${n(p.zero)}) = ${q}`);
    steps.push(`x̂ = (q − zero) · scale = (${q} − ${neg(p.zero)}) · ${n(p.scale)} = ${n(xHat)}`);
    const texHow = rs.scale ? `\\text{your scale rule}` : rs.scheme === "symmetric" && rs.convention !== "gptq"
      ? `\\frac{\\max|x|}{2^{${rs.bits - 1}} - 1} = \\frac{${tn(Math.max(Math.abs(p.min), Math.abs(p.max)))}}{${rs.qmax}}`
      : rs.convention === "gptq" ? `\\frac{\\max(x_{\\max}, 0) - \\min(x_{\\min}, 0)}{${rs.qmax}}` : `\\frac{x_{\\max} - x_{\\min}}{${rs.qmax}}`;
    tex.push(`s &= ${texHow} = ${tn(p.scale)}`);
    if (p.zero !== 0) tex.push(`z &= \\operatorname{round}(-x_{\\min}/s) = \\operatorname{round}(${tn(-p.min / p.scale, 6)}) = ${tn(p.zero)}`);
    tex.push(`q &= \\operatorname{clamp}(\\operatorname{round}(x/s) + z,\\ ${rs.qmin},\\ ${rs.qmax}) = \\operatorname{clamp}(\\operatorname{round}(${tn(t, 6)}) + ${tn(p.zero)}) = ${q}`,
      `\\hat{x} &= (q - z)\\,s = (${q} - ${tneg(p.zero)}) \\cdot ${tn(p.scale)} = ${tn(xHat)}`);
  }
  const error = Math.abs(x - xHat);
  steps.push(rs.grid ? `error = |x − x̂| = ${n(error)}` : `error = |x − x̂| = ${n(error)}  ≤  scale / 2 = ${n(p.scale / 2)}`);
  tex.unshift(`x &= ${tn(x)} \\quad (\\text{element ${index}; } x_{\\min} = ${tn(p.min)},\\ x_{\\max} = ${tn(p.max)};\\ ${rs.bits}\\text{ bits})`);
  tex.push(rs.grid ? `|x - \\hat{x}| &= ${tn(error)}` : `|x - \\hat{x}| &= ${tn(error)} \\le s/2 = ${tn(p.scale / 2)}`);
  const latex = `\\begin{aligned}\n${tex.join(" \\\\\n")}\n\\end{aligned}`;
  const result: Explanation = { x, code: q, xHat, error, steps, latex };
  return withDisplay(result, (): Bundle => ({
    "text/plain": steps.join("\n"),
    "text/markdown": `$$\n${latex}\n$$`,
    "text/latex": `$$${latex}$$`,
  }));
}
