/**
 * What the kernel's help knows about the code at the cursor, read from the TypeScript checker of
 * src/kernel/help-program.ts: a function's signatures, doc, examples and the options its last
 * parameter takes; the options of the object literal the cursor is in; a type's fields (each member's,
 * for a union). src/kernel/help-format.ts turns the result into the text and markdown of a reply.
 *
 * Options are recognised by shape, never by name: an object type (or a union of them) that is not
 * callable or array-like and whose properties are mostly optional, so `{ bits, groupSize, … }` counts
 * and a `Matrix` does not. Defaults and meanings come from the doc comments: a `@default` tag, or the
 * "(default X)" the project's comments write.
 */
import type * as TS from "@tslab/typescript-for-tslab";
import type { CompletionInfo } from "tslab/dist/converter.js";
import type { HelpView } from "./help-program.js";

export interface OptionHelp {
  name: string;
  type: string;
  required: boolean;
  default?: string;
  /** The doc comment on one line. */
  meaning: string;
}

export interface OptionsSection {
  /** "Options", or a union member's name. */
  title: string;
  /** Code after the title: the parameter it describes (`spec: QuantSpec`). */
  code?: string;
  /** The member's own doc comment, on one line. */
  note?: string;
  options: OptionHelp[];
}

export interface Help {
  /** Code: the signatures (one a line) or the type's declaration. */
  signature: string;
  doc: string;
  /** Code of the `@example` tags, without their fences. */
  examples: string[];
  sections: OptionsSection[];
  /** The option under the cursor (listed first in its section). */
  current?: string;
}

export interface OptionItem {
  /** What the candidate list shows (and what a front end without type metadata inserts). */
  match: string;
  /** What to insert. */
  text: string;
  /** `bits: number = 8 — Bits per code, 2–8` */
  signature: string;
}

export interface OptionCompletion {
  /** Cell positions of the text the items replace. */
  start: number;
  end: number;
  items: OptionItem[];
}

/** A complete_reply's candidates (the executor's answer). */
export interface Completion {
  start: number;
  end: number;
  candidates: string[];
  /** Per candidate, for `_jupyter_types_experimental`: what to insert, its kind, its line of help. */
  types: { text: string; type: string; signature: string }[];
}

type Ts = HelpView["ts"];

/** Help for the code at `pos` in the cell, or null when nothing there has any. */
export function helpAt(v: HelpView, pos: number, typesPath: string): Help | null {
  const { ts, checker } = v;
  const p = pos + v.offset;
  const id = identifierAt(ts, v.cell, p);
  const obj = enclosingObject(ts, v.cell, p);
  // inside an options object, but not on a name in one of its values (`scale: (x) => Math.max(…)`)
  if (obj && (!id || keyOf(ts, obj, id) !== undefined)) {
    const type = checker.getContextualType(obj);
    const members = type && optionMembers(ts, checker, type, true);
    if (type && members) {
      const current = id ? id.text : propertyAround(ts, v.cell, obj, p);
      const section: OptionsSection = { title: "Fields", options: mergedOptions(ts, checker, members, obj) };
      const call = obj.parent && ts.isCallExpression(obj.parent) && obj.parent.arguments.includes(obj) ? obj.parent : null;
      // the call's own options list is not needed: the object's contextual type replaces it
      const h = call ? callHelp(ts, checker, call, false) : null;
      const param = call && checker.getResolvedSignature(call)?.parameters[call.arguments.indexOf(obj)];
      if (param) Object.assign(section, { title: "Options", code: `${param.name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(param, call), call, TYPE_FLAGS)}` });
      // outside a call (`const s: QuantSpec = { … }`) the help is the type's
      const base = h ?? { signature: checker.typeToString(type, obj, TYPE_FLAGS), doc: "", examples: [], sections: [] };
      return markCurrent({ ...base, sections: [section] }, current);
    }
  }
  if (id) {
    let sym = checker.getSymbolAtLocation(id);
    if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    const typeSym = !sym || !(sym.flags & ts.SymbolFlags.Value) ? (sym ?? typeNamed(ts, checker, v, id, typesPath)) : undefined;
    if (typeSym && typeSym.flags & ts.SymbolFlags.Type) return typeHelp(ts, checker, typeSym, id);
    // a name nothing declares: no help (quick info would say `any`), so `name?` says it does not exist
    if (!sym) return null;
    const sigs = checker.getTypeOfSymbolAtLocation(sym, id).getCallSignatures();
    if (sigs.length > 0) return functionHelp(ts, checker, id.text, sym, sigs, id);
    return quickInfo(v, p);
  }
  const call = enclosingCall(ts, v.cell, p);
  if (call) return callHelp(ts, checker, call);
  return null;
}

