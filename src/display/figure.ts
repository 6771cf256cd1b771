/**
 * The chart kinds (line, scatter, bar, histogram, heatmap): plotly figures from tables with the defaults
 * a course chart needs: axis titles, one colour per series, readable fonts, and log axes whose ticks sit
 * at the swept values (16, 32, 64 …) or at decades written as 1e-5 (plotly's own log ticks label minor
 * ticks "2, 3, 4" and write 1e-5 as "10µ").
 * Builders return a `Chart` (src/display/chart.ts), which renders in Jupyter and exports to files; a new
 * chart kind is one function here. The figure type is plotly-figure.ts, so chart.ts never imports this file.
 */
import { check } from "../errors.js";
import { Chart } from "./chart.js";
import type { Figure, Layout, Trace } from "./plotly-figure.js";
import { column, formatCell, toTable, type Cell, type Table } from "./table.js";

// Re-exported: callers take the figure types from the chart kinds.
export type { Figure, Layout, Trace };

/** Ten distinguishable colours (matplotlib's tab10), one per series in order. */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/**
 * Colours by series name, so a series keeps its colour when another one is added to the chart: the
 * name's hash picks a palette slot, and a name whose slot is taken gets the next free one.
 */
export function seriesColours(names: readonly string[]): string[] {
  const taken = new Set<number>();
  return names.map((name) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
    let slot = h % PALETTE.length;
    for (let k = 0; k < PALETTE.length && taken.has(slot); k++) slot = (slot + 1) % PALETTE.length;
    taken.add(slot);
    return PALETTE[slot]!;
  });
}

/** Hover text in the tables' number format (3.07e-5, not plotly's "30.70375μ"). */
function hoverOf(xTitle: string, yTitle: string, s: { x: Cell[]; y: Cell[] }): Record<string, unknown> {
  const esc = (t: string) => t.replace(/%/g, "%%");
  return {
    customdata: s.x.map((x, i) => [formatCell(x), formatCell(s.y[i]!)]),
    hovertemplate: `${esc(xTitle)}: %{customdata[0]}<br>${esc(yTitle)}: %{customdata[1]}<extra>%{fullData.name}</extra>`,
  };
}

export const FONT = { family: "Helvetica, Arial, sans-serif", size: 14, color: "#222" };

/** Options of `lineChart`, `scatterChart` and `barChart` (and `sweep(…).plot`). */
export interface XYOptions {
  /** Column for the horizontal axis. */
  x: string;
  /** Column(s) for the vertical axis; several columns give one series each. */
  y: string | string[];
  /** Column whose values split the rows into series (one colour each). */
  color?: string;
  title?: string;
  /** Axis titles (default: the column names). Put the unit in them: "MSE (squared weight units)". */
  xTitle?: string;
  yTitle?: string;
  logX?: boolean;
  logY?: boolean;
  /** Legend title (default: the color column). */
  legendTitle?: string;
  /** Series name from a color value (default `${color}=${value}`). */
  seriesName?: (value: Cell) => string;
  width?: number;
  height?: number;
}

/** A readable tick label: 0.01 … 9999 as plain numbers, the rest as 1e-5 / 2.5e+9 → 2.5e9. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e5) return String(v);
  if (a === 0 || (a >= 1e-3 && a < 1e5)) return String(Number(v.toPrecision(4)));
  return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
}

/**
 * Tick positions for a log axis: the values themselves when there are few distinct ones (a sweep's
 * group sizes), else powers of ten over the range, with 2× and 5× steps when the range is under two decades.
 */
