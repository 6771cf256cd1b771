/**
 * The companion notebook end to end (issue 7's target: ≤ 60 s on the 2-core machine), run by QuantLab's
 * own headless runner (what `npm start` uses) and, as the peer, by Debian's nbclient driving the same
 * kernel in the same run. Prints the slowest cells so a regression points at its section.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runNotebook } from "../src/runner/notebook.js";
import { jupyterEnv, PY, ROOT } from "../test/helpers/jupyter.js";

const NOTEBOOK = join(ROOT, "notebooks", "day21-quantization.ipynb");
const out = mkdtempSync(join(tmpdir(), "ql-nb-bench-"));
const { env } = jupyterEnv();

const t0 = performance.now();
const report = await runNotebook(NOTEBOOK, { outDir: out, kernel: { cwd: out, env } });
const ours = (performance.now() - t0) / 1000;
if (report.failed) console.error(`QuantLab runner: cell ${report.failed.index} failed: ${report.failed.evalue}`);

let peer: number | undefined;
if (PY) {
  const script = `
import sys, time, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
t = time.perf_counter()
nbclient.NotebookClient(nb, kernel_name="quantlab", timeout=600, startup_timeout=120, resources={"metadata": {"path": sys.argv[2]}}).execute()
print(time.perf_counter() - t)
`;
  const r = spawnSync(PY, ["-c", script, NOTEBOOK, out], { env, encoding: "utf8" });
  if (r.status === 0) peer = Number(r.stdout.trim().split("\n").pop());
  else console.error(r.stderr.slice(-1500));
}

const nb = JSON.parse(readFileSync(NOTEBOOK, "utf8")) as { cells: { source: string[] | string }[] };
const slow = Object.entries(report.cellSeconds).sort((a, b) => b[1] - a[1]).slice(0, 5);
console.log(`companion notebook: ${report.executed} of ${report.codeCells} code cells`);
console.log("runner                         seconds   target   ratio to target");
console.log(`QuantLab runner (npm start)  ${ours.toFixed(1).padStart(9)}   ${"60".padStart(6)}   ${(ours / 60).toFixed(2)}`);
console.log(`nbclient (Debian), same kernel ${(peer?.toFixed(1) ?? "–").padStart(7)}   ${"60".padStart(6)}   ${peer ? (peer / 60).toFixed(2) : "–"}`);
if (peer) console.log(`QuantLab runner / nbclient: ${(ours / peer).toFixed(2)}`);
console.log("slowest cells:");
for (const [i, s] of slow) {
  const src = nb.cells[Number(i)]!.source;
  const first = (Array.isArray(src) ? src.join("") : src).split("\n").find((l) => l.trim() && !l.trim().startsWith("//")) ?? "";
  console.log(`  cell ${i.padStart(2)}  ${s.toFixed(2).padStart(6)} s  ${first.slice(0, 70)}`);
}