/**
 * Option names to offer at `pos`: inside an options object, the ones not written yet (`bits`, with
 * `bits: ` to insert); right after `(` or `,` where an options argument goes, `{ bits: ` and so on.
 */
export function optionCompletions(v: HelpView, pos: number): OptionCompletion | null {
  const { ts, checker, cell } = v;
  const p = pos + v.offset;
  const text = cell.text;
  const before = text.slice(0, p);
  const obj = enclosingObject(ts, cell, p);
  if (obj) {
    const typed = /[A-Za-z_$][\w$]*$/.exec(before)?.[0] ?? "";
    const start = p - typed.length;
    // a key is being written only right after `{` or `,` (else the cursor is in a value)
    if (!/[{,]\s*$/.test(text.slice(obj.getStart(cell), start))) return null;
    const type = checker.getContextualType(obj);
    const members = type && optionMembers(ts, checker, type, true);
    if (!members) return null;
    const written = new Set(obj.properties.filter((pr) => !(pr.getStart(cell) <= p && p <= pr.end)).map((pr) => pr.name && propertyName(ts, pr.name)));
    const end = start + (/^[\w$]*/.exec(text.slice(start))?.[0].length ?? 0);
    const colon = /^\s*:/.test(text.slice(end));
    const items = mergedOptions(ts, checker, members, obj)
      .filter((o) => !written.has(o.name) && o.name.startsWith(typed))
      .map((o) => ({ match: o.name, text: colon ? o.name : `${o.name}: `, signature: optionLine(o) }));
    return { start: start - v.offset, end: end - v.offset, items };
  }
  if (!/[(,]\s*$/.test(before) || !/^\s*([),]|$)/.test(text.slice(p))) return null;
  const call = enclosingCall(ts, cell, p);
  if (!call) return null;
  // the arguments before the cursor (an unfinished `f(a, ` has a zero-width missing one after `a`)
  const index = call.arguments.filter((a) => a.getWidth(cell) > 0 && a.end < p).length;
  const sig = checker.getResolvedSignature(call);
  const param = sig?.parameters[index];
  if (!param) return null;
  const members = optionMembers(ts, checker, checker.getTypeOfSymbolAtLocation(param, call));
  if (!members) return null;
  const items = mergedOptions(ts, checker, members, call).map((o) => ({ match: `{ ${o.name}: `, text: `{ ${o.name}: `, signature: optionLine(o) }));
  return { start: pos, end: pos, items };
}

/** Whether the text before the cursor ends where a key or an argument may start (`{`, `(`, `,`, a name). */
export function mayTakeOption(before: string): boolean {
  return /[{(,]\s*[\w$]*$/.test(before);
}

/**
 * tslab's completion with the options first. tslab ranks case-insensitive and substring matches
 * too, and Jupyter front ends expect a prefix filter, so its candidates are filtered by `typed`.
 */
export function withOptions(info: CompletionInfo, typed: string, options: OptionCompletion | null): Completion {
  const kinds = new Map((info.original?.entries ?? []).map((e) => [e.name, e.kind === "alias" ? "<unknown>" : e.kind]));
  const rest = (skip: Set<string>) => info.candidates.filter((c) => c.startsWith(typed) && !skip.has(c));
  const plain = (c: string) => ({ text: c, type: kinds.get(c) ?? "<unknown>", signature: "" });
  if (!options || options.items.length === 0) {
    const candidates = rest(new Set());
    return { start: info.start, end: info.end, candidates, types: candidates.map(plain) };
  }
  const others = rest(new Set(options.items.map((i) => i.match)));
  return {
    start: options.start,
    end: Math.max(options.end, info.end),
    candidates: [...options.items.map((i) => i.match), ...others],
    types: [...options.items.map((i) => ({ text: i.text, type: "property", signature: i.signature })), ...others.map(plain)],
  };
}

/** `bits: number = 8 — Bits per code, 2–8`: one option on one line. */
export function optionLine(o: OptionHelp): string {
  return `${optionHead(o)}${o.meaning ? ` — ${o.meaning}` : ""}`;
}

/** `bits: number = 8`, or `format: … (required)`. */
export function optionHead(o: OptionHelp): string {
  return `${o.name}: ${o.type}${o.default !== undefined ? ` = ${o.default}` : ""}${o.required ? " (required)" : ""}`;
}

/**
 * The default a doc comment states and the meaning without it: a `@default` tag; "(default X)" or
 * "(default X: why)"; "… ; default: X" at the end; or `"x" (…default…)` naming a literal as the default.
 */
export function splitDefault(doc: string, tagDefault?: string): { default?: string; meaning: string } {
  const line = doc.replace(/\s+/g, " ").trim();
  if (tagDefault !== undefined && tagDefault.trim()) return { default: tagDefault.trim(), meaning: line };
  for (let at = line.indexOf("(default"); at >= 0; at = line.indexOf("(default", at + 1)) {
    const close = matchingParen(line, at);
    if (close < 0) break;
    const inner = line.slice(at + "(default".length, close);
    const m = /^:?\s+([\s\S]+)$/.exec(inner);
    if (!m) continue;
    // "(default 16: an FP16 scale)": the value, and the reason stays in the meaning
    const colon = topLevelColon(m[1]);
    const value = (colon < 0 ? m[1] : m[1].slice(0, colon)).trim();
    const rest = colon < 0 ? "" : ` (${m[1].slice(colon + 1).trim()})`;
    return { default: value, meaning: tidy(line.slice(0, at).trimEnd() + rest + line.slice(close + 1)) };
  }
  const tail = /[;,]\s*default:?\s+([^;]+?)\.?$/.exec(line);
  if (tail) return { default: tail[1].trim(), meaning: tidy(line.slice(0, tail.index) + ".") };
  const lit = /("[^"]*"|'[^']*'|`[^`]*`)\s*\((?:[^()]*?,\s*)?(?:the\s+)?default\b[^()]*\)/.exec(line);
  if (lit) return { default: lit[1].replace(/^`|`$/g, ""), meaning: line };
  return { meaning: line };
}

function tidy(s: string): string {
  return s.replace(/\s+([.,;])/g, "$1").replace(/\s+/g, " ").trim();
}

function matchingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")" && --depth === 0) return i;
  }
  return -1;
}

