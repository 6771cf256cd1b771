/** Processes found by their command line in /proc (Linux), for tests that check what a kernel leaves running. */
import { readdirSync, readFileSync } from "node:fs";

/** Pids whose command line contains every one of `texts` (zombies included: filter them where it matters). */
export function processesWith(...texts: string[]): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "latin1");
      if (texts.every((t) => cmd.includes(t))) pids.push(Number(p));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
