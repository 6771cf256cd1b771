/**
 * `quantlab run NOTEBOOK [--out DIR]`: executes a notebook headlessly through the QuantLab kernel (no
 * Python needed), writes DIR/NOTEBOOK with its outputs, exits 1 naming the first failing cell.
 */
import { QuantLabError } from "../../errors.js";
import { num, parse, printJson, str } from "../args.js";

export const summary = "execute a notebook headlessly through the QuantLab kernel and save it with outputs";

const USAGE = `usage: quantlab run NOTEBOOK.ipynb [--out DIR] [--timeout SECONDS] [--quiet] [--json]

Runs every code cell in order (stopping at the first error), writes DIR/NOTEBOOK.ipynb (default
DIR: out) with the outputs, and exits non-zero naming the failed cell.
  --out DIR           folder for the executed notebook (default: out)
  --timeout SECONDS   per-cell limit, then the cell is interrupted (default: 600)
  --quiet             no per-cell progress lines
  --json              print one JSON object with the report`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("run", argv, { out: { type: "string" }, timeout: { type: "string" }, quiet: { type: "boolean" }, json: { type: "boolean" } }, USAGE);
  if (!p) return 0;
  const [notebook, ...extra] = p.positionals;
  if (!notebook || extra.length) throw new QuantLabError("BAD_ARGUMENT", "run takes one notebook: quantlab run NOTEBOOK.ipynb [--out DIR]");
  const timeout = num("timeout", str(p, "timeout"), 600);
  if (timeout <= 0) throw new QuantLabError("BAD_ARGUMENT", `--timeout must be positive, got ${timeout}`);
  const { runNotebook, describeFailure } = await import("../../runner/notebook.js");
  const { endKernelsOnSignals } = await import("../../runner/client.js");
  endKernelsOnSignals();
  const quiet = !!p.values.quiet || !!p.values.json;
  const report = await runNotebook(notebook, {
    outDir: str(p, "out") ?? "out",
    timeout,
    kernel: { stderr: "inherit" },
    onCell: quiet ? undefined : (i, s, failed) => process.stderr.write(`  cell ${i}: ${failed ? "FAILED" : "ok"} (${s.toFixed(2)} s)\n`),
  });
  if (p.values.json) printJson(report);
  else {
    console.log(`executed ${report.executed} of ${report.codeCells} code cells in ${report.seconds.toFixed(1)} s`);
    console.log(`wrote ${report.output}`);
  }
  if (report.failed) {
    process.stderr.write(`quantlab run: ${notebook}: ${describeFailure(report.failed)}\n`);
    return 1;
  }
  return 0;
}
