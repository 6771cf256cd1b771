/**
 * The display protocol's one home: every layer's name for the symbol is the same symbol, the table
 * renderers escape what they show, and the display and GGUF rooms have no import circles.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as protocol from "../../src/display-protocol.js";
import * as mime from "../../src/display/mime.js";
import * as present from "../../src/numerics/present.js";
import { tableHtml, tableText } from "../../src/display/table.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("one display symbol and one escaper, whichever module a caller imports them from", () => {
  assert.equal(mime.DISPLAY, Symbol.for("Jupyter.display"));
  assert.equal(present.DISPLAY, mime.DISPLAY);
  assert.equal(protocol.DISPLAY, mime.DISPLAY);
  assert.equal(present.escapeHtml, protocol.escapeHtml);
  assert.equal(protocol.escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  const v = protocol.withDisplay({ n: 1 }, () => ({ "text/plain": "one" }));
  assert.ok(mime.isDisplayable(v));
  assert.deepEqual(Object.keys(v), ["n"]);
});

test("the basic table renders as aligned text and escaped HTML; display/table.ts renders through it", () => {
  const b = protocol.tableBundle("bits <3", ["fmt", "mse"], [["int4", "1e-4"], ["fp8 & co", "2e-5"]], "note");
  assert.equal(b["text/plain"], "bits <3\nfmt        mse\nint4      1e-4\nfp8 & co  2e-5\nnote");
  assert.match(b["text/html"], /<caption style="text-align:left"><b>bits &lt;3<\/b><\/caption>/);
  assert.match(b["text/html"], /<td style="text-align:left">fp8 &amp; co<\/td><td style="text-align:right">2e-5<\/td>/);
  const t = { columns: ["name", "x"], rows: [["a<b", 1.5], ["c", 20]] };
  assert.equal(tableText(t), "name    x\n a<b  1.5\n   c   20");
  assert.equal(tableHtml(t, Infinity, "cap"),
    '<table class="dataframe"><caption>cap</caption><thead><tr><th>name</th><th>x</th></tr></thead><tbody>\n' +
    '<tr><td style="text-align:left">a&lt;b</td><td style="text-align:right">1.5</td></tr>\n' +
    '<tr><td style="text-align:left">c</td><td style="text-align:right">20</td></tr>\n</tbody></table>');
});

function cycles(dirs: string[]): string[] {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) files.push(resolve(p));
    }
  };
  for (const d of dirs) statSync(d).isDirectory() ? walk(d) : files.push(resolve(d));
  const inside = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    const deps = [...src.matchAll(/(?:import|export)[^'"]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g)]
      .map((m) => resolve(dirname(f), (m[1] ?? m[2])!.replace(/\.js$/, ".ts")))
      .filter((d) => inside.has(d));
    graph.set(f, deps);
  }
  const found: string[] = [];
  const onStack: string[] = [];
  const done = new Set<string>();
  const visit = (n: string) => {
    onStack.push(n);
    for (const d of graph.get(n) ?? []) {
      const at = onStack.indexOf(d);
      if (at >= 0) found.push(onStack.slice(at).map((x) => relative(ROOT, x)).join(" → "));
      else if (!done.has(d)) visit(d);
    }
    onStack.pop();
    done.add(n);
  };
  for (const n of graph.keys()) if (!done.has(n)) visit(n);
  return found;
}

test("no import circles in src/display, src/gguf and the protocol (type-only imports count too)", () => {
  assert.deepEqual(cycles([join(ROOT, "src/display"), join(ROOT, "src/gguf"), join(ROOT, "src/display-protocol.ts")]), []);
});
