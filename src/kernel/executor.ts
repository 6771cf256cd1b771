/**
 * Runs TypeScript cells: tslab's converter (on the plain program of ./converter.ts) type-checks and
 * transpiles each cell against the declarations of the cells before it (top-level await, names shared
 * across cells, completion); help (quick info, options, a type's fields) comes from ./help.ts. This
 * module runs the output and keeps the state.
 *
 * Why not tslab's own executor: it prints the last value and errors with console.log/console.error
 * instead of returning them, and it stores cell variables behind a Proxy whose defineProperty trap runs
 * on every write, which makes `for (…) total += x` at cell top level 25–50× slower. Here the store is a
 * plain object and the emitted `Object.defineProperty(exports, …)` calls (named imports, __esModule) go
 * through `define`, which stores plain values so a later cell can rebind an imported name.
 *
 * Interrupts: cells run on the main thread with `vm` `breakOnSigint`, so SIGINT (sent by the client in
 * signal mode, or by the control thread in message mode) terminates a synchronous runaway loop and the
 * cell gets an error while everything it defined before stays; a pending `await` is raced against an
 * interrupt promise that the SIGINT listener rejects.
 *
 * Both also raise the flag of src/interrupt.ts, which library loops poll between steps, so an `await
 * gptq(…)` stops computing instead of running on unseen. An interrupt that lands while the cell is
 * still being type-checked is honoured before the cell starts (breakOnSigint only watches for signals
 * that arrive while the script runs). An interrupted cell's timers are cancelled: the cell sees
 * setTimeout/setInterval/setImmediate wrappers that the interrupt clears, so its async loops stop.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import vm from "node:vm";
import type { ConvertResult, Converter } from "tslab/dist/converter.js";
import { createConverter } from "./converter.js";
import { uncheckedCell } from "./quick-cell.js";
import { interruptedError, interruptRequested, requestInterrupt } from "../interrupt.js";
import { formatHelp } from "./help-format.js";
import { HelpProgram, type HelpView } from "./help-program.js";
import { helpAt, mayTakeOption, optionCompletions, withOptions, type Completion } from "./help.js";
import { cellError, type CellError } from "./traceback.js";

const require = createRequire(import.meta.url);

export interface Preload {
  /** TypeScript declarations that put the preloaded names in scope (a d.ts text). */
  decl: string;
  /** Their values, by name. */
  values: Record<string, unknown>;
  /** `import … from "quantlab"` is rewritten to this path (types) and resolved to `module` at run time. */
  typesPath: string;
  module: Record<string, unknown>;
}

export interface RunResult {
  value: unknown;
  hasValue: boolean;
}

export interface IsComplete {
  status: "complete" | "incomplete" | "invalid";
  indent?: string;
}

type TsModule = typeof import("@tslab/typescript-for-tslab");

export class Executor {
  readonly store: Record<string, unknown> = {};
  private prevDecl: string;
  private converter: Converter | null = null;
  private rejectInterrupt: ((e: Error) => void) | null = null;
  private cancelTimers: (() => void) | null = null;
  private readonly requireFn: NodeJS.Require;
  private readonly preloadNames: Set<string>;

  constructor(private readonly preload: Preload, rootDir: string) {
    this.prevDecl = preload.decl;
    Object.assign(this.store, preload.values);
    this.preloadNames = new Set(Object.keys(preload.values));
    const base = createRequire(join(rootDir, "__cell__.js"));
    const wrapped = ((id: string) => (id === preload.typesPath || id === "quantlab" ? preload.module : base(id))) as NodeJS.Require;
    Object.assign(wrapped, { resolve: base.resolve, cache: base.cache });
    this.requireFn = wrapped;
  }

  /**
   * Creates the TypeScript converter (≈1 s) and checks one throwaway cell against the preload (≈0.3 s:
   * binding the declarations and compiling the checker's code, which every later program reuses), so
   * a first cell that comes after the warm-up costs what any new cell does. The kernel calls it once
   * kernel_info requests pause.
   */
  warmUp(): Converter {
    if (!this.converter) {
      this.converter = createConverter();
      this.converter.convert(this.prevDecl, "0");
    }
    return this.converter;
  }

