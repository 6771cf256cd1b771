/**
 * Progress of long library jobs, reported by the loops that poll for interrupts: `progress(label,
 * done, total)` records how far a job is; whoever runs the code (the kernel, the CLI) installs a sink
 * and decides how to show it. Jobs nest (a study runs GPTQ per layer): the sink is given every active
 * job, outermost first, so one line can say "study 3/7 · gptq 5/8". Like src/interrupt.ts this is a
 * bottom module: the state sits on globalThis so every loaded copy reports to the same sink.
 */
import { throwIfInterrupted } from "./interrupt.js";

export interface ProgressJob {
  label: string;
  done: number;
  total: number;
  startedAt: number;
}

export interface ProgressEvent {
  /** Active jobs, outermost first; the last one is the job that just reported. */
  jobs: ProgressJob[];
  /** True when the outermost job has just finished (done === total). */
  finished: boolean;
  now: number;
}

export type ProgressSink = (e: ProgressEvent) => void;

interface State {
  jobs: ProgressJob[];
  sink: ProgressSink | null;
  lastYield: number;
}

const KEY = Symbol.for("quantlab.progress");

function state(): State {
  const g = globalThis as Record<symbol, State | undefined>;
  return (g[KEY] ??= { jobs: [], sink: stderrSink(), lastYield: 0 });
}

/**
 * Installs the sink that shows progress (null: none); returns the one it replaces. Until one is
 * installed, a job that runs longer than a second writes one line on stderr, rewritten in place.
 */
export function setProgressSink(sink: ProgressSink | null): ProgressSink | null {
  const s = state();
  const old = s.sink;
  s.sink = sink;
  return old;
}

/** Forgets every active job (a cell that ended in an error leaves its jobs unfinished). */
export function resetProgress(): void {
  state().jobs = [];
}

/**
 * Records that job `label` has done `done` of `total` steps. A job starts at its first report and
 * ends when done reaches total; a job reported again at 0 restarts (the next layer's GPTQ).
 */
export function progress(label: string, done: number, total: number): void {
  const s = state();
  const now = Date.now();
  let at = s.jobs.findIndex((j) => j.label === label);
  if (at >= 0 && done === 0) {
    s.jobs.splice(at);
    at = -1;
  }
  if (at < 0) {
    s.jobs.push({ label, done, total, startedAt: now });
    at = s.jobs.length - 1;
  } else {
    // a report from an outer job means its inner jobs are over
    s.jobs.splice(at + 1);
    Object.assign(s.jobs[at]!, { done, total });
  }
  const finished = done >= total;
  if (s.sink) s.sink({ jobs: s.jobs.map((j) => ({ ...j })), finished: finished && at === 0, now });
  if (finished) s.jobs.splice(at);
}

/** How often an async job gives the event loop a turn (interrupt signals, progress messages). */
const YIELD_MS = 50;

/**
 * The step boundary of an async job: throws if interrupted, reports progress, and at most every
 * 50 ms yields one macrotask so a SIGINT listener and the kernel's output can run.
 */
export async function checkpoint(label: string, done: number, total: number): Promise<void> {
  throwIfInterrupted(label);
  progress(label, done, total);
  const s = state();
  const now = Date.now();
  if (now - s.lastYield >= YIELD_MS) {
    s.lastYield = now;
    await new Promise<void>((r) => setImmediate(r));
    throwIfInterrupted(label);
  }
}

/** "1.2 s", "3 min 05 s": durations as a progress line shows them. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, "0")} s`;
}

/** One line for the active jobs: what runs, how far, elapsed and an ETA (or the total time when done). */
export function progressLine(e: ProgressEvent): string {
  const [outer, ...inner] = e.jobs;
  if (!outer) return "";
  const elapsed = e.now - outer.startedAt;
  if (e.finished) return `${outer.label}: ${outer.total}/${outer.total} done in ${formatDuration(elapsed)}`;
  const pct = outer.total > 0 ? Math.floor((100 * outer.done) / outer.total) : 0;
  let eta = "";
  const frac = outer.total > 0 ? outer.done / outer.total : 0;
  // the inner job's share refines the ETA between two outer steps
  const last = inner.at(-1);
  const refined = last && outer.total > 0 && last.total > 0 ? frac + last.done / last.total / outer.total : frac;
  if (refined > 0 && elapsed > 0) eta = ` · ETA ${formatDuration((elapsed * (1 - refined)) / refined)}`;
  const rest = inner.map((j) => ` · ${j.label} ${j.done}/${j.total}`).join("");
  return `${outer.label}: ${outer.done}/${outer.total} (${pct} %) · ${formatDuration(elapsed)} elapsed${eta}${rest}`;
}

/** Plain Node (a script, the CLI): the line on stderr once a job has run for a second, `\r`-updated. */
export function stderrSink(afterMs = 1000, everyMs = 250): ProgressSink {
  let shown = false;
  let last = 0;
  return (e) => {
    const outer = e.jobs[0];
    if (!outer) return;
    if (!shown && (e.now - outer.startedAt < afterMs)) return;
    if (!e.finished && shown && e.now - last < everyMs) return;
    shown = true;
    last = e.now;
    process.stderr.write(`\r${progressLine(e)}   ${e.finished ? "\n" : ""}`);
    if (e.finished) shown = false;
  };
}
