/**
 * Charts through real Jupyter front ends, against the installed kernelspec:
 * - nbclient (Debian) executes a notebook with chart cells; nbconvert --to markdown and --to html of the
 *   result still show each chart as an image;
 * - classic Notebook (Debian jupyter-notebook) in headless Chromium runs the notebook and the live plotly
 *   SVG appears in the page; the screenshot is kept in $QUANTLAB_ARTIFACTS (default: test-artifacts/).
 * Skipped when Python's nbclient or Chromium is missing (a failure under CI=true).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM_ARGS } from "../../src/display/browser.js";
import { artifactsDir, CHROMIUM, freePort, jupyterEnv, jupyterSkip, PY } from "../helpers/jupyter.js";

const skip = jupyterSkip();
const { dir, env } = jupyterEnv();
const artifacts = artifactsDir();
const chromium = CHROMIUM;

const CELLS = [
  `const rows = [3, 4, 8].flatMap((bits) => [16, 32, 64, 128].map((groupSize) => ({ groupSize, bits, mse: 2 ** (-2 * bits) * groupSize / 1000 })));`,
  `lineChart(rows, { x: "groupSize", y: "mse", color: "bits", logX: true, logY: true, xTitle: "group size", yTitle: "MSE" })`,
  `sweep({ groupSize: [16, 64], bits: [4, 8] }, (p) => ({ mse: 2 ** (-2 * p.bits) * p.groupSize })).plot()`,
];

function writeNotebook(path: string): void {
  const nb = {
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: "quantlab", display_name: "QuantLab (TypeScript)", language: "typescript" } },
    cells: CELLS.map((source, i) => ({ id: `c${i}`, cell_type: "code", source, metadata: {}, outputs: [], execution_count: null })),
  };
  writeFileSync(path, JSON.stringify(nb, null, 1));
}

after(() => rmSync(dir, { recursive: true, force: true }));

test("nbclient runs chart cells; nbconvert to markdown and html keeps each chart as an image", { skip, timeout: 120_000 }, () => {
  const nbPath = join(dir, "charts.ipynb");
  writeNotebook(nbPath);
  const script = `
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, kernel_name="quantlab", timeout=90, startup_timeout=60).execute()
nbformat.write(nb, sys.argv[2])
`;
  const out = join(dir, "executed.ipynb");
  const r = spawnSync(PY!, ["-c", script, nbPath, out], { env, encoding: "utf8", timeout: 110_000 });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const nb = JSON.parse(readFileSync(out, "utf8"));
  for (const i of [1, 2]) {
    const data = nb.cells[i].outputs.find((o: { output_type: string }) => o.output_type === "execute_result")?.data;
    assert.ok(data, `cell ${i} has a result`);
    assert.ok(data["image/svg+xml"], `cell ${i} carries a static SVG`);
    assert.ok(data["application/vnd.plotly.v1+json"], `cell ${i} carries the plotly JSON`);
  }
  for (const to of ["markdown", "html"]) {
    const c = spawnSync(PY!, ["-m", "nbconvert", "--to", to, "--output-dir", join(dir, to), out], { env, encoding: "utf8" });
    assert.equal(c.status, 0, c.stderr);
    const file = readdirSync(join(dir, to)).find((f) => f.endsWith(to === "html" ? ".html" : ".md"))!;
    const text = readFileSync(join(dir, to, file), "utf8");
    const images = text.match(/<img[^>]+src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]{1000,}"/g) ?? [];
    assert.equal(images.length, 2, `${to}: both charts as images`);
    const svg = Buffer.from(images[0]!.replace(/^.*base64,|"$/g, ""), "base64").toString("utf8");
    assert.match(svg, /<text class="xtitle"[^>]*>group size</);
  }
});

test("classic Notebook in Chromium runs a chart cell and the plotly SVG appears", { skip, timeout: 150_000 }, async () => {
  const work = join(dir, "classic");
  mkdirSync(work, { recursive: true });
  writeNotebook(join(work, "charts.ipynb"));
  const port = await freePort();
  const server: ChildProcess = spawn(PY!, ["-m", "notebook", "--no-browser", `--port=${port}`, "--ip=127.0.0.1", "--NotebookApp.token=", "--NotebookApp.password=", "--allow-root", `--notebook-dir=${work}`], { env, stdio: "ignore" });
  const { chromium: pw } = await import("playwright-core");
  const browser = await pw.launch({ executablePath: chromium!, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1600 } });
    let loaded = false;
    for (let i = 0; i < 60 && !loaded; i++) {
      try {
        await page.goto(`http://127.0.0.1:${port}/notebooks/charts.ipynb`, { timeout: 5000 });
        loaded = true;
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(loaded, "the notebook server answered");
    await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.(), undefined, { timeout: 60_000 });
    await page.evaluate(() => (window as any).Jupyter.notebook.execute_all_cells());
    await page.waitForSelector(".quantlab-chart .main-svg", { timeout: 90_000 });
    await page.waitForFunction(() => document.querySelectorAll(".quantlab-chart .main-svg .trace").length >= 5, undefined, { timeout: 30_000 });
    const shot = join(artifacts, "classic-notebook-chart.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot));
    const traces = await page.evaluate(() => document.querySelectorAll(".quantlab-chart .main-svg .trace").length);
    assert.ok(traces >= 5, `live traces drawn: ${traces}`);
  } finally {
    await browser.close();
    server.kill("SIGTERM");
  }
});
