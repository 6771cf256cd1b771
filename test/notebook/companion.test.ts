/**
 * The companion notebook, the way a learner meets it:
 * - `quantlab start` (what `npm start` runs) executes it through the kernel, writes the executed notebook,
 *   the charts (SVG + PNG), the tables (CSV) and the notes, and every number the course text states
 *   appears in the outputs (scale 0.00667, code 165, bound 0.00333, bytes per parameter, the 2 GiB KV cache);
 * - nbconvert to HTML and Markdown keeps every chart as a picture;
 * - Debian's nbclient executes it with the QuantLab kernel, with no error outputs;
 * - classic Notebook in headless Chromium runs all cells: no errors, every chart drawn, the check(...)
 *   exercise answers; screenshots are kept in test-artifacts/;
 * - none of it changes the checkout: `git status --porcelain` is the same afterwards (nbclient runs the
 *   notebook in notebooks/, as Jupyter opened there does, so its exports must go to ignored out/notes/).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM_ARGS } from "../../src/display/browser.js";
import { artifactsDir, CHROMIUM, freePort, jupyterEnv, jupyterSkip, PY, ROOT } from "../helpers/jupyter.js";

const NOTEBOOK = join(ROOT, "notebooks", "day21-quantization.ipynb");
const skip = jupyterSkip();
let dir = "";
let env: NodeJS.ProcessEnv = process.env;

interface Cell { cell_type: string; source: string | string[]; outputs?: { output_type: string; data?: Record<string, unknown>; text?: unknown; ename?: string }[] }
const src = (c: Cell) => (Array.isArray(c.source) ? c.source.join("") : c.source);
const plain = (c: Cell) => (c.outputs ?? []).map((o) => {
  const t = o.data?.["text/plain"] ?? o.text ?? "";
  return Array.isArray(t) ? t.join("") : String(t);
}).join("\n");
const chartCount = (cells: Cell[]) => cells.filter((c) => (c.outputs ?? []).some((o) => o.data?.["application/vnd.plotly.v1+json"])).length;

const gitStatus = () => spawnSync("git", ["status", "--porcelain", "--untracked-files=all"], { cwd: ROOT, encoding: "utf8" }).stdout;
let statusBefore = "";

before(() => {
  ({ dir, env } = jupyterEnv());
  statusBefore = gitStatus();
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let executed = "";

test("quantlab start runs the notebook and writes the notebook, charts, tables and notes", { timeout: 400_000 }, () => {
  const out = join(dir, "out");
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "quantlab.js"), "start", "--out", out], { env, encoding: "utf8", timeout: 390_000 });
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr.slice(-2000));
  assert.match(r.stdout, /executed notebook .*day21-quantization\.ipynb/);
  assert.match(r.stdout, /total time/);
  executed = join(out, "day21-quantization.ipynb");
  const nb = JSON.parse(readFileSync(executed, "utf8")) as { cells: Cell[] };
  const code = nb.cells.filter((c) => c.cell_type === "code");
  for (const c of code) assert.ok(!(c.outputs ?? []).some((o) => o.output_type === "error"), `no error in:\n${src(c)}`);
  const charts = readdirSync(join(out, "charts"));
  const n = chartCount(code);
  assert.ok(n >= 8, `the notebook draws its charts (${n})`);
  if (CHROMIUM) {
    assert.equal(charts.filter((f) => f.endsWith(".svg")).length, n);
    assert.equal(charts.filter((f) => f.endsWith(".png")).length, n);
    const png = readFileSync(join(out, "charts", charts.find((f) => f.endsWith(".png"))!));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  }
  assert.ok(readdirSync(join(out, "tables")).filter((f) => f.endsWith(".csv")).length >= 6);
  assert.ok(existsSync(join(out, "notes", "mse-vs-group-size.svg")) || !CHROMIUM);
  assert.ok(existsSync(join(out, "notes", "mse-vs-group-size.csv")));

  // the numbers the course text states
  const find = (needle: string) => {
    const c = code.find((x) => src(x).includes(needle));
    assert.ok(c, `a cell containing ${needle}`);
    return plain(c);
  };
  const fit = find("int8.fit(row)");
  assert.match(fit, /scale\s+0\.006667/);
  assert.match(fit, /worst error \(scale\/2\)\s+0\.003333/);
  assert.match(find("int8.quantize(row)"), /codes\s+165, 105, 255, 0, 225/);
  const ex = find("explain(int8, row, 0)");
  assert.match(ex, /1\.7 \/ 255 = 0\.006666667/);
  assert.match(ex, /round\(165\) = 165/);
  assert.match(ex, /scale \/ 2 = 0\.003333333/);
  const mem = find("memoryTable(7e9)");
  for (const [f, b] of [["fp32", "4"], ["fp16", "2"], ["bf16", "2"], ["fp8-e4m3", "1"], ["int8", "1"], ["int4", "0.5"], ["nf4", "0.5"]]) {
    assert.match(mem, new RegExp(`^${f}\\s+${b.replace(".", "\\.")}\\s`, "m"), `${f} costs ${b} bytes per parameter`);
  }
  assert.match(find('kvCache("llama-2-7b", { context: 4096'), /total\s+2 GiB \(2,147,483,648 B\)/);
  assert.match(find("weightMemory({ params: 7e9, format: \"int4\", groupSize: 128 })"), /bits per parameter\s+4\.156/);
  assert.match(find("check(myInt4"), /^Correct\./);
  assert.match(find("check(mySym4"), /^Not yet:[\s\S]*largest positive code is 2\^3 − 1/);
  // GPTQ and AWQ beat RTN on the real layer at 3 bits
  const g = find("gptqRows.push");
  const rtn3 = Number(/^\s*3\s+RTN\s+(\S+)/m.exec(g)![1]);
  const gptq3 = Number(/^\s*3\s+GPTQ\s+(\S+)/m.exec(g)![1]);
  assert.ok(gptq3 < rtn3, `GPTQ ${gptq3} < RTN ${rtn3} at 3 bits`);
  // and on the whole model, by perplexity (issue 8's table)
  const study = find("quantizationStudy(model");
  const ppl = (label: string) => Number(new RegExp(`^${label}\\s+(\\S+)`, "m").exec(study)![1]);
  assert.ok(ppl("GPTQ 3-bit g32") < ppl("RTN 3-bit g32"), study);
  assert.ok(ppl("AWQ 3-bit g32") < ppl("RTN 3-bit g32"), study);
});

test("nbconvert to HTML and Markdown keeps every chart as a picture", { skip, timeout: 120_000 }, () => {
  assert.ok(executed, "the notebook was executed by the first test");
  const nb = JSON.parse(readFileSync(executed, "utf8")) as { cells: Cell[] };
  const n = chartCount(nb.cells);
  for (const to of ["html", "markdown"]) {
    const c = spawnSync(PY!, ["-m", "nbconvert", "--to", to, "--output-dir", join(dir, to), executed], { env, encoding: "utf8" });
    assert.equal(c.status, 0, c.stderr);
    const file = readdirSync(join(dir, to)).find((f) => f.endsWith(to === "html" ? ".html" : ".md"))!;
    const text = readFileSync(join(dir, to, file), "utf8");
    const images = text.match(/<img[^>]+src="data:image\/svg\+xml;base64,/g) ?? [];
    assert.ok(images.length >= n, `${to}: ${images.length} chart images for ${n} charts`);
  }
});

test("Debian's nbclient executes the notebook with the QuantLab kernel, without errors", { skip, timeout: 400_000 }, () => {
  const out = join(dir, "nbclient.ipynb");
  const script = `
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, kernel_name="quantlab", timeout=300, startup_timeout=90, resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
`;
  // in the notebook's own folder, where a learner runs it
  const work = join(ROOT, "notebooks");
  const r = spawnSync(PY!, ["-c", script, NOTEBOOK, out, work], { env, encoding: "utf8", timeout: 390_000 });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const nb = JSON.parse(readFileSync(out, "utf8")) as { cells: Cell[] };
  const errors = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.output_type === "error"));
  assert.deepEqual(errors, []);
});

test("classic Notebook in Chromium runs every cell: no errors, every chart drawn, the exercise answers", { skip, timeout: 400_000 }, async () => {
  const work = join(dir, "classic");
  mkdirSync(work, { recursive: true });
  copyFileSync(NOTEBOOK, join(work, "day21.ipynb"));
  const port = await freePort();
  const server: ChildProcess = spawn(PY!, ["-m", "notebook", "--no-browser", `--port=${port}`, "--ip=127.0.0.1", "--NotebookApp.token=", "--NotebookApp.password=", "--allow-root", `--notebook-dir=${work}`], { env, stdio: "ignore" });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: CHROMIUM_ARGS });
  const shots = artifactsDir();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    let loaded = false;
    for (let i = 0; i < 60 && !loaded; i++) {
      try {
        await page.goto(`http://127.0.0.1:${port}/notebooks/day21.ipynb`, { timeout: 5000 });
        loaded = true;
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(loaded, "the notebook server answered");
    await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.(), undefined, { timeout: 90_000 });
    await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
    // done when every code cell has an execution count and the kernel is idle
    await page.waitForFunction(() => {
      const nb = (window as any).Jupyter.notebook;
      const cells = nb.get_cells().filter((c: any) => c.cell_type === "code");
      return cells.every((c: any) => typeof c.input_prompt_number === "number") && nb.kernel_busy === false;
    }, undefined, { timeout: 360_000, polling: 1000 });
    await page.screenshot({ path: join(shots, "companion-notebook.png"), fullPage: true });
    const errors = await page.evaluate(() => Array.from(document.querySelectorAll(".output_error")).map((e) => e.textContent?.slice(0, 300)));
    assert.deepEqual(errors, []);
    // one live plot per chart cell (plotly draws two .main-svg layers per plot)
    const chartCells = (JSON.parse(readFileSync(NOTEBOOK, "utf8")) as { cells: Cell[] }).cells
      .filter((c) => c.cell_type === "code" && /(Chart|chart|\.plot)\(/.test(src(c)) && !/export\(/.test(src(c))).length;
    const drawn = await page.evaluate(() => document.querySelectorAll(".js-plotly-plot").length);
    assert.ok(drawn >= chartCells, `live plots drawn in the page: ${drawn} for ${chartCells} chart cells`);
    const answers = await page.evaluate(() => Array.from(document.querySelectorAll(".output_subarea")).map((e) => (e.textContent ?? "").trim()).filter((t) => /^(Correct\.|Not yet:)/.test(t)));
    const checkCells = (JSON.parse(readFileSync(NOTEBOOK, "utf8")) as { cells: Cell[] }).cells
      .filter((c) => c.cell_type === "code" && /^check\(/m.test(src(c))).length;
    assert.equal(answers.length, checkCells, "every check(...) cell answered");
    const chart = await page.$(".js-plotly-plot");
    if (chart) await chart.screenshot({ path: join(shots, "companion-first-chart.png") });
  } finally {
    await browser.close();
    server.kill("SIGTERM");
  }
});

test("running the notebook leaves the checkout as it was (git status unchanged)", () => {
  assert.equal(gitStatus(), statusBefore);
});

test("the notebook's export cell confirms every file it wrote, with absolute paths", () => {
  const c = (JSON.parse(readFileSync(NOTEBOOK, "utf8")) as { cells: Cell[] }).cells.find((x) => /notesFolder\(\)/.test(src(x)));
  assert.ok(c, "the export cell uses notesFolder()");
  assert.equal((src(c).match(/\.export\(/g) ?? []).length, 3);
  assert.match(src(c), /^exported\(/m);
  if (!executed) return;
  const run = (JSON.parse(readFileSync(executed, "utf8")) as { cells: Cell[] }).cells.find((x) => /notesFolder\(\)/.test(src(x)))!;
  const text = plain(run);
  assert.match(text, /^wrote 3 files:/);
  for (const ext of ["svg", "png", "csv"]) assert.match(text, new RegExp(`^  /.*/notes/mse-vs-group-size\\.${ext}  \\(`, "m"));
});
