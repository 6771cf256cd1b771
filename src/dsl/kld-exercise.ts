/**
 * The KLD exercise behind `check({ larger }, { study, between })`: the learner predicts which of two
 * quantizations (often of near-equal perplexity) strays further from the base, and the verdict shows
 * both KLDs and why perplexity could not tell.
 */
import { check } from "../errors.js";
import type { StudyRowLike } from "./charts.js";

/** A learner's prediction for `check`: the label of the quantization they expect to have the larger KLD. */
export interface KldPrediction {
  larger: string;
}

/** The exercise a KLD prediction is checked against: a study (or its rows) and the two labels compared. */
export interface KldComparison {
  study: { rows: StudyRowLike[] } | StudyRowLike[];
  between: [string, string];
}

/** The verdict `check` shows for a KLD prediction. */
export function kldVerdict(answer: KldPrediction, ex: KldComparison): { correct: boolean; lines: string[] } {
  const rows = Array.isArray(ex.study) ? ex.study : ex.study.rows;
  const [a, b] = ex.between.map((label) => {
    const r = rows.find((x) => x.label === label);
    check(r && r.kld !== undefined, "NOT_FOUND", () => `no row '${label}' with a KLD in the study: use one of ${rows.filter((x) => x.kld !== undefined).map((x) => `'${x.label}'`).join(", ")}`);
    return r;
  });
  check(answer && ex.between.includes(answer.larger), "BAD_ARGUMENT", `answer with { larger: "${ex.between[0]}" } or { larger: "${ex.between[1]}" }`);
  const larger = a.kld! >= b.kld! ? a : b, smaller = larger === a ? b : a;
  const correct = answer.larger === larger.label;
  const ppl = (r: StudyRowLike) => (r.perplexity === undefined ? "" : `, perplexity ${r.perplexity.toFixed(3)}`);
  const same = (r: StudyRowLike) => (r.sameTopPercent === undefined ? "" : `, same top ${r.sameTopPercent.toFixed(1)} %`);
  return {
    correct,
    lines: [
      `${correct ? "✓" : "✗"} ${larger.label} has the larger KLD: ${larger.kld!.toExponential(3)}${ppl(larger)}${same(larger)}`,
      `  ${smaller.label}: ${smaller.kld!.toExponential(3)}${ppl(smaller)}${same(smaller)}`,
      `  KLD ratio ${(larger.kld! / Math.max(smaller.kld!, 1e-300)).toFixed(2)}×: perplexity only sees the correct token's probability, which errors can push up on one token and down on the next; KLD counts every change of the whole distribution, so it ranks quantizations perplexity cannot tell apart.`,
    ],
  };
}
