/**
 * The paper-style table: perplexity of one model quantized several ways (FP32, RTN / GPTQ / AWQ at 4
 * and 3 bits with groups of 32, llama.cpp's Q8_0 and Q4_0), all calibrated on the same windows and
 * scored on the same evaluation tokens, with the bits per weight each costs.
 */
import { DISPLAY, type MimeBundle } from "../../display/mime.js";
import { checkpoint } from "../../progress.js";
import { LlamaRuntime } from "../runtime/forward.js";
import { baseLogProbs, klDivergenceSaved } from "../runtime/kld.js";
import type { BaseLogProbs } from "../runtime/kld-base.js";
import { bitsPerWeight } from "./bits.js";
import type { LlamaModel } from "../llama.js";
import { quantizerFor, specLabel, type MethodSpec } from "./methods.js";
import { calibrationWindows, quantizeModel } from "./workflow.js";

/**
 * The methods of the papers' tables: RTN, GPTQ and AWQ at 4 and 3 bits with groups of 32, and llama.cpp's Q8_0 and Q4_0.
 * @example
 * ```ts
 * PAPER_SPECS.length   // 8
 * ```
 */
export const PAPER_SPECS: MethodSpec[] = [
  { method: "rtn", bits: 4, groupSize: 32 },
  { method: "gptq", bits: 4, groupSize: 32 },
  { method: "awq", bits: 4, groupSize: 32 },
  { method: "rtn", bits: 3, groupSize: 32 },
  { method: "gptq", bits: 3, groupSize: 32 },
  { method: "awq", bits: 3, groupSize: 32 },
  { gguf: "Q8_0" },
  { gguf: "Q4_0" },
];

export interface StudyRow {
  label: string;
  perplexity: number;
  /** Relative increase over FP32. */
  delta: number;
  tokens: number;
  /** Seconds spent quantizing (calibration passes included). */
  seconds: number;
  /** Mean relative output error over all linears (on calibration inputs). */
  meanRelError: number;
  /** Mean KL(p_FP32 ‖ p_quant) per evaluation token (nats) and the share of tokens whose top token agrees. */
  kld?: number;
  sameTopPercent?: number;
  /** Bits per weight of the quantized linears as stored (scales included). */
  bitsPerWeight?: number;
}

/**
 * The paper-style table: perplexity of each quantized model next to FP32; renders as a table, `.get(label)` picks a row.
 * @example
 * ```ts
 * const t = new StudyTable("demo", [{ label: "FP32", perplexity: 4.2, delta: 0, tokens: 100, seconds: 0, meanRelError: 0 }], 0);
 * t.get("FP32")!.perplexity
 * ```
 */
export class StudyTable {
  /** `baseLogProbs`: FP32's distributions on the evaluation tokens, to pass to a further study of the same tokens. */
  constructor(readonly model: string, readonly rows: StudyRow[], readonly calibTokens: number, readonly baseLogProbs?: BaseLogProbs) {}
  get(label: string): StudyRow | undefined {
    return this.rows.find((r) => r.label === label);
  }
  toMarkdown(): string {
    const lines = ["| method | perplexity | vs FP32 | KLD | same top | bits/weight | mean rel. output error | seconds |", "|---|---|---|---|---|---|---|---|"];
    for (const r of this.rows) {
      lines.push(`| ${r.label} | ${r.perplexity.toFixed(4)} | ${r.delta >= 0 ? "+" : ""}${(100 * r.delta).toFixed(2)}% | ${kldCell(r)} | ${sameCell(r)} | ${bitsCell(r)} | ${r.meanRelError.toExponential(2)} | ${r.seconds.toFixed(1)} |`);
    }
    return lines.join("\n");
  }
  [DISPLAY](): MimeBundle {
    const head = `${this.model}: perplexity over ${this.rows[0]?.tokens ?? 0} tokens, calibrated on ${this.calibTokens} tokens`;
    return {
      "text/plain": head + "\n" + this.rows.map((r) => `${r.label.padEnd(20)} ${r.perplexity.toFixed(4).padStart(10)}  ${(100 * r.delta).toFixed(2).padStart(7)}%  KLD ${kldCell(r).padStart(9)}  same top ${sameCell(r).padStart(6)}`).join("\n"),
      "text/html": `<p>${head}</p><table><tr><th>method</th><th>perplexity</th><th>vs FP32</th><th>KLD</th><th>same top</th><th>bits/weight</th><th>mean rel. output error</th><th>seconds</th></tr>${this.rows
        .map((r) => `<tr><td>${r.label}</td><td>${r.perplexity.toFixed(4)}</td><td>${(100 * r.delta).toFixed(2)}%</td><td>${kldCell(r)}</td><td>${sameCell(r)}</td><td>${bitsCell(r)}</td><td>${r.meanRelError.toExponential(2)}</td><td>${r.seconds.toFixed(1)}</td></tr>`)
        .join("")}</table>`,
      "text/markdown": this.toMarkdown(),
    };
  }
}

