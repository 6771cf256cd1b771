/**
 * How numeric results render in a notebook, without the numeric core depending on the display layer:
 * the display protocol is only a well-known symbol (`Symbol.for("Jupyter.display")`, the same one
 * src/display/mime.ts exports) and a mime bundle of strings.
 */
export const DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

export type Bundle = { "text/plain": string } & Record<string, string>;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A table (header + rows) as text and HTML. */
export function tableBundle(title: string, header: string[], rows: string[][], note?: string): Bundle {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ");
  const text = [title, line(header), ...rows.map(line), ...(note ? [note] : [])].join("\n");
  const html =
    `<table><caption style="text-align:left"><b>${escapeHtml(title)}</b></caption>` +
    `<thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c, j) => `<td style="text-align:${j === 0 ? "left" : "right"}">${escapeHtml(c)}</td>`).join("")}</tr>`).join("") +
    `</tbody></table>${note ? `<p>${escapeHtml(note)}</p>` : ""}`;
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

/** Formats a number for a table: 4 significant digits, exponent form for tiny or huge values. */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return Number(v.toPrecision(4)).toString();
  return v.toExponential(2).replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e");
}

/** Attaches a renderer without making it an enumerable (JSON-visible) property. */
export function withDisplay<T extends object>(obj: T, render: () => Bundle): T {
  Object.defineProperty(obj, DISPLAY, { value: render, enumerable: false, configurable: true });
  return obj;
}
