/**
 * Killing `quantlab run` in every way a user does (Ctrl-C, SIGTERM, SIGKILL) leaves no kernel, no
 * Chromium and no temporary folder behind. Each run gets its own TMPDIR, so what is left there is
 * exactly what this run left; a SIGKILLed runner cannot clean up, so its kernel's parent watch ends the
 * kernel and the next start removes the dead runner's folder.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { findChromium } from "../../src/display/browser.js";
import { cleanStaleTempDirs } from "../../src/kernel/tempdirs.js";
import { kernelEnv, ROOT } from "../kernel/helpers.js";
import { processesWith } from "../helpers/processes.js";

// short: Chromium's socket paths under TMPDIR must fit in 108 bytes
const dir = mkdtempSync(join(tmpdir(), "qo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const browser = !!findChromium();
const nbPath = join(dir, "slow.ipynb");
writeFileSync(nbPath, JSON.stringify({
  nbformat: 4, nbformat_minor: 5, metadata: {},
  cells: [
    ...(browser ? ["await warmBrowser()"] : []),
    "console.log('ready')",
    "await new Promise((r) => setTimeout(r, 120000))",
  ].map((source) => ({ cell_type: "code", source, metadata: {}, outputs: [], execution_count: null })),
}));

function stat(pid: number): { ppid: number; zombie: boolean } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(rest[1]), zombie: rest[0] === "Z" };
  } catch {
    return null;
  }
}
const running = (pid: number) => {
  const s = stat(pid);
  return !!s && !s.zombie;
};

const withText = (text: string) => processesWith(text).filter(running);

const leftovers = (tmp: string) => readdirSync(tmp).filter((n) => /^(quantlab-client-|quantlab-chromium-|quantlab-crash-|quantlab-kernel-|playwright-artifacts-)/.test(n));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe("killing quantlab run", () => {
  for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
    it(`with ${signal} leaves no kernel, browser or temporary folder`, async () => {
      const tmp = join(dir, signal.slice(3, 4));
      mkdirSync(tmp);
      const env = { ...kernelEnv(), TMPDIR: tmp };
      const runner = spawn(process.execPath, [join(ROOT, "bin", "quantlab.js"), "run", nbPath, "--out", join(dir, `out-${signal}`)], { env, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      runner.stderr.on("data", (d) => (err += d));
      const exited = new Promise((r) => runner.once("exit", r));
      // the second-to-last cell printed its line: the kernel is up (with its browser) and busy
      assert.ok(await until(() => /cell \d+: ok/.test(err) && (!browser || /cell 1: ok/.test(err)), 90_000), `the runner did not get going: ${err}`);
      const kernels = withText(join(ROOT, "bin", "quantlab.js")).filter((p) => stat(p)?.ppid === runner.pid);
      assert.equal(kernels.length, 1, "one kernel process under the runner");
      const kernel = kernels[0];
      if (browser) assert.ok(withText(`quantlab-chromium-${kernel}-`).length > 0, "the kernel's Chromium runs");
      runner.kill(signal);
      await exited;
      assert.ok(await until(() => !running(kernel), 5000), `the kernel outlived the runner's ${signal}`);
      assert.ok(await until(() => withText(`quantlab-chromium-${kernel}-`).length === 0, 5000), "Chromium outlived its kernel");
      if (signal === "SIGKILL") {
        // only the dead runner's connection folder may remain, and the next start removes it
        await until(() => leftovers(tmp).every((n) => n.startsWith("quantlab-client-")), 5000);
        assert.ok(leftovers(tmp).every((n) => n.startsWith(`quantlab-client-${runner.pid}-`)), leftovers(tmp).join(", "));
        cleanStaleTempDirs(tmp);
      }
      assert.ok(await until(() => leftovers(tmp).length === 0, 5000), `left behind: ${leftovers(tmp).join(", ")}`);
    });
  }
});
