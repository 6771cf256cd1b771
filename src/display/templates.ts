/**
 * Tagged templates that make any string renderable (Deno's `html`, `md`, `svg`):
 * `html\`<b>${x}</b>\`` shows as HTML, `md\`# Title\`` as Markdown, `svg\`<svg …>\`` as an image; the
 * source stays as `text/plain` for terminals. Interpolated values are inserted as text (not escaped),
 * as in Deno: the cell author writes the markup.
 */
import { DISPLAY, type MimeBundle } from "./mime.js";

export interface Rich {
  readonly source: string;
  [DISPLAY](): MimeBundle;
  toString(): string;
}

function join(strings: TemplateStringsArray | string, values: unknown[]): string {
  if (typeof strings === "string") return strings;
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ""), "");
}

function rich(mime: string, source: string, plain: string): Rich {
  return { source, [DISPLAY]: () => ({ [mime]: source, "text/plain": plain }), toString: () => source };
}

/** html`<b>bold</b>` */
export function html(strings: TemplateStringsArray | string, ...values: unknown[]): Rich {
  const s = join(strings, values);
  return rich("text/html", s, s);
}

/** md`# Title` */
export function md(strings: TemplateStringsArray | string, ...values: unknown[]): Rich {
  const s = join(strings, values);
  return rich("text/markdown", s, s);
}

/** svg`<svg …>…</svg>` */
export function svg(strings: TemplateStringsArray | string, ...values: unknown[]): Rich {
  const s = join(strings, values);
  return rich("image/svg+xml", s, "<svg image>");
}
