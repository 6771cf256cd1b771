import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sweep, Sweep } from "../../src/dsl/sweep.js";
import { DISPLAY } from "../../src/display/mime.js";
import { QuantLabError } from "../../src/errors.js";
import { matrix } from "../../src/numerics/matrix.js";
import { mse, rtn } from "../../src/dsl/numerics.js";
import { randn } from "../helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-sweep-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the Cartesian product runs first key outermost, lists in the given order", () => {
  const seen: string[] = [];
  const s = sweep({ a: [1, 2], b: ["x", "y", "z"] }, (p) => (seen.push(`${p.a}${p.b}`), { n: seen.length }));
  assert.deepEqual(seen, ["1x", "1y", "1z", "2x", "2y", "2z"]);
  assert.deepEqual(s.columns, ["a", "b", "n"]);
  assert.deepEqual(s.rows[4], [2, "y", 5]);
  assert.equal(s.length, 6);
  assert.deepEqual(s.params, ["a", "b"]);
  assert.deepEqual(s.metrics, ["n"]);
});

test("a bare number is named after the function the sweep calls, or by the metric option", () => {
  const W = matrix(4, 64, randn(256, 3, 0.02));
  const s = sweep({ bits: [4, 8] }, (p) => mse(W.data, rtn(W, p).dequantized));
  assert.deepEqual(s.columns, ["bits", "mse"]);
  assert.ok((s.col("mse")[0] as number) > (s.col("mse")[1] as number));
  assert.deepEqual(sweep({ k: [1] }, (p) => p.k * 2).columns, ["k", "value"]);
  assert.deepEqual(sweep({ k: [1] }, (p) => p.k * 2, { metric: "twice" }).records(), [{ k: 1, twice: 2 }]);
});

test("an error report or a quantized layer gives every metric, without wall time", () => {
  const W = matrix(8, 128, randn(1024, 5, 0.02));
  const grid = { groupSize: [32, "channel"] as (number | "channel")[], bits: [4] };
  const a = sweep(grid, (p) => rtn(W, p));
  const b = sweep(grid, (p) => rtn(W, p).report);
  assert.deepEqual(a.columns, ["groupSize", "bits", "mse", "maxError", "sqnrDb", "relError", "bitsPerWeight", "bound", "count"]);
  assert.deepEqual(a.rows, b.rows, "deterministic from run to run");
  assert.deepEqual(a.col("bitsPerWeight"), [4 + 20 / 32, 4 + 20 / 128]);
});

test("each point gets a seed that depends only on the base seed and its index", () => {
  const seeds = (seed: number) => sweep({ i: [0, 1, 2] }, (_p, ctx) => ({ s: ctx.seed, idx: ctx.index }), { seed }).col("s");
  assert.deepEqual(seeds(7), seeds(7));
  assert.notDeepEqual(seeds(7), seeds(8));
  assert.equal(new Set(seeds(7)).size, 3);
});

test("an async function makes the sweep a promise of the same table", async () => {
  const s = await sweep({ k: [1, 2, 3] }, async (p) => ({ sq: p.k * p.k }));
  assert.ok(s instanceof Sweep);
  assert.deepEqual(s.col("sq"), [1, 4, 9]);
});

test("bad grids and failing points are reported with the point", async () => {
  assert.throws(() => sweep({}, () => 1), (e: unknown) => e instanceof QuantLabError && /at least one parameter/.test(e.message));
  assert.throws(() => sweep({ bits: [] }, () => 1), /'bits' must be a non-empty list/);
  const W = matrix(2, 100, randn(200, 1));
  assert.throws(() => sweep({ groupSize: [50, 30] }, (p) => rtn(W, p).report),
    (e: unknown) => e instanceof QuantLabError && /^at sweep point groupSize=30: /.test(e.message));
  assert.throws(() => sweep({ k: [1] }, () => "nope" as never), /returned nope at point 0/);
  await assert.rejects(sweep({ k: [1, 2] }, async (p) => { if (p.k === 2) throw new Error("boom"); return 1; }), /at sweep point k=2: boom/);
});

