import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as q from "../../src/dsl/index.js";
import { browserAvailable } from "../../src/display/browser.js";
import type { Chart } from "../../src/display/chart.js";
import { randn } from "../helpers/random.js";
import { assertOfflineHtml, pngSize, svgAxisTitles, svgTraces } from "../display/helpers.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-charts-test-"));
after(() => {
  q.closeBrowser();
  rmSync(dir, { recursive: true, force: true });
});

// 64 output channels × 256 inputs, N(0, 0.02²), with channel 5 scaled ×8: one outlier channel.
const W = q.matrix(64, 256, randn(64 * 256, 11, 0.02));
for (let c = 0; c < 256; c++) W.data[5 * 256 + c]! *= 8;

const yTitle = (c: Chart) => ((c.figure.layout.yaxis as { title: { text: string } }).title.text);
const xTitle = (c: Chart) => ((c.figure.layout.xaxis as { title: { text: string } }).title.text);

function named(): Record<string, Chart> {
  const formats = q.sweep({ format: ["int", "nf4", "fp4-e2m1"], groupSize: [32, 128] },
    (p) => q.rtn(W, { bits: 4, format: p.format as "int", groupSize: p.groupSize }).report);
  return {
    "mse-vs-group-size": q.mseVsGroupSize(W, { groupSize: [16, 32, 64, 128, 256], bits: [3, 4, 8] }),
    ruler: q.rulerChart(W, { bits: 3 }),
    "channel-range": q.channelRangeChart(W),
    "error-histogram": q.errorHistogram(W, { "INT4 g32": q.rtn(W, { bits: 4, groupSize: 32 }), "INT3 g32": q.rtn(W, { bits: 3, groupSize: 32 }) }),
    memory: q.memoryChart(7e9),
    "kv-cache": q.kvCacheChart("llama-2-7b"),
    pareto: q.paretoChart(formats),
  };
}

test("MSE vs group size: a line per bit width, log axes with ticks at the swept sizes, error falls with bits", () => {
  const c = q.mseVsGroupSize(W, { groupSize: [16, 32, 64, 128, 256], bits: [3, 4, 8] });
  assert.deepEqual(c.figure.data.map((t) => t.name), ["3 bits", "4 bits", "8 bits"]);
  assert.deepEqual((c.figure.layout.xaxis as { tickvals: number[] }).tickvals, [16, 32, 64, 128, 256]);
  assert.equal((c.figure.layout.yaxis as { type: string }).type, "log");
  const ys = c.figure.data.map((t) => t.y as number[]);
  for (let i = 0; i < 5; i++) assert.ok(ys[0]![i]! > ys[1]![i]! && ys[1]![i]! > ys[2]![i]!);
  // with "channel" in the grid the x axis becomes an ordered category axis
  const mixed = q.mseVsGroupSize(W, { groupSize: [32, 128, "channel"], bits: [4] });
  assert.deepEqual((mixed.figure.layout.xaxis as { categoryarray: string[] }).categoryarray, ["32", "128", "channel"]);
});

test("ruler: 2^bits levels spaced by the scale, drawn over the weight histogram", () => {
  const c = q.rulerChart(W, { bits: 3 });
  const [hist, lv] = c.figure.data;
  assert.equal((hist!.y as number[]).reduce((a, b) => a + b, 0), W.data.length);
  const xs = (lv!.x as (number | null)[]).filter((v): v is number => v !== null);
  const levels = xs.filter((_, i) => i % 2 === 0);
  assert.equal(levels.length, 8);
  const fit = q.ruler({ bits: 3 }).fit(W.data);
  assert.ok(Math.abs(levels[0]! - fit.min) < 1e-7);
  for (let i = 1; i < 8; i++) assert.ok(Math.abs(levels[i]! - levels[i - 1]! - fit.scale) < 1e-6);
  assert.match(String(lv!.name), /^8 levels/);
});

