/**
 * The kernel's help (issue 17): `name?`, Shift-Tab and completion tell what to pass. Unit tests of the
 * default parser and the formatter, the analysis on a program of inline declarations, then the real
 * DSL through the kernel's protocol (compiled: its declarations carry the doc comments).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { KernelClient } from "../../src/runner/client.js";
import { formatHelp } from "../../src/kernel/help-format.js";
import { HelpProgram } from "../../src/kernel/help-program.js";
import { helpAt, mayTakeOption, optionCompletions, splitDefault, withOptions, type Help } from "../../src/kernel/help.js";
import { kernelEnv } from "./helpers.js";

describe("defaults from doc comments", () => {
  it("reads the project's ways of writing a default and keeps the meaning", () => {
    assert.deepEqual(splitDefault("Bits per code, 2–8 (default 8)."), { default: "8", meaning: "Bits per code, 2–8." });
    assert.deepEqual(splitDefault("Bits stored per scale (default 16: an FP16 scale)."), { default: "16", meaning: "Bits stored per scale (an FP16 scale)." });
    assert.deepEqual(splitDefault("Bits to count (default ceil(log2(length)))."), { default: "ceil(log2(length))", meaning: "Bits to count." });
    assert.deepEqual(splitDefault("tfjs backend (\"wasm\", \"cpu\"); default: the one running."), { default: "the one running", meaning: "tfjs backend (\"wasm\", \"cpu\")." });
    assert.deepEqual(splitDefault('"asymmetric" (min–max, default) or "symmetric".'), { default: '"asymmetric"', meaning: '"asymmetric" (min–max, default) or "symmetric".' });
    assert.deepEqual(splitDefault("Columns per batch\n  across lines.", "128"), { default: "128", meaning: "Columns per batch across lines." });
    assert.deepEqual(splitDefault("No default here."), { meaning: "No default here." });
  });
});

describe("formatting", () => {
  const help: Help = {
    signature: "function f(x: number, opts?: FOptions): number",
    doc: "Makes a thing.",
    examples: ["f(1, { bits: 4 })\nf(2)"],
    sections: [{ title: "Options", code: "opts: FOptions", options: [
      { name: "groupSize", type: "number", required: false, default: "32", meaning: "Group length." },
      { name: "bits", type: "number", required: false, default: "8", meaning: "Bits per code." },
      { name: "label", type: "string", required: true, default: "`x`", meaning: "" },
    ] }],
    current: "groupSize",
  };
  const { plain, markdown } = formatHelp(help);

  it("plain text: signature, doc, one line per option, the current one marked, examples indented", () => {
    assert.equal(plain, [
      "function f(x: number, opts?: FOptions): number",
      "",
      "Makes a thing.",
      "",
      "Options (opts: FOptions):",
      "  ▸ groupSize: number = 32 — Group length.",
      "  bits: number = 8 — Bits per code.",
      "  label: string = `x` (required)",
      "",
      "Example:",
      "    f(1, { bits: 4 })",
      "    f(2)",
    ].join("\n"));
  });

  it("markdown: fenced signature and examples, options as a list of code spans", () => {
    assert.match(markdown, /^```ts\nfunction f\(x: number, opts\?: FOptions\): number\n```\n\nMakes a thing\./);
    assert.match(markdown, /\*\*Options\*\* \(`opts: FOptions`\)\n\n- ▸ `groupSize: number = 32` — Group length\.\n- `bits: number = 8` — Bits per code\./);
    // a backtick inside the code gets a longer fence, so the span is not cut short
    assert.match(markdown, /- `` label: string = `x` \(required\) ``/);
    assert.match(markdown, /\*\*Example\*\*\n\n```ts\nf\(1, \{ bits: 4 \}\)\nf\(2\)\n```$/);
  });
});

describe("merging with tslab's candidates", () => {
  const info = { start: 6, end: 6, candidates: ["bits", "Math", "map", "ruler"], original: { entries: [{ name: "Math", kind: "var" }, { name: "ruler", kind: "alias" }] } } as never;

  it("options first, tslab's after them without the duplicates, one type entry per candidate", () => {
    const c = withOptions(info, "", { start: 6, end: 6, items: [{ match: "bits", text: "bits: ", signature: "bits: number" }] });
    assert.deepEqual(c.candidates, ["bits", "Math", "map", "ruler"]);
    assert.deepEqual(c.types.map((t) => [t.text, t.type]), [["bits: ", "property"], ["Math", "var"], ["map", "<unknown>"], ["ruler", "<unknown>"]]);
  });

  it("tslab's candidates alone are filtered by the typed prefix, case-sensitively", () => {
    assert.deepEqual(withOptions(info, "M", null).candidates, ["Math"]);
    assert.deepEqual(withOptions(info, "m", { start: 6, end: 7, items: [] }).candidates, ["map"]);
  });

  it("the kernel's program is asked only where a key or an argument may start", () => {
    for (const yes of ["ruler(", "rtn(W, ", "ruler({ ", "ruler({ bits: 4, gr"]) assert.equal(mayTakeOption(yes), true, yes);
    for (const no of ["rul", "ruler(4)", "x.fi", "ruler({ bits: 4"]) assert.equal(mayTakeOption(no), false, no);
  });
});

describe("analysis on a program of inline declarations", () => {
  // multi-line, as declaration files are (TypeScript skips a member's doc comment on the line of the `{`)
  const decls = `/** A's fields. */