test("the sweep shows as an HTML table and text, and exports CSV, Markdown, HTML and JSON", () => {
  const s = sweep({ g: [16, "channel"], bits: [4] }, (p) => ({ mse: p.g === 16 ? 1.5e-5 : 4e-5 }));
  const b = s[DISPLAY]();
  assert.match(b["text/html"] as string, /<caption>sweep: 2 points over g × bits<\/caption>/);
  assert.match(b["text/html"] as string, /<td style="text-align:right">1.5e-5<\/td>/);
  assert.match(b["text/plain"], /channel\s+4\s+4e-5/);
  s.export(join(dir, "s.csv"));
  assert.equal(readFileSync(join(dir, "s.csv"), "utf8"), "g,bits,mse\r\n16,4,0.000015\r\nchannel,4,0.00004\r\n");
  s.export(join(dir, "s.md"));
  assert.equal(readFileSync(join(dir, "s.md"), "utf8"), "| g | bits | mse |\n| --- | ---: | ---: |\n| 16 | 4 | 1.5e-5 |\n| channel | 4 | 4e-5 |\n");
  s.export(join(dir, "s.html"));
  assert.match(readFileSync(join(dir, "s.html"), "utf8"), /^<!doctype html>[\s\S]*<table class="dataframe">/);
  s.export(join(dir, "s.json"));
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "s.json"), "utf8")), s.records());
  assert.throws(() => s.export(join(dir, "s.xlsx")), /use \.csv, \.md, \.html or \.json/);
});

test("plot picks the first parameter as x, the second as colour, and log axes when values span decades", () => {
  const s = sweep({ groupSize: [16, 32, 64, 128], bits: [3, 4] }, (p) => ({ mse: 10 ** (-2 * p.bits) * p.groupSize }));
  const c = s.plot();
  const { data, layout } = c.figure;
  assert.deepEqual(data.map((t) => t.name), ["3 bits", "4 bits"]);
  assert.equal((layout.xaxis as { type: string }).type, "log");
  assert.deepEqual((layout.xaxis as { tickvals: number[] }).tickvals, [16, 32, 64, 128]);
  assert.equal((layout.yaxis as { type: string }).type, "log");
  assert.equal((layout.xaxis as { title: { text: string } }).title.text, "group size (weights per scale)");
  assert.equal((layout.yaxis as { title: { text: string } }).title.text, "MSE (squared weight units)");
  assert.equal((s.plot({ logY: false }).figure.layout.yaxis as { type: string }).type, "linear");
  assert.equal(s.plot({ kind: "bar" }).figure.data[0]!.type, "bar");
});

test("frame is a danfo DataFrame with the same columns and values", () => {
  const s = sweep({ g: [16, 32], f: ["int", "nf4"] }, (p) => ({ e: p.g / 16 }));
  const df = s.frame;
  assert.deepEqual(df.columns, ["g", "f", "e"]);
  assert.deepEqual(df.shape, [4, 3]);
  assert.deepEqual(df.values, s.rows);
  assert.equal(s.frame, df, "built once");
});

test("a sweep longer than a second prints a progress line on stderr; a short one prints nothing", () => {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  (process.stderr as { write: unknown }).write = (s: string) => (written.push(String(s)), true);
  try {
    sweep({ k: [1, 2] }, () => 1);
    assert.deepEqual(written, []);
    sweep({ k: [1, 2, 3, 4] }, () => {
      const end = performance.now() + 350;
      while (performance.now() < end);
      return 1;
    });
    sweep({ k: [1, 2, 3, 4] }, () => 1, { progress: false });
  } finally {
    (process.stderr as { write: unknown }).write = original;
  }
  assert.match(written.join(""), /\rsweep points: 3\/4 \(75 %\) · 1\.\d s elapsed · ETA 0\.\d s/);
  assert.match(written.join(""), /sweep points: 4\/4 done in 1\.\d s[^\n]*\n$/);
});
