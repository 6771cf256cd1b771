/**
 * Headless notebook execution (what `npm start` and `quantlab run` use): starts the QuantLab kernel,
 * runs the code cells of an .ipynb in order, turns iopub messages into nbformat 4 outputs (streams
 * merged, clear_output and update_display_data honoured), stops at the first failing cell like
 * nbclient, and writes the executed notebook atomically, with the widgets' last state in its metadata
 * (as Jupyter's "save widget state" does).
 */
import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { QuantLabError, check } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { Message } from "../kernel/wire.js";
import { KernelClient, type StartOptions } from "./client.js";
import { WidgetStateRecorder } from "./widget-state.js";

export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  [k: string]: unknown;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: NotebookCell[];
}

export type Output = Record<string, unknown> & { output_type: string };

export interface CellFailure {
  /** 0-based index of the cell in the notebook. */
  index: number;
  executionCount: number | null;
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface RunReport {
  input: string;
  output: string;
  codeCells: number;
  executed: number;
  failed: CellFailure | null;
  seconds: number;
  /** Seconds per executed code cell, by notebook index. */
  cellSeconds: Record<number, number>;
}

export interface RunOptions {
  outDir?: string;
  /** Per-cell timeout in seconds (default 600). */
  timeout?: number;
  kernel?: StartOptions;
  onCell?: (index: number, seconds: number, failed: boolean) => void;
  /**
   * A long library job's progress line (what runs, how far, ETA), as the kernel updates it; the
   * default writes it to stderr: updated in place on a terminal, the finished line only otherwise.
   */
  onProgress?: (line: string, finished: boolean) => void;
}

/** Progress lines on stderr: one line rewritten in place on a terminal, only the final one in a log. */
function stderrProgress(): (line: string, finished: boolean) => void {
  const tty = process.stderr.isTTY;
  return (line, finished) => {
    if (tty) process.stderr.write(`\r\x1b[K${line}${finished ? "\n" : ""}`);
    else if (finished) process.stderr.write(line + "\n");
  };
}

/** The kernel marks its progress displays with metadata.quantlab.progress (src/kernel/progress-display.ts). */
function progressOf(m: Message): { line: string; finished: boolean } | null {
  const c = m.content;
  const q = c?.metadata?.quantlab;
  if (!q?.progress || !["display_data", "update_display_data"].includes(m.header.msg_type)) return null;
  return { line: String(c.data?.["text/plain"] ?? ""), finished: !!q.finished };
}

export function readNotebook(path: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new QuantLabError("BAD_FILE", `cannot read notebook ${path}: ${(e as Error).message}`);
  }
  check(nb && nb.nbformat === 4 && Array.isArray(nb.cells), "BAD_FILE", `${path} is not an nbformat 4 notebook (no cells, or nbformat ${nb?.nbformat}): save it with Jupyter 4+`);
  return nb;
}

const source = (c: NotebookCell) => (Array.isArray(c.source) ? c.source.join("") : c.source ?? "");

/** Collects one cell's outputs; display ids are tracked across the notebook for updates. */
class OutputBuilder {
  readonly displays = new Map<string, Output[]>();
  outputs: Output[] = [];
  private clearPending = false;

  begin(): void {
    this.outputs = [];
    this.clearPending = false;
  }

  add(m: Message): void {
    const c = m.content;
    const type = m.header.msg_type;
    if (type === "clear_output") {
      if (c.wait) this.clearPending = true;
      else this.outputs = [];
      return;
    }
    if (type === "update_display_data") {
      for (const out of this.displays.get(c.transient?.display_id) ?? []) {
        out.data = c.data;
        out.metadata = c.metadata ?? {};
      }
      return;
    }
    if (!["stream", "display_data", "execute_result", "error"].includes(type)) return;
    if (this.clearPending) {
      this.outputs = [];
      this.clearPending = false;
    }
    if (type === "stream") {
      const last = this.outputs.at(-1);
      if (last && last.output_type === "stream" && last.name === c.name) last.text = String(last.text) + c.text;
      else this.outputs.push({ output_type: "stream", name: c.name, text: c.text });
    } else if (type === "error") {
      this.outputs.push({ output_type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback });
    } else {
      const out: Output = { output_type: type, data: c.data, metadata: c.metadata ?? {} };
      if (type === "execute_result") out.execution_count = c.execution_count;
      this.outputs.push(out);
      const id = c.transient?.display_id;
      if (id) this.displays.set(id, [...(this.displays.get(id) ?? []), out]);
    }
  }
}

export async function runNotebook(path: string, opts: RunOptions = {}): Promise<RunReport> {
  const input = resolve(path);
  const nb = readNotebook(input);
  const outDir = resolve(opts.outDir ?? "out");
  const output = join(outDir, basename(input));
  check(output !== input, "BAD_ARGUMENT", `--out ${outDir} would overwrite the input notebook: choose another folder`);
  const t0 = performance.now();
  const client = await KernelClient.start({ cwd: dirname(input), ...opts.kernel });
  const report: RunReport = { input, output, codeCells: 0, executed: 0, failed: null, seconds: 0, cellSeconds: {} };
  try {
    const info = (await client.request("kernel_info_request", {})).reply.content;
    nb.metadata.kernelspec = { name: "quantlab", display_name: "QuantLab (TypeScript)", language: "typescript" };
    nb.metadata.language_info = info.language_info;
    // every cell of a saved notebook is type-checked: a completion waits for the checker, so no cell
    // runs before it (unchecked, under a note the saved outputs would keep)
    await client.request("complete_request", { code: "", cursor_pos: 0 });
    const builder = new OutputBuilder();
    const widgets = new WidgetStateRecorder();
    const onProgress = opts.onProgress ?? stderrProgress();
    const timeoutMs = (opts.timeout ?? 600) * 1000;
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      report.codeCells++;
      if (report.failed) {
        cell.outputs = [];
        cell.execution_count = null;
        continue;
      }
      const code = source(cell);
      builder.begin();
      const started = performance.now();
      const run = client.execute(code, { allow_stdin: false, stop_on_error: true, onOutput: (m) => {
        builder.add(m);
        widgets.add(m);
        const p = progressOf(m);
        if (p) onProgress(p.line, p.finished);
      } });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
      let result = await Promise.race([run, timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        await client.request("interrupt_request", {}, { channel: "control" });
        result = await Promise.race([run, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
        if (result === "timeout") throw new QuantLabError("INTERRUPTED", `cell ${index} did not finish within ${opts.timeout ?? 600} s and ignored the interrupt`);
      }
      const seconds = (performance.now() - started) / 1000;
      const c = result.reply.content;
      report.executed++;
      report.cellSeconds[index] = seconds;
      cell.outputs = builder.outputs;
      cell.execution_count = code.trim() ? (c.execution_count ?? null) : null;
      if (c.status !== "ok") {
        report.failed = { index, executionCount: c.execution_count ?? null, ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] };
      }
      opts.onCell?.(index, seconds, c.status !== "ok");
    }
    const state = widgets.metadata();
    if (state) nb.metadata.widgets = state;
    else delete nb.metadata.widgets;
  } finally {
    await client.shutdown();
  }
  await writeFileAtomic(output, JSON.stringify(nb, null, 1) + "\n");
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** "cell 5 (In [4]) failed: RangeError: boom" */
export function describeFailure(f: CellFailure): string {
  return `cell ${f.index}${f.executionCount ? ` (In [${f.executionCount}])` : ""} failed: ${f.ename}: ${f.evalue}`;
}