const kldCell = (r: StudyRow) => (r.kld === undefined ? "" : r.kld.toExponential(3));
const sameCell = (r: StudyRow) => (r.sameTopPercent === undefined ? "" : `${r.sameTopPercent.toFixed(1)}%`);
const bitsCell = (r: StudyRow) => (r.bitsPerWeight === undefined ? "" : r.bitsPerWeight.toFixed(2));

export interface StudyOptions {
  /** Calibration text tokens (no BOS). */
  calibTokens: number[];
  /** Evaluation text tokens (no BOS). */
  evalTokens: number[];
  /** Calibration windows cut from `calibTokens`, each starting with BOS (default 16). */
  calibWindows?: number;
  /** Tokens per calibration window, BOS included (default: 128, or the model's context when shorter). */
  calibLength?: number;
  /** Evaluation window (default: the model's context). */
  window?: number;
  /** The methods to compare, one table row each after FP32 (default PAPER_SPECS). */
  specs?: MethodSpec[];
  /** Called with each row as soon as it is scored (FP32 first), e.g. to show progress. */
  onRow?(row: StudyRow): void;
  /** FP32's distributions on these evaluation tokens from an earlier study (`table.baseLogProbs`): skips that pass. */
  baseLogProbs?: BaseLogProbs;
}

/**
 * Quantizes one model several ways (default PAPER_SPECS), each calibrated on the same windows and scored on
 * the same evaluation tokens: the perplexity table of the GPTQ and AWQ papers, computed here.
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const ids = m.tokenizer!.encode(courseText(m, 0, 3000));
 * await quantizationStudy(m, { calibTokens: ids.slice(0, 200), evalTokens: ids.slice(200, 400), calibWindows: 2, calibLength: 64, specs: [{ method: "rtn", bits: 4, groupSize: 32 }] })
 * ```
 */
export async function quantizationStudy(model: LlamaModel, opts: StudyOptions): Promise<StudyTable> {
  const bos = model.tokenizer?.bos ?? 1;
  const calib = calibrationWindows(opts.calibTokens, bos, opts.calibWindows ?? 16, opts.calibLength ?? Math.min(128, model.config.contextLength));
  const window = opts.window ?? model.config.contextLength;

  // the FP32 distributions once (compact, within 0.1 % of the exact KLD): each method then costs one
  // pass, and FP32's perplexity comes from the same pass
  let saved = opts.baseLogProbs;
  if (!saved) {
    const baseRt = await LlamaRuntime.create(model);
    try {
      saved = baseLogProbs(baseRt, opts.evalTokens, bos, { window });
    } finally {
      baseRt.dispose();
    }
  }
  const base = { perplexity: Math.exp(saved.nll.reduce((s, x) => s + x, 0) / saved.nll.length), tokens: saved.tokens.length };
  const kldOf = async (m: LlamaModel) => {
    const rt = await LlamaRuntime.create(m);
    try {
      return klDivergenceSaved(saved!, rt, opts.evalTokens, bos, { window });
    } finally {
      rt.dispose();
    }
  };
  const rows: StudyRow[] = [{ label: "FP32", perplexity: base.perplexity, delta: 0, tokens: base.tokens, seconds: 0, meanRelError: 0, kld: 0, sameTopPercent: 100, bitsPerWeight: 32 }];
  opts.onRow?.(rows[0]);
  const specs = opts.specs ?? PAPER_SPECS;
  for (const [si, spec] of specs.entries()) {
    await checkpoint("quantizationStudy methods", si, specs.length);
    const q = await quantizeModel(model, { calibration: calib, quantizer: quantizerFor(spec) });
    const p = await kldOf(q.model);
    const row: StudyRow = {
      label: specLabel(spec), perplexity: p.perplexity, delta: p.perplexity / base.perplexity - 1, tokens: p.tokens, seconds: q.seconds,
      meanRelError: q.errors.reduce((s, e) => s + e.relOutputError, 0) / q.errors.length,
      kld: p.kld.mean, sameTopPercent: p.sameTopPercent, bitsPerWeight: bitsPerWeight(q),
    };
    rows.push(row);
    opts.onRow?.(row);
  }
  await checkpoint("quantizationStudy methods", specs.length, specs.length);
  return new StudyTable(model.source, rows, calib.reduce((s, w) => s + w.length, 0), saved);
}
