/**
 * The quick path for a cell that declares nothing (`rtn(W, spec)`, `chart`, `1 + 1`): checked on the
 * checker of the program tslab's converter built last, instead of a new program for the new text.
 *
 * Why: a new program and its checker cost about two thirds of a new cell's time (binding and merging
 * every library declaration again) though a cell without declarations changes nothing any later cell
 * sees: its declaration output is the earlier cells' declarations, unchanged. Such a cell is parsed and
 * bound alone, hung under the earlier cells' declaration file as tslab does (so names resolve to them),
 * checked by the last program's checker and transpiled once to CommonJS, with tslab's two rewrites:
 * the last expression stored in `tsLastExpr`, and each reference to an earlier cell's name read from
 * `exports`. Everything else — a declaration, an import, `declare`, a triple-slash reference, a
 * `@ts-` comment directive, a reference to a const enum, declarations that changed — goes through
 * tslab's converter, whose result for a cell the quick path takes is the same (test/kernel/converter
 * .test.ts compares them).
 */
import type { ConvertResult, Diagnostic } from "tslab/dist/converter.js";

type Ts = typeof import("@tslab/typescript-for-tslab");
type Program = import("@tslab/typescript-for-tslab").Program;
type SourceFile = import("@tslab/typescript-for-tslab").SourceFile;
type Node = import("@tslab/typescript-for-tslab").Node;
type TsDiagnostic = import("@tslab/typescript-for-tslab").Diagnostic;
type MessageChain = import("@tslab/typescript-for-tslab").DiagnosticMessageChain;

/** What only tslab's converter handles (syntax a cell without declarations can still hold). */
const SLOW_SYNTAX = /\bimport\b|\bexport\b|\bdeclare\b|\bglobal\b|\/\/\/|@ts-|\bnamespace\b|\bmodule\b/;
/** Quick cells per program: each leaves a little in the checker's caches; a new program drops them. */
const QUICK_PER_PROGRAM = 1000;
/** tslab's prefix, which makes every cell (and the declarations) a module. */
const PREFIX = "export {};\n";
const LAST = "tsLastExpr";
/** "'await' expressions are only allowed within async functions…": tslab's mark of a top-level await. */
const AWAIT_ONLY_IN_ASYNC = 1308;

type Internal = Ts & {
  bindSourceFile(file: SourceFile, options: object): void;
  getNullTransformationContext(): import("@tslab/typescript-for-tslab").TransformationContext;
};

export interface QuickCells {
  /** The converted cell, or null when it must go through tslab's converter. */
  convert(prevDecl: string, src: string): ConvertResult | null;
  /** How many cells took the quick path. */
  readonly taken: number;
}

