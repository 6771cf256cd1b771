import { test } from "node:test";
import assert from "node:assert/strict";
import { clipSearchJs, clipSearchWasm, scaleLossesJs, scaleLossesWasm } from "../../src/algorithms/awq-search.js";
import { layerSpec, type LayerQuantOptions } from "../../src/algorithms/layer-spec.js";
import { meanAbs } from "../../src/algorithms/hessian.js";
import { useBackend } from "../../src/backend/index.js";
import { inputs, weights } from "./helpers.js";

await useBackend("wasm");

const cases: [string, number, number, LayerQuantOptions][] = [
  ["4-bit group 64, asymmetric", 24, 256, { bits: 4, groupSize: 64 }],
  ["3-bit group 128, symmetric", 13, 256, { bits: 3, groupSize: 128, scheme: "symmetric" }],
  ["a padded last group (200 columns, group 64)", 10, 200, { bits: 4, groupSize: 64, pad: true }],
];

cases.forEach(([name, rows, cols, o], k) => {
  test(`the WebAssembly grid points give the JavaScript losses and clip bounds exactly: ${name}`, async () => {
    const { rs, gs } = layerSpec(cols, o, "awq");
    const W = weights(rows, cols, 60 + k);
    const X = inputs(96, cols, 70 + k, { every: 19 });
    const xm = meanAbs(X);
    const candidates = [0, 0.3, 0.7].map((r) => Float32Array.from(xm, (v) => Math.max(v ** r, 1e-4)));
    const w = await scaleLossesWasm(rs, W.data, rows, cols, gs, X, candidates);
    assert.ok(w, "the kernel ran (dist/wasm/awq.wasm built)");
    const j = await scaleLossesJs(rs, W.data, rows, cols, gs, X, candidates);
    assert.deepEqual(w, j);
    assert.ok(j.every((v) => v > 0 && Number.isFinite(v)));
    const Wsc = Float32Array.from(W.data, (v, i) => v * candidates[1]![i % cols]!);
    const cw = await clipSearchWasm(rs, Wsc, rows, cols, gs, X);
    const cj = await clipSearchJs(rs, Wsc, rows, cols, gs, X);
    assert.deepEqual(cw, cj);
    // some groups are clipped below their absmax (the search is not a no-op)
    let clipped = 0;
    for (let r = 0; r < rows; r++) for (let g = 0; g < cw!.length / rows; g++) {
      let amax = 0;
      for (let c = g * gs; c < Math.min(cols, (g + 1) * gs); c++) amax = Math.max(amax, Math.abs(Wsc[r * cols + c]!));
      if (cw![r * (cw!.length / rows) + g]! < amax) clipped++;
    }
    assert.ok(clipped > 0);
  });
});