function topLevelColon(s: string): number {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "(") depth++;
    else if (s[i] === ")") depth--;
    else if (s[i] === ":" && depth === 0 && s[i + 1] === " ") return i;
  }
  return -1;
}

// aliases by their names (QuantSpec, not IntQuantSpec | GridQuantSpec), and no "... 3 more ..."
const TYPE_FLAGS = 1 /* NoTruncation */ | 16384 /* UseAliasDefinedOutsideCurrentScope */;

function markCurrent(h: Help, current: string | undefined): Help {
  if (!current) return h;
  const sections = h.sections.map((s) => {
    const i = s.options.findIndex((o) => o.name === current);
    return i < 0 ? s : { ...s, options: [s.options[i], ...s.options.filter((_, j) => j !== i)] };
  });
  return sections.some((s, i) => s !== h.sections[i]) ? { ...h, sections, current } : h;
}

/**
 * The members of an options type (a union's object members), or null when `type` is not one. `loose`
 * (inside an object literal, where any object type's fields are what to write) drops the rule that
 * most properties be optional.
 */
function optionMembers(ts: Ts, checker: TS.TypeChecker, type: TS.Type, loose = false): TS.Type[] | null {
  const members = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.Void)));
  if (members.length === 0) return null;
  let optional = 0;
  let total = 0;
  for (const m of members) {
    if (!(m.flags & ts.TypeFlags.Object) || m.getCallSignatures().length > 0 || m.getConstructSignatures().length > 0) return null;
    if (checker.isArrayLikeType(m) || m.getNumberIndexType()) return null;
    const props = checker.getPropertiesOfType(m);
    if (props.length === 0) return null;
    total += props.length;
    optional += props.filter((p) => p.flags & ts.SymbolFlags.Optional).length;
  }
  return loose || optional * 2 >= total ? members : null;
}

