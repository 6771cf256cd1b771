/**
 * Parameter sweeps: `sweep(grid, fn)` evaluates `fn` at every point of the Cartesian product of the
 * grid's lists (first key outermost, each list in the order given) and collects one row per point —
 * the parameters plus every metric `fn` returns. The result shows as a table in the notebook, plots
 * itself, exports to CSV/Markdown/HTML, and hands out a danfo DataFrame (`.frame`), loaded only when
 * asked for because importing danfojs-node costs ≈ 2 s (it pulls mathjs and the tfjs umbrella).
 */
import { createRequire } from "node:module";
import { extname } from "node:path";
import { check, QuantLabError } from "../errors.js";
import { throwIfInterrupted } from "../interrupt.js";
import { progress as reportProgress } from "../progress.js";
import type { Chart } from "../display/chart.js";
import { barChart, lineChart, scatterChart, type XYOptions } from "../display/figure.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { tableCsv, tableHtml, tableMarkdown, tablePage, tableText, type Cell, type Table } from "../display/table.js";
import { writeFileAtomicSync, type Written } from "../display/write.js";

/** A sweep grid: each parameter name with its list of values. */
export type Grid = Record<string, readonly unknown[]>;
/** One point of a grid: each parameter with one of its values. */
export type Point<G extends Grid> = { [K in keyof G]: G[K][number] };
/** What `fn` may return: a number (one metric), a record of metrics, or an object with a `report` (a quantized layer). */
export type Metrics = number | object;

/** The second argument of a sweep function. */
export interface SweepContext {
  /** Position of the point in the sweep (0-based). */
  index: number;
  /** A seed for this point, derived from the sweep's seed and the index: the same point gets the same seed in any run. */
  seed: number;
}

/** Options of `sweep`. */
export interface SweepOptions {
  /** Column name when `fn` returns a bare number (default: the function `fn` calls, e.g. "mse" for `(p) => mse(…)`, else "value"). */
  metric?: string;
  /** Base seed for `ctx.seed` (default 0). */
  seed?: number;
  /** Report progress (the kernel shows a line updated in place once the sweep runs longer than ~1 s; default true). */
  progress?: boolean;
}

/**
 * The axis titles (with units) that sweep charts use for known columns; add your own.
 * @example
 * ```ts
 * LABELS.groupSize             // "group size (weights per scale)"
 * LABELS.myMetric = "my metric (units)"
 * ```
 */
export const LABELS: Record<string, string> = {
  groupSize: "group size (weights per scale)",
  bits: "bits per code",
  mse: "MSE (squared weight units)",
  maxError: "max |error| (weight units)",
  sqnrDb: "SQNR (dB)",
  relError: "relative error ‖W − Ŵ‖ / ‖W‖",
  bitsPerWeight: "bits per weight (with scales)",
  bpw: "bits per weight (with scales)",
  bytes: "bytes",
  context: "context length (tokens)",
  seconds: "time (s)",
  outputError: "relative output error",
};

export function label(name: string): string {
  return LABELS[name] ?? name;
}

