/**
 * "Is my quantization good?": KL divergence from the base model with llama.cpp's statistics, the
 * token view (which tokens the error lands on) and the layer trace (which layer it enters at).
 *
 *   const r = await klDivergence(m, q, evalText, { maxTokens: 256 })   // table + histogram of per-token KLD
 *   tokenView(r)                                                        // the text shaded by KLD, flips marked
 *   await layerTrace(m, q, evalText)                                    // cosine / SQNR per layer, linears' errors
 */
import { check } from "../errors.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { Chart } from "../display/chart.js";
import { baseLayout, binValues, histogramTrace, PALETTE, type Trace } from "../display/figure.js";
import { escapeHtml, formatCell, tableHtml, tableMarkdown, tableText, type Table } from "../display/table.js";
import { LINEAR_NAMES } from "../model/llama.js";
import type { LlamaModel } from "../model/llama.js";
import type { Tokenizer } from "../model/formats/tokenizer.js";
import { windows } from "../model/runtime/eval.js";
import {
  baseLogProbs, checkSameVocabulary, klDivergenceRuntimes, klDivergenceSaved, kldText, TOP, type KldResult,
} from "../model/runtime/kld.js";
import type { BaseLogProbs } from "../model/runtime/kld-base.js";
import { layerTrace as trace, type LayerTraceRow } from "../model/runtime/layer-trace.js";
import { QuantizedModel } from "../model/quantize/workflow.js";
import type { BlockHooks } from "../model/runtime/forward.js";
import { llamaCppHooks } from "../model/runtime/like-llama-cpp.js";
import { withRuntime } from "./runtimes.js";

export { saveBaseLogProbs, loadBaseLogProbs, baseFileBytes } from "../model/runtime/kld-base.js";
export type { BaseLogProbs } from "../model/runtime/kld-base.js";
export type { KldResult } from "../model/runtime/kld.js";
export type { KldPrediction, KldComparison } from "./kld-exercise.js";

/** Options of `klDivergence`. */
export interface KlDivergenceOptions {
  /** Score at most this many text tokens (default: all). */
  maxTokens?: number;
  /** Positions per window including BOS (default: the model's context). */
  window?: number;
  /** Histogram bins in the display (default 40). */
  bins?: number;
  /**
   * Round each linear's input to its stored weight type's dot-product format (Q8_0/Q8_K blocks, F16) and
   * keep the KV cache in F16, as llama.cpp's CPU backend does (default false: float32). Use it to compare
   * with llama-perplexity --kl-divergence; at 8 bits it doubles the KLD.
   */
  likeLlamaCpp?: boolean;
}

/** The forward-pass hooks `likeLlamaCpp` asks for, for the quantized and the base model. */
function roundingHooks(opts: KlDivergenceOptions, quant: LlamaModel, base?: LlamaModel): { hooks?: BlockHooks; baseHooks?: BlockHooks } {
  return opts.likeLlamaCpp ? { hooks: llamaCppHooks(quant), baseHooks: llamaCppHooks(base ?? quant) } : {};
}

function ids(m: LlamaModel, text: string | number[]): number[] {
  if (typeof text !== "string") return text;
  check(m.tokenizer, "BAD_ARGUMENT", `${m.source} has no tokenizer: pass token ids, or load a GGUF that carries its vocabulary`);
  return m.tokenizer.encode(text);
}

const modelOf = (q: LlamaModel | QuantizedModel): LlamaModel => (q instanceof QuantizedModel ? q.model : q);

/**
 * KL divergence of a quantized model from its base on a text, with llama.cpp's statistics; shows as a table and a histogram of per-token KLD.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const q = await quantizeModel(m, { gguf: "Q4_0" }, courseText(m, 0, 2000), { windows: 1, length: 32 });
 * const r = await klDivergence(m, q, courseText(m, 0, 1500), { maxTokens: 64 });
 * r.kld.mean   // ≈ 0.01 nats
 * ```
 */
export async function klDivergence(base: LlamaModel | BaseLogProbs, quant: LlamaModel | QuantizedModel, text: string | number[], opts: KlDivergenceOptions = {}): Promise<KldReport> {
  const q = modelOf(quant);
  const tokens = ids(q, text);
  const bos = q.tokenizer?.bos ?? 1;
  let r: KldResult;
  if ("config" in base) {
    checkSameVocabulary(base, q);
    r = await withRuntime(base, (rb) => withRuntime(q, (rq) => klDivergenceRuntimes(rb, rq, tokens, bos, { ...opts, ...roundingHooks(opts, q, base) })));
  } else r = await withRuntime(q, (rq) => klDivergenceSaved(base, rq, tokens, bos, { ...opts, ...roundingHooks(opts, q) }));
  const baseName = "config" in base ? base.source : "saved base";
  return new KldReport(r, q.tokenizer, baseName, q.source === baseName ? `${q.source} (quantized)` : q.source, opts.bins ?? 40);
}

