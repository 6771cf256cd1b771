import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { browserAvailable, closeBrowser, findChromium } from "../../src/display/browser.js";
import { setChartMode } from "../../src/display/chart.js";
import { lineChart } from "../../src/display/figure.js";
import { DISPLAY } from "../../src/display/mime.js";
import { liveHtml, resetPlotlySession, standaloneHtml } from "../../src/display/plotly.js";
import { QuantLabError } from "../../src/errors.js";
import { assertOfflineHtml, PLOTLY_BANNER, pngSize, svgAxisTitles, svgTraces } from "./helpers.js";
import { processesWith } from "../helpers/processes.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-chart-test-"));
after(() => {
  closeBrowser();
  rmSync(dir, { recursive: true, force: true });
  setChartMode("both");
});
const noBrowser = browserAvailable() ? false : "no Chromium here (set QUANTLAB_CHROMIUM)";
const rows = [3, 4, 8].flatMap((bits) => [16, 32, 64].map((g) => ({ g, bits, mse: 2 ** -(2 * bits) * g })));
const chart = () => lineChart(rows, { x: "g", y: "mse", color: "bits", logX: true, logY: true, xTitle: "group size (weights)", yTitle: "MSE (w²)" });

test("findChromium honours QUANTLAB_CHROMIUM and PATH", () => {
  assert.equal(findChromium({ QUANTLAB_CHROMIUM: "/nonexistent/chrome", PATH: "/usr/bin" }), null);
  assert.equal(findChromium({ PATH: dir }), null);
  writeFileSync(join(dir, "chromium"), "#!/bin/sh\n", { mode: 0o755 });
  assert.equal(findChromium({ PATH: `/nonexistent:${dir}` }), join(dir, "chromium"));
  rmSync(join(dir, "chromium"));
});

test("without a browser, image export says so and offers .html", () => {
  const saved = process.env.QUANTLAB_CHROMIUM;
  process.env.QUANTLAB_CHROMIUM = "/nonexistent/chromium";
  try {
    assert.throws(() => chart().export(join(dir, "x.png")), (e: unknown) =>
      e instanceof QuantLabError && e.code === "UNSUPPORTED" && /Chromium/.test(e.message) && /\.html/.test(e.message));
    assert.ok(!existsSync(join(dir, "x.png")));
    setChartMode("both");
    const b = chart()[DISPLAY]();
    assert.equal(b["image/svg+xml"], undefined);
    assert.match(b["text/plain"], /static image unavailable/);
    assert.ok(typeof b["text/html"] === "string");
  } finally {
    if (saved === undefined) delete process.env.QUANTLAB_CHROMIUM;
    else process.env.QUANTLAB_CHROMIUM = saved;
  }
});

test("unknown export extensions and chart modes are refused with the choices", () => {
  assert.throws(() => chart().export(join(dir, "x.jpg")), /\.svg, \.png, \.pdf, \.html, \.json/);
  assert.throws(() => setChartMode("fancy" as never), /"static", "live" or "both"/);
  assert.equal(setChartMode(" static " as never).mode, "static", "the %charts argument may carry spaces");
  assert.equal(setChartMode().mode, "static", "no argument reports the mode");
  assert.match(setChartMode("" as never)[DISPLAY]()["text/plain"], /^charts: static \(SVG images only\)$/);
  setChartMode("both");
});

test("live HTML carries plotly.js once per session, then waits for window.Plotly", () => {
  resetPlotlySession();
  const fig = chart().figure;
  const first = liveHtml(fig, "<img>"), second = liveHtml(fig, null);
  assert.ok(first.length > 1_000_000 && PLOTLY_BANNER.test(first));
  assert.ok(second.length < 20_000 && !PLOTLY_BANNER.test(second));
  assert.match(second, /window\.Plotly/);
  assert.match(first, /<div id="quantlab-chart-[^"]+" class="quantlab-chart"><img>/);
  assert.doesNotMatch(standaloneHtml({ data: [{ name: "</script><b>" }], layout: {} }, "t"), /<\/script><b>/);
});

