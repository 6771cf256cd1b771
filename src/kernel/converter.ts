/**
 * tslab's converter (type-check, transpile, declarations for the next cell) on a plain TypeScript
 * program instead of TypeScript's default incremental builder.
 *
 * Why: tslab builds its watch program with `createEmitAndSemanticDiagnosticsBuilderProgram`, whose
 * state (a reference map and a signature for every file: lib, @types, the DSL's declarations) is
 * rebuilt for every new program, i.e. for every new cell text — about two thirds of a trivial cell's
 * time. The converter needs none of that state: it asks the builder for the program, a source file,
 * an emit and the .ts/.js files a cell depends on. `createAbstractBuilder` gives the first three on a
 * program that still reuses the previous one's parsed files; the dependencies are walked here.
 *
 * tslab calls `createWatchCompilerHost(roots, options, sys, null, …)` and leaves the program factory
 * (`null`) to TypeScript; its module is loaded here with a view of the TypeScript module whose
 * `createWatchCompilerHost` fills that argument in (and limits the automatic types to Node's). A cell
 * that declares nothing is taken by the quick path of ./quick-cell.ts on the last program built here;
 * everything else (diagnostics, the last-expression rewrite, the declarations carried between cells,
 * completion, quick info) is tslab's own code.
 */
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import { readFileSync } from "node:fs";
import type { Converter, ConverterOptions } from "tslab/dist/converter.js";
import { quickCells } from "./quick-cell.js";

type Ts = typeof import("@tslab/typescript-for-tslab");
type SourceFile = import("@tslab/typescript-for-tslab").SourceFile;
type Program = import("@tslab/typescript-for-tslab").Program;
type TsConverterModule = typeof import("tslab/dist/converter.js");

const require = createRequire(import.meta.url);
const TS_ID = "@tslab/typescript-for-tslab";

let loaded: TsConverterModule | null = null;
/** Where the program factory of the converter being created reports each program it builds. */
let reportProgram: ((program: Program) => void) | null = null;

/**
 * tslab's converter, with cells that declare nothing taken by the quick path (./quick-cell.ts) on the
 * last program tslab built.
 */
export function createConverter(options?: ConverterOptions): Converter & { readonly quickCells: number } {
  loaded ??= loadConverterModule();
  let latest: Program | null = null;
  reportProgram = (p) => (latest = p);
  const inner = loaded.createConverter(options);
  reportProgram = null;
  if (options?.isJS) return Object.assign(inner, { quickCells: 0 });
  const quick = quickCells(require(TS_ID) as Ts, () => latest);
  return {
    ...inner,
    convert: (prevDecl, src) => quick.convert(prevDecl, src) ?? inner.convert(prevDecl, src),
    get quickCells() { return quick.taken; },
  };
}

function loadConverterModule(): TsConverterModule {
  const ts = require(TS_ID) as Ts;
  const path = require.resolve("tslab/dist/converter.js");
  const own = createRequire(path);
  const descriptors = Object.getOwnPropertyDescriptors(ts);
  for (const d of Object.values(descriptors)) d.configurable = true;
  const view = Object.defineProperties({}, descriptors) as Record<string, unknown>;
  const original = ts.createWatchCompilerHost as (...args: unknown[]) => unknown;
  Object.defineProperty(view, "createWatchCompilerHost", {
    enumerable: true,
    value: (...args: unknown[]) => {
      // (rootFiles, options, system, createProgram, …): only the files-and-options form is tslab's
      if (Array.isArray(args[0]) && args[3] == null) {
        args[3] = plainProgramFactory(ts);
        // Node's globals only: every package under node_modules/@types (jquery, lodash, react… here)
        // would otherwise be part of each cell's program, costing time per cell and putting globals
        // such as `$` and `_` in scope; packages a cell imports still bring their own types
        args[1] = { ...(args[1] as object), types: ["node"] };
      }
      return original(...args);
    },
  });
  const mod = new Module(path) as Module & { _compile(code: string, filename: string): void; paths: string[] };
  mod.filename = path;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(path));
  mod.require = ((id: string) => (id === TS_ID ? view : own(id))) as NodeJS.Require;
  mod._compile(readFileSync(path, "utf8"), path);
  return mod.exports as TsConverterModule;
}

function plainProgramFactory(ts: Ts) {
  const report = reportProgram;
  return (...args: Parameters<Ts["createAbstractBuilder"]>) => {
    const builder = ts.createAbstractBuilder(...args);
    report?.(builder.getProgram());
    // the default builder binds every file when it is created (its reference map asks the checker);
    // tslab's completion relies on that: it walks the cell's parent pointers, which binding sets
    builder.getProgram().getTypeChecker();
    return Object.assign(builder, { getAllDependencies: (sf: SourceFile) => sourceDependencies(builder.getProgram(), sf) });
  };
}

/**
 * `sf` and the source files (.ts, .js; not declaration files) it imports or references, transitively:
 * what tslab checks and emits along with a cell that imports a local module. Declaration files are
 * not walked into: they import declarations, and tslab filters everything but sources out anyway.
 */
export function sourceDependencies(program: Program, sf: SourceFile): string[] {
  const checker = program.getTypeChecker();
  const seen = new Set<string>([sf.fileName]);
  const queue: SourceFile[] = [sf];
  const visit = (file: SourceFile | undefined) => {
    if (!file || file.isDeclarationFile || seen.has(file.fileName)) return;
    seen.add(file.fileName);
    queue.push(file);
  };
  while (queue.length) {
    const file = queue.pop()!;
    for (const literal of (file as unknown as { imports?: readonly import("@tslab/typescript-for-tslab").Node[] }).imports ?? []) {
      for (const decl of checker.getSymbolAtLocation(literal)?.declarations ?? []) visit(decl.getSourceFile());
    }
    for (const ref of file.referencedFiles) visit(program.getSourceFile(resolveReference(ref.fileName, file.fileName)));
  }
  return [...seen];
}

function resolveReference(ref: string, from: string): string {
  const ts = require(TS_ID) as Ts & { resolveTripleslashReference(name: string, containing: string): string };
  return ts.resolveTripleslashReference(ref, from);
}
