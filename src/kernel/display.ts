/**
 * How the kernel shows a value: the display symbol (src/display-protocol.ts), IJavascript's `_toMime()`,
 * danfo DataFrames/Series as an HTML table plus text, PNG/JPEG bytes as images, anything else as
 * uncoloured `util.inspect` text. Also the `html`, `md` and `svg` tagged templates of every cell (their
 * only home: the kernel gives them to every cell).
 */
import { inspect } from "node:util";
import { DISPLAY, escapeHtml as escapeText, isDisplayable, type MimeBundle } from "../display-protocol.js";

const TABLE_ROWS = 50;

export function plainText(value: unknown): string {
  return inspect(value, { colors: false, depth: 4, maxArrayLength: 100, breakLength: 100 });
}

export function toMimeBundle(value: unknown): MimeBundle {
  if (isDisplayable(value)) return withText(value[DISPLAY](), value);
  if (typeof value === "object" && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v._toMime === "function") return withText((v._toMime as () => Record<string, unknown>)(), value);
    if (value instanceof Uint8Array) {
      const type = imageType(value);
      if (type) return { [type]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64"), "text/plain": `<${type} image, ${value.byteLength} bytes>` };
    }
    const frame = danfoTable(v);
    if (frame) return frame;
  }
  return { "text/plain": plainText(value) };
}

function withText(bundle: Record<string, unknown> | null | undefined, value: unknown): MimeBundle {
  const b = { ...(bundle ?? {}) };
  if (typeof b["text/plain"] !== "string") b["text/plain"] = plainText(value);
  return b as MimeBundle;
}

function imageType(bytes: Uint8Array): string | null {
  if (bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "image/png";
  if (bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  return null;
}

const escapeHtml = (s: unknown): string => escapeText(String(s));

/** danfo's DataFrame and Series, recognised by shape so the kernel does not load danfo itself. */
function danfoTable(v: Record<string, unknown>): MimeBundle | null {
  const kind = v.constructor?.name;
  if ((kind !== "DataFrame" && kind !== "Series") || !("values" in v) || !("index" in v)) return null;
  const index = (v.index as unknown[]) ?? [];
  const values = (v.values as unknown[]) ?? [];
  const columns = kind === "DataFrame" ? ((v.columns as string[]) ?? []) : [String((v as { columns?: string[] }).columns?.[0] ?? "0")];
  const rows = values.slice(0, TABLE_ROWS).map((row) => (kind === "DataFrame" ? (row as unknown[]) : [row]));
  const head = `<tr><th></th>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = rows.map((r, i) => `<tr><th>${escapeHtml(index[i])}</th>${r.map((x) => `<td>${escapeHtml(x)}</td>`).join("")}</tr>`).join("");
  const more = values.length > TABLE_ROWS ? `<p>… ${values.length - TABLE_ROWS} more rows</p>` : "";
  let text: string;
  try {
    text = String((v.toString as () => string)());
  } catch {
    text = plainText(values);
  }
  return { "text/html": `<table class="dataframe"><thead>${head}</thead><tbody>${body}</tbody></table>${more}`, "text/plain": text };
}

function joinTemplate(strings: TemplateStringsArray | string, values: unknown[]): string {
  if (typeof strings === "string") return strings;
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ""), "");
}

function rich(mime: string, text: string, plain: string): object {
  return { [DISPLAY]: () => ({ [mime]: text, "text/plain": plain }) };
}

/** html`<b>bold</b>`: shows as HTML (text/plain keeps the source for terminals). */
export function html(strings: TemplateStringsArray | string, ...values: unknown[]): object {
  const s = joinTemplate(strings, values);
  return rich("text/html", s, s);
}

/** md`# Title`: shows as Markdown. */
export function md(strings: TemplateStringsArray | string, ...values: unknown[]): object {
  const s = joinTemplate(strings, values);
  return rich("text/markdown", s, s);
}

/** svg`<svg …>…</svg>`: shows as an SVG image. */
export function svg(strings: TemplateStringsArray | string, ...values: unknown[]): object {
  const s = joinTemplate(strings, values);
  return rich("image/svg+xml", s, "<svg image>");
}
