/**
 * Small data helpers for notebook cells: seeded weight matrices (Gaussian, heavy-tailed, with outlier
 * channels) and tables of any rows, so every example is reproducible and every result can be shown
 * and exported.
 */
import { check } from "../errors.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { tableCsv, tableHtml, tableMarkdown, tableText, toTable, type Table as Rows } from "../display/table.js";
import { writeFileAtomicSync, type Written } from "../display/write.js";
import { matrix, type Matrix } from "../numerics/matrix.js";
import { mulberry32 } from "../numerics/random.js";

/**
 * A seeded uniform generator on [0, 1) (mulberry32): the same seed gives the same numbers everywhere.
 * @example
 * ```ts
 * const u = rng(42);
 * const row = Array.from({ length: 8 }, () => 2 * u() - 1);   // 8 reproducible values in [-1, 1)
 * ruler({ bits: 4 }).quantize(row).codes
 * ```
 */
export function rng(seed = 0): () => number {
  return mulberry32(seed);
}

/** Options of `randn`: the seed, the standard deviation, and `df` for heavy Student-t tails like real weights. */
export interface RandnOptions {
  seed?: number;
  /** Standard deviation (default 1). */
  std?: number;
  /** Student-t degrees of freedom for heavy tails like real weights (default: Gaussian). */
  df?: number;
}

/**
 * A seeded random matrix: Gaussian, or Student-t with `df` degrees of freedom (LLM weights are heavy-tailed).
 * @example
 * ```ts
 * const W = randn(256, 1024, { seed: 1, std: 0.02 });
 * const T = randn(256, 1024, { seed: 1, std: 0.02, df: 5 });   // heavier tails
 * ```
 */
export function randn(rows: number, cols: number, o: RandnOptions = {}): Matrix {
  const u = rng(o.seed ?? 0);
  const W = matrix(rows, cols);
  const std = o.std ?? 1;
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-300))) * Math.cos(2 * Math.PI * u());
  const df = o.df;
  check(df === undefined || df > 2, "BAD_ARGUMENT", `df must be greater than 2 (finite variance), got ${df}`);
  // a Student-t draw is z / sqrt(chi²_df / df); scaled to unit variance so `std` means what it says
  const tScale = df === undefined ? 1 : Math.sqrt((df - 2) / df);
  for (let i = 0; i < W.data.length; i++) {
    let v = normal();
    if (df !== undefined) {
      let chi = 0;
      for (let k = 0; k < df; k++) chi += normal() ** 2;
      v = (v / Math.sqrt(chi / df)) * tScale;
    }
    W.data[i] = v * std;
  }
  return W;
}

/** Options of `withOutliers`: how many input columns and output rows become outliers, and how much larger. */
export interface OutlierOptions {
  /** Input channels (columns) to scale up (default 4). */
  columns?: number;
  /** Output channels (rows) to scale up (default 0). */
  rows?: number;
  /** How much larger the outliers are (default 20). */
  factor?: number;
  seed?: number;
}

/**
 * A copy of W with a few outlier input channels (and rows), as real LLM layers have.
 * @example
 * ```ts
 * const W = withOutliers(randn(64, 256, { seed: 2, std: 0.02 }), { columns: 4, factor: 20 });
 * ```
 */
export function withOutliers(W: Matrix, o: OutlierOptions = {}): Matrix {
  const out = matrix(W.rows, W.cols, W.data.slice());
  const u = rng(o.seed ?? 1);
  const factor = o.factor ?? 20;
  const pick = (n: number, k: number) => {
    const chosen = new Set<number>();
    while (chosen.size < Math.min(k, n)) chosen.add(Math.floor(u() * n));
    return [...chosen];
  };
  for (const c of pick(W.cols, o.columns ?? 4)) for (let r = 0; r < W.rows; r++) out.data[r * W.cols + c]! *= factor;
  for (const r of pick(W.rows, o.rows ?? 0)) for (let c = 0; c < W.cols; c++) out.data[r * W.cols + c]! *= factor;
  return out;
}

/**
 * A table that renders in the notebook (HTML) and prints as text; `export(path)` writes it as .csv,
 * .md or .html for notes. Made by `table(rows)`.
 */
export interface Table {
  readonly columns: string[];
  readonly rows: Rows["rows"];
  /** Writes the table for notes: .csv, .md or .html (atomic). */
  export(path: string): Written;
  toString(): string;
  [DISPLAY](): MimeBundle;
}

/**
 * Any rows (objects, a record of columns, a DataFrame, a sweep) as a table that renders in the notebook
 * and exports to CSV, Markdown or HTML.
 * @example
 * ```ts
 * table([{ format: "INT4", mse: 1.2e-5 }, { format: "NF4", mse: 9.1e-6 }], "INT4 vs NF4")
 * ```
 */
export function table(data: unknown, title?: string): Table {
  const t = toTable(data);
  return {
    columns: t.columns,
    rows: t.rows,
    export(path: string): Written {
      const ext = path.slice(path.lastIndexOf(".")).toLowerCase();
      check([".csv", ".md", ".html"].includes(ext), "BAD_ARGUMENT", `cannot export a table as '${ext}': use .csv, .md or .html`);
      const body = ext === ".csv" ? tableCsv(t) : ext === ".md" ? tableMarkdown(t) : tableHtml(t, Infinity, title);
      return writeFileAtomicSync(path, body);
    },
    toString: () => (title ? `${title}\n` : "") + tableText(t),
    [DISPLAY]: (): MimeBundle => ({
      "text/plain": (title ? `${title}\n` : "") + tableText(t),
      "text/html": tableHtml(t, 200, title),
      "text/csv": tableCsv(t),
    }),
  };
}
