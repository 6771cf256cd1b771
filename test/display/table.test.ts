import { test } from "node:test";
import assert from "node:assert/strict";
import { column, formatCell, tableCsv, tableHtml, tableMarkdown, tableText, toTable } from "../../src/display/table.js";
import { QuantLabError } from "../../src/errors.js";

test("toTable reads row objects, column objects, DataFrame-like values and tables alike", () => {
  const want = { columns: ["bits", "mse"], rows: [[4, 0.5], [8, 0.25]] };
  assert.deepEqual(toTable([{ bits: 4, mse: 0.5 }, { bits: 8, mse: 0.25 }]), want);
  assert.deepEqual(toTable({ bits: [4, 8], mse: Float64Array.from([0.5, 0.25]) }), want);
  assert.deepEqual(toTable({ columns: ["bits", "mse"], values: [[4, 0.5], [8, 0.25]] }), want);
  assert.deepEqual(toTable(want), want);
  // a key that first appears in a later row becomes a column, with blanks above
  assert.deepEqual(toTable([{ a: 1 }, { a: 2, b: "x" }]), { columns: ["a", "b"], rows: [[1, undefined], [2, "x"]] });
});

test("toTable and column name the problem", () => {
  assert.throws(() => toTable({ a: [1, 2], b: [1] }), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_SHAPE" && /'b' has 1 values/.test(e.message));
  assert.throws(() => toTable(42), (e: unknown) => e instanceof QuantLabError && /DataFrame/.test(e.message));
  assert.throws(() => column(toTable([{ a: 1 }]), "mse"), /no column 'mse': the table has 'a'/);
});

test("formatCell writes integers plainly, small and large numbers in exponent form", () => {
  assert.equal(formatCell(128), "128");
  assert.equal(formatCell(0.0000125), "1.25e-5");
  assert.equal(formatCell(1e-5), "1e-5");
  assert.equal(formatCell(2.5e9), "2500000000");
  assert.equal(formatCell(2.5e15), "2.5e15");
  assert.equal(formatCell(1234567.5), "1.235e6");
  assert.equal(formatCell(0.123456), "0.1235");
  assert.equal(formatCell("channel"), "channel");
  assert.equal(formatCell(null), "");
});

test("CSV keeps full precision and quotes what needs quoting", () => {
  const t = toTable([{ name: 'a,"b"', v: 0.1 + 0.2 }, { name: "plain", v: 1e-7 }]);
  assert.equal(tableCsv(t), 'name,v\r\n"a,""b""",0.30000000000000004\r\nplain,1e-7\r\n');
});

test("Markdown right-aligns numeric columns and escapes pipes", () => {
  const t = toTable([{ format: "a|b", bytes: 14e9 }, { format: "int4", bytes: 3.5e9 }]);
  assert.equal(tableMarkdown(t), "| format | bytes |\n| --- | ---: |\n| a\\|b | 14000000000 |\n| int4 | 3500000000 |\n");
});

test("HTML and text tables escape markup and note the rows cut", () => {
  const t = toTable(Array.from({ length: 5 }, (_, i) => ({ i, s: "<b>" })));
  const html = tableHtml(t, 3, "cap");
  assert.match(html, /<caption>cap<\/caption>/);
  assert.equal((html.match(/<tr>/g) ?? []).length, 4);
  assert.match(html, /&lt;b&gt;/);
  assert.match(html, /… 2 more rows \(5 in all\)/);
  assert.equal(tableText(t, 2), "i    s\n0  <b>\n1  <b>\n… 3 more rows (5 in all)");
});