/**
 * One list for all members of a union: each name once, with the first member's default and meaning;
 * a later member that types or explains it differently adds its type and, in parentheses, its meaning.
 */
function mergedOptions(ts: Ts, checker: TS.TypeChecker, members: TS.Type[], at: TS.Node): OptionHelp[] {
  const out = new Map<string, OptionHelp>();
  for (const m of members) {
    const memberName = checker.typeToString(m, at, TYPE_FLAGS);
    for (const o of optionsOf(ts, checker, m, at)) {
      const e = out.get(o.name);
      if (!e) {
        // a name some members leave out, or make optional, is optional overall
        out.set(o.name, { ...o, required: o.required && members.every((x) => checker.getPropertyOfType(x, o.name)) });
        continue;
      }
      e.required &&= o.required;
      const known = new Set(e.type.split(" | "));
      const more = o.type.split(" | ").filter((t) => !known.has(t));
      if (more.length > 0) e.type = [e.type, ...more].join(" | ");
      if (!o.meaning || o.meaning === e.meaning) continue;
      const own = `${o.meaning.replace(/\.$/, "")}${o.default !== undefined && o.default !== e.default ? ` (default ${o.default})` : ""}`;
      e.meaning = e.meaning ? `${e.meaning} (${memberName}: ${own})` : own;
    }
  }
  return [...out.values()];
}

/** The properties of one object type, in declaration order; `never` ones (forbidden here) left out. */
function optionsOf(ts: Ts, checker: TS.TypeChecker, type: TS.Type, at: TS.Node): OptionHelp[] {
  const out: OptionHelp[] = [];
  for (const prop of checker.getPropertiesOfType(type)) {
    const t = checker.getTypeOfSymbolAtLocation(prop, at);
    if (t.flags & ts.TypeFlags.Never) continue;
    const doc = ts.displayPartsToString(prop.getDocumentationComment(checker));
    const tag = prop.getJsDocTags(checker).find((x) => x.name === "default");
    const d = splitDefault(doc, tag ? ts.displayPartsToString(tag.text) : undefined);
    out.push({ name: prop.name, type: checker.typeToString(t, at, TYPE_FLAGS), required: !(prop.flags & ts.SymbolFlags.Optional), ...d });
  }
  return out;
}

function docOf(ts: Ts, parts: TS.SymbolDisplayPart[], tags: TS.JSDocTagInfo[]): { doc: string; examples: string[] } {
  const examples: string[] = [];
  const lines = [ts.displayPartsToString(parts)];
  for (const t of tags) {
    const text = ts.displayPartsToString(t.text);
    if (t.name === "example") examples.push(unfence(text));
    else if (t.name !== "default") lines.push(`@${t.name} ${text}`.trim());
  }
  return { doc: lines.filter(Boolean).join("\n"), examples };
}

/** The code of an example: what is between its ``` fences, or all of it. */
function unfence(text: string): string {
  const m = /```[\w-]*\n?([\s\S]*?)\n?```/.exec(text);
  return (m ? m[1] : text).replace(/^\n+|\s+$/g, "");
}

