/**
 * The display protocol every QuantLab value speaks (the convention of Deno's Jupyter kernel): an object
 * with a method under `Symbol.for("Jupyter.display")` returns a mime bundle, and the kernel shows the
 * last expression of a cell through it. `text/plain` is always present, so a terminal or `nbconvert
 * --to markdown` still has something to show.
 *
 * Why this file sits beside errors.ts and imports nothing: every layer renders itself — numerics (a
 * ruler, a memory table), gguf (a mix plan), model, display, the kernel — and DESIGN.md lets `numerics`
 * import nothing above it. So the one declaration of the symbol, the bundle type, HTML escaping and the
 * basic text/HTML table live here, where every layer may import them; src/display/mime.ts and
 * src/numerics/present.ts re-export them under the names their callers use.
 *
 *   const v = withDisplay({ bits: 4 }, () => keyValueBundle("spec", [["bits", "4"]]));
 */

export const DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A Jupyter mime bundle: `text/plain` always, then any mime types (plotly JSON is an object, not a string). */
export type MimeBundle<V = unknown> = { "text/plain": string } & Record<string, V>;

/** A bundle of strings only (text, HTML, Markdown, SVG): what tables and reports render to. */
export type Bundle = MimeBundle<string>;

export interface Displayable {
  [DISPLAY](): MimeBundle;
}

export function isDisplayable(v: unknown): v is Displayable {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as never)[DISPLAY] === "function";
}

/** Attaches a renderer without making it an enumerable (JSON-visible) property. */
export function withDisplay<T extends object>(obj: T, render: () => MimeBundle): T {
  Object.defineProperty(obj, DISPLAY, { value: render, enumerable: false, configurable: true });
  return obj;
}

/** Text for HTML content and attribute values: & < > " ' escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

export type Align = "left" | "right";

/** The lines of a fixed-width text table: columns two spaces apart, each padded to its alignment. */
export function textTableLines(header: readonly string[], rows: readonly (readonly string[])[], align: (column: number) => Align): string[] {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, j) => (align(j) === "left" ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ");
  return [line(header), ...rows.map(line)];
}

export interface HtmlTableParts {
  header: readonly string[];
  rows: readonly (readonly string[])[];
  /** Alignment of cell (row i, column j). */
  align: (row: number, column: number) => Align;
  /** Markup for the caption element's content and its attributes, already escaped where needed. */
  caption?: { html: string; style?: string };
  className?: string;
  /** Between rows (and around the body): "" or "\n". */
  rowSeparator?: string;
}

/** An HTML table; every header and cell is escaped here. */
export function htmlTable(p: HtmlTableParts): string {
  const sep = p.rowSeparator ?? "";
  const cls = p.className ? ` class="${escapeHtml(p.className)}"` : "";
  const cap = p.caption ? `<caption${p.caption.style ? ` style="${p.caption.style}"` : ""}>${p.caption.html}</caption>` : "";
  const head = `<tr>${p.header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr>`;
  const body = p.rows.map((r, i) => `<tr>${r.map((c, j) => `<td style="text-align:${p.align(i, j)}">${escapeHtml(c)}</td>`).join("")}</tr>`).join(sep);
  return `<table${cls}>${cap}<thead>${head}</thead><tbody>${sep}${body}${sep}</tbody></table>`;
}

/** A titled table (header + rows, first column left, the rest right) as text and HTML. */
export function tableBundle(title: string, header: string[], rows: string[][], note?: string): Bundle {
  const align = (j: number): Align => (j === 0 ? "left" : "right");
  const text = [title, ...textTableLines(header, rows, align), ...(note ? [note] : [])].join("\n");
  const html = htmlTable({
    header, rows, align: (_i, j) => align(j),
    caption: { html: `<b>${escapeHtml(title)}</b>`, style: "text-align:left" },
  }) + (note ? `<p>${escapeHtml(note)}</p>` : "");
  return { "text/plain": text, "text/html": html };
}

/** A two-column key/value table. */
export function keyValueBundle(title: string, rows: [string, string][]): Bundle {
  const w = Math.max(...rows.map(([k]) => k.length));
  const text = [title, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join("\n");
  const html = `<table><caption style="text-align:left"><b>${escapeHtml(title)}</b></caption>` +
    rows.map(([k, v]) => `<tr><td style="text-align:left">${escapeHtml(k)}</td><td style="text-align:right"><code>${escapeHtml(v)}</code></td></tr>`).join("") +
    "</table>";
  return { "text/plain": text, "text/html": html };
}