test("per-channel range: the scaled channel is the one outlier", () => {
  const c = q.channelRangeChart(W);
  const [normal, out] = c.figure.data;
  assert.deepEqual(out!.x, [5]);
  assert.equal((normal!.x as number[]).length, 63);
  assert.match(String(out!.name), /1 with max \|w\| > 3× median/);
  const cols = q.channelRangeChart(W, { axis: "cols" }).figure.data;
  assert.equal((cols[0]!.x as number[]).length + (cols[1]!.x as number[]).length, 256);
});

test("error histogram: one series per reconstruction, counts add up to the weights", () => {
  const c = q.errorHistogram(W, q.rtn(W, { bits: 4, groupSize: 32 }));
  assert.equal(c.figure.data.length, 1);
  assert.equal((c.figure.data[0]!.y as number[]).reduce((a, b) => a + b, 0), W.data.length);
  assert.throws(() => q.errorHistogram(W, [1, 2, 3]), /has 3 values but the weights have 16384/);
});

test("memory by format for 7B in GiB: FP16 13.04 GiB, INT4 g128 with its scale overhead", () => {
  const c = q.memoryChart(7e9, { formats: ["fp16", "int4"] });
  const y = c.figure.data[0]!.y as number[];
  assert.equal(y[0], 14e9 / 2 ** 30);
  assert.equal(y[1], q.weightMemory({ params: 7e9, format: "int4", groupSize: 128 }).bytes / 2 ** 30);
  assert.deepEqual(c.figure.data[0]!.text, ["13.0 GiB", "3.4 GiB"]);
  assert.match(JSON.stringify(c.figure.layout.yaxis), /weight memory \(GiB\)/);
});

test("KV cache vs context: a line per dtype, LLaMA-2-7B FP16 at 4096 tokens is 2 GiB", () => {
  const c = q.kvCacheChart("llama-2-7b", { contexts: [1024, 4096], dtypes: ["fp16", "int4"] });
  assert.deepEqual(c.figure.data.map((t) => t.name), ["fp16", "int4"]);
  assert.deepEqual(c.figure.data[0]!.y, [0.5, 2]);
  assert.deepEqual(c.figure.data[1]!.y, [0.125, 0.5]);
  assert.match(JSON.stringify(c.figure.layout.yaxis), /KV-cache memory \(GiB\)/);
  assert.deepEqual((c.figure.layout.xaxis as { ticktext: string[] }).ticktext, ["1024", "4096"]);
});

test("Pareto front keeps exactly the points nothing beats on both axes", () => {
  assert.deepEqual(q.paretoFront([4, 4.5, 4.25, 5, 4.5], [3, 2, 4, 1, 2.5]), [0, 1, 3]);
  const c = q.paretoChart([{ format: "a", bitsPerWeight: 4, mse: 3 }, { format: "b", bitsPerWeight: 5, mse: 1 }, { format: "b", bitsPerWeight: 4.5, mse: 4 }]);
  const front = c.figure.data.at(-1)!;
  assert.equal(front.name, "Pareto front");
  assert.deepEqual(front.x, [4, 5]);
  assert.equal(c.figure.data.length, 3);
});

const noBrowser = browserAvailable() ? false : "no Chromium here (set QUANTLAB_CHROMIUM)";

test("every named chart exports to SVG (axis titles, one trace per series), PNG and offline HTML", { skip: noBrowser }, () => {
  for (const [name, c] of Object.entries(named())) {
    c.export(join(dir, `${name}.svg`));
    const svg = readFileSync(join(dir, `${name}.svg`), "utf8");
    assert.match(svg, /^<svg/, name);
    assert.deepEqual(svgAxisTitles(svg), { x: xTitle(c), y: yTitle(c) }, name);
    assert.equal(svgTraces(svg), c.series, `${name}: one trace per series`);
    c.export(join(dir, `${name}.png`), { scale: 2 });
    assert.deepEqual(pngSize(readFileSync(join(dir, `${name}.png`))), { width: 1440, height: 880 }, name);
    c.export(join(dir, `${name}.html`));
    assertOfflineHtml(join(dir, `${name}.html`));
  }
});