export function logTicks(values: number[], preferValues: boolean): { tickvals: number[]; ticktext: string[] } {
  const pos = [...new Set(values.filter((v) => Number.isFinite(v) && v > 0))].sort((a, b) => a - b);
  check(pos.length > 0, "BAD_VALUE", "a log axis needs positive values: drop zeros and negatives or turn the log axis off");
  let ticks: number[] | undefined;
  if (preferValues && pos.length <= 12) ticks = pos;
  else {
    const min = pos[0]!, max = pos[pos.length - 1]!;
    const lo = Math.floor(Math.log10(min) + 1e-9);
    const hi = Math.ceil(Math.log10(max) - 1e-9);
    // Finer mantissas only when the data spans too little for decades alone to give three ticks.
    for (const steps of [[1], [1, 2, 5], [1, 2, 3, 5, 7], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      ticks = [];
      for (let e = lo; e <= hi; e++) for (const m of steps) {
        const t = Number((m * 10 ** e).toPrecision(12));
        if (t >= min / 1.05 && t <= max * 1.05) ticks.push(t);
      }
      if (ticks.length >= 3) break;
    }
    const every = Math.ceil(ticks!.length / 10);
    ticks = ticks!.filter((_, i) => i % every === 0);
  }
  return { tickvals: ticks!, ticktext: ticks!.map(tickLabel) };
}

function axis(title: string, values: Cell[], log: boolean, swept: boolean): Record<string, unknown> {
  const base = { title: { text: title, font: { size: 15 } }, gridcolor: "#e6e6e6", zerolinecolor: "#bbb", linecolor: "#444", ticks: "outside", automargin: true };
  const categorical = values.some((v) => typeof v !== "number" && v != null);
  if (categorical) {
    const order = [...new Set(values.filter((v) => v != null).map(String))];
    return { ...base, type: "category", categoryorder: "array", categoryarray: order };
  }
  if (log) return { ...base, type: "log", ...logTicks(values as number[], swept) };
  return { ...base, type: "linear", tickformat: values.some((v) => typeof v === "number" && v !== 0 && Math.abs(v) < 1e-3) ? ".1e" : undefined };
}

export function baseLayout(title: string | undefined, width = 720, height = 440): Layout {
  return {
    title: title ? { text: title, x: 0.02, xanchor: "left", font: { size: 18 } } : undefined,
    font: FONT, width, height, paper_bgcolor: "white", plot_bgcolor: "white",
    margin: { l: 80, r: 30, t: title ? 60 : 30, b: 70 }, colorway: PALETTE,
    legend: { bgcolor: "rgba(255,255,255,0.8)" },
  };
}

interface Series {
  name: string;
  x: Cell[];
  y: Cell[];
  text?: string[];
}

function seriesOf(t: Table, o: XYOptions): Series[] {
  const ys = Array.isArray(o.y) ? o.y : [o.y];
  check(ys.length > 0, "BAD_ARGUMENT", "y needs at least one column name");
  const xs = column(t, o.x);
  const out: Series[] = [];
  for (const y of ys) {
    const yv = column(t, y);
    if (!o.color) {
      out.push({ name: y, x: xs, y: yv });
      continue;
    }
    const cv = column(t, o.color);
    const groups = new Map<string, { key: Cell; idx: number[] }>();
    cv.forEach((c, i) => {
      const k = String(c);
      if (!groups.has(k)) groups.set(k, { key: c, idx: [] });
      groups.get(k)!.idx.push(i);
    });
    for (const { key, idx } of groups.values()) {
      const label = o.seriesName ? o.seriesName(key) : `${o.color}=${formatCell(key)}`;
      out.push({ name: ys.length > 1 ? `${y}, ${label}` : label, x: idx.map((i) => xs[i]), y: idx.map((i) => yv[i]) });
    }
  }
  return out;
}

function xyFigure(data: unknown, o: XYOptions, kind: "line" | "scatter" | "bar"): Figure {
  const t = toTable(data);
  const series = seriesOf(t, o);
  const ys = Array.isArray(o.y) ? o.y : [o.y];
  const allY = series.flatMap((s) => s.y);
  if (o.logY) check(allY.every((v) => typeof v !== "number" || v > 0), "BAD_VALUE",
    `logY needs positive ${ys.join(", ")}: a value is zero or negative; plot without logY or filter those rows`);
  const colours = seriesColours(series.map((s) => s.name));
  const xTitle = o.xTitle ?? o.x, yTitle = o.yTitle ?? ys.join(", ");
  const traces: Trace[] = series.map((s, i) => {
    const colour = colours[i];
    const hover = hoverOf(xTitle, ys.length > 1 && !o.yTitle ? s.name.split(",")[0]! : yTitle, s);
    if (kind === "bar") return { type: "bar", name: s.name, x: s.x, y: s.y, marker: { color: colour }, ...hover };
    return {
      type: "scatter", mode: kind === "line" ? "lines+markers" : "markers", name: s.name, x: s.x, y: s.y,
      line: { color: colour, width: 2.5 }, marker: { color: colour, size: kind === "line" ? 7 : 9 }, ...hover,
    };
  });
  const layout = baseLayout(o.title, o.width, o.height);
  layout.xaxis = axis(xTitle, column(t, o.x), !!o.logX, true);
  layout.yaxis = axis(yTitle, allY, !!o.logY, false);
  layout.showlegend = traces.length > 1;
  if (o.color) layout.legend = { ...(layout.legend as object), title: { text: o.legendTitle ?? o.color } };
  if (kind === "bar" && traces.length > 1) layout.barmode = "group";
  return { data: traces, layout };
}

/**
 * A line chart (lines with markers), one series per value of `color`.
 * @example
 * ```ts
 * const rows = [{ g: 32, bits: 4, mse: 2e-5 }, { g: 128, bits: 4, mse: 4e-5 }, { g: 32, bits: 8, mse: 1e-7 }, { g: 128, bits: 8, mse: 2e-7 }];
 * lineChart(rows, { x: "g", y: "mse", color: "bits", logX: true, logY: true, xTitle: "group size", yTitle: "MSE" })
 * ```
 */
export function lineChart(data: unknown, o: XYOptions): Chart {
  return new Chart(xyFigure(data, o, "line"), o.title ?? `${Array.isArray(o.y) ? o.y.join(", ") : o.y} vs ${o.x}`);
}

/**
 * A scatter chart (markers only), one series per value of `color`.
 * @example
 * ```ts
 * scatterChart({ bpw: [4.25, 4.5, 8.5], mse: [3e-5, 2e-5, 1e-7] }, { x: "bpw", y: "mse", logY: true })
 * ```
 */
export function scatterChart(data: unknown, o: XYOptions): Chart {
  return new Chart(xyFigure(data, o, "scatter"), o.title ?? `${Array.isArray(o.y) ? o.y.join(", ") : o.y} vs ${o.x}`);
}

/**
 * A bar chart, bars grouped side by side when there are several series.
 * @example
 * ```ts
 * barChart([{ format: "fp16", GB: 14 }, { format: "int4", GB: 3.5 }], { x: "format", y: "GB", yTitle: "weights (GB)" })
 * ```
 */
export function barChart(data: unknown, o: XYOptions): Chart {
  return new Chart(xyFigure(data, o, "bar"), o.title ?? `${Array.isArray(o.y) ? o.y.join(", ") : o.y} by ${o.x}`);
}

/** Options of `histogramChart`. */
export interface HistogramOptions {
  /** Number of equal-width bins (default 80). */
  bins?: number;
  /** Bin range (default: the data's min and max). */
  range?: [number, number];
  title?: string;
  xTitle?: string;
  yTitle?: string;
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface Binned {
  edges: Float64Array;
  counts: Float64Array;
}

/** Equal-width bins computed here, so a 16M-weight histogram ships 80 numbers, not 16M. */
export function binValues(values: ArrayLike<number>, bins: number, range?: [number, number]): Binned {
  check(Number.isInteger(bins) && bins > 0 && bins <= 10000, "BAD_ARGUMENT", `bins must be an integer in 1…10000, got ${bins}`);
  let lo = range?.[0] ?? Infinity;
  let hi = range?.[1] ?? -Infinity;
  if (!range) for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  check(Number.isFinite(lo) && Number.isFinite(hi), "BAD_VALUE", "a histogram needs finite values: the data is empty or holds NaN/Infinity");
  if (hi === lo) (lo -= 0.5, hi += 0.5);
  const w = (hi - lo) / bins;
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= lo && v <= hi)) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) / w))]!++;
  }
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = lo + i * w;
  return { edges, counts };
}

