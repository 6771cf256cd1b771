import { mkdirSync, readFileSync, readdirSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, str, num } from "../args.js";
import { exportArtifacts } from "../artifacts.js";
import { describeFailure, runNotebook, type Notebook } from "../../runner/notebook.js";
import { closeBrowser } from "../../display/browser.js";
import { endKernelsOnSignals } from "../../runner/client.js";

export const summary = "the main job: run the companion notebook end to end, export its charts and tables";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const NOTEBOOK = join(root, "notebooks", "day21-quantization.ipynb");

const USAGE = `usage: quantlab start [--notebook PATH] [--out DIR] [--timeout SECONDS]   (npm start)
  Executes the companion notebook (notebooks/day21-quantization.ipynb) through the QuantLab kernel,
  writes the executed notebook to out/, every chart to out/charts/ (SVG and PNG; standalone HTML when
  no browser is present), every table to out/tables/ (CSV) and what the notebook exported for notes
  to out/notes/. Exits non-zero naming the cell that failed.`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("start", argv, { notebook: { type: "string" }, out: { type: "string" }, timeout: { type: "string" } }, USAGE);
  if (!p) return 0;
  const notebook = resolve(str(p, "notebook") ?? NOTEBOOK);
  const outDir = resolve(str(p, "out") ?? "out");
  mkdirSync(outDir, { recursive: true });
  // Ctrl-C, SIGTERM or a closed terminal end the kernel (and its browser) with this command
  endKernelsOnSignals();
  const t0 = performance.now();
  const rel = (f: string) => relative(process.cwd(), f) || ".";
  console.log(`QuantLab: running ${rel(notebook)} through the QuantLab kernel`);
  const report = await runNotebook(notebook, {
    outDir,
    timeout: num("timeout", str(p, "timeout"), 600),
    // the kernel works in out/, so what the notebook exports "for notes" lands in out/notes/
    kernel: { cwd: outDir },
    onCell: (index, seconds, failed) => console.log(`  cell ${String(index).padStart(2)} ${failed ? "FAILED" : "ok    "} ${seconds.toFixed(2)} s`),
  });
  const nb = JSON.parse(readFileSync(report.output, "utf8")) as Notebook;
  let artifacts;
  try {
    artifacts = exportArtifacts(nb, outDir);
  } finally {
    closeBrowser();
  }
  const notesDir = join(outDir, "notes");
  const notes = existsSync(notesDir) ? readdirSync(notesDir).map((f) => join(notesDir, f)) : [];
  const seconds = (performance.now() - t0) / 1000;
  console.log("");
  console.log(`executed notebook  ${rel(report.output)}  (${report.executed} of ${report.codeCells} code cells)`);
  console.log(`charts             ${rel(join(outDir, "charts"))}/  (${artifacts.charts.length} files)`);
  console.log(`tables             ${rel(join(outDir, "tables"))}/  (${artifacts.tables.length} CSV files)`);
  if (notes.length) console.log(`exported for notes ${notes.map(rel).join(", ")}`);
  if (artifacts.note) console.log(`note               ${artifacts.note}`);
  console.log(`total time         ${seconds.toFixed(1)} s`);
  if (report.failed) {
    process.stderr.write(`quantlab start: ${rel(notebook)}: ${describeFailure(report.failed)}\n`);
    return 1;
  }
  return 0;
}
