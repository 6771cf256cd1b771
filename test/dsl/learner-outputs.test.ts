/**
 * Outputs a learner must not misread: check()'s hints name the learner's number, the KV table's FP32
 * row is not "saved −100 %", and an export cell confirms every file with its absolute path and the
 * notes folder is outside what git tracks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DISPLAY } from "../../src/display/mime.js";
import { check } from "../../src/dsl/exercise.js";
import { exported, notesFolder } from "../../src/dsl/charts.js";
import { KvReport, type KvRow } from "../../src/model/runtime/kvcache.js";
import { ROOT } from "../kernel/helpers.js";

const row = [0.1, -0.3, 0.7, -1.0, 0.5];

test("a check() hint says what the learner's scale is, after the right value", () => {
  // INT4 asymmetric: the right scale is 1.7 / 15; 1.7 / 16 is the classic slip
  const r = check({ scale: 1.7 / 16 }, { ruler: { bits: 4 }, row, index: 0 });
  assert.equal(r.correct, false);
  assert.equal(r.lines[0], "✗ scale: the ruler has 0.1133333, you have 0.10625. Hint: your scale is (max − min) / 2^4; divide by 2^4 − 1 instead: 16 levels have 15 steps between them");
  const s = check({ scale: 1 / 8 }, { ruler: { bits: 4, scheme: "symmetric" }, row, index: 0 });
  assert.match(s.lines[0]!, /^✗ scale: the ruler has 0\.1428571, you have 0\.125\. Hint: your scale is max\|x\| \/ 2\^3; divide by 2\^3 − 1 = 7 instead: the largest positive code is 2\^3 − 1$/);
});

test("the KV table compares sizes with FP16 without a negative saving for FP32", () => {
  const base = { kRelError: 0, vRelError: 0, attnRelError: 0, perplexity: 10, tokens: 100, kld: 0, sameTopPercent: 100 };
  const rows: KvRow[] = [
    { ...base, spec: "FP32", format: "FP32", granularity: "none", bits: 32, bytesPerToken: 8, bytes: 4096, saved: -1 },
    { ...base, spec: "INT8 token", format: "INT8", granularity: "token", bits: 8, bytesPerToken: 2.1, bytes: 1100, saved: 0.46 },
  ];
  const text = String(new KvReport(rows, 512)[DISPLAY]()["text/plain"]);
  assert.doesNotMatch(text, /−100|-100/);
  assert.match(text.split("\n")[0]!, /vs FP16/);
  assert.match(text.split("\n")[1]!, /^FP32 .*\b200 %/);
  assert.match(text.split("\n")[2]!, /^INT8 .*\b54 %/);
});

test("exported() lists every file with its absolute path and size", () => {
  const e = exported({ path: "notes/a.svg", bytes: 2048 }, { path: "/tmp/b.png", bytes: 3 * 1024 * 1024 }, { path: "c.csv", bytes: 10 });
  const text = String(e[DISPLAY]()["text/plain"]);
  const lines = text.split("\n");
  assert.equal(lines[0], "wrote 3 files:");
  assert.equal(lines[1], `  ${join(process.cwd(), "notes", "a.svg")}  (2.0 KiB)`);
  assert.equal(lines[2], "  /tmp/b.png  (3.0 MiB)");
  assert.equal(lines.length, 4);
  assert.throws(() => exported(), /exported\(\.\.\.\) takes what export\(\) returned/);
});

test("notesFolder(): out/notes of the checkout from notebooks/, QUANTLAB_NOTES when set, else notes/ under the folder", () => {
  const cwd = process.cwd();
  const env = process.env.QUANTLAB_NOTES;
  const tmp = mkdtempSync(join(tmpdir(), "quantlab-notes-"));
  try {
    delete process.env.QUANTLAB_NOTES;
    process.chdir(join(ROOT, "notebooks"));
    assert.equal(notesFolder(), join(ROOT, "out", "notes"));
    process.chdir(tmp);
    assert.equal(notesFolder(), join(process.cwd(), "notes"));
    process.env.QUANTLAB_NOTES = join(tmp, "mine");
    assert.equal(notesFolder(), join(tmp, "mine"));
  } finally {
    process.chdir(cwd);
    if (env === undefined) delete process.env.QUANTLAB_NOTES;
    else process.env.QUANTLAB_NOTES = env;
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("the notebook's outlier chart plots input channels, where its outliers are", async () => {
  const { readFileSync } = await import("node:fs");
  const { channelRangeChart } = await import("../../src/dsl/charts.js");
  const dsl = await import("../../src/dsl/index.js");
  const nb = JSON.parse(readFileSync(join(ROOT, "notebooks", "day21-quantization.ipynb"), "utf8")) as { cells: { source: string[] | string }[] };
  const cell = nb.cells.map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source)).find((s) => s.includes("channelRangeChart("))!;
  assert.match(cell, /outlier input channels/);
  assert.match(cell, /channelRangeChart\(W, \{ axis: "cols" \}\)/);
  const W = dsl.withOutliers(dsl.randn(64, 256, { seed: 2, std: 0.02 }), { columns: 4, factor: 20, seed: 3 });
  const c = channelRangeChart(W, { axis: "cols" });
  const outliers = c.figure.data[1]!.x as number[];
  assert.equal(outliers.length, 4, "the four scaled input channels, and only they, are red");
  assert.match(JSON.stringify(c.figure.layout.xaxis), /input channel \(column\)/);
});