/**
 * The base model's next-token log-probabilities on a text, kept compactly (its likely tokens until 1e-4 of the mass is left, plus that mass): pass it to `klDivergence` instead of the base to score each further quantization with one forward pass.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const b = await baseLogProbsOf(m, courseText(m, 0, 1500), { maxTokens: 64 });
 * b.tokens.length   // 64
 * ```
 */
export async function baseLogProbsOf(base: LlamaModel, text: string | number[], opts: KlDivergenceOptions & { restMass?: number } = {}): Promise<BaseLogProbs> {
  return withRuntime(base, (rt) => baseLogProbs(rt, ids(base, text), base.tokenizer?.bos ?? 1, { ...opts, ...roundingHooks(opts, base, base) }));
}

/**
 * A KL-divergence result: llama.cpp's statistics (`.kld`, `.sameTopPercent`, `.deltaP` …), per-token detail, a histogram and the token view.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const r = await klDivergence(m, m, courseText(m, 0, 800), { maxTokens: 32 });
 * r.sameTopPercent   // 100: a model agrees with itself
 * ```
 */
export class KldReport {
  readonly perplexity: number;
  readonly basePerplexity: number;
  readonly tokens: number;
  readonly kld: KldResult["kld"];
  readonly sameTopPercent: number;
  readonly deltaP: KldResult["deltaP"];
  readonly ratio: number;
  readonly logRatio: KldResult["logRatio"];
  constructor(readonly result: KldResult, readonly tokenizer: Tokenizer | null, readonly baseName: string, readonly quantName: string, private readonly bins = 40) {
    this.perplexity = result.perplexity;
    this.basePerplexity = result.basePerplexity;
    this.tokens = result.tokens;
    this.kld = result.kld;
    this.sameTopPercent = result.sameTopPercent;
    this.deltaP = result.deltaP;
    this.ratio = result.ratio;
    this.logRatio = result.logRatio;
  }

  /** The statistics as one table (statistic, value, ± standard error). */
  table(): Table {
    const r = this.result;
    const rows: [string, number, number | null][] = [
      ["PPL(Q)", r.perplexity, null], ["PPL(base)", r.basePerplexity, null], ["PPL ratio", r.ratio, null],
      ["mean ln(PPL ratio)", r.logRatio.mean, r.logRatio.stderr], ["mean KLD", r.kld.mean, r.kld.stderr],
      ["median KLD", r.kld.median, null], ["90% KLD", r.kld.p90, null], ["95% KLD", r.kld.p95, null], ["99% KLD", r.kld.p99, null],
      ["99.9% KLD", r.kld.p999, null], ["min KLD", r.kld.min, null], ["max KLD", r.kld.max, null],
      ["same top (%)", r.sameTopPercent, r.sameTopStderr], ["mean Δp (%)", 100 * r.deltaP.mean, 100 * r.deltaP.stderr], ["RMS Δp (%)", 100 * r.deltaP.rms, null],
    ];
    return { columns: ["statistic", "value", "±"], rows: rows.map(([a, b, c]) => [a, b, c]) };
  }