/** `latest` gives the program tslab's converter built last (null before the first). */
export function quickCells(ts: Ts, latest: () => Program | null): QuickCells {
  const its = ts as Internal;
  let quickOnProgram = 0, taken = 0;
  let lastProgram: Program | null = null;

  function convert(prevDecl: string, src: string): ConvertResult | null {
    const program = latest();
    if (!program || SLOW_SYNTAX.test(src)) return null;
    if (program !== lastProgram) (lastProgram = program), (quickOnProgram = 0);
    if (quickOnProgram >= QUICK_PER_PROGRAM) return null;
    const names = cellFiles(program);
    if (!names || names.decls.text !== PREFIX + prevDecl) return null;
    const options = program.getCompilerOptions();
    const text = PREFIX + src;
    const sf = ts.createSourceFile(names.cell.fileName, text, options.target ?? ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
    Object.assign(sf, { path: names.cell.path, resolvedPath: names.cell.resolvedPath, originalFileName: names.cell.originalFileName });
    its.bindSourceFile(sf, options);
    const locals = (sf as SourceFile & { locals?: Map<string, unknown> }).locals;
    if (locals && locals.size > 0) return null;
    (sf as { parent?: Node }).parent = names.decls;
    const checker = program.getTypeChecker() as import("@tslab/typescript-for-tslab").TypeChecker & {
      getDiagnostics(file: SourceFile): readonly TsDiagnostic[];
    };
    // the checker's diagnostics are kept by file name, and every cell has the same one: keep this file's
    const raw = [
      ...(sf as SourceFile & { parseDiagnostics: TsDiagnostic[] }).parseDiagnostics,
      ...(sf as SourceFile & { bindDiagnostics: TsDiagnostic[] }).bindDiagnostics,
      ...checker.getDiagnostics(sf).filter((d) => d.file === sf),
    ];
    const earlier = new Set<number>();
    let constEnum = false;
    const visit = (node: Node): void => {
      if (ts.isIdentifier(node) && !(ts.isPropertyAccessExpression(node.parent) && node.parent.name === node)) {
        const symbol = checker.getSymbolAtLocation(node);
        if (symbol?.declarations?.some((d) => d.getSourceFile() === names.decls)) earlier.add(node.pos);
        const target = symbol && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        if (target && target.flags & ts.SymbolFlags.ConstEnum) constEnum = true;
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    // a const enum's members are inlined from its type, which a one-file transpile cannot see
    if (constEnum) return null;
    quickOnProgram++, taken++;
    let hasToplevelAwait = false;
    const kept = ts.sortAndDeduplicateDiagnostics(raw).filter((d) => {
      if (d.code === AWAIT_ONLY_IN_ASYNC && isTopLevelAwait(ts, sf, d)) return !(hasToplevelAwait = true);
      return true;
    });
    const diagnostics: Diagnostic[] = [];
    for (const d of kept) toTslabDiagnostics(ts, sf, d, diagnostics);
    if (diagnostics.length > 0) return { diagnostics };
    const { output, lastExpressionVar } = transpile(its, text, sf.fileName, options.target, earlier);
    return { output, declOutput: prevDecl, diagnostics, hasToplevelAwait, sideOutputs: undefined, lastExpressionVar };
  }

  return { convert, get taken() { return taken; } };
}

/**
 * A cell that declares nothing, without a checker: parsed, bound alone and transpiled as the quick
 * path does, with no diagnostics but the parser's. For the cells a session runs before the checker is
 * warm (src/kernel/kernel.ts), which are type-checked once it is. Names from the preload are not rewritten to `exports`,
 * since nothing resolves them here: the executor runs such a cell with its store in scope, where
 * JavaScript's own scoping resolves them as the checker would. Null for what the quick path refuses.
 */
export function uncheckedCell(ts: Ts, src: string): ConvertResult | null {
  const its = ts as Internal;
  if (SLOW_SYNTAX.test(src)) return null;
  const text = PREFIX + src;
  const sf = ts.createSourceFile("/__tslab__.ts", text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  its.bindSourceFile(sf, {});
  const locals = (sf as SourceFile & { locals?: Map<string, unknown> }).locals;
  if (locals && locals.size > 0) return null;
  const parse = (sf as SourceFile & { parseDiagnostics: TsDiagnostic[] }).parseDiagnostics;
  if (parse.length > 0) {
    const diagnostics: Diagnostic[] = [];
    for (const d of parse) toTslabDiagnostics(ts, sf, d, diagnostics);
    return { diagnostics };
  }
  // tslab's mark of a top-level await is the checker's; here it is an `await` outside any function or class
  let hasToplevelAwait = false;
  const visit = (node: Node, inFunction: boolean): void => {
    if (!inFunction && (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier))) hasToplevelAwait = true;
    const inner = inFunction || ts.isFunctionLike(node) || ts.isClassLike(node);
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(sf, false);
  const { output, lastExpressionVar } = transpile(its, text, sf.fileName, ts.ScriptTarget.ES2022, new Set());
  return { output, declOutput: undefined, diagnostics: [], hasToplevelAwait, sideOutputs: undefined, lastExpressionVar };
}

/** The cell to CommonJS with tslab's two rewrites (the last expression stored, earlier names read from `exports`). */
function transpile(ts: Internal, text: string, fileName: string, target: import("@tslab/typescript-for-tslab").ScriptTarget | undefined, earlier: ReadonlySet<number>): { output: string; lastExpressionVar: string | undefined } {
  let lastExpressionVar: string | undefined;
  const output = ts.transpileModule(text, {
    fileName,
    reportDiagnostics: false,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target,
      esModuleInterop: true,
      newLine: ts.NewLineKind.LineFeed,
      noImplicitUseStrict: true,
      experimentalDecorators: true,
      jsx: ts.JsxEmit.React,
    },
    transformers: {
      before: [() => (file) => {
        const rewritten = storeLastExpression(ts, file);
        if (rewritten !== file) lastExpressionVar = LAST;
        return rewritten;
      }],
      after: [() => (file) => readEarlierFromExports(ts, file, earlier)],
    },
  }).outputText;
  return { output, lastExpressionVar };
}

/** The program's cell file and declaration file (tslab's two root files). */
function cellFiles(program: Program): { cell: SourceFile & { path: string; resolvedPath: string; originalFileName: string }; decls: SourceFile } | null {
  let cell: SourceFile | undefined, decls: SourceFile | undefined;
  for (const name of program.getRootFileNames()) {
    if (name.endsWith("/__tslab__.ts")) cell = program.getSourceFile(name);
    else if (name.endsWith("/__prev__.d.ts")) decls = program.getSourceFile(name);
  }
  return cell && decls ? { cell: cell as SourceFile & { path: string; resolvedPath: string; originalFileName: string }, decls } : null;
}

/** `expr` as the last statement becomes `export const tsLastExpr = expr` (tslab's rewrite, before CommonJS). */
function storeLastExpression(ts: Ts, file: SourceFile): SourceFile {
  const statements = file.statements;
  for (let i = statements.length - 1; i >= 0; i--) {
    const stmt = statements[i]!;
    if (ts.isExportDeclaration(stmt)) continue;
    if (!ts.isExpressionStatement(stmt)) return file;
    const store = ts.factory.createVariableStatement(
      [ts.factory.createModifier(ts.SyntaxKind.ExportKeyword)],
      ts.factory.createVariableDeclarationList([ts.factory.createVariableDeclaration(LAST, undefined, undefined, stmt.expression)], ts.NodeFlags.Const),
    );
    return ts.factory.updateSourceFile(file, [...statements.slice(0, i), store, ...statements.slice(i + 1)]);
  }
  return file;
}

/** References to an earlier cell's names (found by position in the checked parse) read `exports.name`. */
function readEarlierFromExports(ts: Internal, file: SourceFile, earlier: ReadonlySet<number>): SourceFile {
  if (earlier.size === 0) return file;
  const context = ts.getNullTransformationContext();
  const visit = (node: Node): Node => {
    if (ts.isIdentifier(node)) {
      // property names were left out when the set was made; nodes the transforms made have no position
      const original = ts.getOriginalNode(node);
      return original.pos >= 0 && ts.isIdentifier(original) && earlier.has(original.pos)
        ? ts.factory.createPropertyAccessExpression(ts.factory.createIdentifier("exports"), node)
        : node;
    }
    return ts.visitEachChild(node, visit, context);
  };
  return ts.visitEachChild(file, visit, context);
}

/** tslab's test: a 1308 whose `await` has no function, class or namespace around it. */
function isTopLevelAwait(ts: Ts, sf: SourceFile, d: TsDiagnostic): boolean {
  const token = (ts as Ts & { findPrecedingToken(pos: number, sf: SourceFile): Node | undefined }).findPrecedingToken(d.start! + d.length!, sf);
  if (!token || token.kind !== ts.SyntaxKind.AwaitKeyword) return false;
  for (let p = token.parent; p && p !== sf; p = p.parent) {
    switch (p.kind) {
      case ts.SyntaxKind.ArrowFunction:
      case ts.SyntaxKind.FunctionExpression:
      case ts.SyntaxKind.FunctionDeclaration:
      case ts.SyntaxKind.ClassDeclaration:
      case ts.SyntaxKind.ModuleDeclaration:
        return false;
    }
  }
  return true;
}

/** tslab's diagnostic shape: positions in the cell's own text, a message chain flattened in order. */
function toTslabDiagnostics(ts: Ts, sf: SourceFile, d: TsDiagnostic, out: Diagnostic[]): void {
  const at = (offset: number) => {
    const { line, character } = ts.getLineAndCharacterOfPosition(sf, offset);
    return { offset: offset - PREFIX.length, line: line - 1, character };
  };
  const start = at(d.start!), end = at(d.start! + d.length!);
  if (typeof d.messageText === "string") {
    out.push({ start, end, messageText: d.messageText, category: d.category, code: d.code, fileName: undefined });
    return;
  }
  const walk = (m: MessageChain) => {
    out.push({ start, end, messageText: m.messageText, category: m.category, code: m.code });
    for (const next of m.next ?? []) walk(next);
  };
  walk(d.messageText);
}