  /** The names the user defined (not the preloaded ones). */
  userNames(): string[] {
    return Object.keys(this.store).filter((k) => !this.preloadNames.has(k) && !/^tsLastExpr\d*$/.test(k));
  }

  private rewriteImports(src: string): string {
    return src.replace(/(\bfrom\s*|\bimport\s*\(?\s*)(["'])quantlab\2/g, (_m, lead: string, q: string) => `${lead}${q}${this.preload.typesPath}${q}`);
  }

  /**
   * Type-checks and runs `src` as cell `name`. Resolves with the last expression's value; rejects with
   * a CellError (ename, evalue, traceback pointing at the cell line).
   */
  async run(src: string, name: string): Promise<RunResult> {
    const conv = this.warmUp();
    return this.runConverted(conv.convert(this.prevDecl, expandShorthands(this.rewriteImports(src))), src, name, false);
  }

  /**
   * Runs `src` without type checking (./quick-cell.ts uncheckedCell), for a cell that comes before
   * the checker is warm: null when the cell needs the checker (a declaration, an import…). It
   * declares nothing, so the cells after it (and typeErrors on it, later) see the same declarations.
   */
  runUnchecked(src: string, name: string): Promise<RunResult> | null {
    if (this.converter) return null;
    const converted = uncheckedCell(require("@tslab/typescript-for-tslab") as TsModule, expandShorthands(src));
    return converted && this.runConverted(converted, src, name, true);
  }

  /**
   * The type errors `src` would have had as cell `name` against the declarations so far, without
   * running it: for the cells that ran before the checker (runUnchecked), once it is ready.
   */
  typeErrors(src: string, name: string): string[] {
    return diagnosticLines(this.warmUp().convert(this.prevDecl, expandShorthands(this.rewriteImports(src))), name);
  }

  private async runConverted(converted: ConvertResult, src: string, name: string, storeInScope: boolean): Promise<RunResult> {
    if (converted.diagnostics.length > 0) {
      throw { ename: "TypeScriptError", evalue: converted.diagnostics[0].messageText, traceback: diagnosticLines(converted, name) } satisfies CellError;
    }
    if (!converted.output) {
      this.prevDecl = converted.declOutput ?? "";
      return { value: undefined, hasValue: false };
    }
    const emitted = converted.output.replace(/\bObject\.defineProperty\(exports, /g, "__ql_define(exports, ");
    // unchecked, the preload's names are not rewritten to `exports.name`: the store is the scope (sloppy mode)
    const body = storeInScope ? `with (exports) {\n${emitted}\n}` : emitted;
    const wrapped = `(${converted.hasToplevelAwait ? "async " : ""}function (exports, require, __ql_define, setTimeout, setInterval, setImmediate) {\n${body}\n})`;
    const interrupted = new Promise<never>((_, reject) => (this.rejectInterrupt = reject));
    interrupted.catch(() => undefined);
    const timers = cellTimers();
    this.cancelTimers = timers.cancel;
    try {
      // compiled before the turn below, so that a SIGINT arriving during type checking or compilation
      // reaches its listener in that turn: from the check to the cell's start nothing else runs
      const fn = vm.runInThisContext(wrapped, { filename: name });
      // A SIGINT that arrived during type checking waits in libuv's signal pipe, which is read in the
      // poll phase; a single setImmediate can resolve in the check phase of the current iteration,
      // before any poll, so it takes two: the second runs after a full loop turn has read the pipe.
      await new Promise<void>((r) => setImmediate(() => setImmediate(r)));
      if (interruptRequested()) throw interruptedError("type checking, before the cell ran");
      // The call itself must run inside runInThisContext for breakOnSigint to cover the cell body.
      // checked again at the last moment: the control thread raises the flag even while this thread is busy
      (globalThis as any)[CALL] = () => {
        if (interruptRequested()) throw interruptedError("type checking, before the cell ran");
        return fn(this.store, this.requireFn, define, timers.setTimeout, timers.setInterval, timers.setImmediate);
      };
      const ret = callScript.runInThisContext({ breakOnSigint: true });
      if (converted.hasToplevelAwait) await Promise.race([ret, interrupted]);
    } catch (e) {
      if (interruptRequested()) timers.cancel();
      // what the cell declared before it failed or was interrupted stays usable, as in IPython
      this.prevDecl = converted.declOutput ?? this.prevDecl;
      throw cellError(e, name, src, body);
    } finally {
      this.rejectInterrupt = null;
      this.cancelTimers = null;
    }
    this.prevDecl = converted.declOutput ?? this.prevDecl;
    const key = converted.lastExpressionVar;
    if (!key || !(key in this.store)) return { value: undefined, hasValue: false };
    const value = this.store[key];
    delete this.store[key];
    return { value, hasValue: true };
  }

  /**
   * Raises the library's interrupt flag, cancels the running cell's timers and ends a pending await
   * (a synchronous loop is stopped by SIGINT through breakOnSigint).
   */
  interrupt(): boolean {
    requestInterrupt();
    this.cancelTimers?.();
    if (!this.rejectInterrupt) return false;
    this.rejectInterrupt(interruptedError());
    this.rejectInterrupt = null;
    return true;
  }

  /** The kernel's own program for help (src/kernel/help-program.ts), made on the first request. */
  private helpProgram: HelpProgram | null = null;

  /**
   * Completion candidates at `pos`: where an options argument or an options object's key goes, the
   * option names first (src/kernel/help.ts), then tslab's candidates; `types` gives each one's kind.
   */
  complete(src: string, pos: number): Completion {
    const rewritten = this.rewriteImports(src);
    const importAt = rewritten.indexOf(this.preload.typesPath);
    const shift = rewritten.length - src.length;
    const toRewritten = (p: number) => p + (importAt >= 0 && p > importAt ? shift : 0);
    const fromRewritten = (p: number) => p - (importAt >= 0 && p > importAt ? shift : 0);
    const at = toRewritten(pos);
    const info = this.warmUp().complete(this.prevDecl, rewritten, at);
    // only where a key or an argument may start: the kernel's program costs a reparse of the cell
    const options = mayTakeOption(rewritten.slice(0, at)) ? optionCompletions(this.helpView(rewritten), at) : null;
    const c = withOptions(info, rewritten.slice(info.start, at), options);
    return { ...c, start: fromRewritten(c.start), end: fromRewritten(c.end) };
  }

  /**
   * Help at `pos` as text and markdown (src/kernel/help.ts, help-format.ts): a function's signature,
   * doc, options and examples; the options of the object the cursor is in; a type's fields. Null when
   * there is nothing to say.
   */
  inspect(src: string, pos: number): { plain: string; markdown: string } | null {
    const rewritten = this.rewriteImports(src);
    const importAt = rewritten.indexOf(this.preload.typesPath);
    const at = pos + (importAt >= 0 && pos > importAt ? rewritten.length - src.length : 0);
    const help = helpAt(this.helpView(rewritten), at, this.preload.typesPath);
    return help && formatHelp(help);
  }

  private helpView(src: string): HelpView {
    this.helpProgram ??= new HelpProgram();
    return this.helpProgram.view(this.prevDecl, src);
  }

  close(): void {
    this.converter?.close();
  }
}

/**
 * The timer functions one cell sees: real Node timers (clearTimeout and friends work on them) that
 * `cancel` clears, and whose callbacks do nothing once cancelled, so an interrupted async loop stops.
 */
function cellTimers() {
  const live = new Set<{ clear(): void }>();
  let cancelled = false;
  const track = <H>(h: H, clear: (h: H) => void) => {
    const entry = { clear: () => clear(h) };
    live.add(entry);
    return entry;
  };
  return {
    setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      let entry: { clear(): void } | undefined;
      const h = globalThis.setTimeout(() => {
        if (entry) live.delete(entry);
        if (!cancelled) fn(...args);
      }, ms);
      entry = track(h, globalThis.clearTimeout);
      return h;
    },
    setInterval: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const h = globalThis.setInterval(() => {
        if (!cancelled) fn(...args);
      }, ms);
      track(h, globalThis.clearInterval);
      return h;
    },
    setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => {
      let entry: { clear(): void } | undefined;
      const h = globalThis.setImmediate(() => {
        if (entry) live.delete(entry);
        if (!cancelled) fn(...args);
      });
      entry = track(h, globalThis.clearImmediate);
      return h;
    },
    cancel: () => {
      cancelled = true;
      for (const t of live) t.clear();
      live.clear();
    },
  };
}

const CALL = Symbol.for("quantlab.kernel.call");
const callScript = new vm.Script("globalThis[Symbol.for('quantlab.kernel.call')]()", { filename: "quantlab-kernel" });

function define(target: Record<string, unknown>, prop: string, attrs: PropertyDescriptor): unknown {
  if (prop !== "__esModule") target[prop] = attrs.get ? attrs.get() : attrs.value;
  return target;
}

let ts: TsModule | null = null;

/** complete / incomplete (with the indent for the next line) / invalid, from the TypeScript parser. */
export function isComplete(code: string): IsComplete {
  ts ??= require("@tslab/typescript-for-tslab") as TsModule;
  const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const diags: { start: number; length: number; messageText: string | { messageText: string } }[] = (sf as any).parseDiagnostics ?? [];
  if (diags.length === 0) return { status: "complete" };
  const end = code.length;
  const atEnd = diags.some((d) => d.start >= end && String(typeof d.messageText === "string" ? d.messageText : d.messageText.messageText).endsWith("expected."));
  const unterminated = diags.some((d) => /Unterminated (template|regular expression)|'\*\/' expected/.test(String(d.messageText)) && d.start + d.length >= end - 1);
  if ((atEnd || unterminated) && !/\n\s*\n\s*$/.test(code)) return { status: "incomplete", indent: nextIndent(code) };
  return { status: "invalid" };
}

function nextIndent(code: string): string {
  const line = /[^\n]*$/.exec(code)![0];
  const current = /^\s*/.exec(line)![0];
  return /[{([]\s*$/.test(line) ? current + "  " : current;
}

export function rootOfPackage(): string {
  return join(dirname(require.resolve("tslab/package.json")), "..", "..");
}

/**
 * `{ row }` → `{ row: row }`. tslab's converter rewrites a reference to an earlier cell's variable as
 * `exports.row`, but it resolves a shorthand property to the property, not the variable, so `{ row }`
 * would throw "row is not defined". Writing the property out makes the reference an ordinary identifier.
 * Only characters are inserted inside a line, so line numbers (and tracebacks) are unchanged.
 */
export function expandShorthands(src: string): string {
  if (!src.includes("{")) return src;
  const ts = require("@tslab/typescript-for-tslab") as TsModule;
  const sf = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, true);
  const inserts: [number, string][] = [];
  const visit = (node: import("@tslab/typescript-for-tslab").Node): void => {
    if (ts.isShorthandPropertyAssignment(node)) inserts.push([node.name.end, `: ${node.name.text}`]);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  let out = src;
  for (const [pos, text] of inserts.sort((a, b) => b[0] - a[0])) out = out.slice(0, pos) + text + out.slice(pos);
  return out;
}

/** `cell[3]:1:7 - message`, one line per diagnostic. */
function diagnosticLines(converted: ConvertResult, name: string): string[] {
  return converted.diagnostics.map((d) => `${name}:${d.start.line + 1}:${d.start.character + 1} - ${d.messageText}`);
}
