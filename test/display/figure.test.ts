import { test } from "node:test";
import assert from "node:assert/strict";
import { barChart, binValues, heatmapChart, histogramChart, lineChart, logTicks, PALETTE, seriesColours, tickLabel } from "../../src/display/figure.js";
import { QuantLabError } from "../../src/errors.js";

const rows = [3, 4].flatMap((bits) => [16, 32, 64, 128].map((g) => ({ groupSize: g, bits, mse: 10 ** -(bits + g / 64) })));

test("tick labels are plain in 0.001 … 99999 and exponent form outside", () => {
  assert.deepEqual([1e-5, 2.5e-5, 0.01, 1, 128, 4096, 1e6, 3e9].map(tickLabel), ["1e-5", "2.5e-5", "0.01", "1", "128", "4096", "1e6", "3e9"]);
});

test("log ticks sit at the swept values, or at decades, with finer steps for narrow ranges", () => {
  assert.deepEqual(logTicks([64, 16, 32, 128, 16], true), { tickvals: [16, 32, 64, 128], ticktext: ["16", "32", "64", "128"] });
  assert.deepEqual(logTicks([2e-7, 3e-4], false).ticktext, ["1e-6", "1e-5", "1e-4"]);
  assert.deepEqual(logTicks([0.5, 2], false).ticktext, ["0.5", "1", "2"]);
  assert.deepEqual(logTicks([4.6e-6, 9e-6], false).ticktext, ["5e-6", "6e-6", "7e-6", "8e-6", "9e-6"]);
  assert.throws(() => logTicks([0, -1], false), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_VALUE");
});

test("a line chart has one trace and one colour per series, log axes with swept ticks and titles", () => {
  const c = lineChart(rows, { x: "groupSize", y: "mse", color: "bits", logX: true, logY: true, xTitle: "group size", yTitle: "MSE" });
  const { data, layout } = c.figure;
  assert.equal(data.length, 2);
  assert.deepEqual(data.map((t) => t.name), ["bits=3", "bits=4"]);
  const colours = data.map((t) => (t.line as { color: string }).color);
  assert.deepEqual(colours, seriesColours(["bits=3", "bits=4"]));
  assert.notEqual(colours[0], colours[1]);
  assert.ok(colours.every((c) => PALETTE.includes(c)));
  assert.deepEqual(data[0]!.x, [16, 32, 64, 128]);
  const xa = layout.xaxis as Record<string, unknown>, ya = layout.yaxis as Record<string, unknown>;
  assert.equal(xa.type, "log");
  assert.deepEqual(xa.tickvals, [16, 32, 64, 128]);
  assert.deepEqual((xa.title as { text: string }).text, "group size");
  assert.equal(ya.type, "log");
  assert.ok((ya.ticktext as string[]).every((s) => /^1e-\d$/.test(s)));
  assert.equal((layout.font as { size: number }).size, 14);
});

test("mixed numeric and named x values make an ordered category axis", () => {
  const c = barChart([{ g: 32, v: 1 }, { g: "channel", v: 2 }, { g: 128, v: 3 }], { x: "g", y: "v", logX: true });
  const xa = c.figure.layout.xaxis as Record<string, unknown>;
  assert.equal(xa.type, "category");
  assert.deepEqual(xa.categoryarray, ["32", "channel", "128"]);
});

test("logY refuses zero values with a message that names the fix", () => {
  assert.throws(() => lineChart([{ x: 1, y: 0 }], { x: "x", y: "y", logY: true }), /logY needs positive y/);
});

test("binValues counts exactly, the maximum lands in the last bin", () => {
  const b = binValues([0, 0.1, 0.5, 0.99, 1], 2);
  assert.deepEqual(Array.from(b.counts), [2, 3]);
  assert.deepEqual(Array.from(b.edges), [0, 0.5, 1]);
  assert.deepEqual(Array.from(binValues([3, 3], 1).counts), [2]);
  assert.throws(() => binValues([NaN], 4), /finite values/);
});

test("histograms ship bins, not the data; several arrays overlay in their own colours", () => {
  const big = new Float32Array(100_000).map((_, i) => Math.sin(i));
  const c = histogramChart({ a: big, b: big.map((v) => v / 2) }, { bins: 50 });
  assert.equal(c.figure.data.length, 2);
  assert.equal((c.figure.data[0]!.y as number[]).length, 50);
  assert.equal((c.figure.data[0]!.y as number[]).reduce((s, v) => s + v, 0), 100_000);
  assert.equal(c.figure.layout.barmode, "overlay");
});

test("a heatmap from a long table pivots x and y, keeping first-seen order", () => {
  const c = heatmapChart([{ g: 32, b: 4, e: 1 }, { g: 64, b: 4, e: 2 }, { g: 32, b: 8, e: 3 }], { x: "g", y: "b", z: "e" });
  const t = c.figure.data[0]!;
  assert.deepEqual(t.x, ["32", "64"]);
  assert.deepEqual(t.y, ["4", "8"]);
  assert.deepEqual(t.z, [[1, 2], [3, NaN]]);
  assert.deepEqual(heatmapChart([[1, 2], [3, 4]]).figure.data[0]!.z, [[1, 2], [3, 4]]);
});

test("a series keeps its colour when another series is added, and colours stay distinct", () => {
  const names = Array.from({ length: 10 }, (_, i) => `bits=${i + 2}`);
  const all = seriesColours(names);
  assert.equal(new Set(all).size, 10, "ten series, ten palette colours");
  const two = lineChart(rows, { x: "groupSize", y: "mse", color: "bits" }).figure.data;
  const more = lineChart([...rows, { groupSize: 16, mse: 1e-3, bits: 2 }, { groupSize: 32, mse: 2e-3, bits: 2 }], { x: "groupSize", y: "mse", color: "bits" }).figure.data;
  const colourOf = (d: typeof two, name: string) => (d.find((t) => t.name === name)!.line as { color: string }).color;
  for (const name of ["bits=3", "bits=4"]) assert.equal(colourOf(more, name), colourOf(two, name), name);
  assert.equal(more.length, 3);
});

test("hover text uses the tables' number format with the axis titles", () => {
  const c = lineChart([{ g: 16, mse: 3.0704e-5 }, { g: 32, mse: 0.01234567 }], { x: "g", y: "mse", xTitle: "group size", yTitle: "MSE" });
  const t = c.figure.data[0]! as Record<string, unknown>;
  assert.equal(t.hovertemplate, "group size: %{customdata[0]}<br>MSE: %{customdata[1]}<extra>%{fullData.name}</extra>");
  assert.deepEqual(t.customdata, [["16", "3.07e-5"], ["32", "0.01235"]]);
});
