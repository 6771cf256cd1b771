/**
 * Test helpers for the kernel: run it from dist/ when the build has it (fast start-up), else from the
 * TypeScript sources through tsx (QUANTLAB_FROM_SOURCE=1), so the tests work both ways.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KernelClient } from "../../src/runner/client.js";

export const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

/** dist/ is used only when it is at least as new as every kernel source (a stale build would mislead). */
function distIsCurrent(): boolean {
  const built = join(ROOT, "dist", "kernel", "kernel.js");
  if (!existsSync(built) || !existsSync(join(ROOT, "dist", "cli", "commands", "kernel.js"))) return false;
  const t = statSync(built).mtimeMs;
  const dir = join(ROOT, "src", "kernel");
  return readdirSync(dir).every((f) => statSync(join(dir, f)).mtimeMs <= t);
}

export function kernelEnv(): NodeJS.ProcessEnv {
  const compiled = distIsCurrent();
  // each test kernel would start its own Chromium ahead; the tests that chart start it themselves
  const env: NodeJS.ProcessEnv = { QUANTLAB_WARM_BROWSER: "0", ...process.env };
  if (compiled && !process.env.QUANTLAB_FROM_SOURCE) delete env.QUANTLAB_FROM_SOURCE;
  else env.QUANTLAB_FROM_SOURCE = "1";
  return env;
}

export function startKernel(): Promise<KernelClient> {
  return KernelClient.start({ env: kernelEnv(), stderr: process.env.QUANTLAB_KERNEL_LOG ? "inherit" : "ignore" });
}

/** The iopub messages of one result, as [msg_type, content] pairs, warm-up note included. */
export function rawOutputsOf(r: { outputs: { header: { msg_type: string }; content: Record<string, any> }[] }): [string, Record<string, any>][] {
  return r.outputs.map((m) => [m.header.msg_type, m.content]);
}

/**
 * The iopub messages of one result, as [msg_type, content] pairs, without the lines that start a
 * session's first cell when it arrives before the warm-up ends: the warm-up note and its clear_output,
 * or the note of a first cell run unchecked (test/kernel/warmup.test.ts pins them with `rawOutputsOf`).
 */
export function outputsOf(r: Parameters<typeof rawOutputsOf>[0]): [string, Record<string, any>][] {
  const out = rawOutputsOf(r);
  if (out[0] && isWaitNote(out[0]) && out[1]?.[0] === "clear_output") return out.slice(2);
  return out[0] && isUncheckedNote(out[0]) ? out.slice(1) : out;
}

type Output = [string, Record<string, any>];
const noteText = ([type, c]: Output) => (type === "display_data" ? String(c.data?.["text/plain"]) : "");
/** The line a cell shows while it waits for the checker's warm-up (cleared before its output). */
export const isWaitNote = (o: Output) => /^warming up the TypeScript checker/.test(noteText(o));
/** The line above a cell that ran before the checker was ready. */
export const isUncheckedNote = (o: Output) => /^not type-checked: the TypeScript checker is still warming up/.test(noteText(o));
