/**
 * The course's charts as named functions, plus the general chart builders, sweeps and the display
 * switch: the notebook's charting vocabulary. Each takes data (arrays, a Matrix, a sweep or rows) and
 * returns a Chart that shows in the notebook and exports with `.export("notes/….svg|png|pdf|html")`.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { check } from "../errors.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import type { Chart } from "../display/chart.js";
import { baseLayout, binValues, histogramTrace, lineChart, logTicks, PALETTE, scatterChart, tickLabel, type Trace } from "../display/figure.js";
import { Chart as ChartClass } from "../display/chart.js";
import type { Matrix } from "../numerics/matrix.js";
import { kvCache, modelPreset, weightMemory, type KvDtype, type ModelConfig } from "../numerics/memory.js";
import { decode, fitGroup } from "../numerics/affine.js";
import { quantize, type Quantized } from "../numerics/rtn.js";
import { resolveSpec, type QuantSpec } from "../numerics/spec.js";
import { label, Sweep, sweep } from "./sweep.js";

export { sweep, Sweep, LABELS } from "./sweep.js";
export type { Grid, Point, Metrics, SweepContext, SweepOptions, PlotOptions } from "./sweep.js";
export { lineChart, scatterChart, barChart, histogramChart, heatmapChart } from "../display/figure.js";
export type { Figure, XYOptions, HistogramOptions, HeatmapOptions } from "../display/figure.js";
export { Chart, setChartMode, chartMode } from "../display/chart.js";
export type { ChartMode, ExportOptions } from "../display/chart.js";
export { warmBrowser, closeBrowser } from "../display/browser.js";

function isMatrix(v: unknown): v is Matrix {
  return typeof v === "object" && v !== null && (v as Matrix).data instanceof Float32Array && typeof (v as Matrix).rows === "number";
}

function values(v: Matrix | ArrayLike<number>): ArrayLike<number> {
  return isMatrix(v) ? v.data : v;
}

/** Options of `mseVsGroupSize`. */
export interface MseVsGroupOptions {
  /** With a matrix: the grid to sweep (defaults: group sizes 16 … 256 and "channel", bits 3, 4, 8). */
  groupSize?: (number | "channel" | "tensor")[];
  bits?: number[];
  /** Series column: "bits" (default) or "format" … */
  color?: string;
  /** Error column (default "mse"). */
  y?: string;
  title?: string;
}

/**
 * MSE versus group size, one line per bit width (or format): from a sweep, rows, or a weight matrix
 * (which is swept with RTN here). Log axes with ticks at the swept group sizes.
 * @example
 * ```ts
 * const W = matrix(16, 256, Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.7) * 0.02 * (i < 256 ? 6 : 1)));
 * mseVsGroupSize(W, { groupSize: [16, 32, 64, 128, 256], bits: [3, 4, 8] })
 * ```
 */
export function mseVsGroupSize(data: Sweep | Matrix | Record<string, unknown>[], o: MseVsGroupOptions = {}): Chart {
  let s: Sweep;
  if (data instanceof Sweep) s = data;
  else if (isMatrix(data)) {
    const W = data;
    s = sweep({ groupSize: o.groupSize ?? [16, 32, 64, 128, 256, "channel"], bits: o.bits ?? [3, 4, 8] },
      (p) => quantize(W, { bits: p.bits as number, groupSize: p.groupSize as number, scheme: "asymmetric" }).report);
  } else return lineChart(data, { x: "groupSize", y: o.y ?? "mse", color: o.color ?? "bits", logX: true, logY: true, title: o.title ?? "Quantization error vs group size", xTitle: label("groupSize"), yTitle: label(o.y ?? "mse") });
  return s.plot({ x: "groupSize", y: o.y ?? "mse", color: o.color ?? "bits", logY: true, title: o.title ?? "Quantization error vs group size" });
}

/** Options of `rulerChart`. */
export interface RulerChartOptions {
  bins?: number;
  title?: string;
}

/**
 * The ruler picture: a histogram of the weights with the quantization levels drawn over it (one
 * vertical line per level of a per-tensor fit of `spec`, default INT4 asymmetric).
 * @example
 * ```ts
 * rulerChart([0.10, -0.30, 0.70, -1.00, 0.50, 0.2, -0.1], { bits: 3 })
 * ```
 */
