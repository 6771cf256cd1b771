/**
 * `help()` in a notebook cell: the vocabulary by group, each name with its one-line purpose.
 * The list is generated from the doc comments (`npm run docs`), so it never drifts from the code.
 */
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import { VOCABULARY } from "./vocabulary.js";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/**
 * Lists the QuantLab vocabulary by group, or the names matching `filter` (a substring of the name or purpose).
 * Each name's full documentation and example: `name?` in a cell, or docs/api/README.md.
 * @example
 * ```ts
 * help()          // everything, grouped the way the course goes
 * help("kv")      // only names about the KV cache
 * ```
 */
export function help(filter?: string) {
  const f = filter?.toLowerCase();
  const rows = VOCABULARY.filter(([, name, summary]) => !f || name.toLowerCase().includes(f) || summary.toLowerCase().includes(f));
  const groups = new Map<string, (readonly [string, string, string])[]>();
  for (const r of rows) groups.set(r[0], [...(groups.get(r[0]) ?? []), r]);
  return {
    [DISPLAY](): MimeBundle {
      const width = Math.max(0, ...rows.map((r) => r[1].length));
      const text: string[] = [];
      const html: string[] = [];
      for (const [group, list] of groups) {
        text.push(group);
        html.push(`<h4>${escapeHtml(group)}</h4><table>`);
        for (const [, name, summary] of list) {
          text.push(`  ${name.padEnd(width)}  ${summary}`);
          html.push(`<tr><td><code>${escapeHtml(name)}</code></td><td>${escapeHtml(summary)}</td></tr>`);
        }
        text.push("");
        html.push("</table>");
      }
      if (!rows.length) text.push(`no name matches '${filter}'`);
      else text.push("Type a name followed by ? (e.g. ruler?) for its documentation and an example.");
      return { "text/plain": text.join("\n"), "text/html": html.join("\n") };
    },
    toString() {
      return this[DISPLAY]()["text/plain"];
    },
  };
}