interface A {
  /** Bits per code (default 8). */
  bits?: number;
  /**
   * Group length.
   * @default 32
   */
  groupSize?: number | "channel";
  mode?: "a";
}
/** B's fields. */
interface B {
  /** Codebook values. */
  format: number[];
  /** Bits to count. */
  bits?: number;
  mode?: never;
}
type Spec = A | B;
interface C extends A {
  extra?: boolean;
}
interface Point { x: number; y: number; label: string }
/**
 * Makes a thing from x.
 * @example
 * \`\`\`ts
 * make(1, { bits: 4 })
 * \`\`\`
 */
declare function make(x: number, spec?: Spec): number;
declare function at(p: Point): number;
`;
  let program: HelpProgram;
  before(() => {
    program = new HelpProgram();
  });
  after(() => program.close());
  const help = (cell: string) => {
    const pos = cell.indexOf("|");
    const src = cell.replace("|", "");
    const h = helpAt(program.view(decls, src), pos, "unused");
    assert.ok(h, `no help for ${cell}`);
    return h;
  };
  const complete = (cell: string) => {
    const pos = cell.indexOf("|");
    return optionCompletions(program.view(decls, cell.replace("|", "")), pos);
  };

  it("a function: its signature, doc, example and the options of its last parameter, union members merged", () => {
    const h = help("make|");
    assert.equal(h.signature, "function make(x: number, spec?: Spec): number");
    assert.equal(h.doc, "Makes a thing from x.");
    assert.deepEqual(h.examples, ["make(1, { bits: 4 })"]);
    assert.equal(h.sections[0].code, "spec: Spec");
    const byName = Object.fromEntries(h.sections[0].options.map((o) => [o.name, o]));
    assert.deepEqual(Object.keys(byName), ["bits", "groupSize", "mode", "format"]);
    assert.deepEqual(byName.bits, { name: "bits", type: "number", required: false, default: "8", meaning: "Bits per code. (B: Bits to count)" });
    assert.deepEqual(byName.groupSize, { name: "groupSize", type: 'number | "channel"', required: false, default: "32", meaning: "Group length." });
    // required in B, absent from A: optional overall; `never` (forbidden in B) is left out of B's types
    assert.equal(byName.format.required, false);
    assert.equal(byName.mode.type, '"a"');
  });

  it("inside the options object of a call: the same function, the option under the cursor first", () => {
    for (const cell of ["make(1, { bits: 4, group|Size: 8 })", "make(1, { bits: 4, groupSize: 8| })"]) {
      const h = help(cell);
      assert.equal(h.signature, "function make(x: number, spec?: Spec): number");
      assert.equal(h.current, "groupSize");
      assert.equal(h.sections[0].options[0].name, "groupSize");
    }
    // between keys: the list in declaration order, nothing marked
    assert.equal(help("make(1, { bits: 4, | })").current, undefined);
    // on a name inside a value, the help is that name's
    assert.match(help("make(1, { bits: Math.ma|x(1, 2) })").signature, /^max\(\.\.\.values: number\[\]\): number$/);
  });

  it("a type name: its fields, each union member's in its own section", () => {
    const h = help("Spec|");
    assert.equal(h.signature, "type Spec = A | B");
    assert.deepEqual(h.sections.map((s) => [s.title, s.note, s.options.map((o) => o.name)]), [
      ["A", "A's fields.", ["bits", "groupSize", "mode"]],
      ["B", "B's fields.", ["format", "bits"]],
    ]);
    assert.equal(h.sections[1].options[0].required, true);
    assert.deepEqual(help("Point|").sections.map((s) => s.title), ["Fields"]);
    const c = help("C|");
    assert.equal(c.signature, "interface C extends A");
    assert.deepEqual(c.sections[0].options.map((o) => o.name), ["extra", "bits", "groupSize", "mode"]);
  });

  it("a record that is not an options bag gets no options list, but its object literal lists its fields", () => {
    assert.deepEqual(help("at|").sections, []);
    const h = help("at({ x: 1, | })");
    assert.deepEqual(h.sections[0].options.map((o) => o.name), ["x", "y", "label"]);
    assert.equal(complete("at(|"), null);
  });

  it("completion: `{ name: ` right after `(` where the options go, the names not yet written inside the braces", () => {
    const start = complete("make(1, |");
    assert.ok(start);
    assert.deepEqual(start.items.map((i) => i.match), ["{ bits: ", "{ groupSize: ", "{ mode: ", "{ format: "]);
    assert.equal(start.items[0].signature, "bits: number = 8 — Bits per code. (B: Bits to count)");
    assert.equal(complete("make(|"), null, "the first parameter is a number");
    const inside = complete("make(1, { bits: 4, | })");
    assert.deepEqual(inside?.items.map((i) => [i.match, i.text]), [["groupSize", "groupSize: "], ["mode", "mode: "], ["format", "format: "]]);
    const typed = complete("make(1, { gr|");
    assert.deepEqual([typed?.start, typed?.end, typed?.items.map((i) => i.match)], [10, 12, ["groupSize"]]);
    // on a key that already has its colon, only the name is inserted
    assert.deepEqual(complete("make(1, { gr|: 4 })")?.items.map((i) => i.text), ["groupSize"]);
    assert.equal(complete("make(1, { bits: |"), null, "a value, not a key");
  });

  it("a name nothing declares has no help", () => {
    assert.equal(helpAt(program.view(decls, "nosuchname"), 10, "unused"), null);
    assert.equal(helpAt(program.view(decls, "Math.nosuch"), 11, "unused"), null);
  });

  it("a type a cell declared is found by name", () => {
    const h = helpAt(program.view(decls + "interface Mine {\n  /** The x (default 3). */\n  x?: number;\n}\n", "Mine"), 4, "unused");
    assert.deepEqual(h?.sections[0].options, [{ name: "x", type: "number", required: false, default: "3", meaning: "The x." }]);
  });
});

describe("through the kernel, with the QuantLab DSL", () => {
  let k: KernelClient;
  before(async () => {
    const env = kernelEnv();
    assert.equal(env.QUANTLAB_FROM_SOURCE, undefined, "these tests need the DSL's compiled declarations: run npm run build");
    k = await KernelClient.start({ env, stderr: process.env.QUANTLAB_KERNEL_LOG ? "inherit" : "ignore" });
  });
  after(async () => {
    await k?.shutdown();
  });
  const inspect = async (code: string, pos = code.length) => (await k.request("inspect_request", { code, cursor_pos: pos, detail_level: 0 })).reply.content;
  const complete = async (code: string, pos = code.length) => (await k.request("complete_request", { code, cursor_pos: pos })).reply.content;

  it("Shift-Tab on ruler: the signature without alias noise, its options with defaults and meanings, the example as code", async () => {
    const r = await inspect("ruler");
    assert.equal(r.found, true);
    const plain: string = r.data["text/plain"];
    assert.match(plain, /^function ruler\(spec\?: QuantSpec\): Ruler\n\n/);
    assert.doesNotMatch(plain, /\(alias\)|^import /m);
    assert.match(plain, /^Options \(spec: QuantSpec\):$/m);
    assert.match(plain, /^ {2}bits: number = 8 — Bits per code, 2–8\./m);
    assert.match(plain, /^ {2}groupSize: GroupSize \| Granularity = "tensor" — Which weights share a scale/m);
    assert.match(plain, /^Example:\n {4}const row = \[0\.10/m);
    const md: string = r.data["text/markdown"];
    assert.match(md, /^```ts\nfunction ruler/);
    assert.match(md, /^- `bits: number = 8` — Bits per code/m);
    assert.match(md, /\*\*Example\*\*\n\n```ts\nconst row = /);
  });

  it("inside ruler's options object: the option under the cursor first and marked", async () => {
    const code = "ruler({ bits: 4, groupSize: 32 })";
    const plain: string = (await inspect(code, code.indexOf("groupSize") + 3)).data["text/plain"];
    assert.match(plain, /^Options \(spec: QuantSpec\):\n {2}▸ groupSize: /m);
  });

  it("QuantSpec? pages each union member's fields", async () => {
    const r = await k.execute("QuantSpec?");
    const page = r.reply.content.payload[0];
    assert.equal(page.source, "page");
    const plain: string = page.data["text/plain"];
    assert.match(plain, /^type QuantSpec = IntQuantSpec \| GridQuantSpec/);
    assert.match(plain, /^IntQuantSpec: A uniform integer grid/m);
    assert.match(plain, /^GridQuantSpec: A non-uniform grid[^\n]*\n {2}format: [^\n]*\(required\)/m);
    assert.match(page.data["text/markdown"], /\*\*GridQuantSpec\*\*/);
  });

  it("name? for a name nothing declares says so instead of `any`", async () => {
    const page = (await k.execute("nosuchname?")).reply.content.payload[0];
    assert.match(page.data["text/plain"], /^nosuchname: no such name/);
    assert.equal((await inspect("nosuchname")).found, false);
  });

  it("gptq and quantizationStudy list their options", async () => {
    assert.match((await inspect("gptq")).data["text/plain"], /^ {2}percdamp: number = 0\.01 — Damping/m);
    assert.match((await inspect("quantizationStudy")).data["text/plain"], /^ {2}calibTokens: number\[\] \(required\) — Calibration text tokens[^\n]*\n {2}evalTokens: [^\n]*\n {2}calibWindows: number = 16 — /m);
  });

  it("completion right after ruler( offers the options first, with their types in the metadata", async () => {
    const r = await complete("ruler(");
    const first = r.matches.slice(0, 11);
    assert.ok(first.includes("{ bits: ") && first.includes("{ groupSize: "), JSON.stringify(first));
    assert.ok(first.every((m: string) => m.startsWith("{ ")));
    assert.ok(r.matches.length > 50, "the other names follow");
    const types = r.metadata._jupyter_types_experimental;
    assert.equal(types.length, r.matches.length);
    const bits = types[r.matches.indexOf("{ bits: ")];
    assert.deepEqual([bits.start, bits.end, bits.text, bits.type], [6, 6, "{ bits: ", "property"]);
    assert.match(bits.signature, /^bits: number = 8 — Bits per code/);
  });

  it("a cell's own function and options type get the same help in later cells", async () => {
    const r = await k.execute("interface StepOptions {\n  /** Steps to take (default 3). */\n  steps?: number;\n}\n/** Walks. */\nfunction walk(o?: StepOptions) { return o?.steps ?? 3; }");
    assert.equal(r.reply.content.status, "ok", JSON.stringify(r.reply.content));
    assert.match((await inspect("walk")).data["text/plain"], /^function walk\(o\?: StepOptions\): number\n\nWalks\.\n\nOptions \(o: StepOptions\):\n {2}steps: number = 3 — Steps to take\.$/);
    assert.deepEqual((await complete("walk(")).matches.slice(0, 1), ["{ steps: "]);
  });

  it("completion inside the braces: the names not written yet, prefix-filtered, inserting `name: `", async () => {
    const all = await complete("ruler({ bits: 4, ");
    assert.ok(!all.matches.includes("bits") && all.matches.includes("groupSize") && all.matches.includes("scheme"), JSON.stringify(all.matches));
    const g = await complete("ruler({ bits: 4, g");
    assert.deepEqual(g.matches, ["groupSize"]);
    assert.deepEqual([g.cursor_start, g.cursor_end], [17, 18]);
    assert.equal(g.metadata._jupyter_types_experimental[0].text, "groupSize: ");
    // positions stay the cell's when `from "quantlab"` is rewritten to the DSL's path before it
    const code = 'import { ruler as R } from "quantlab";\nR({ bits: 4, g';
    const imported = await complete(code);
    assert.deepEqual([imported.matches, imported.cursor_start], [["groupSize"], code.length - 1]);
  });
});