test("live mode needs no browser: plotly JSON and HTML, no image", () => {
  setChartMode("live");
  const b = chart()[DISPLAY]();
  assert.deepEqual(Object.keys(b).sort(), ["application/vnd.plotly.v1+json", "text/html", "text/plain"]);
  assert.equal((b["application/vnd.plotly.v1+json"] as { data: unknown[] }).data.length, 3);
  setChartMode("both");
});

test("both mode: plotly JSON, SVG, and HTML whose placeholder is the SVG image", { skip: noBrowser }, () => {
  setChartMode("both");
  const b = chart()[DISPLAY]();
  assert.deepEqual(Object.keys(b).sort(), ["application/vnd.plotly.v1+json", "image/svg+xml", "text/html", "text/plain"]);
  const svg = b["image/svg+xml"] as string;
  assert.equal(svgTraces(svg), 3);
  assert.match(b["text/html"] as string, /<img alt="[^"]*" src="data:image\/svg\+xml;base64,/);
  setChartMode("static");
  const s = chart()[DISPLAY]();
  assert.deepEqual(Object.keys(s).sort(), ["image/svg+xml", "text/plain"]);
  setChartMode("both");
});

test("exports SVG, PNG at a scale, PDF, HTML and JSON; replaces files atomically", { skip: noBrowser }, () => {
  const c = chart();
  const svgPath = join(dir, "notes", "mse.svg");
  writeFileSync(join(dir, "old.png"), "old");
  const w = c.export(svgPath);
  assert.equal(w.path, svgPath);
  const svg = readFileSync(svgPath, "utf8");
  assert.deepEqual(svgAxisTitles(svg), { x: "group size (weights)", y: "MSE (w²)" });
  assert.equal(svgTraces(svg), 3);
  c.export(join(dir, "old.png"), { scale: 3 });
  assert.deepEqual(pngSize(readFileSync(join(dir, "old.png"))), { width: 2160, height: 1320 });
  c.export(join(dir, "small.png"), { scale: 1, width: 400, height: 300 });
  assert.deepEqual(pngSize(readFileSync(join(dir, "small.png"))), { width: 400, height: 300 });
  c.export(join(dir, "c.pdf"));
  const pdf = readFileSync(join(dir, "c.pdf")).toString("latin1");
  assert.equal(pdf.slice(0, 5), "%PDF-");
  // one page the chart's size: 720 × 441 CSS pixels are 540 × ≈331 points
  assert.equal(pdf.match(/\/Type\s*\/Page\b/g)?.length, 1);
  const box = pdf.match(/\/MediaBox\s*\[0 0 ([\d.]+) ([\d.]+)\]/);
  assert.ok(box && Number(box[1]) === 540 && Math.abs(Number(box[2]) - 331) < 1, box?.[0]);
  c.export(join(dir, "c.html"));
  assertOfflineHtml(join(dir, "c.html"));
  c.export(join(dir, "c.json"));
  assert.equal(JSON.parse(readFileSync(join(dir, "c.json"), "utf8")).data.length, 3);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
});

/** The chart browser of this process (its profile folder names our pid), by its command line. */
const chartBrowserPids = () => processesWith(`quantlab-chromium-${process.pid}-`, "--remote-debugging-pipe");

test("a chart browser that died is replaced by the next render", { skip: noBrowser }, async () => {
  assert.ok(chart().svg().startsWith("<svg"));
  const pids = chartBrowserPids();
  assert.ok(pids.length > 0, "the browser runs");
  for (const pid of pids) process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && chartBrowserPids().some((p) => pids.includes(p)); i++) await new Promise((r) => setTimeout(r, 50));
  // let the worker see the exit before the next render
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(pngSize(chart().png(1)), { width: 720, height: 440 });
  assert.ok(chartBrowserPids().every((p) => !pids.includes(p)), "a new browser did the render");
});
