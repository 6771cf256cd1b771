// Issue 9: every public name has a doc comment with a one-line purpose and a runnable example, the
// examples run, and the generated reference and help() list are in sync with the source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { collect, renderReference, renderVocabulary } from "../../scripts/docs.js";
import { readFileSync } from "node:fs";
import * as dsl from "../../src/dsl/index.js";

const entries = collect();

test("every export of the DSL has a doc comment", () => {
  const missing = entries.filter((e) => !e.summary).map((e) => `${e.name} (${e.source})`);
  assert.deepEqual(missing, [], `exports without a doc comment: ${missing.join(", ")}`);
});

test("every function, class and value of the DSL has an @example", () => {
  const missing = entries.filter((e) => e.kind !== "type" && e.examples.length === 0).map((e) => `${e.name} (${e.source})`);
  assert.deepEqual(missing, [], `exports without an @example: ${missing.join(", ")}`);
});

test("docs/api/README.md and src/dsl/vocabulary.ts are up to date (npm run docs)", () => {
  assert.equal(readFileSync("docs/api/README.md", "utf8"), renderReference(entries), "run 'npm run docs'");
  assert.equal(readFileSync("src/dsl/vocabulary.ts", "utf8"), renderVocabulary(entries), "run 'npm run docs'");
});

test("the examples run", async (t) => {
  const names = Object.keys(dsl);
  const values = Object.values(dsl);
  const cwd = process.cwd();
  process.chdir(mkdtempSync(join(tmpdir(), "quantlab-examples-")));
  try {
    for (const e of entries) {
      for (const [i, code] of e.examples.entries()) {
        await t.test(`${e.name} example ${i + 1}`, async () => {
          const js = ts.transpileModule(code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
          const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
          const run = new AsyncFunction(...names, js);
          await run(...values);
        });
      }
    }
  } finally {
    process.chdir(cwd);
  }
});
