import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { windows } from "../../src/model/runtime/eval.js";
import { fakeQuantKv, kvCacheBytes, kvCacheStudy } from "../../src/model/runtime/kvcache.js";
import { elementFormat } from "../../src/model/runtime/kv-formats.js";
import { randomModel, TINY } from "./helpers.js";

test("KV memory: LLaMA-2-7B FP16 cache is 2 GiB at 4096 tokens; INT8 halves it", () => {
  const c = { nLayers: 32, nKvHeads: 32, dim: 4096, nHeads: 32 };
  assert.equal(kvCacheBytes(c, 4096, 16), 2147483648);
  assert.equal(kvCacheBytes(c, 1, 16), 512 * 1024);
  assert.equal(kvCacheBytes(c, 4096, 8), 1073741824);
  // per-tensor scales: one FP16 scale per layer for K and one for V
  assert.equal(kvCacheBytes(c, 4096, 8, "tensor"), 1073741824 + 32 * 2 * 2);
});

test("granularity decides which elements share a scale", () => {
  // T=2 tokens, H=1 head, D=2 channels: token 0 = [1, 0.5], token 1 = [100, -50]
  const x = Float32Array.from([1, 0.5, 100, -50]);
  const int4 = elementFormat("INT4"); // grid −7 … 7
  // per token: token 0 scale 1/7 → exact on its own grid
  const tok = fakeQuantKv(x, [2, 1, 2], int4, "token");
  assert.ok(Math.abs(tok[0] - 1) < 1e-3 && Math.abs(tok[2] - 100) < 0.05);
  // per tensor: scale 100/7 ≈ 14.29 swallows token 0 entirely
  const ten = fakeQuantKv(x, [2, 1, 2], int4, "tensor");
  assert.equal(ten[0], 0);
  assert.equal(ten[1], 0);
  // per channel: channel 0 absmax 100, channel 1 absmax 50
  const ch = fakeQuantKv(x, [2, 1, 2], int4, "channel");
  assert.equal(ch[0], 0);
  assert.ok(Math.abs(ch[3] + 50) < 0.05);
  assert.throws(() => fakeQuantKv(x, [3, 1, 2], int4, "token"), /shape 3×1×2 needs 6/);
  assert.throws(() => elementFormat("INT5"), /unknown KV cache format 'INT5'/);
});

test("FP8 caches round onto the E4M3 / E5M2 grids and saturate", () => {
  const e4 = elementFormat("FP8_E4M3"), e5 = elementFormat("fp8-e5m2");
  assert.equal(e4.maxValue, 448);
  assert.equal(e5.maxValue, 57344);
  assert.equal(e4.round(1000), 448);
  assert.equal(e4.round(1.0625), 1); // E4M3 step at 1 is 0.125: 1.0625 ties to even (1.0)
  assert.equal(e5.round(1.2), 1.25); // E5M2 step at 1 is 0.25
  // per-tensor FP8: absmax maps to 448, up to the FP16 rounding of the stored scale 2/448
  const y = fakeQuantKv(Float32Array.from([2, -1, 0.5, 0.001]), [1, 1, 4], e4, "tensor");
  assert.ok(Math.abs(y[0] - 2) < 2 * 2 ** -11 && Math.abs(y[2] - 0.5) < 0.5 * 2 ** -11);
});

test("KV study: errors grow as bits shrink, FP32 row is exact, memory shrinks", async () => {
  const m = randomModel(TINY, 11);
  const rt = await LlamaRuntime.create(m);
  const text = Array.from({ length: 40 }, (_, i) => 3 + ((i * 7) % 17));
  const wins = windows(text, 1, 16);
  const r = kvCacheStudy(rt, wins, [{ format: "INT8", granularity: "token" }, { format: "INT4", granularity: "token" }, { format: "FP8_E4M3", granularity: "tensor" }], 1);
  const [fp, i8, i4, f8] = r.rows;
  assert.ok(f8.kRelError > i8.kRelError && f8.kRelError < i4.kRelError);
  assert.equal(fp.attnRelError, 0);
  assert.equal(fp.tokens, 40);
  assert.ok(i8.kRelError > 0 && i8.kRelError < i4.kRelError);
  assert.ok(i8.attnRelError < i4.attnRelError);
  assert.ok(i8.bytes < fp.bytes / 3 && i4.bytes < i8.bytes);
  assert.ok(Math.abs(i8.perplexity / fp.perplexity - 1) < 0.01);
  assert.match(String((r as never as { [k: symbol]: () => { "text/plain": string } })[Symbol.for("Jupyter.display")]()["text/plain"]), /INT4/);
  rt.dispose();
});
