/**
 * The headless runner: outputs in nbformat 4 shape (merged streams, display updates, clear_output),
 * stop at the first failing cell, the `quantlab run` exit code and message naming the cell.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { runNotebook, type Notebook } from "../../src/runner/notebook.js";
import { kernelEnv, ROOT } from "../kernel/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-runner-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function notebook(name: string, cells: [string, string][]): string {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: cells.map(([cell_type, source]) => ({ cell_type: cell_type as "code", source, metadata: {}, ...(cell_type === "code" ? { outputs: [], execution_count: null } : {}) })),
  };
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(nb));
  return path;
}

it("executes every cell and writes nbformat outputs", async () => {
  const path = notebook("ok.ipynb", [
    ["markdown", "# Title"],
    ["code", 'console.log("a");\nconsole.log("b");\nconst n = 6;\nn * 7'],
    ["code", "display(html`<p>old</p>`, { display_id: 'x' });\nclearOutput(true);\nconsole.log('after clear');"],
    ["code", "display(html`<p>first</p>`, { display_id: 'bar' });"],
    ["code", "display(html`<p>second</p>`, { display_id: 'bar', update: true });"],
    ["code", ""],
  ]);
  const report = await runNotebook(path, { outDir: join(dir, "out"), kernel: { env: kernelEnv() } });
  assert.equal(report.failed, null);
  assert.equal(report.codeCells, 5);
  assert.equal(report.executed, 5);
  const nb = JSON.parse(readFileSync(report.output, "utf8")) as Notebook;
  assert.deepEqual(nb.cells[1].outputs, [
    { output_type: "stream", name: "stdout", text: "a\nb\n" },
    { output_type: "execute_result", data: { "text/plain": "42" }, metadata: {}, execution_count: 1 },
  ]);
  assert.equal(nb.cells[1].execution_count, 1);
  assert.deepEqual(nb.cells[2].outputs, [{ output_type: "stream", name: "stdout", text: "after clear\n" }]);
  assert.deepEqual(nb.cells[3].outputs![0].data, { "text/html": "<p>second</p>", "text/plain": "<p>second</p>" });
  assert.deepEqual(nb.cells[4].outputs, []);
  assert.equal((nb.metadata.kernelspec as { name: string }).name, "quantlab");
  assert.equal((nb.metadata.language_info as { name: string }).name, "typescript");
});

it("stops at the first failing cell, and `quantlab run` exits 1 naming it", async () => {
  const path = notebook("bad.ipynb", [
    ["code", "const a = 1;"],
    ["code", 'throw new Error("broken " + a);'],
    ["code", "globalThis.neverRan = true;"],
  ]);
  const out = join(dir, "out2");
  const report = await runNotebook(path, { outDir: out, kernel: { env: kernelEnv() } });
  assert.equal(report.failed?.index, 1);
  assert.equal(report.failed?.evalue, "broken 1");
  assert.equal(report.executed, 2);
  const nb = JSON.parse(readFileSync(report.output, "utf8")) as Notebook;
  assert.equal(nb.cells[1].outputs![0].output_type, "error");
  assert.deepEqual(nb.cells[2].outputs, []);

  const cli = spawnSync(process.execPath, [join(ROOT, "bin", "quantlab.js"), "run", path, "--out", join(dir, "out3"), "--quiet"], { env: kernelEnv(), encoding: "utf8" });
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stderr, /bad\.ipynb: cell 1 \(In \[2\]\) failed: Error: broken 1/);
  assert.match(cli.stdout, /executed 2 of 3 code cells/);
});

it("rejects a file that is not a notebook", async () => {
  const path = join(dir, "not.ipynb");
  writeFileSync(path, "{}");
  await assert.rejects(runNotebook(path, { outDir: join(dir, "o") }), /not an nbformat 4 notebook/);
});

it("saves the widgets' last state in the notebook's metadata, as Jupyter's 'save widget state' does", async () => {
  const path = notebook("widgets.ipynb", [
    ["code", 'const bits = intSlider({ description: "bits", min: 2, max: 8, value: 4 });\nbits'],
    ["code", "bits.value = 6;"],
    ["code", "const gone = intSlider({ value: 3 });\ngone.close();"],
  ]);
  const report = await runNotebook(path, { outDir: join(dir, "out-widgets"), kernel: { env: kernelEnv() } });
  assert.equal(report.failed, null);
  const nb: Notebook = JSON.parse(readFileSync(report.output, "utf8"));
  const saved = (nb.metadata.widgets as Record<string, { version_major: number; state: Record<string, { model_name: string; model_module: string; state: Record<string, unknown> }> }>)["application/vnd.jupyter.widget-state+json"];
  assert.equal(saved.version_major, 2);
  const view = nb.cells[0].outputs!.find((o) => o.output_type === "execute_result")!.data as Record<string, { model_id: string }>;
  const id = view["application/vnd.jupyter.widget-view+json"].model_id;
  assert.equal(saved.state[id].model_name, "IntSliderModel");
  assert.equal(saved.state[id].model_module, "@jupyter-widgets/controls");
  assert.equal(saved.state[id].state.value, 6, "the last value, after the second cell moved it");
  assert.equal(Object.values(saved.state).filter((m) => m.model_name === "IntSliderModel").length, 1, "a closed widget is not saved");
  // its layout and style models are saved too, so the view can be rebuilt
  const layoutRef = String(saved.state[id].state.layout).replace(/^IPY_MODEL_/, "");
  assert.equal(saved.state[layoutRef].model_name, "LayoutModel");
});