  /** Histogram of per-token KLD (log count axis: the tail is where the damage is). */
  histogram(bins = this.bins): Chart {
    const v = this.result.detail.kld;
    const b = binValues(v, bins, [0, Math.max(this.result.kld.max, 1e-12)]);
    const layout = baseLayout(`Per-token KL divergence, ${this.quantName} vs ${this.baseName}`, 720, 360);
    Object.assign(layout, {
      bargap: 0, showlegend: false,
      xaxis: { title: { text: "KL(p_base ‖ p_quant) per token (nats)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
      yaxis: { title: { text: "tokens" }, type: "log", gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
      shapes: [{ type: "line", x0: this.result.kld.mean, x1: this.result.kld.mean, yref: "paper", y0: 0, y1: 1, line: { color: PALETTE[3], dash: "dash", width: 1.5 } }],
      annotations: [{ x: this.result.kld.mean, y: 1, yref: "paper", text: `mean ${formatCell(this.result.kld.mean)}`, showarrow: false, xanchor: "left", yanchor: "bottom", font: { size: 12, color: PALETTE[3] } }],
    });
    return new Chart({ data: [histogramTrace(b, "tokens", PALETTE[0])], layout }, "per-token KLD");
  }

  /** The evaluated text with each token shaded by its KLD, top-token flips marked. */
  tokenView(o: TokenViewOptions = {}): TokenView {
    return new TokenView(this, o);
  }

  toJSON() {
    const { detail: _d, ...stats } = this.result;
    return stats;
  }

  toString(): string {
    return kldText(this.result, `${this.quantName} against ${this.baseName}`);
  }

  [DISPLAY](): MimeBundle {
    const t = this.table();
    const chart = this.histogram()[DISPLAY]();
    const head = `${escapeHtml(this.quantName)} against ${escapeHtml(this.baseName)}: ${this.tokens} tokens${this.result.exact ? "" : " (saved base)"}`;
    return {
      "text/plain": this.toString(),
      "text/html": `<p>${head}</p>${tableHtml(t)}${String(chart["text/html"] ?? "")}`,
      "text/markdown": `${head}\n\n${tableMarkdown(t)}`,
    };
  }
}

/** Options of `tokenView`. */
export interface TokenViewOptions {
  /** First scored position shown (default 0). */
  from?: number;
  /** Positions shown (default 200). */
  count?: number;
  /** KLD that gets the darkest shade (default: the 99th percentile). */
  scale?: number;
}

function piece(tok: Tokenizer | null, id: number): string {
  if (id < 0) return "";
  if (!tok) return `#${id}`;
  return tok.decode([id]) || tok.pieces[id] || `#${id}`;
}

/**
 * The text a KLD report scored, each token shaded by its KLD (white → red), a top-token flip underlined; hovering shows both models' top-3. The text/plain fallback lists the worst tokens.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const q = await quantizeModel(m, { gguf: "Q4_0" }, courseText(m, 0, 2000), { windows: 1, length: 32 });
 * tokenView(await klDivergence(m, q, courseText(m, 0, 600), { maxTokens: 48 }))
 * ```
 */
export function tokenView(report: KldReport, o: TokenViewOptions = {}): TokenView {
  return new TokenView(report, o);
}

/**
 * The token view's value: `.rows()` gives one row per shown token; it displays as shaded HTML.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const r = await klDivergence(m, m, courseText(m, 0, 600), { maxTokens: 24 });
 * new TokenView(r, { count: 10 }).rows().length   // 10
 * ```
 */
export class TokenView {
  readonly from: number;
  readonly count: number;
  readonly scale: number;
  constructor(readonly report: KldReport, o: TokenViewOptions = {}) {
    const n = report.result.detail.kld.length;
    this.from = Math.max(0, Math.min(o.from ?? 0, n - 1));
    this.count = Math.max(1, Math.min(o.count ?? 200, n - this.from));
    this.scale = o.scale ?? Math.max(report.result.kld.p99, 1e-9);
  }

  /** Per shown token: its text, KLD, whether the top token flipped, both top-3 as "piece p" lists. */
  rows(): { position: number; token: string; kld: number; flip: boolean; pBase: number; pQuant: number; baseTop: string; quantTop: string }[] {
    const d = this.report.result.detail, tok = this.report.tokenizer;
    const top = (ids: Int32Array, ps: Float32Array, t: number) =>
      Array.from({ length: TOP }, (_, j) => ids[t * TOP + j] < 0 ? "" : `${JSON.stringify(piece(tok, ids[t * TOP + j]))} ${ps[t * TOP + j].toFixed(3)}`).filter(Boolean).join(", ");
    return Array.from({ length: this.count }, (_, i) => {
      const t = this.from + i;
      return {
        position: t, token: piece(tok, d.tokens[t]), kld: d.kld[t], flip: !d.sameTop[t],
        pBase: Math.exp(-d.nllBase[t]), pQuant: Math.exp(-d.nllQuant[t]),
        baseTop: top(d.baseTop, d.baseTopP, t), quantTop: top(d.quantTop, d.quantTopP, t),
      };
    });
  }

  [DISPLAY](): MimeBundle {
    const rows = this.rows();
    const spans = rows.map((r) => {
      const a = Math.min(1, r.kld / this.scale);
      // white → red, and the text stays dark enough to read on the darkest shade
      const bg = `rgba(214,39,40,${(0.85 * a).toFixed(3)})`;
      const title = `KLD ${formatCell(r.kld)}; p(this token) base ${r.pBase.toFixed(3)} → quant ${r.pQuant.toFixed(3)}\nbase top-3: ${r.baseTop}\nquant top-3: ${r.quantTop}`;
      const style = `background:${bg};${r.flip ? "border-bottom:2px solid #1f3fbf;" : ""}white-space:pre-wrap;`;
      return `<span style="${style}" title="${escapeHtml(title)}">${escapeHtml(r.token)}</span>`;
    }).join("");
    const flips = rows.filter((r) => r.flip).length;
    const legend = `<p style="font-size:12px;color:#444">shade: per-token KLD (darkest ≥ ${formatCell(this.scale)} nats); <span style="border-bottom:2px solid #1f3fbf">underlined</span>: the most likely next token differs (${flips} of ${rows.length}); hover a token for both models' top-3.</p>`;
    const worst = [...rows].sort((a, b) => b.kld - a.kld).slice(0, 10);
    const table: Table = { columns: ["position", "token", "KLD", "flip", "base top-3", "quant top-3"], rows: worst.map((r) => [r.position, JSON.stringify(r.token), r.kld, r.flip ? "yes" : "", r.baseTop, r.quantTop]) };
    return {
      "text/plain": `token view of positions ${this.from}…${this.from + this.count - 1} (${flips} top-token flips); the ${worst.length} worst tokens:\n${tableText(table)}`,
      "text/html": `<div style="font-family:Menlo,Consolas,monospace;font-size:13px;line-height:1.9;max-width:820px">${spans}</div>${legend}`,
      "text/markdown": `Worst tokens (positions ${this.from}…${this.from + this.count - 1}, ${flips} top-token flips)\n\n${tableMarkdown(table)}`,
    };
  }
}

/** Options of `layerTrace`. */
export interface LayerTraceOptions {
  /** Text tokens traced (default 256). */
  maxTokens?: number;
  window?: number;
}

/**
 * Where the error enters: per decoder layer, cosine similarity and SQNR of the quantized model's hidden state against the base's on the same tokens, and each linear's relative output error; shows as one chart.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * const q = await quantizeModel(m, { gguf: "Q4_0" }, courseText(m, 0, 2000), { windows: 1, length: 32 });
 * await layerTrace(m, q, courseText(m, 0, 600), { maxTokens: 48 })
 * ```
 */
export async function layerTrace(base: LlamaModel, quant: LlamaModel | QuantizedModel, text: string | number[], o: LayerTraceOptions = {}): Promise<LayerTrace> {
  const q = modelOf(quant);
  checkSameVocabulary(base, q);
  const tokens = ids(q, text);
  const wins = windows(tokens, q.tokenizer?.bos ?? 1, o.window ?? q.config.contextLength, o.maxTokens ?? 256);
  const t = await withRuntime(base, (rb) => withRuntime(q, (rq) => trace(rb, rq, wins)));
  return new LayerTrace(t, q.source === base.source ? `${q.source} (quantized)` : q.source);
}

/**
 * The layer trace's value: `.rows` per layer, `.table()`, `.chart()`; it displays as the chart.
 * @group Models and the KV cache
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * (await layerTrace(m, m, courseText(m, 0, 600), { maxTokens: 24 })).rows[0].cosine   // 1: a model against itself
 * ```
 */
export class LayerTrace {
  constructor(readonly rows: LayerTraceRow[], readonly name: string) {}

  table(): Table {
    return {
      columns: ["layer", "cosine", "SQNR (dB)", ...LINEAR_NAMES],
      rows: this.rows.map((r) => [r.layer, r.cosine, r.sqnrDb, ...LINEAR_NAMES.map((n) => r.linears[n])]),
    };
  }

  /** Top: the hidden state's SQNR (and cosine on hover) after each layer; bottom: each linear's relative output error. */
  chart(): Chart {
    const x = this.rows.map((r) => r.layer);
    const traces: Trace[] = [{
      type: "scatter", mode: "lines+markers", name: "hidden-state SQNR", x, y: this.rows.map((r) => r.sqnrDb), yaxis: "y",
      customdata: this.rows.map((r) => r.cosine), hovertemplate: "layer %{x}: SQNR %{y:.1f} dB, cosine %{customdata:.5f}<extra></extra>",
      line: { color: "#222", width: 2.5 }, marker: { size: 8 },
    }];
    LINEAR_NAMES.forEach((n, i) => traces.push({
      type: "scatter", mode: "lines+markers", name: n, x, y: this.rows.map((r) => r.linears[n]), yaxis: "y2",
      hovertemplate: `layer %{x} ${n}: %{y:.2e}<extra></extra>`, line: { color: PALETTE[i % PALETTE.length], width: 1.5 }, marker: { size: 6 },
    }));
    const layout = baseLayout(`Where the error enters: ${this.name}`, 760, 560);
    Object.assign(layout, {
      xaxis: { title: { text: "decoder layer" }, tickvals: x, gridcolor: "#e6e6e6", ticks: "outside", anchor: "y2" },
      yaxis: { title: { text: "hidden-state SQNR (dB)" }, domain: [0.56, 1], gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
      yaxis2: { title: { text: "linear rel. output error" }, domain: [0, 0.44], type: "log", exponentformat: "e", gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
      legend: { orientation: "v", x: 1.02, y: 0.4 },
    });
    return new Chart({ data: traces, layout }, "layer trace");
  }

  /** The chart (live and static, exported like every chart), with the table as its plain text. */
  [DISPLAY](): MimeBundle {
    return { ...this.chart()[DISPLAY](), "text/plain": `layer trace of ${this.name}\n${tableText(this.table())}` };
  }
}