export function rulerChart(weights: Matrix | ArrayLike<number>, spec: QuantSpec = { bits: 4 }, o: RulerChartOptions = {}): Chart {
  const w = values(weights);
  const rs = resolveSpec({ ...spec, groupSize: "tensor" });
  const p = fitGroup(rs, w);
  const levels: number[] = [];
  for (let q = rs.qmin; q <= rs.qmax; q++) levels.push(decode(rs, q, p));
  const lo = Math.min(levels[0]!, ...levels), hi = Math.max(...levels);
  const pad = (hi - lo) * 0.03;
  const binned = binValues(w, o.bins ?? 120, [Math.min(lo, p.min) - pad, Math.max(hi, p.max) + pad]);
  const top = Math.max(...binned.counts) * 1.05;
  const lx: (number | null)[] = [], ly: (number | null)[] = [];
  for (const l of levels) lx.push(l, l, null), ly.push(0, top, null);
  const traces: Trace[] = [
    histogramTrace(binned, "weights", PALETTE[0]!, 0.85),
    { type: "scatter", mode: "lines", name: `${levels.length} levels (scale ${tickLabel(p.scale)})`, x: lx, y: ly, line: { color: PALETTE[3], width: 1.5, dash: "dot" } },
  ];
  const layout = baseLayout(o.title ?? `The ruler: ${rs.gridName === "int" || !rs.grid ? `INT${rs.bits} ${rs.scheme}` : rs.gridName} levels over the weights`);
  Object.assign(layout, {
    bargap: 0, showlegend: true,
    xaxis: { title: { text: "weight value" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
    yaxis: { title: { text: "count (weights per bin)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true, range: [0, top] },
  });
  return new ChartClass({ data: traces, layout }, "ruler");
}

/** Options of `channelRangeChart`. */
export interface ChannelRangeOptions {
  /**
   * "rows" (output channels, the default, as per-channel quantization groups them) or "cols" (input
   * channels: where LLM activation outliers live, and what `withOutliers(W, { columns })` scales).
   */
  axis?: "rows" | "cols";
  /** A channel is an outlier when its max |w| exceeds `threshold` × the median max |w| (default 3). */
  threshold?: number;
  title?: string;
}

/**
 * Per-channel range [min, max] as bars; outlier channels (max |w| over 3× the median) in red.
 * @example
 * ```ts
 * const W = matrix(16, 256, Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.7) * 0.02 * (i < 256 ? 6 : 1)));
 * channelRangeChart(W)      // channel 0 stands out
 * ```
 */
export function channelRangeChart(W: Matrix, o: ChannelRangeOptions = {}): Chart {
  check(isMatrix(W), "BAD_ARGUMENT", "channelRangeChart needs a weight matrix: matrix(rows, cols, data)");
  const byRow = (o.axis ?? "rows") === "rows";
  const n = byRow ? W.rows : W.cols;
  const mins = new Float64Array(n).fill(Infinity), maxs = new Float64Array(n).fill(-Infinity);
  for (let r = 0; r < W.rows; r++) for (let c = 0; c < W.cols; c++) {
    const v = W.data[r * W.cols + c]!, k = byRow ? r : c;
    if (v < mins[k]!) mins[k] = v;
    if (v > maxs[k]!) maxs[k] = v;
  }
  const absmax = Array.from(mins, (m, i) => Math.max(Math.abs(m), Math.abs(maxs[i]!)));
  const sorted = [...absmax].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const k = o.threshold ?? 3;
  const outlier = absmax.map((a) => a > k * median);
  const trace = (pick: boolean, name: string, colour: string): Trace => {
    const idx = absmax.map((_, i) => i).filter((i) => outlier[i] === pick);
    return { type: "bar", name, x: idx, base: idx.map((i) => mins[i]), y: idx.map((i) => maxs[i]! - mins[i]!), marker: { color: colour, line: { width: 0 } } };
  };
  const count = outlier.filter(Boolean).length;
  const data = [trace(false, "channels", PALETTE[0]!), trace(true, `outliers: ${count} with max |w| > ${k}× median`, PALETTE[3]!)];
  const layout = baseLayout(o.title ?? `Per-channel range (${byRow ? "output channels, one bar per row" : "input channels, one bar per column"})`);
  Object.assign(layout, {
    bargap: 0, barmode: "overlay", showlegend: true,
    xaxis: { title: { text: byRow ? "output channel (row)" : "input channel (column)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
    yaxis: { title: { text: "weight value (min … max)" }, gridcolor: "#e6e6e6", zerolinecolor: "#999", ticks: "outside", automargin: true },
  });
  return new ChartClass({ data, layout }, "per-channel range");
}

/** Options of `errorHistogram`. */
export interface ErrorHistogramOptions {
  bins?: number;
  title?: string;
  /** Log count axis (shows the tails). */
  logY?: boolean;
}

/**
 * Histogram of the rounding error w − ŵ, one series per quantized version: pass one reconstruction (a
 * Quantized or an array) or several by name, e.g. `{ "INT4 g128": q1, "NF4": q2 }`.
 * @example
 * ```ts
 * const W = matrix(16, 256, Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.7) * 0.02 * (i < 256 ? 6 : 1)));
 * errorHistogram(W, { "INT4 g32": rtn(W, { bits: 4, groupSize: 32 }), "INT3 g32": rtn(W, { bits: 3, groupSize: 32 }) })
 * ```
 */
export function errorHistogram(W: Matrix | ArrayLike<number>, quantized: Quantized | ArrayLike<number> | Record<string, Quantized | ArrayLike<number>>, o: ErrorHistogramOptions = {}): Chart {
  const w = values(W);
  const asArray = (q: Quantized | ArrayLike<number>): ArrayLike<number> => ("dequantized" in (q as object) ? (q as Quantized).dequantized : (q as ArrayLike<number>));
  const single = ArrayBuffer.isView(quantized) || Array.isArray(quantized) || "dequantized" in (quantized as object);
  const sets: [string, ArrayLike<number>][] = single ? [["w − ŵ", asArray(quantized as Quantized)]] : Object.entries(quantized as Record<string, Quantized>).map(([k, q]) => [k, asArray(q)]);
  const errs = sets.map(([name, d]) => {
    check(d.length === w.length, "BAD_SHAPE", `'${name}' has ${d.length} values but the weights have ${w.length}: pass the reconstruction of the same matrix`);
    const e = new Float32Array(w.length);
    for (let i = 0; i < w.length; i++) e[i] = w[i]! - d[i]!;
    return [name, e] as const;
  });
  let lo = Infinity, hi = -Infinity;
  for (const [, e] of errs) for (const v of e) (lo = Math.min(lo, v), hi = Math.max(hi, v));
  const traces = errs.map(([name, e], i) => histogramTrace(binValues(e, o.bins ?? 100, [lo, hi]), name, PALETTE[i % PALETTE.length]!, errs.length > 1 ? 0.6 : 0.9));
  const layout = baseLayout(o.title ?? "Rounding error w − ŵ");
  const counts = traces.flatMap((t) => (t.y as number[]).filter((c) => c > 0));
  Object.assign(layout, {
    bargap: 0, barmode: "overlay", showlegend: traces.length > 1,
    xaxis: { title: { text: "error w − ŵ (weight units)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true, exponentformat: "e" },
    yaxis: { title: { text: "count" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true, ...(o.logY ? { type: "log", ...logTicks(counts, false) } : {}) },
  });
  return new ChartClass({ data: traces, layout }, "error histogram");
}

/** Options of `memoryChart`. */
export interface MemoryChartOptions {
  formats?: string[];
  /** Group size for integer/codebook formats (scale overhead), default 128. */
  groupSize?: number;
  title?: string;
}

/**
 * Weight memory of a model (default 7e9 parameters) in each format, in GiB (2^30 bytes, as every
 * QuantLab chart and table counts memory), scale overhead included.
 * @example
 * ```ts
 * memoryChart(7e9)                                   // FP32 26.1 GiB … INT4 g128 ≈ 3.4 GiB
 * memoryChart("llama-3-8b", { formats: ["bf16", "int8", "nf4"] })
 * ```
 */
export function memoryChart(params: number | string = 7e9, o: MemoryChartOptions = {}): Chart {
  const n = typeof params === "string" ? modelPreset(params).params : params;
  const formats = o.formats ?? ["fp32", "fp16", "bf16", "fp8-e4m3", "int8", "int4", "nf4", "mxfp4"];
  const rows = formats.map((f) => {
    const intLike = /^u?int|^nf4|^fp4-bnb/.test(f);
    const m = weightMemory({ params: n, format: f, ...(intLike ? { groupSize: o.groupSize ?? 128 } : {}) });
    return { format: f, gib: m.bytes / 2 ** 30, bits: m.bitsPerParam };
  });
  const trace: Trace = {
    type: "bar", name: "weights", x: rows.map((r) => r.format), y: rows.map((r) => r.gib),
    text: rows.map((r) => `${r.gib.toFixed(1)} GiB`), textposition: "outside", cliponaxis: false,
    customdata: rows.map((r) => r.bits), hovertemplate: "%{x}: %{y:.2f} GiB (%{customdata:.3f} bits/weight)<extra></extra>",
    marker: { color: rows.map((_, i) => PALETTE[i % PALETTE.length]) },
  };
  const layout = baseLayout(o.title ?? `Weight memory of a ${tickLabel(n / 1e9)}B-parameter model`);
  Object.assign(layout, {
    showlegend: false,
    xaxis: { title: { text: "format" }, type: "category", automargin: true },
    yaxis: { title: { text: "weight memory (GiB)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true, rangemode: "tozero", range: [0, Math.max(...rows.map((r) => r.gib)) * 1.15] },
  });
  return new ChartClass({ data: [trace], layout }, "memory by format");
}

/** Options of `kvCacheChart`. */
export interface KvChartOptions {
  contexts?: number[];
  dtypes?: KvDtype[];
  batch?: number;
  title?: string;
}

/**
 * KV-cache bytes versus context length, one line per dtype (log–log, ticks at the contexts).
 * @example
 * ```ts
 * kvCacheChart("llama-2-7b", { dtypes: ["fp16", "fp8", "int4"] })    // FP16 at 4096 tokens: 2 GiB
 * ```
 */
export function kvCacheChart(model: string | (Pick<ModelConfig, "layers" | "kvHeads" | "headDim"> & { name?: string }) = "llama-2-7b", o: KvChartOptions = {}): Chart {
  const contexts = o.contexts ?? [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];
  const dtypes = o.dtypes ?? ["fp16", "fp8", "int4"];
  const rows = dtypes.flatMap((dtype) => contexts.map((context) => ({ context, dtype, GiB: kvCache(model, { context, dtype, batch: o.batch ?? 1 }).bytes / 2 ** 30 })));
  const name = typeof model === "string" ? modelPreset(model).name : model.name ?? "custom model";
  return lineChart(rows, {
    x: "context", y: "GiB", color: "dtype", logX: true, logY: true, seriesName: (v) => String(v),
    title: o.title ?? `KV cache of ${name}${(o.batch ?? 1) > 1 ? ` (batch ${o.batch})` : ""}`,
    xTitle: label("context"), yTitle: "KV-cache memory (GiB)", legendTitle: "KV dtype",
  });
}

/** Options of `paretoChart`. */
export interface ParetoOptions {
  /** Columns (defaults "bitsPerWeight", "mse", series "format"; a point's label comes from `label` if given). */
  x?: string;
  y?: string;
  color?: string;
  title?: string;
}

/**
 * Indices of the points no other point beats on both axes (lower is better on both).
 * @example
 * ```ts
 * paretoFront([4, 4.5, 4.25, 5], [3, 2, 4, 1])   // [0, 1, 3]
 * ```
 */
export function paretoFront(xs: number[], ys: number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]! || ys[a]! - ys[b]!);
  const front: number[] = [];
  let best = Infinity;
  for (const i of idx) if (ys[i]! < best) (front.push(i), (best = ys[i]!));
  return front;
}

/**
 * Error versus bits per weight across formats (log error axis) with the Pareto front drawn through
 * the points nothing beats: from a sweep or rows with bitsPerWeight, mse and format columns.
 * @example
 * ```ts
 * const W = matrix(16, 256, Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.7) * 0.02 * (i < 256 ? 6 : 1)));
 * const s = sweep({ format: ["int", "nf4", "fp4-e2m1"], groupSize: [32, 128] }, (p) => rtn(W, { bits: 4, ...p }).report);
 * paretoChart(s)
 * ```
 */
export function paretoChart(data: Sweep | Record<string, unknown>[], o: ParetoOptions = {}): Chart {
  const rows = data instanceof Sweep ? data.records() : data;
  const x = o.x ?? "bitsPerWeight", y = o.y ?? "mse";
  const color = o.color ?? (rows.length && "format" in rows[0]! ? "format" : undefined);
  const base = scatterChart(rows, { x, y, color, logY: true, title: o.title ?? "Error vs bits per weight", xTitle: label(x), yTitle: label(y), seriesName: (v) => String(v) });
  const xs = rows.map((r) => Number(r[x])), ys = rows.map((r) => Number(r[y]));
  const front = paretoFront(xs, ys);
  const frontTrace: Trace = {
    type: "scatter", mode: "lines", name: "Pareto front", x: front.map((i) => xs[i]), y: front.map((i) => ys[i]),
    line: { color: "#444", width: 1.5, dash: "dash", shape: "hv" },
  };
  return new ChartClass({ data: [...base.figure.data, frontTrace], layout: { ...base.figure.layout, showlegend: true } }, "error vs bits per weight");
}

/** Options of `kldFrontier`. */
export interface KldFrontierOptions {
  title?: string;
  /** Also draw the same-top % as hover text (default true). */
  hover?: boolean;
}

/** The method family a study label belongs to: "RTN", "GPTQ", "AWQ", "GGUF" or "GGUF + imatrix". */
function family(label: string): string {
  if (/^(RTN|GPTQ|AWQ)\b/.test(label)) return label.split(" ")[0]!;
  return /imatrix/.test(label) ? "GGUF + imatrix" : "GGUF";
}

/**
 * The quality-versus-size frontier: mean KL divergence from FP32 (log axis) against bits per weight, one colour per method family (RTN, GPTQ, AWQ, GGUF with and without imatrix), the Pareto front through the points nothing beats. From a `quantizationStudy` table or rows with label, bitsPerWeight and kld.
 * @example
 * ```ts
 * kldFrontier([
 *   { label: "Q8_0", bitsPerWeight: 8.5, kld: 3e-5, sameTopPercent: 99.5 }, { label: "Q4_0", bitsPerWeight: 4.5, kld: 2e-3, sameTopPercent: 95 },
 *   { label: "RTN 4-bit g32", bitsPerWeight: 4.75, kld: 3e-3, sameTopPercent: 94 }, { label: "GPTQ 4-bit g32", bitsPerWeight: 4.75, kld: 1.5e-3, sameTopPercent: 96 },
 * ])
 * ```
 */
export function kldFrontier(data: { rows: StudyRowLike[] } | StudyRowLike[], o: KldFrontierOptions = {}): Chart {
  const all = Array.isArray(data) ? data : data.rows;
  const rows = all.filter((r) => r.kld !== undefined && r.kld > 0 && r.bitsPerWeight !== undefined && r.bitsPerWeight < 32);
  check(rows.length > 0, "BAD_ARGUMENT", "kldFrontier needs rows with bitsPerWeight and a KLD above 0: pass a quantizationStudy table (FP32 itself is left out)");
  const families = [...new Set(rows.map((r) => family(r.label)))];
  // labels above for every other family, below for the rest: methods at the same bits often land together
  const traces: Trace[] = families.map((f, i) => {
    const rs = rows.filter((r) => family(r.label) === f);
    return {
      type: "scatter", mode: "markers+text", name: f, x: rs.map((r) => r.bitsPerWeight), y: rs.map((r) => r.kld),
      text: rs.map((r) => r.label.replace(/^(RTN|GPTQ|AWQ) /, "")), textposition: i % 2 ? "bottom center" : "top center", textfont: { size: 11, color: PALETTE[i % PALETTE.length] },
      customdata: rs.map((r) => [r.label, r.sameTopPercent ?? NaN, r.perplexity ?? NaN]),
      hovertemplate: o.hover === false ? undefined : "%{customdata[0]}: %{x:.2f} bits/weight, KLD %{y:.3e}, same top %{customdata[1]:.1f} %, PPL %{customdata[2]:.3f}<extra></extra>",
      marker: { size: 10, color: PALETTE[i % PALETTE.length] },
    };
  });
  const xs = rows.map((r) => r.bitsPerWeight!), ys = rows.map((r) => r.kld!);
  const front = paretoFront(xs, ys);
  traces.push({ type: "scatter", mode: "lines", name: "Pareto front", x: front.map((i) => xs[i]), y: front.map((i) => ys[i]), line: { color: "#444", width: 1.5, dash: "dash", shape: "hv" }, hoverinfo: "skip" });
  const layout = baseLayout(o.title ?? "Quality vs size: KL divergence from FP32");
  Object.assign(layout, {
    showlegend: true,
    xaxis: { title: { text: "bits per weight (quantized linears, scales included)" }, gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
    yaxis: { title: { text: "mean KL divergence per token (nats)" }, type: "log", exponentformat: "e", gridcolor: "#e6e6e6", ticks: "outside", automargin: true },
  });
  return new ChartClass({ data: traces, layout }, "KLD vs bits per weight");
}

/** The columns `kldFrontier` reads from a study row. */
export interface StudyRowLike {
  label: string;
  bitsPerWeight?: number;
  kld?: number;
  sameTopPercent?: number;
  perplexity?: number;
}

/**
 * The folder a notebook's exports for notes go to, never a folder git tracks: `$QUANTLAB_NOTES` when
 * set; `out/notes/` of the QuantLab checkout when the kernel runs in its `notebooks/` folder (Jupyter
 * opened there); else `notes/` under the kernel's folder (`npm start` runs the kernel in `out/`, so
 * the files land in `out/notes/` there too). Pass your own folder to `export` to keep them elsewhere.
 * @example
 * ```ts
 * const s = sweep({ bits: [3, 4] }, (p) => rtn(randn(8, 64, { seed: 1 }), { ...p, groupSize: 32 }).report);
 * const notes = notesFolder();
 * exported(s.export(`${notes}/mse-by-bits.csv`))
 * ```
 */
export function notesFolder(): string {
  if (process.env.QUANTLAB_NOTES) return resolve(process.env.QUANTLAB_NOTES);
  const cwd = process.cwd();
  const root = checkoutOf(cwd);
  if (root && (cwd === join(root, "notebooks") || cwd.startsWith(join(root, "notebooks") + sep))) return join(root, "out", "notes");
  return join(cwd, "notes");
}

/** The QuantLab checkout (a package.json named quantlab) that holds `dir`, or null. */
function checkoutOf(dir: string): string | null {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const pkg = join(d, "package.json");
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, "utf8")).name === "quantlab") return d;
      } catch {
        // an unreadable package.json is not ours; keep looking above it
      }
    }
    if (dirname(d) === d) return null;
  }
}

/** What an export cell wrote: every file with its full path and size, so none of them goes unconfirmed. */
export interface ExportedFiles {
  files: { path: string; bytes: number }[];
  [DISPLAY](): MimeBundle;
}

/**
 * Confirms several exports at once: one line per file with its absolute path and size (a cell shows
 * only its last value, so three exports would otherwise confirm only the third).
 * @example
 * ```ts
 * const s = sweep({ bits: [3, 4] }, (p) => rtn(randn(8, 64, { seed: 1 }), { ...p, groupSize: 32 }).report);
 * exported(s.export(`${notesFolder()}/mse-by-bits.csv`), s.export(`${notesFolder()}/mse-by-bits.md`))
 * ```
 */
export function exported(...files: { path: string; bytes: number }[]): ExportedFiles {
  check(files.length > 0 && files.every((f) => f && typeof f.path === "string"), "BAD_ARGUMENT",
    "exported(...) takes what export() returned, e.g. exported(c.export(\"notes/a.svg\"), s.export(\"notes/a.csv\"))");
  const list = files.map((f) => ({ path: resolve(f.path), bytes: f.bytes }));
  const size = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  const lines = list.map((f) => `${f.path}  (${size(f.bytes)})`);
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return {
    files: list,
    [DISPLAY]: () => ({
      "text/plain": `wrote ${list.length} file${list.length === 1 ? "" : "s"}:\n${lines.map((l) => "  " + l).join("\n")}`,
      "text/html": `<div>wrote ${list.length} file${list.length === 1 ? "" : "s"}:</div><ul>${lines.map((l) => `<li><code>${esc(l)}</code></li>`).join("")}</ul>`,
    }),
  };
}
