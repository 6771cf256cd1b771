import { test } from "node:test";
import assert from "node:assert/strict";
import { quantize } from "../../src/numerics/rtn.js";
import { matrix } from "../../src/numerics/matrix.js";
import { groupLayout, perBlock } from "../../src/numerics/granularity.js";
import { gaussian, mulberry32 } from "../helpers/random.js";

function outlierMatrix(rows: number, cols: number, seed: number) {
  const g = gaussian(seed);
  const W = matrix(rows, cols, Array.from({ length: rows * cols }, () => g() * 0.02));
  const u = mulberry32(seed + 1);
  for (let k = 0; k < 3; k++) {
    const r = Math.floor(u() * rows);
    for (let c = 0; c < cols; c++) W.data[r * cols + c]! *= 10; // outlier rows
    const c0 = Math.floor(u() * cols);
    for (let r2 = 0; r2 < rows; r2++) W.data[r2 * cols + c0]! *= 25; // outlier columns
  }
  return W;
}

test("with outlier rows and columns: per-group < per-channel < per-tensor MSE (seeded)", () => {
  const W = outlierMatrix(64, 512, 3);
  for (const bits of [3, 4, 8]) {
    const t = quantize(W, { bits, groupSize: "tensor" }).report.mse;
    const c = quantize(W, { bits, groupSize: "channel" }).report.mse;
    const g = quantize(W, { bits, groupSize: 32 }).report.mse;
    assert.ok(g < c && c < t, `${bits} bits: group ${g}, channel ${c}, tensor ${t}`);
  }
});

test("group layout: groups run along rows; blocks tile the matrix", () => {
  const l = groupLayout(2, 8, { kind: "group", size: 4 });
  assert.equal(l.count, 4);
  assert.deepEqual(Array.from(l.runs), [0, 4, 4, 4, 8, 4, 12, 4]);
  const b = groupLayout(4, 4, perBlock(2, 2));
  assert.equal(b.count, 4);
  assert.deepEqual(Array.from(b.runs.subarray(0, 4)), [0, 2, 4, 2]);
});

test("per-block quantization: one scale per tile", () => {
  const W = matrix(4, 4, [1, 2, 100, 200, 3, 4, 300, 400, 0, 0, 0, 0, 0, 0, 0, 8]);
  const q = quantize(W, { bits: 8, scheme: "symmetric", groupSize: perBlock(2, 2) });
  assert.equal(q.scales.length, 4);
  assert.equal(q.scales[0], Math.fround(4 / 127));
  assert.equal(q.scales[1], Math.fround(400 / 127));
});

test("channel granularity equals group size = row length", () => {
  const W = outlierMatrix(8, 64, 5);
  const a = quantize(W, { bits: 4, groupSize: "channel" });
  const b = quantize(W, { bits: 4, groupSize: 64 });
  assert.deepEqual(a.codes, b.codes);
  assert.equal(a.groupsPerRow, 1);
});
