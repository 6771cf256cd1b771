/**
 * `npm run docs`: reads the public vocabulary (the exports of src/dsl/index.ts) with the TypeScript
 * compiler and writes
 *   - docs/api/README.md: the reference page, one section per group, each name with its signature,
 *     doc comment and example;
 *   - src/dsl/vocabulary.ts: the same, small, for `help()` in a notebook cell.
 * `--check` writes nothing and exits 1 when either file is out of date (the docs test runs it).
 * Groups come from a `@group` tag on the declaration, else from the module the name is declared in.
 */
import ts from "typescript";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export interface Entry {
  name: string;
  kind: "function" | "class" | "value" | "type";
  group: string;
  summary: string;
  doc: string;
  examples: string[];
  signature: string;
  source: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Course order of the groups; a module's default group when its declarations carry no @group. */
export const GROUPS: { title: string; modules: RegExp }[] = [
  { title: "Formats and the ruler", modules: /numerics\/(formats|float-bits|spec|affine|rtn|grouped|ruler|codebook|fp8|mx)/ },
  { title: "Granularity", modules: /numerics\/(granularity|matrix)/ },
  { title: "Error", modules: /numerics\/(metrics|explain)/ },
  { title: "Memory", modules: /numerics\/memory/ },
  { title: "Sweeps, tables and charts", modules: /(dsl\/(sweep|charts)|display\/)/ },
  { title: "Calibration, GPTQ and AWQ", modules: /(algorithms\/|backend\/|dsl\/algorithms)/ },
  { title: "GGUF", modules: /(gguf\/|dsl\/gguf)/ },
  { title: "Models and the KV cache", modules: /(model\/|dsl\/models)/ },
  { title: "Files", modules: /(io\/|dsl\/files)/ },
  { title: "Notebook helpers", modules: /(dsl\/|errors)/ },
];

function groupOf(file: string, tag: string | undefined): string {
  if (tag) return tag.trim();
  return GROUPS.find((g) => g.modules.test(file))?.title ?? "Other";
}

function tagText(tag: ts.JSDocTagInfo): string {
  return (tag.text ?? []).map((p) => p.text).join("");
}

/** Strips a fenced code block (```ts … ```) down to its code. */
function exampleCode(text: string): string {
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(text);
  return (m ? m[1]! : text).trim();
}

export function collect(): Entry[] {
  const entry = join(root, "src/dsl/index.ts");
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  })!;
  const program = ts.createProgram([entry], { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(entry)!;
  const moduleSymbol = checker.getSymbolAtLocation(sf)!;
  const out: Entry[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decl = symbol.declarations?.[0];
    if (!decl) continue;
    const file = relative(root, decl.getSourceFile().fileName);
    const flags = symbol.flags;
    const kind: Entry["kind"] = flags & ts.SymbolFlags.Function ? "function"
      : flags & ts.SymbolFlags.Class ? "class"
      : flags & (ts.SymbolFlags.Variable | ts.SymbolFlags.Enum) ? "value" : "type";
    const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
    const tags = symbol.getJsDocTags(checker);
    const group = groupOf(file, tags.find((t) => t.name === "group") ? tagText(tags.find((t) => t.name === "group")!) : undefined);
    const examples = tags.filter((t) => t.name === "example").map((t) => exampleCode(tagText(t))).filter(Boolean);
    let signature: string;
    if (kind === "function") {
      const type = checker.getTypeOfSymbolAtLocation(symbol, decl);
      signature = type.getCallSignatures().map((s) => `${exported.name}${checker.signatureToString(s)}`).join("\n");
    } else if (kind === "value") {
      signature = `const ${exported.name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, decl))}`;
    } else if (kind === "class") {
      signature = `class ${exported.name}`;
    } else {
      signature = decl.getText().split("\n")[0]!.replace(/\{\s*$/, "").trim();
    }
    const summary = doc.split(/\n\s*\n|(?<=\.)\s/)[0]!.replace(/\s+/g, " ").trim();
    out.push({ name: exported.name, kind, group, summary, doc, examples, signature, source: file });
  }
  const order = (g: string) => {
    const i = GROUPS.findIndex((x) => x.title === g);
    return i < 0 ? GROUPS.length : i;
  };
  return out.sort((a, b) => order(a.group) - order(b.group) || a.name.localeCompare(b.name));
}

export function renderReference(entries: Entry[]): string {
  const lines = [
    "# QuantLab API reference",
    "",
    "Generated by `npm run docs` from the doc comments of `src/dsl/` — every name a notebook cell sees",
    "without an import, and what `import { … } from \"quantlab\"` gives. Do not edit by hand.",
    "",
  ];
  let group = "";
  for (const e of entries) {
    if (e.group !== group) {
      group = e.group;
      lines.push(`## ${group}`, "");
    }
    lines.push(`### \`${e.name}\``, "", "```ts", e.signature, "```", "", e.doc || "_(no description)_", "");
    for (const ex of e.examples) lines.push("```ts", ex, "```", "");
    lines.push(`Source: \`${e.source}\``, "");
  }
  return lines.join("\n");
}

export function renderVocabulary(entries: Entry[]): string {
  const rows = entries
    .filter((e) => e.kind !== "type")
    .map((e) => `  [${JSON.stringify(e.group)}, ${JSON.stringify(e.name)}, ${JSON.stringify(e.summary)}],`);
  return [
    "// Generated by `npm run docs` from the doc comments of src/dsl/; do not edit by hand.",
    "/** [group, name, one-line purpose] for every value in the notebook vocabulary, in course order. */",
    "export const VOCABULARY: readonly (readonly [group: string, name: string, summary: string])[] = [",
    ...rows,
    "];",
    "",
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("scripts/docs.ts")) {
  const check = process.argv.includes("--check");
  const entries = collect();
  const files: [string, string][] = [
    [join(root, "docs/api/README.md"), renderReference(entries)],
    [join(root, "src/dsl/vocabulary.ts"), renderVocabulary(entries)],
  ];
  let stale = 0;
  for (const [path, text] of files) {
    let old = "";
    try {
      old = readFileSync(path, "utf8");
    } catch {
      // missing counts as stale
    }
    if (old === text) continue;
    stale++;
    if (check) console.error(`${relative(root, path)} is out of date: run 'npm run docs'`);
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote ${relative(root, path)}`);
    }
  }
  console.log(`${entries.length} exported names`);
  process.exit(check && stale ? 1 : 0);
}
