// The README's five course tasks run as written, with only the notebook vocabulary in scope.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import * as dsl from "../../src/dsl/index.js";

test("the README's five tasks run in a cell's scope, each in at most three lines", { timeout: 120_000 }, async () => {
  const readme = readFileSync("README.md", "utf8");
  const block = /### Five course tasks[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "the README has the five-task code block");
  const tasks = block.split(/\n(?=\/\/ \d\. )/).map((t) => t.trim()).filter(Boolean);
  assert.equal(tasks.length, 5);
  for (const t of tasks) assert.ok(t.split("\n").filter((l) => l.trim() && !l.trim().startsWith("//")).length <= 3, `at most three lines:\n${t}`);
  // as the kernel does, type-check the block against the built declarations (npm test builds dist/ first)
  const dts = join(process.cwd(), "dist", "dsl", "index.js");
  if (existsSync(dts)) {
    const file = join(mkdtempSync(join(tmpdir(), "quantlab-readme-ts-")), "cell.ts");
    writeFileSync(file, `import * as Q from ${JSON.stringify(dts)};\nconst { ${Object.keys(dsl).join(", ")} } = Q;\nexport {};\n(async () => {\n${block}\n})();\n`);
    const program = ts.createProgram([file], {
      strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true, types: ["node"], noEmit: true,
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    assert.deepEqual(diags, [], "the README's tasks type-check as notebook cells");
  }
  const cwd = process.cwd();
  process.chdir(mkdtempSync(join(tmpdir(), "quantlab-readme-")));
  try {
    const js = ts.transpileModule(block, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
    await new AsyncFunction(...Object.keys(dsl), js)(...Object.values(dsl));
    assert.ok(existsSync("notes/mse-vs-group-size.svg") || !dsl.Chart, "task 3 exported the chart");
  } finally {
    process.chdir(cwd);
  }
});
