/** Memory is counted in GiB (2^30 bytes) in the tables as in the charts, and labelled so. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DISPLAY } from "../../src/display/mime.js";
import { memoryTable } from "../../src/numerics/memory.js";

test("the memory table counts in GiB, like the charts", () => {
  const text = String((memoryTable(7e9) as any)[DISPLAY]()["text/plain"]);
  assert.match(text, /\bGiB\b/);
  assert.doesNotMatch(text, /\bGB\b/);
  assert.match(text, /^fp32\s+4\s+28,000,000,000\s+26\.08/m);
});