/** One bar trace drawing a binned histogram. */
export function histogramTrace(b: Binned, name: string, colour: string, opacity = 1): Trace {
  const n = b.counts.length;
  const centres = Array.from({ length: n }, (_, i) => (b.edges[i]! + b.edges[i + 1]!) / 2);
  return { type: "bar", name, x: centres, y: Array.from(b.counts), width: (b.edges[n]! - b.edges[0]!) / n, marker: { color: colour, line: { width: 0 } }, opacity };
}

/**
 * A histogram of one array, or of several named arrays overlaid (one colour each); binned here.
 * @example
 * ```ts
 * histogramChart({ before: [0.1, -0.3, 0.7, -1, 0.5], after: [0.1, -0.3, 0.7, -1, 0.47] }, { bins: 20, xTitle: "weight" })
 * ```
 */
export function histogramChart(values: ArrayLike<number> | Record<string, ArrayLike<number>>, o: HistogramOptions = {}): Chart {
  const sets: [string, ArrayLike<number>][] = isArrayLike(values) ? [["values", values]] : Object.entries(values);
  check(sets.length > 0, "BAD_ARGUMENT", "histogram needs an array of numbers or an object of named arrays");
  let range = o.range;
  if (!range) {
    let lo = Infinity, hi = -Infinity;
    for (const [, v] of sets) for (let i = 0; i < v.length; i++) (lo = Math.min(lo, v[i]!), hi = Math.max(hi, v[i]!));
    range = [lo, hi];
  }
  const bins = o.bins ?? 80;
  const colours = seriesColours(sets.map(([name]) => name));
  const traces = sets.map(([name, v], i) => histogramTrace(binValues(v, bins, range), name, colours[i]!, sets.length > 1 ? 0.6 : 1));
  const layout = baseLayout(o.title, o.width, o.height);
  layout.bargap = 0;
  layout.barmode = "overlay";
  layout.showlegend = sets.length > 1;
  layout.xaxis = axis(o.xTitle ?? "value", [range[0], range[1]], false, false);
  const ys = traces.flatMap((t) => (t.y as number[]).filter((c) => c > 0));
  layout.yaxis = axis(o.yTitle ?? "count", ys.length ? ys : [1], !!o.logY, false);
  return new Chart({ data: traces, layout }, o.title ?? "histogram");
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

/** Options of `heatmapChart`. */
export interface HeatmapOptions {
  /** With a table: the columns for the two axes and the value. */
  x?: string;
  y?: string;
  z?: string;
  /** With a matrix: labels for columns and rows. */
  xLabels?: Cell[];
  yLabels?: Cell[];
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Colour-bar title (put the unit here). */
  zTitle?: string;
  /** Colour by log10 of the value (errors spanning decades). */
  logZ?: boolean;
  width?: number;
  height?: number;
}

/**
 * A heatmap from a matrix (rows of numbers) or from a long table with x, y and z columns.
 * @example
 * ```ts
 * heatmapChart([{ g: 32, bits: 4, mse: 2e-5 }, { g: 128, bits: 4, mse: 4e-5 }, { g: 32, bits: 8, mse: 1e-7 }, { g: 128, bits: 8, mse: 2e-7 }],
 *              { x: "g", y: "bits", z: "mse", logZ: true, zTitle: "MSE" })
 * ```
 */
export function heatmapChart(data: number[][] | unknown, o: HeatmapOptions = {}): Chart {
  let z: number[][];
  let xl: Cell[];
  let yl: Cell[];
  if (Array.isArray(data) && data.every((r) => Array.isArray(r) || ArrayBuffer.isView(r))) {
    z = (data as ArrayLike<number>[]).map((r) => Array.from(r));
    xl = o.xLabels ?? Array.from({ length: z[0]?.length ?? 0 }, (_, i) => i);
    yl = o.yLabels ?? z.map((_, i) => i);
  } else {
    check(o.x && o.y && o.z, "BAD_ARGUMENT", "a heatmap from a table needs { x, y, z } column names");
    const t = toTable(data);
    const xs = column(t, o.x!), ys = column(t, o.y!), zs = column(t, o.z!);
    xl = [...new Map(xs.map((v) => [String(v), v])).values()];
    yl = [...new Map(ys.map((v) => [String(v), v])).values()];
    z = yl.map(() => xl.map(() => NaN));
    xs.forEach((xv, i) => (z[yl.findIndex((v) => String(v) === String(ys[i]))]![xl.findIndex((v) => String(v) === String(xv))] = Number(zs[i])));
  }
  const shown = o.logZ ? z.map((r) => r.map((v) => (v > 0 ? Math.log10(v) : NaN))) : z;
  const text = z.map((r) => r.map((v) => formatCell(v)));
  const trace: Trace = {
    type: "heatmap", x: xl.map(String), y: yl.map(String), z: shown, text, texttemplate: "%{text}", hoverinfo: "x+y+text",
    colorscale: "Viridis", colorbar: { title: { text: (o.zTitle ?? o.z ?? "value") + (o.logZ ? " (log10)" : "") } },
  };
  const layout = baseLayout(o.title, o.width, o.height);
  layout.xaxis = { title: { text: o.xTitle ?? o.x ?? "column" }, type: "category", automargin: true };
  layout.yaxis = { title: { text: o.yTitle ?? o.y ?? "row" }, type: "category", automargin: true };
  return new Chart({ data: [trace], layout }, o.title ?? "heatmap");
}
