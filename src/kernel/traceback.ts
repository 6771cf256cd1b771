/**
 * Turns anything a cell throws into Jupyter's error triple. The traceback names the cell and the line
 * of the user's source, and leaves out the kernel's own frames, node internals and tslab.
 *
 * The converter re-prints the cell (blank lines and type annotations go away), so a stack line number
 * refers to the emitted JavaScript; it is mapped back by finding the source line that shares the most
 * tokens with the emitted line — exact for the common one-statement-per-line cell.
 */
import { inspect } from "node:util";
import { QuantLabError } from "../errors.js";

export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

const HIDDEN = /\(node:|at node:|quantlab-kernel|[\\/](src|dist)[\\/]kernel[\\/]|[\\/]tslab[\\/]|[\\/]tsx[\\/]|^\s*at (new )?Promise|<anonymous>/;

export function isCellError(e: unknown): e is CellError {
  return typeof e === "object" && e !== null && "ename" in e && "traceback" in e && Array.isArray((e as CellError).traceback);
}

export function cellError(e: unknown, cell: string, src: string, emitted: string): CellError {
  if (isCellError(e)) return e;
  if (!(e instanceof Error)) {
    const evalue = typeof e === "string" ? e : inspect(e, { colors: false, depth: 2 });
    return { ename: "Error", evalue, traceback: [`Uncaught ${evalue}`] };
  }
  const interrupted = (e as NodeJS.ErrnoException).code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" || (e instanceof QuantLabError && e.code === "INTERRUPTED");
  const ename = interrupted ? "KeyboardInterrupt" : e instanceof QuantLabError ? `QuantLabError[${e.code}]` : e.name || e.constructor?.name || "Error";
  const evalue = interrupted ? "the cell was interrupted; the kernel kept every name defined before" : e.message;
  const traceback = [`${ename}: ${evalue}`];
  const srcLines = src.split("\n");
  const emittedLines = emitted.split("\n");
  for (const frame of (e.stack ?? "").split("\n").slice(1)) {
    if (!/^\s*at /.test(frame)) continue;
    const m = new RegExp(`${escape(cell)}:(\\d+):(\\d+)`).exec(frame);
    if (m) {
      // line 1 of the compiled script is the wrapper's opening line
      const line = mapLine(emittedLines[Number(m[1]) - 2] ?? "", srcLines);
      const fn = /^\s*at (\S+) \(/.exec(frame)?.[1];
      const where = fn && !/^(exports\.|Object\.<anonymous>|eval)/.test(fn) && !fn.startsWith("Proxy") ? ` in ${fn}` : "";
      traceback.push(`    at ${cell} line ${line + 1}${where}: ${srcLines[line].trim()}`);
      continue;
    }
    if (!HIDDEN.test(frame)) traceback.push(frame);
  }
  return { ename, evalue, traceback };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function tokens(line: string): string[] {
  return (line.replace(/\bexports\./g, "").match(/[A-Za-z_$][\w$]*|\d+(\.\d+)?|"[^"]*"|'[^']*'|`[^`]*`|\S/g) ?? []).map((t) => t.replace(/^['"`]|['"`]$/g, ""));
}

/** The index of the source line that best matches one emitted line. */
export function mapLine(emitted: string, srcLines: string[]): number {
  const want = tokens(emitted);
  let best = 0;
  let bestScore = -1;
  srcLines.forEach((line, i) => {
    const have = new Set(tokens(line));
    let score = 0;
    for (const t of want) if (have.has(t)) score += t.length;
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  });
  return best;
}
