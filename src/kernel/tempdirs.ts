/**
 * Temporary folders that say whose they are: `quantlab-client-PID-…` (a runner's connection file),
 * `quantlab-chromium-PID-…` (the chart browser's profile) and
 * `quantlab-crash-PID-…` (a kernel's crash report), `quantlab-kernel-PID-types` (the DSL's declarations
 * when the kernel runs from source; older kernels named it `quantlab-kernel-PID`). A process killed with SIGKILL cannot remove its
 * own, so every start removes those of processes that no longer run.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const OWNED_PREFIXES = ["quantlab-client-", "quantlab-chromium-", "quantlab-crash-", "quantlab-kernel-"] as const;

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A fresh folder `PREFIX<this pid>-XXXXXX` in the system's temporary folder. */
export function ownedTempDir(prefix: (typeof OWNED_PREFIXES)[number]): string {
  return mkdtempSync(join(tmpdir(), `${prefix}${process.pid}-`));
}

/** Removes the owned temporary folders whose owner is dead; returns what it removed. */
export function cleanStaleTempDirs(dir = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const prefix = OWNED_PREFIXES.find((p) => name.startsWith(p));
    if (!prefix) continue;
    const pid = Number(/^(\d+)(?:-|$)/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || alive(pid)) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(join(dir, name));
    } catch {
      // another process's folder we may not remove: not ours to fix
    }
  }
  return removed;
}
