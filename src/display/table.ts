/**
 * Tables as plain rows: any danfo DataFrame, array of records or record of columns becomes
 * `{ columns, rows }`, which renders to HTML/text for Jupyter and serialises to CSV, Markdown and HTML
 * for notes. Recognises danfo by shape so display never loads danfo itself. The text and HTML table
 * renderers are the display protocol's (src/display-protocol.ts), shared with every layer's reports.
 */
import { check, QuantLabError } from "../errors.js";
import { escapeHtml, htmlTable, textTableLines } from "../display-protocol.js";

// Re-exported: display code (plotly.ts …) takes escaping from here.
export { escapeHtml };

export type Cell = string | number | boolean | null | undefined;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

/** A DataFrame-like value: danfo's DataFrame has `columns` and row-major `values`. */
interface FrameLike {
  columns: string[];
  values: unknown[][];
}

function isFrameLike(v: unknown): v is FrameLike {
  return typeof v === "object" && v !== null && Array.isArray((v as FrameLike).columns) && Array.isArray((v as FrameLike).values);
}

function cell(v: unknown): Cell {
  if (v === null || v === undefined || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return Number(v);
  return String(v);
}

/** Rows from a DataFrame, an array of records, or a record of equal-length columns. */
export function toTable(data: unknown): Table {
  const t = data as Table;
  if (typeof data === "object" && data !== null && Array.isArray(t.columns) && Array.isArray(t.rows) && t.rows.every(Array.isArray)) {
    return { columns: t.columns.map(String), rows: t.rows.map((r) => r.map(cell)) };
  }
  if (isFrameLike(data)) {
    return { columns: data.columns.map(String), rows: data.values.map((r) => (Array.isArray(r) ? r.map(cell) : [cell(r)])) };
  }
  if (Array.isArray(data)) {
    const columns: string[] = [];
    const seen = new Set<string>();
    for (const r of data) {
      check(typeof r === "object" && r !== null, "BAD_ARGUMENT", "table rows must be objects such as { bits: 4, mse: 1e-4 }");
      for (const k of Object.keys(r)) if (!seen.has(k)) (seen.add(k), columns.push(k));
    }
    return { columns, rows: data.map((r) => columns.map((c) => cell((r as Record<string, unknown>)[c]))) };
  }
  if (typeof data === "object" && data !== null) {
    const cols = Object.entries(data as Record<string, unknown>);
    check(cols.every(([, v]) => Array.isArray(v) || ArrayBuffer.isView(v)), "BAD_ARGUMENT",
      "a table needs a DataFrame, an array of row objects, or an object of equal-length column arrays");
    const n = cols.length ? (cols[0]![1] as ArrayLike<unknown>).length : 0;
    for (const [k, v] of cols) {
      check((v as ArrayLike<unknown>).length === n, "BAD_SHAPE", `column '${k}' has ${(v as ArrayLike<unknown>).length} values, the first column has ${n}: give every column the same length`);
    }
    const rows: Cell[][] = [];
    for (let i = 0; i < n; i++) rows.push(cols.map(([, v]) => cell((v as ArrayLike<unknown>)[i])));
    return { columns: cols.map(([k]) => k), rows };
  }
  throw new QuantLabError("BAD_ARGUMENT", `cannot make a table from ${typeof data}: pass a DataFrame, an array of row objects, or an object of column arrays`);
}

/** The column's values, or a clear error naming the columns that exist. */
export function column(t: Table, name: string): Cell[] {
  const i = t.columns.indexOf(name);
  check(i >= 0, "NOT_FOUND", `no column '${name}': the table has ${t.columns.map((c) => `'${c}'`).join(", ")}`);
  return t.rows.map((r) => r[i]);
}

/** Numbers shown to 4 significant digits, small and large ones in exponent form (1e-5, not 0.00001). */
export function formatCell(v: Cell): string {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, "e").replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/** An HTML table (first `maxRows` rows) with a row-count note when cut; numbers right-aligned. */
export function tableHtml(t: Table, maxRows = Infinity, caption?: string): string {
  const rows = t.rows.slice(0, maxRows);
  const more = t.rows.length > rows.length ? `<p>… ${t.rows.length - rows.length} more rows (${t.rows.length} in all)</p>` : "";
  return htmlTable({
    header: t.columns, rows: rows.map((r) => r.map(formatCell)), className: "dataframe", rowSeparator: "\n",
    align: (i, j) => (typeof rows[i]![j] === "number" ? "right" : "left"),
    ...(caption ? { caption: { html: escapeHtml(caption) } } : {}),
  }) + more;
}

/** A fixed-width text table for terminals and text/plain. */
export function tableText(t: Table, maxRows = Infinity): string {
  const rows = t.rows.slice(0, maxRows).map((r) => r.map(formatCell));
  const out = textTableLines(t.columns, rows, () => "right");
  if (t.rows.length > rows.length) out.push(`… ${t.rows.length - rows.length} more rows (${t.rows.length} in all)`);
  return out.join("\n");
}

/** A GitHub-flavoured Markdown table (numbers right-aligned). */
export function tableMarkdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const numeric = t.columns.map((_, j) => t.rows.length > 0 && t.rows.every((r) => typeof r[j] === "number" || r[j] == null));
  const head = `| ${t.columns.map(esc).join(" | ")} |`;
  const rule = `|${numeric.map((n) => (n ? " ---: " : " --- ")).join("|")}|`;
  const body = t.rows.map((r) => `| ${r.map((v) => esc(formatCell(v))).join(" | ")} |`);
  return [head, rule, ...body].join("\n") + "\n";
}

/** RFC 4180 CSV with full-precision numbers (a round trip keeps every digit). */
export function tableCsv(t: Table): string {
  const q = (v: Cell) => {
    if (v === null || v === undefined) return "";
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [t.columns.map(q).join(","), ...t.rows.map((r) => r.map(q).join(","))].join("\r\n") + "\r\n";
}

/** A standalone HTML page holding the table. */
export function tablePage(t: Table, title = "table"): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:Helvetica,Arial,sans-serif;font-size:14px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}</style>
</head><body>\n${tableHtml(t)}\n</body></html>\n`;
}
