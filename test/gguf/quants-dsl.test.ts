/** The notebook-facing GGUF quantizer: report fields, display bundle, imatrix plumbing, errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ggufQuantize, imatrixFrom } from "../../src/dsl/gguf.js";
import { DISPLAY } from "../../src/display/mime.js";
import { matrix } from "../../src/numerics/matrix.js";
import { dequantize, quantize } from "../../src/gguf/quants.js";
import { randn } from "../helpers/random.js";

const W = matrix(8, 256, randn(8 * 256, 5, 0.05));

test("ggufQuantize reports bits/weight and the round-trip error of llama.cpp's encoding", () => {
  const r = ggufQuantize(W, "Q4_K");
  assert.equal(r.bitsPerWeight, 4.5);
  assert.deepEqual(r.bytes, quantize("Q4_K", W.data, 256));
  assert.deepEqual(r.dequantized.data, dequantize("Q4_K", r.bytes, W.data.length));
  let se = 0;
  for (let i = 0; i < W.data.length; i++) se += (r.dequantized.data[i]! - W.data[i]!) ** 2;
  assert.equal(r.mse, se / W.data.length);
  assert.equal(r.count, W.data.length);
  assert.ok(r.sqnrDb > 15 && r.sqnrDb < 30, String(r.sqnrDb));
  assert.ok(r.relError > 0.03 && r.relError < 0.2, String(r.relError));
  const q8 = ggufQuantize(W, "Q8_0");
  assert.equal(q8.bitsPerWeight, 8.5);
  assert.ok(q8.mse < r.mse / 50, "Q8_0 is far more accurate than Q4_K");
  const f32 = ggufQuantize(W, "F32");
  assert.equal(f32.mse, 0);
  assert.equal(f32.sqnrDb, Infinity);
});

test("the report renders as text and an HTML table", () => {
  const r = ggufQuantize(W, "Q6_K") as unknown as Record<symbol, () => Record<string, string>>;
  const b = r[DISPLAY]!();
  assert.match(b["text/plain"]!, /^GGUF Q6_K, 8 × 256, 1680 bytes\n/);
  assert.match(b["text/plain"]!, /bits per weight\s+6\.56/);
  assert.match(b["text/html"]!, /<table>.*MSE.*<\/table>/);
  assert.ok(!Object.keys(r).includes(String(DISPLAY)), "the renderer is not a JSON-visible field");
});

test("imatrixFrom feeds ggufQuantize; types without imatrix support say so", () => {
  const X = matrix(32, 256, randn(32 * 256, 6));
  const im = imatrixFrom(X);
  assert.equal(im.length, 256);
  const a = ggufQuantize(W, "Q4_K", { imatrix: im });
  assert.equal(a.usedImatrix, true);
  assert.deepEqual(a.bytes, quantize("Q4_K", W.data, 256, im));
  assert.match((a as unknown as Record<symbol, () => Record<string, string>>)[DISPLAY]!()["text/plain"]!, /Q4_K \(imatrix\)/);
  assert.equal(ggufQuantize(W, "Q8_0", { imatrix: im }).usedImatrix, false);
  assert.throws(() => ggufQuantize(W, "Q4_K", { imatrix: new Float32Array(10) }), /10 weights but W has 256 input columns/);
  assert.throws(() => ggufQuantize(matrix(2, 100), "Q4_0"), /not a multiple of 32/);
});