function functionHelp(ts: Ts, checker: TS.TypeChecker, name: string, sym: TS.Symbol, sigs: readonly TS.Signature[], at: TS.Node, chosen?: TS.Signature, withOptions = true): Help {
  // `function rtn(…)` for a function or a const holding one; a method reads `fit(row: …): Fit`
  const keyword = sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable) ? "function " : "";
  const signature = sigs.map((s) => `${keyword}${name}${checker.signatureToString(s, at, TYPE_FLAGS)}`).join("\n");
  const main = chosen ?? sigs[0];
  // a const alias (`rtn = quantize`) has no doc of its own: its signature's declaration has
  const symDoc = sym.getDocumentationComment(checker);
  const { doc, examples } = symDoc.length > 0 ? docOf(ts, symDoc, sym.getJsDocTags(checker)) : docOf(ts, main.getDocumentationComment(checker), main.getJsDocTags());
  const sections: OptionsSection[] = [];
  const last = withOptions ? main.parameters.at(-1) : undefined;
  if (last) {
    const type = checker.getTypeOfSymbolAtLocation(last, at);
    const members = optionMembers(ts, checker, type);
    if (members) sections.push({ title: "Options", code: `${last.name}: ${checker.typeToString(type, at, TYPE_FLAGS)}`, options: mergedOptions(ts, checker, members, at) });
  }
  return { signature, doc, examples, sections };
}

function callHelp(ts: Ts, checker: TS.TypeChecker, call: TS.CallExpression, withOptions = true): Help | null {
  const callee = ts.isPropertyAccessExpression(call.expression) ? call.expression.name : call.expression;
  let sym = checker.getSymbolAtLocation(callee);
  if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
  if (!sym) return null;
  const sigs = checker.getTypeOfSymbolAtLocation(sym, callee).getCallSignatures();
  if (sigs.length === 0) return null;
  return functionHelp(ts, checker, callee.getText(), sym, sigs, call, checker.getResolvedSignature(call) ?? undefined, withOptions);
}

function typeHelp(ts: Ts, checker: TS.TypeChecker, sym: TS.Symbol, at: TS.Node): Help {
  const type = checker.getDeclaredTypeOfSymbol(sym);
  const { doc, examples } = docOf(ts, sym.getDocumentationComment(checker), sym.getJsDocTags(checker));
  const isAlias = !!(sym.flags & ts.SymbolFlags.TypeAlias);
  // `interface GptqOptions extends LayerQuantOptions`: where the inherited fields come from
  const decl = sym.declarations?.find((d) => ts.isInterfaceDeclaration(d) || ts.isClassDeclaration(d)) as TS.InterfaceDeclaration | TS.ClassDeclaration | undefined;
  const heritage = decl?.heritageClauses?.map((h) => ` ${h.getText()}`).join("") ?? "";
  const signature = isAlias ? `type ${sym.name} = ${checker.typeToString(type, at, TYPE_FLAGS | 8388608 /* InTypeAlias */)}` : `${sym.flags & ts.SymbolFlags.Class ? "class" : "interface"} ${sym.name}${heritage}`;
  const members = type.isUnion() ? type.types : [type];
  const sections: OptionsSection[] = [];
  for (const m of members) {
    if (!(m.flags & ts.TypeFlags.Object)) continue;
    const options = optionsOf(ts, checker, m, at);
    if (options.length === 0) continue;
    const mSym = m.aliasSymbol ?? m.getSymbol();
    const note = members.length > 1 && mSym ? ts.displayPartsToString(mSym.getDocumentationComment(checker)).replace(/\s+/g, " ").trim() : "";
    sections.push({ title: members.length > 1 ? checker.typeToString(m, at, TYPE_FLAGS) : "Fields", ...(note ? { note } : {}), options });
  }
  return { signature, doc, examples, sections };
}

/** A type by the name under the cursor: one in scope (a cell's interface), else one the DSL exports. */
function typeNamed(ts: Ts, checker: TS.TypeChecker, v: HelpView, id: TS.Identifier, typesPath: string): TS.Symbol | undefined {
  const inScope = checker.getSymbolsInScope(id, ts.SymbolFlags.Type).find((s) => s.name === id.text);
  if (inScope) return inScope.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(inScope) : inScope;
  for (const st of v.decls.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || st.moduleSpecifier.text !== typesPath) continue;
    const mod = checker.getSymbolAtLocation(st.moduleSpecifier);
    const found = mod && checker.getExportsOfModule(mod).find((s) => s.name === id.text);
    if (found) return found.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(found) : found;
  }
  return undefined;
}

