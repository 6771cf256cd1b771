/**
 * Names and cleans the partial files of atomic writes (src/io/atomic.ts, src/display/write.ts). A
 * write goes to `.NAME.quantlab-partial-PID-RANDOM` beside its target and is renamed over it when
 * complete, so a file left by a killed process says whose it is: the next write of the same output
 * removes the partial files of processes that no longer run, and SIGINT/SIGTERM remove this process's
 * own before it exits.
 */
import { readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

const MARK = ".quantlab-partial-";
const inFlight = new Set<string>();
let hooked = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The partial files a dead process left for `target` (a live writer's are left alone). */
export function stalePartials(target: string): string[] {
  const dir = dirname(target);
  const prefix = `.${basename(target)}${MARK}`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix))
    .filter((n) => {
      const pid = Number(/^(\d+)-/.exec(n.slice(prefix.length))?.[1]);
      return Number.isInteger(pid) && pid !== process.pid && !alive(pid);
    })
    .map((n) => join(dir, n));
}

function removeInFlight(): void {
  for (const p of inFlight) rmSync(p, { force: true });
  inFlight.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeInFlight();
  // only this module listened: restore the default and re-raise, so the process still dies of the
  // signal (exit status 128 + n) as it would have without us
  process.removeListener("SIGINT", onSignal);
  process.removeListener("SIGTERM", onSignal);
  process.kill(process.pid, signal);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", removeInFlight);
  // where the process already handles a signal (the kernel turns SIGINT into an interrupt), the
  // owner decides; the writer's own error path removes the partial file then
  for (const s of ["SIGINT", "SIGTERM"] as const) if (process.listenerCount(s) === 0) process.on(s, onSignal);
}

/** A fresh partial-file path for `target`; stale ones of dead writers are removed first. */
export function beginPartial(target: string): string {
  for (const p of stalePartials(target)) rmSync(p, { force: true });
  hook();
  const tmp = join(dirname(target), `.${basename(target)}${MARK}${process.pid}-${randomBytes(4).toString("hex")}`);
  inFlight.add(tmp);
  return tmp;
}

/** The write finished (renamed) or failed (removed): stop tracking `tmp`. */
export function endPartial(tmp: string): void {
  inFlight.delete(tmp);
}
