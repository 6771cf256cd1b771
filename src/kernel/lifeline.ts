/**
 * The kernel's lifeline: a small detached process holding the read end of a pipe from the kernel. When
 * the kernel dies in any way (exit, SIGKILL, V8 aborting on heap exhaustion) the pipe closes, and the
 * lifeline then
 * - says, if the kernel ran out of memory (Node's fatal-error report, which the kernel asks for, shows
 *   it), so on the kernel's stderr, with how to raise the limit — V8's own last words are a C++ stack;
 * - ends the Chromium the chart renderer started (found by its `quantlab-chromium-PID-` profile), which
 *   would otherwise outlive a killed kernel;
 * - removes the kernel's temporary folders.
 * It is started after kernel_info is answered, so it costs the kernel's start-up nothing.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ownedTempDir } from "./tempdirs.js";

const SOURCE = String.raw`
const fs = require("node:fs");
const path = require("node:path");
const { pid, reportDir, tmp, heapMb } = JSON.parse(process.argv[1]);
for (const s of ["SIGINT", "SIGHUP"]) process.on(s, () => {});
process.stdin.resume();
process.stdin.on("error", () => {});
process.stdin.on("close", () => {
  try {
    const report = JSON.parse(fs.readFileSync(path.join(reportDir, "fatal.json"), "utf8"));
    if (report.header && report.header.trigger === "OOMError") {
      process.stderr.write("[quantlab kernel] the kernel ran out of memory: its JavaScript heap is limited to " + heapMb + " MB and a cell needed more. Raise the limit by starting the kernel with NODE_OPTIONS=--max-old-space-size=MB (e.g. NODE_OPTIONS=--max-old-space-size=" + heapMb * 2 + "), and QUANTLAB_HEAP_MB to match, or work on smaller data; then restart the kernel.\n");
    } else if (report.header) {
      process.stderr.write("[quantlab kernel] the kernel died of a fatal error: " + report.header.event + "\n");
    }
  } catch {}
  const mark = "quantlab-chromium-" + pid + "-";
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    let cmd = "";
    try { cmd = fs.readFileSync("/proc/" + p + "/cmdline", "latin1"); } catch { continue; }
    if (cmd.includes(mark)) { try { process.kill(Number(p), "SIGKILL"); } catch {} }
  }
  for (const name of fs.readdirSync(tmp)) {
    if (name.startsWith(mark) || name.startsWith("quantlab-crash-" + pid + "-") || name.startsWith("quantlab-kernel-" + pid + "-")) fs.rmSync(path.join(tmp, name), { recursive: true, force: true });
  }
  process.exit(0);
});
`;

/** Starts the lifeline and asks Node for a fatal-error report in a folder it will read. */
export function startLifeline(heapLimitBytes: number): void {
  const reportDir = ownedTempDir("quantlab-crash-");
  process.report.reportOnFatalError = true;
  process.report.directory = reportDir;
  process.report.filename = "fatal.json";
  const tmp = join(reportDir, "..");
  const args = JSON.stringify({ pid: process.pid, reportDir, tmp, heapMb: Math.round(heapLimitBytes / 2 ** 20) });
  const child = spawn(process.execPath, ["-e", SOURCE, args], { stdio: ["pipe", "ignore", "inherit"], detached: true });
  child.on("error", () => {});
  child.unref();
  // the write end stays open for the kernel's whole life; unref'd so it never keeps the kernel alive
  (child.stdin as unknown as { unref?(): void })?.unref?.();
  child.stdin?.on("error", () => {});
}
