/**
 * A TypeScript program of our own for the kernel's help (inspect and completion): the previous cells'
 * declarations and the cell being edited, as two virtual files, under a LanguageService with tslab's
 * compiler options and tslab's bundled TypeScript, so that the types it prints agree with the ones a
 * cell is checked against.
 *
 * Why not tslab's converter: it answers quick info and completion names but keeps its program to
 * itself, and the help needs the checker (the contextual type of an options object, the properties of
 * a type, each one's doc comment). The first use parses the libraries and the DSL's declarations
 * (about as long as the converter's own start); later uses reparse only the two virtual files, since
 * the LanguageService keeps every unchanged source file.
 *
 * As in tslab, the cell sees the declarations through its source file's parent: tslab's TypeScript
 * resolves a name by walking up the parents, so from the cell file into the declarations file.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as TS from "@tslab/typescript-for-tslab";

const require = createRequire(import.meta.url);
type TsModule = typeof import("@tslab/typescript-for-tslab");

/** Both virtual files start with this, which makes them modules (tslab does the same). */
const PREFIX = "export {};\n";

export interface HelpView {
  ts: TsModule;
  ls: TS.LanguageService;
  checker: TS.TypeChecker;
  /** The cell's source file; positions in the cell are shifted by `offset`. */
  cell: TS.SourceFile;
  decls: TS.SourceFile;
  offset: number;
}

export class HelpProgram {
  private readonly ts: TsModule;
  private readonly ls: TS.LanguageService;
  private readonly cwd: string;
  private readonly declName: string;
  private readonly cellName: string;
  private readonly virtual = new Map<string, { text: string; version: number }>();

  constructor(cwd = process.cwd()) {
    const ts = (this.ts = require("@tslab/typescript-for-tslab") as TsModule);
    this.cwd = cwd;
    this.declName = join(cwd, "__quantlab_help_prev__.d.ts");
    this.cellName = join(cwd, "__quantlab_help_cell__.ts");
    this.virtual.set(this.declName, { text: PREFIX, version: 0 });
    this.virtual.set(this.cellName, { text: PREFIX, version: 0 });
    const options: TS.CompilerOptions = {
      // tslab's converter options (node_modules/tslab/dist/converter.js), minus the emit ones
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2020,
      lib: ["lib.es2020.d.ts"],
      experimentalDecorators: true,
      resolveJsonModule: true,
      jsx: ts.JsxEmit.React,
      typeRoots: typeRoots(cwd),
      allowJs: true,
      skipLibCheck: true,
      noEmit: true,
    };
    const host: TS.LanguageServiceHost = {
      getCompilationSettings: () => options,
      getScriptFileNames: () => [this.declName, this.cellName],
      // a real file's version is its mtime, so an edited local module is read again
      getScriptVersion: (f) => String(this.virtual.get(f)?.version ?? mtime(f)),
      getScriptSnapshot: (f) => {
        const text = this.virtual.get(f)?.text ?? ts.sys.readFile(f);
        return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
      },
      getCurrentDirectory: () => this.cwd,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: (f) => this.virtual.has(f) || ts.sys.fileExists(f),
      readFile: (f, enc) => this.virtual.get(f)?.text ?? ts.sys.readFile(f, enc),
      directoryExists: (d) => ts.sys.directoryExists(d),
      getDirectories: (d) => ts.sys.getDirectories(d),
      readDirectory: (...a) => ts.sys.readDirectory(...a),
      useCaseSensitiveFileNames: () => true,
    };
    this.ls = ts.createLanguageService(host, ts.createDocumentRegistry(true, cwd));
  }

  /** The program for `decls` (the previous cells' declarations) and `src` (the cell). */
  view(decls: string, src: string): HelpView {
    this.set(this.declName, decls);
    this.set(this.cellName, src);
    const program = this.ls.getProgram()!;
    const cell = program.getSourceFile(this.cellName)!;
    const declFile = program.getSourceFile(this.declName)!;
    (cell as { parent?: TS.Node }).parent = declFile;
    return { ts: this.ts, ls: this.ls, checker: program.getTypeChecker(), cell, decls: declFile, offset: PREFIX.length };
  }

  get fileName(): string {
    return this.cellName;
  }

  private set(name: string, text: string): void {
    const file = this.virtual.get(name)!;
    if (file.text === PREFIX + text && file.version > 0) return;
    this.virtual.set(name, { text: PREFIX + text, version: file.version + 1 });
  }

  close(): void {
    this.ls.dispose();
  }
}

function mtime(f: string): number {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * The type roots tslab uses: node_modules/@types above `cwd`, and tslab's own @types when none of
 * those has Node's (so `Buffer` and `process` are typed in a notebook folder without node_modules).
 */
function typeRoots(cwd: string): string[] {
  const roots: string[] = [];
  for (let dir = cwd; ; dir = dirname(dir)) {
    const root = join(dir, "node_modules", "@types");
    if (isDir(root)) roots.push(root);
    if (dirname(dir) === dir) break;
  }
  if (!roots.some((r) => isDir(join(r, "node")))) roots.push(join(dirname(require.resolve("tslab/package.json")), "node_modules", "@types"));
  return roots;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
