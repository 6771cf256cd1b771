import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConverter, sourceDependencies } from "../../src/kernel/converter.js";

const require = createRequire(import.meta.url);
const tslab = require("tslab/dist/converter.js") as typeof import("tslab/dist/converter.js");

// a cell chain touching everything the converter does: values and types carried between cells, the
// last expression, top-level await, type errors (also in a later cell), a local module and its errors
const CELLS = [
  'const a = 1;\nlet s = "x";\na + 1',
  "a.toFixed(2) + s",
  "const b: string = a;",
  "await Promise.resolve(3)",
  "interface P { x: number }\nfunction f(p: P) { return p.x; }\nf({ x: 2 })",
  "const a = 'shadowed';\nf({ x: a.length })",
  'import { twice } from "./helper";\ntwice(3)',
  'twice("no")',
  'import { broken } from "./broken";\nbroken',
];

test("the converter gives tslab's results (output, declarations, diagnostics, completion, quick info)", () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-converter-"));
  const cwd = process.cwd();
  try {
    writeFileSync(join(dir, "helper.ts"), "export function twice(n: number): number {\n  return 2 * n;\n}\n");
    writeFileSync(join(dir, "broken.ts"), "export const broken: number = 'text';\n");
    process.chdir(dir);
    const ours = createConverter();
    const theirs = tslab.createConverter();
    let decl = "";
    for (const cell of CELLS) {
      const a = ours.convert(decl, cell);
      const b = theirs.convert(decl, cell);
      assert.deepEqual(a, b, cell);
      if (a.diagnostics.length === 0) decl = a.declOutput ?? "";
    }
    // the chain reached its end with errors where expected, so the comparison covered them
    assert.equal(ours.convert(decl, "const c: string = 1;").diagnostics[0]?.messageText, "Type 'number' is not assignable to type 'string'.");
    assert.ok(ours.convert("", 'import { broken } from "./broken";').diagnostics.some((d) => d.fileName === "broken.ts"));
    for (const [src, pos] of [["a.toF", 5], ["twi", 3], ["f(", 2]] as const) {
      assert.deepEqual(ours.complete(decl, src, pos), theirs.complete(decl, src, pos), src);
      assert.deepEqual(ours.inspect(decl, src, 1), theirs.inspect(decl, src, 1), src);
    }
    assert.deepEqual(ours.complete(decl, "twi", 3).candidates, ["twice"]);
    ours.close();
    theirs.close();
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a cell's source dependencies are the .ts/.js files it imports, transitively, and itself", () => {
  const ts = require("@tslab/typescript-for-tslab") as typeof import("@tslab/typescript-for-tslab");
  const dir = mkdtempSync(join(tmpdir(), "quantlab-deps-"));
  try {
    const files: Record<string, string> = {
      "cell.ts": 'import { x } from "./a";\nimport type { T } from "./types";\nexport const y: T = x;\n',
      "a.ts": 'export { x } from "./b.js";\n',
      "b.js": "export const x = 1;\n",
      "types.d.ts": "export type T = number;\n",
      "unused.ts": "export const z = 1;\n",
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const program = ts.createProgram([join(dir, "cell.ts"), join(dir, "unused.ts")], { noLib: true, types: [], allowJs: true });
    const deps = sourceDependencies(program, program.getSourceFile(join(dir, "cell.ts"))!);
    assert.deepEqual(deps.map((f) => f.slice(dir.length + 1)).sort(), ["a.ts", "b.js", "cell.ts"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// cells that declare nothing: the quick path (./quick-cell.ts) must give what tslab gives
const QUICK = [
  "a + 1",
  "a.toFixed(2) + s",
  "f({ x: a })",
  "await Promise.resolve(a)",
  "for (let i = 0; i < 3; i++) s += i;\ns",
  "[1, 2].map((x) => x * a).join(s)",
  "`${a} and ${s}`",
  "{ const z = 1; z + a }",
  "a; // a comment",
  "typeof a === 'number' ? (a as number) : 0",
  "(a satisfies number) + o.x + o.s.length",
  "new K(a).v + K.name.length",
  "nope + 1",
  "a.nope",
  "f({ x: 's' })",
  "1 +",
  "(async () => { await 1 })(); (() => { await 1 })()",
  "E.A + 1",
  "s = s + a; s",
];

test("a cell that declares nothing takes the quick path and gets tslab's result", () => {
  const ours = createConverter();
  const theirs = tslab.createConverter();
  const setup = 'const a = 1;\nlet s = "x";\nconst o = { x: 2, s: "y" };\nfunction f(p: { x: number }) { return p.x; }\nclass K { constructor(public v: number) {} }\nconst enum E { A = 3 }';
  const first = theirs.convert("", setup);
  assert.deepEqual(first.diagnostics, []);
  let ourDecl = ours.convert("", setup).declOutput ?? "";
  let theirDecl = first.declOutput ?? "";
  try {
    const before = ours.quickCells;
    for (const cell of QUICK) {
      const a = ours.convert(ourDecl, cell);
      const b = theirs.convert(theirDecl, cell);
      assert.deepEqual({ ...a, declOutput: undefined }, { ...b, declOutput: undefined }, cell);
      if (a.diagnostics.length === 0) (ourDecl = a.declOutput ?? ""), (theirDecl = b.declOutput ?? "");
    }
    // all but two went the quick way: the first (the setup's declarations are new to the program, so
    // tslab rebuilds it) and the const enum's (inlined from its type, which one file cannot see)
    assert.equal(ours.quickCells - before, QUICK.length - 2);
  } finally {
    ours.close();
    theirs.close();
  }
});