function seedFor(base: number, index: number): number {
  let h = (base ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function guessMetricName(fn: Function): string {
  const m = /=>\s*\(?\s*([A-Za-z_$][\w$]*)\s*\(/.exec(fn.toString()) ?? /return\s+([A-Za-z_$][\w$]*)\s*\(/.exec(fn.toString());
  return m && !["Math", "Number", "await"].includes(m[1]!) ? m[1]! : "value";
}

function scalar(v: unknown): v is Cell {
  return v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean";
}

/** A parameter value as a table cell: numbers and strings stay, arrays and specs become short text. */
function paramCell(v: unknown): Cell {
  if (scalar(v) || v === undefined) return v as Cell;
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return `[${v.length} values]`;
  if (typeof v === "function") return v.name || "fn";
  if (typeof v === "object" && v !== null && "kind" in v) return Object.values(v).join(":");
  return JSON.stringify(v);
}

function metricsOf(r: unknown, metric: string, index: number): [string, Cell][] {
  if (typeof r === "number" || typeof r === "bigint") return [[metric, Number(r)]];
  check(typeof r === "object" && r !== null, "BAD_VALUE",
    `the sweep function returned ${String(r)} at point ${index}: return a number or an object of metrics such as { mse, sqnrDb }`);
  const rec = r as Record<string, unknown>;
  const out: [string, Cell][] = [];
  const report = rec.report;
  if (typeof report === "object" && report !== null && !("mse" in rec)) {
    // `seconds` is wall time: leaving it out keeps a sweep's table identical from run to run.
    for (const [k, v] of Object.entries(report)) if (scalar(v) && k !== "seconds") out.push([k, v]);
    return out;
  }
  // An error report's `seconds` is wall time: leaving it out keeps a sweep's table identical from run to run.
  const isReport = "mse" in rec && "bitsPerWeight" in rec && "count" in rec;
  for (const [k, v] of Object.entries(rec)) if (scalar(v) && !(isReport && k === "seconds")) out.push([k, v]);
  else if (typeof v === "bigint") out.push([k, Number(v)]);
  return out;
}

/** Polls for an interrupt at every grid point and reports progress (the kernel shows it as a line). */
class Progress {
  constructor(private readonly total: number, private readonly enabled: boolean) {}

  tick(done: number): void {
    throwIfInterrupted("sweep");
    if (this.enabled) reportProgress("sweep points", done, this.total);
  }

  end(): void {}
}

function points(grid: Grid): Record<string, unknown>[] {
  const keys = Object.keys(grid);
  check(keys.length > 0, "BAD_ARGUMENT", "sweep needs at least one parameter, e.g. sweep({ bits: [3, 4, 8] }, fn)");
  for (const k of keys) {
    check(Array.isArray(grid[k]) && grid[k]!.length > 0, "BAD_ARGUMENT",
      `sweep parameter '${k}' must be a non-empty list of values, e.g. { ${k}: [16, 32, 64] }`);
  }
  let out: Record<string, unknown>[] = [{}];
  for (const k of keys) out = out.flatMap((p) => grid[k]!.map((v) => ({ ...p, [k]: v })));
  return out;
}

/**
 * Evaluates `fn` over the grid's Cartesian product.
 * @example
 * ```ts
 * const W = matrix(8, 256, Array.from({ length: 2048 }, (_, i) => Math.sin(i) * 0.02));
 * const s = sweep({ groupSize: [16, 32, 64, 128, "channel"], bits: [3, 4, 8] },
 *                 (p) => rtn(W, p).report)          // or (p) => mse(W.data, rtn(W, p).dequantized)
 * s.plot({ x: "groupSize", y: "mse", color: "bits", logY: true })
 * s.export("notes/mse-vs-group-size.csv")
 * ```
 */
export function sweep<const G extends Grid>(grid: G, fn: (p: Point<G>, ctx: SweepContext) => Promise<Metrics>, o?: SweepOptions): Promise<Sweep>;
export function sweep<const G extends Grid>(grid: G, fn: (p: Point<G>, ctx: SweepContext) => Metrics, o?: SweepOptions): Sweep;
export function sweep<const G extends Grid>(grid: G, fn: (p: Point<G>, ctx: SweepContext) => Metrics | Promise<Metrics>, o: SweepOptions = {}): Sweep | Promise<Sweep> {
  check(typeof fn === "function", "BAD_ARGUMENT", "sweep(grid, fn) needs a function that maps one point to its metrics, e.g. (p) => rtn(W, p).report");
  const pts = points(grid);
  const metric = o.metric ?? guessMetricName(fn);
  const progress = new Progress(pts.length, o.progress ?? true);
  const results: unknown[] = [];
  const ctx = (i: number): SweepContext => ({ index: i, seed: seedFor(o.seed ?? 0, i) });
  const call = (i: number) => {
    try {
      return fn(pts[i] as Point<G>, ctx(i));
    } catch (e) {
      throw withPoint(e, pts[i]!);
    }
  };
  const finish = () => {
    progress.end();
    return new Sweep(Object.keys(grid), pts, results.map((r, i) => metricsOf(r, metric, i)));
  };
  progress.tick(0);
  for (let i = 0; i < pts.length; i++) {
    const r = call(i);
    if (r && typeof (r as Promise<Metrics>).then === "function") {
      return (async () => {
        results.push(await (r as Promise<Metrics>).catch((e) => Promise.reject(withPoint(e, pts[i]!))));
        progress.tick(i + 1);
        for (let j = i + 1; j < pts.length; j++) {
          results.push(await Promise.resolve(call(j)).catch((e) => Promise.reject(withPoint(e, pts[j]!))));
          progress.tick(j + 1);
        }
        return finish();
      })();
    }
    results.push(r);
    progress.tick(i + 1);
  }
  return finish();
}

function withPoint(e: unknown, p: Record<string, unknown>): unknown {
  if (!(e instanceof Error) || (e as { sweepPoint?: boolean }).sweepPoint) return e;
  const where = Object.entries(p).map(([k, v]) => `${k}=${String(paramCell(v))}`).join(", ");
  const out = e instanceof QuantLabError ? new QuantLabError(e.code, `at sweep point ${where}: ${e.message}`, { cause: e }) : e;
  if (!(e instanceof QuantLabError)) e.message = `at sweep point ${where}: ${e.message}`;
  (out as { sweepPoint?: boolean }).sweepPoint = true;
  return out;
}

/** Options of `sweep(…).plot`: the chart options, all optional, plus the kind of chart. */
export interface PlotOptions extends Partial<XYOptions> {
  /** "line" (default), "scatter" or "bar". */
  kind?: "line" | "scatter" | "bar";
}

/**
 * The result of a sweep: one row per point (parameters, then metrics); shows as a table, plots, exports.
 * @example
 * ```ts
 * const s = sweep({ bits: [4, 8] }, (p) => ({ levels: 2 ** p.bits }));
 * s.records()        // [{ bits: 4, levels: 16 }, { bits: 8, levels: 256 }]
 * s.export("levels.md")
 * ```
 */
export class Sweep {
  readonly columns: string[];
  readonly rows: Cell[][];
  /** The raw parameter values of each point (specs and arrays as given, not as text). */
  readonly points: Record<string, unknown>[];
  readonly params: string[];
  readonly metrics: string[];
  private frameCache: unknown = null;

  constructor(params: string[], pts: Record<string, unknown>[], metrics: [string, Cell][][]) {
    const names: string[] = [];
    for (const m of metrics) for (const [k] of m) if (!names.includes(k) && !params.includes(k)) names.push(k);
    this.params = params;
    this.metrics = names;
    this.points = pts;
    this.columns = [...params, ...names];
    this.rows = pts.map((p, i) => {
      const mm = new Map(metrics[i]);
      return [...params.map((k) => paramCell(p[k])), ...names.map((k) => mm.get(k) ?? null)];
    });
  }

  get length(): number {
    return this.rows.length;
  }

  get table(): Table {
    return { columns: this.columns, rows: this.rows };
  }

  /** Rows as objects: `[{ groupSize: 32, bits: 4, mse: 1.2e-4 }, …]`. */
  records(): Record<string, Cell>[] {
    return this.rows.map((r) => Object.fromEntries(this.columns.map((c, j) => [c, r[j]])));
  }

  /** One column's values. */
  col(name: string): Cell[] {
    const j = this.columns.indexOf(name);
    check(j >= 0, "NOT_FOUND", `the sweep has no column '${name}': it has ${this.columns.join(", ")}`);
    return this.rows.map((r) => r[j]);
  }

  /** The rows as a danfo DataFrame (danfojs-node is loaded on first use, ≈ 2 s). */
  get frame(): any {
    if (this.frameCache === null) {
      const danfo = createRequire(import.meta.url)("danfojs-node") as { DataFrame: new (rows: unknown[], o?: unknown) => unknown };
      this.frameCache = new danfo.DataFrame(this.rows.map((r) => r.map((v) => (v === undefined ? null : v))), { columns: this.columns });
    }
    return this.frameCache;
  }

  toString(): string {
    return `sweep: ${this.length} points over ${this.params.join(" × ")}\n${tableText(this.table, 40)}`;
  }

  [DISPLAY](): MimeBundle {
    return {
      "text/plain": this.toString(),
      "text/html": tableHtml(this.table, 100, `sweep: ${this.length} points over ${this.params.join(" × ")}`),
    };
  }

  /**
   * A chart of the sweep. Defaults: x = the first parameter, y = the first metric, color = the second
   * parameter; log x when x is numeric and spans ≥ 8×, log y when y spans ≥ 2 decades.
   */
  plot(o: PlotOptions = {}): Chart {
    const x = o.x ?? this.params[0]!;
    const y = o.y ?? this.metrics[0] ?? this.params[this.params.length - 1]!;
    const color = o.color === undefined ? this.params.find((p) => p !== x && new Set(this.col(p).map(String)).size > 1) : o.color;
    const ys = (Array.isArray(y) ? y : [y]).flatMap((c) => this.col(c));
    const xs = this.col(x);
    const spans = (v: Cell[], ratio: number) => {
      const n = v.filter((t): t is number => typeof t === "number" && t > 0);
      return n.length === v.length && n.length > 1 && Math.max(...n) / Math.min(...n) >= ratio;
    };
    const opts: XYOptions = {
      ...o, x, y, color: color || undefined,
      logX: o.logX ?? (xs.every((v) => typeof v === "number") && spans(xs, 8)),
      logY: o.logY ?? spans(ys, 100),
      xTitle: o.xTitle ?? label(x),
      yTitle: o.yTitle ?? (Array.isArray(y) ? y.map(label).join(", ") : label(y)),
      seriesName: o.seriesName ?? (color ? (v) => (color === "bits" ? `${v} bits` : `${color}=${v}`) : undefined),
    };
    if (!opts.color) delete opts.color;
    const kind = o.kind ?? "line";
    return kind === "bar" ? barChart(this.table, opts) : kind === "scatter" ? scatterChart(this.table, opts) : lineChart(this.table, opts);
  }

  /** Writes the table: .csv (full precision), .md, .html (standalone page) or .json (records). */
  export(path: string): Written {
    const ext = extname(path).toLowerCase();
    switch (ext) {
      case ".csv": return writeFileAtomicSync(path, tableCsv(this.table));
      case ".md": return writeFileAtomicSync(path, tableMarkdown(this.table));
      case ".html": return writeFileAtomicSync(path, tablePage(this.table, `sweep over ${this.params.join(" × ")}`));
      case ".json": return writeFileAtomicSync(path, JSON.stringify(this.records(), null, 1));
      default: throw new QuantLabError("BAD_ARGUMENT", `cannot export a sweep as '${ext || path}': use .csv, .md, .html or .json (charts: s.plot(…).export("x.svg"))`);
    }
  }
}