/** The LanguageService's quick info, without tslab's `(alias)` and `import name` lines. */
function quickInfo(v: HelpView, p: number): Help | null {
  const info = v.ls.getQuickInfoAtPosition(v.cell.fileName, p);
  if (!info) return null;
  const signature = cleanSignature(v.ts.displayPartsToString(info.displayParts));
  const { doc, examples } = docOf(v.ts, info.documentation ?? [], info.tags ?? []);
  return { signature, doc, examples, sections: [] };
}

export function cleanSignature(s: string): string {
  return s.replace(/^\(alias\)\s*/, "").split("\n").filter((l) => !/^import\s/.test(l)).join("\n").trim();
}

// ------------------------------------------------------------------ where the cursor is

/** The identifier the cursor is in or just after. */
function identifierAt(ts: Ts, sf: TS.SourceFile, p: number): TS.Identifier | undefined {
  let found: TS.Identifier | undefined;
  const visit = (n: TS.Node): void => {
    if (n.getStart(sf) > p || n.end < p) return;
    if (ts.isIdentifier(n)) found = n;
    else n.forEachChild(visit);
  };
  sf.forEachChild(visit);
  return found;
}

/**
 * The innermost node passing `test` and `inside` around `p`. An unfinished node (`ruler(x, ` at the
 * end of the cell) ends before the blanks typed after it, so those count as inside.
 */
function innermost<T extends TS.Node>(sf: TS.SourceFile, p: number, test: (n: TS.Node) => n is T, inside: (n: T) => boolean): T | undefined {
  let found: T | undefined;
  const reach = sf.text.slice(0, p).trimEnd().length;
  const visit = (n: TS.Node): void => {
    if (n.getStart(sf) > p || n.end < reach) return;
    if (test(n) && inside(n)) found = n;
    n.forEachChild(visit);
  };
  sf.forEachChild(visit);
  return found;
}

/** The innermost object literal whose braces the cursor is between. */
function enclosingObject(ts: Ts, sf: TS.SourceFile, p: number): TS.ObjectLiteralExpression | undefined {
  return innermost(sf, p, ts.isObjectLiteralExpression, (o) => o.getStart(sf) < p && (p < o.end || sf.text[o.end - 1] !== "}"));
}

/** The innermost call whose argument parentheses the cursor is between. */
function enclosingCall(ts: Ts, sf: TS.SourceFile, p: number): TS.CallExpression | undefined {
  return innermost(sf, p, ts.isCallExpression, (c) => c.arguments.pos <= p && (p < c.end || sf.text[c.end - 1] !== ")"));
}

/** The key `id` is in `obj` (a property name or a shorthand), else undefined. */
function keyOf(ts: Ts, obj: TS.ObjectLiteralExpression, id: TS.Identifier): string | undefined {
  const pr = id.parent;
  if (pr && pr.parent === obj && (ts.isPropertyAssignment(pr) || ts.isShorthandPropertyAssignment(pr) || ts.isMethodDeclaration(pr)) && pr.name === id) return id.text;
  return undefined;
}

/** The key of the property of `obj` the cursor is in (on its value, or just after it). */
function propertyAround(ts: Ts, sf: TS.SourceFile, obj: TS.ObjectLiteralExpression, p: number): string | undefined {
  // `{ bits: |` (a front end asking about the candidate it just inserted): the property ends before the blank
  const reach = sf.text.slice(0, p).trimEnd().length;
  const pr = obj.properties.find((x) => x.getStart(sf) <= p && reach <= x.end);
  return pr?.name ? propertyName(ts, pr.name) : undefined;
}

function propertyName(ts: Ts, name: TS.PropertyName): string | undefined {
  return ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) ? name.text : undefined;
}
