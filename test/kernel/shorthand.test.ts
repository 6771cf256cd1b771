import { test } from "node:test";
import assert from "node:assert/strict";
import { expandShorthands } from "../../src/kernel/executor.js";

test("shorthand properties are written out so they can reach an earlier cell's variable", () => {
  assert.equal(expandShorthands("f({ row, index: 0 })"), "f({ row: row, index: 0 })");
  assert.equal(expandShorthands("({ a = 1 } = o)"), "({ a: a = 1 } = o)");
  assert.equal(expandShorthands("const { a, b } = o;"), "const { a, b } = o;"); // binding patterns untouched
  assert.equal(expandShorthands("const s = `{ x }`;\n// { y }"), "const s = `{ x }`;\n// { y }");
  assert.equal(expandShorthands("f({\n  row,\n})").split("\n").length, 3);
});
