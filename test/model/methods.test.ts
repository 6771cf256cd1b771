import { test } from "node:test";
import assert from "node:assert/strict";
import { hessian } from "../../src/algorithms/hessian.js";
import { dequantize } from "../../src/gguf/quants.js";
import { ggufTensorOf } from "../../src/model/quantize/export.js";
import { ggufLinear, importance, parseMethod, quantizerFor } from "../../src/model/quantize/methods.js";
import { rtnLinear } from "../../src/model/quantize/rtn-gptq-awq.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randn } from "../helpers/random.js";

const W = matrix(8, 64, randn(8 * 64, 3, 0.1));

test("RTN 3-bit g32 keeps codes/scales/zeros and is stored losslessly as Q4_1", () => {
  const q = rtnLinear(W, { bits: 3, groupSize: 32 });
  assert.equal(q.grouped!.scales.length, 16);
  assert.ok(Array.from(q.grouped!.codes).every((c) => c >= 0 && c <= 7));
  const t = ggufTensorOf(q);
  assert.equal(t.type, "Q4_1");
  assert.ok(t.lossless);
  const back = dequantize("Q4_1", t.data, W.data.length);
  // equal up to the FP16 rounding of scale and offset
  let m = 0;
  for (let i = 0; i < back.length; i++) m = Math.max(m, Math.abs(back[i] - q.weight.data[i]));
  assert.ok(m < 1e-3, `max diff ${m}`);
});

test("a row the group does not divide gets a short last group, and GGUF export falls back", () => {
  const V = matrix(2, 40, randn(80, 4, 1));
  const q = rtnLinear(V, { bits: 4, groupSize: 32 });
  assert.equal(q.grouped!.scales.length, 4);
  assert.equal(ggufTensorOf(q).type, "F16");
});

test("GGUF types through the workflow interface; incompatible rows fall back to F16", () => {
  const q = ggufLinear(W, "Q4_0");
  assert.equal(q.gguf!.type, "Q4_0");
  assert.deepEqual(q.weight.data, dequantize("Q4_0", q.gguf!.bytes, W.data.length));
  const odd = ggufLinear(matrix(2, 172, randn(344, 5, 1)), "Q4_0");
  assert.equal(odd.gguf!.type, "F16");
  assert.match(odd.format, /row 172/);
});

test("importance is the mean of x² per column; method names parse with clear errors", async () => {
  assert.deepEqual(Array.from(importance(matrix(2, 2, [1, 2, 3, 4]))), [5, 10]);
  assert.deepEqual(parseMethod("q4_0", { bits: 4, groupSize: 32 }), { gguf: "Q4_0" });
  assert.deepEqual(parseMethod("GPTQ", { bits: 3, groupSize: 32 }), { method: "gptq", bits: 3, groupSize: 32 });
  assert.throws(() => parseMethod("rtn", { bits: 9, groupSize: 32 }), /--bits 9 is out of range/);
  assert.throws(() => parseMethod("nope", { bits: 4, groupSize: 32 }), /unknown method 'nope'/);
  const r = await quantizerFor({ method: "rtn", bits: 4, groupSize: 32 })({ layer: 0, names: ["attn_q"], weights: [W], inputs: matrix(1, 64), hessian: () => hessian(matrix(1, 64)) });
  assert.equal(r[0].format, "RTN int4 g32");
});

test("through the workflow interface, GPTQ and AWQ beat RTN at 3 bits on correlated inputs", async () => {
  const W1 = matrix(16, 64, randn(16 * 64, 7, 0.1));
  const base = randn(256 * 8, 8, 1);
  // 256 tokens whose 64 features mix 8 latent factors (strongly correlated), a few channels scaled up
  const mix = randn(8 * 64, 9, 1);
  const X = matrix(256, 64);
  for (let t = 0; t < 256; t++)
    for (let c = 0; c < 64; c++) {
      let s = 0;
      for (let k = 0; k < 8; k++) s += base[t * 8 + k] * mix[k * 64 + c];
      X.data[t * 64 + c] = s * (c % 16 === 0 ? 8 : 1);
    }
  const err = (Q: Float32Array) => {
    let e = 0, n = 0;
    for (let t = 0; t < 256; t++)
      for (let r = 0; r < 16; r++) {
        let y = 0, yq = 0;
        for (let c = 0; c < 64; c++) { y += X.data[t * 64 + c] * W1.data[r * 64 + c]; yq += X.data[t * 64 + c] * Q[r * 64 + c]; }
        e += (y - yq) ** 2; n += y * y;
      }
    return e / n;
  };
  const job = { layer: 0, names: ["ffn_up"] as const, weights: [W1], inputs: X, hessian: () => hessian(X) };
  const [r] = await quantizerFor({ method: "rtn", bits: 3, groupSize: 32 })(job);
  const [g] = await quantizerFor({ method: "gptq", bits: 3, groupSize: 32 })(job);
  const [a] = await quantizerFor({ method: "awq", bits: 3, groupSize: 32 })(job);
  assert.equal(g.format, "GPTQ int3 g32");
  assert.ok(a.inputScales && a.inputScales.length === 64);
  assert.ok(err(g.weight.data) < err(r.weight.data), `gptq ${err(g.weight.data)} rtn ${err(r.weight.data)}`);
  assert.ok(err(a.weight.data) <= err(r.weight.data), `awq ${err(a.weight.data)} rtn ${err(r.weight.data)}`);
});

test("the GGUF exporter reads Q4_1 fitness from the shared shape's spec, not from the codes", async () => {
  const { gptq } = await import("../../src/algorithms/gptq.js");
  const { rtn } = await import("../../src/numerics/rtn.js");
  const { fitsQ4_1 } = await import("../../src/model/quantize/export.js");
  const X = matrix(96, 64, randn(96 * 64, 11, 1));
  const linear = (grouped: import("../../src/numerics/grouped.js").GroupQuantized) => ({ weight: { rows: W.rows, cols: W.cols, data: grouped.dequantized }, format: "t", grouped });
  // GPTQ's grid (codes 0 … 15 by its spec), groups of 32 in column order: lossless Q4_1
  const g = await gptq(W, X, { bits: 4, groupSize: 32, skipOutputError: true });
  assert.equal(fitsQ4_1(linear(g)), true);
  assert.equal(ggufTensorOf(linear(g)).type, "Q4_1");
  // act-order: a column's group is gIdx[c], not ⌊c / 32⌋, so Q4_1's runs of 32 cannot hold it
  const a = await gptq(W, X, { bits: 4, groupSize: 32, actOrder: true, skipOutputError: true });
  assert.ok(Array.from(a.gIdx).some((v, c) => v !== Math.floor(c / 32)), "act-order reorders the groups here");
  assert.equal(fitsQ4_1(linear(a)), false);
  assert.equal(ggufTensorOf(linear(a)).lossless, false);
  // a signed symmetric grid (codes −8 … 7), a 5-bit grid, a codebook: the spec rules each out
  assert.equal(fitsQ4_1(linear(rtn(W, { bits: 4, groupSize: 32, scheme: "symmetric" }))), false);
  assert.equal(fitsQ4_1(linear(rtn(W, { bits: 5, groupSize: 32, convention: "gptq" }))), false);
  assert.equal(fitsQ4_1(linear(rtn(W, { format: "nf4", groupSize: 32 }))), false);
  // GPTQ's symmetric grid is unsigned (zero = 8): it fits
  assert.equal(fitsQ4_1(linear(rtn(W, { bits: 4, groupSize: 64, scheme: "symmetric", convention: "gptq" }))), true);
});
