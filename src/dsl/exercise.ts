/**
 * `check(...)`: the notebook's exercise checker. A learner computes a scale, a zero point or a code by
 * hand; check compares with the ruler's own answer and, when they differ, names the likely slip
 * (2^b instead of 2^b − 1, min–max instead of absmax, truncating instead of rounding …).
 */
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { QuantLabError } from "../errors.js";
import { explain } from "../numerics/explain.js";
import { ruler, type Ruler } from "../numerics/ruler.js";
import { resolveSpec, type QuantSpec } from "../numerics/spec.js";
import { kldVerdict, type KldComparison, type KldPrediction } from "./kld-exercise.js";

/** A learner's hand-computed answer for `check`: any of the scale, zero point, one code or its dequantized value. */
export interface Answer {
  scale?: number;
  zeroPoint?: number;
  /** The code of element `index`. */
  code?: number;
  /** The dequantized value of element `index`. */
  dequantized?: number;
}

/** The exercise an answer is checked against: a ruler (or its spec), the row, and which element's code is asked for. */
export interface Exercise {
  /** The ruler (or its spec) the learner was asked to apply. */
  ruler: Ruler | QuantSpec;
  row: readonly number[];
  /** The element whose code and reconstruction are asked for (default 0). */
  index?: number;
}

/** What `check` says: whether every answered quantity is right, and one line per quantity with the reason. */
export interface CheckResult {
  correct: boolean;
  /** One line per answered quantity: ✓ or ✗ with the reason. */
  lines: string[];
}

const close = (a: number, b: number, rel = 2e-3) => Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-12) + 1e-12;

function scaleHints(mine: number, bits: number, row: readonly number[]): string | undefined {
  const max = Math.max(...row);
  const min = Math.min(...row);
  const amax = Math.max(Math.abs(max), Math.abs(min));
  // each hint says what the learner's number is, never a formula that could be read as the right answer
  const slips: [number, string][] = [
    [(max - min) / 2 ** bits, `your scale is (max − min) / 2^${bits}; divide by 2^${bits} − 1 instead: ${2 ** bits} levels have ${2 ** bits - 1} steps between them`],
    [(max - min) / (2 ** bits - 1), "your scale is the asymmetric (min–max) one, (max − min) / (2^b − 1); a symmetric ruler uses max|x| / (2^(b−1) − 1)"],
    [amax / (2 ** (bits - 1) - 1), "your scale is the symmetric (absmax) one, max|x| / (2^(b−1) − 1); an asymmetric ruler uses (max − min) / (2^b − 1)"],
    [amax / 2 ** (bits - 1), `your scale is max|x| / 2^${bits - 1}; divide by 2^${bits - 1} − 1 = ${2 ** (bits - 1) - 1} instead: the largest positive code is 2^${bits - 1} − 1`],
    [(max - min) / (2 ** (bits - 1) - 1), "your scale mixes the two rules: the min–max range over the symmetric code count"],
  ];
  return slips.find(([v]) => close(mine, v))?.[1];
}

/**
 * Checks a hand-computed answer against the ruler (or a KLD prediction against a study) and says what is right and, if not, why.
 * @example
 * ```ts
 * const row = [0.10, -0.30, 0.70, -1.00, 0.50];
 * check({ scale: 1.7 / 15, code: 10 }, { ruler: { bits: 4 }, row, index: 0 })   // INT4 asymmetric
 * // or a prediction: which of two quantizations of a study strays further from FP32?
 * check({ larger: "Q4_0" }, { study: [{ label: "Q4_0", kld: 0.02 }, { label: "RTN 4-bit g32", kld: 0.01 }], between: ["Q4_0", "RTN 4-bit g32"] })
 * ```
 */
export function check(answer: Answer | KldPrediction, exercise: Exercise | KldComparison): CheckResult {
  if ("between" in exercise) return withDisplay(kldVerdict(answer as KldPrediction, exercise));
  return checkRuler(answer as Answer, exercise);
}

function checkRuler(answer: Answer, exercise: Exercise): CheckResult {
  const r = "fit" in exercise.ruler && typeof (exercise.ruler as Ruler).fit === "function" ? (exercise.ruler as Ruler) : ruler(exercise.ruler as QuantSpec);
  const rs = r.spec ?? resolveSpec(exercise.ruler as QuantSpec);
  const index = exercise.index ?? 0;
  if (!Object.values(answer).some((v) => v !== undefined)) {
    throw new QuantLabError("BAD_ARGUMENT", "give at least one of scale, zeroPoint, code or dequantized, e.g. check({ scale: 0.11 }, …)");
  }
  const fit = r.fit(exercise.row);
  const e = explain(r, exercise.row, index);
  const lines: string[] = [];
  let correct = true;
  const verdict = (name: string, mine: number | undefined, right: number, hint?: () => string | undefined, exact = false) => {
    if (mine === undefined) return;
    if (!Number.isFinite(mine)) {
      correct = false;
      lines.push(`✗ ${name}: ${mine} is not a number — check the formula for division by zero`);
      return;
    }
    if (exact ? mine === right : close(mine, right)) {
      lines.push(`✓ ${name} = ${mine}`);
      return;
    }
    correct = false;
    const why = hint?.();
    lines.push(`✗ ${name}: the ruler has ${Number(right.toPrecision(7))}, you have ${mine}${why ? `. Hint: ${why}` : ""}`);
  };
  verdict("scale", answer.scale, fit.scale, () => scaleHints(answer.scale!, rs.bits, exercise.row));
  verdict("zero point", answer.zeroPoint, fit.zero, () =>
    rs.scheme === "symmetric" ? "symmetric quantization has zero point 0" : close(answer.zeroPoint!, -fit.min / fit.scale) ? "round −min/scale to an integer" : "zero point = round(−min / scale)");
  verdict("code", answer.code, e.code, () => {
    const t = rs.scheme === "asymmetric" && rs.convention === "course" ? (e.x - fit.min) / fit.scale : e.x / fit.scale + fit.zero;
    if (answer.code === Math.floor(t) && Math.floor(t) !== e.code) return `you truncated ${Number(t.toPrecision(6))}; round to nearest`;
    if (Math.abs(answer.code! - e.code) === 1) return `off by one: ${Number(t.toPrecision(6))} rounds to ${e.code}`;
    return `q = ${e.steps.find((s) => s.startsWith("q ="))?.slice(4) ?? e.code}`;
  }, true);
  verdict("dequantized", answer.dequantized, e.xHat, () => `x̂ = ${e.steps.find((s) => s.startsWith("x̂"))?.slice(5) ?? e.xHat}`);
  return withDisplay({ correct, lines });
}

function withDisplay(result: CheckResult): CheckResult {
  const { correct, lines } = result;
  Object.defineProperty(result, DISPLAY, {
    enumerable: false,
    value: (): MimeBundle => {
      const head = correct ? "Correct." : "Not yet:";
      const text = [head, ...lines].join("\n");
      const color = correct ? "#1a7f37" : "#b35900";
      const html = `<div style="border-left:4px solid ${color};padding:4px 10px"><b>${head}</b><br>${lines.map((l) => l.replace(/&/g, "&amp;").replace(/</g, "&lt;")).join("<br>")}</div>`;
      return { "text/plain": text, "text/html": html };
    },
  });
  return result;
}
