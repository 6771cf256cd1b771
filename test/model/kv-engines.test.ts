/**
 * KV caches as engines quantize them: KIVI's full-precision window is lossless when it covers the
 * sequence, the windowed attention agrees with the runtime's, keys before RoPE and rotated keys,
 * asymmetric 2/4-bit groups, the spec string and the bytes per token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { fakeQuantKv, kvBytesPerToken, kvQuantHook, parseKvCacheSpec, kvSpecLabel } from "../../src/model/runtime/kvcache.js";
import { elementFormat } from "../../src/model/runtime/kv-formats.js";
import { windowedAttention } from "../../src/model/runtime/kv-attention.js";
import { tf } from "../../src/model/runtime/tf.js";
import { QuantLabError } from "../../src/errors.js";
import { randomModel, TINY } from "./helpers.js";

const TOKENS = [1, 5, 9, 2, 7, 3, 11, 4, 6, 8, 10, 12];

const relDiff = (a: Float32Array, b: Float32Array) => {
  let e = 0, n = 0;
  a.forEach((v, i) => { e += (v - b[i]) ** 2; n += b[i] ** 2; });
  return e / n;
};

test("KIVI with a full-precision window as long as the sequence is lossless (bit-identical logits); shorter windows are not", async () => {
  const rt = await LlamaRuntime.create(randomModel(TINY, 5));
  const base = rt.forward(TOKENS).dataSync() as Float32Array;
  for (const text of [`uint2:channel,uint2:token,window=${TOKENS.length}`, `int2:channel,int2:token,window=${TOKENS.length + 3},pre-rope`]) {
    const l = rt.forward(TOKENS, kvQuantHook(parseKvCacheSpec(text))).dataSync() as Float32Array;
    assert.deepEqual(l, base, text);
  }
  const short = rt.forward(TOKENS, kvQuantHook(parseKvCacheSpec("uint2:channel,uint2:token,window=4"))).dataSync() as Float32Array;
  const none = rt.forward(TOKENS, kvQuantHook(parseKvCacheSpec("uint2:channel,uint2:token"))).dataSync() as Float32Array;
  assert.ok(relDiff(short, base) > 0);
  assert.ok(relDiff(short, base) < relDiff(none, base), `${relDiff(short, base)} vs ${relDiff(none, base)}`);
  rt.dispose();
});

test("the windowed attention reading one copy is the runtime's attention (logits to 1e-6); window=1 sits between none and all", async () => {
  const rt = await LlamaRuntime.create(randomModel(TINY, 7));
  const base = rt.forward(TOKENS).dataSync() as Float32Array;
  const same = rt.forward(TOKENS, {
    attention: (_l, q, k, v, rope) => { const kr = rope(k); return windowedAttention(rope(q), kr, kr, v, v, 0); },
  }).dataSync() as Float32Array;
  same.forEach((x, i) => assert.ok(Math.abs(x - base[i]) <= 1e-6 * (1 + Math.abs(base[i])), `logit ${i}`));
  const spec = parseKvCacheSpec("int4:head,int4:token");
  assert.ok(kvQuantHook(spec).kv && !kvQuantHook(spec).attention);
  assert.ok(kvQuantHook({ ...spec, window: 1 }).attention);
  const none = relDiff(rt.forward(TOKENS, kvQuantHook(spec)).dataSync() as Float32Array, base);
  const w1 = relDiff(rt.forward(TOKENS, kvQuantHook({ ...spec, window: 1 })).dataSync() as Float32Array, base);
  assert.ok(w1 > 0 && w1 < none, `${w1} vs ${none}`);
  const pre = relDiff(rt.forward(TOKENS, kvQuantHook(parseKvCacheSpec("int4:channel,int4:token,pre-rope"))).dataSync() as Float32Array, base);
  assert.ok(pre > 0 && pre < 0.5, `${pre}`);
  rt.dispose();
});

test("asymmetric UINT2/UINT4 groups: a constant group is exact, a group's min and max come back to FP16 rounding", () => {
  const fmt = elementFormat("uint2");
  assert.equal(fmt.asymmetric, true);
  assert.equal(fmt.maxValue, 3);
  const x = Float32Array.from([0.5, 0.5, 0.5, 0.5, -1, 2, 0.25, 1]);
  const q = fakeQuantKv(x, [2, 1, 4], fmt, "token");
  assert.deepEqual(Array.from(q.slice(0, 4)), [0.5, 0.5, 0.5, 0.5]);
  assert.ok(Math.abs(q[4] + 1) < 1e-3 && Math.abs(q[5] - 2) < 2e-3, `${q[4]} ${q[5]}`);
  // Symmetric INT2 has codes −1, 0, 1 only.
  const s = fakeQuantKv(x.slice(4), [1, 1, 4], elementFormat("int2"), "token");
  assert.ok(Array.from(s).every((v) => v === 0 || Math.abs(Math.abs(v) - 2) < 2e-3));
});

test("per-channel scales in groups of G tokens; rotated keys spread an outlier channel (lower key error at 4 bits)", () => {
  const T = 8, H = 1, D = 16;
  const x = Float32Array.from({ length: T * H * D }, (_, i) => Math.sin(i * 0.91) * (i % D === 3 ? 30 : 1) * (i < 4 * D ? 1 : 10));
  const fmt = elementFormat("int4");
  const err = (q: Float32Array) => relDiff(q, x);
  assert.ok(err(fakeQuantKv(x, [T, H, D], fmt, "channel", 4)) < err(fakeQuantKv(x, [T, H, D], fmt, "channel")));
  // Keys [T, 2 heads, 16] with channel 3 of every head 30× the rest: per-token INT4 spends its range on it.
  const k = tf.tensor3d(Float32Array.from({ length: T * 2 * D }, (_, i) => Math.cos(i * 1.3) * (i % D === 3 ? 30 : 1)), [T, 2, D]);
  const v = tf.tensor3d(new Float32Array(T * 2 * D).fill(1), [T, 2, D]);
  const plain = { kErr: 0, vErr: 0, kNorm: 0, vNorm: 0 }, rot = { kErr: 0, vErr: 0, kNorm: 0, vNorm: 0 };
  kvQuantHook(parseKvCacheSpec("int4:token"), plain).kv!(0, k, v);
  kvQuantHook(parseKvCacheSpec("int4:token,rotate"), rot).kv!(0, k, v);
  assert.equal(rot.kNorm, plain.kNorm);
  assert.ok(rot.kErr < plain.kErr / 2, `${rot.kErr} vs ${plain.kErr}`);
  k.dispose();
  v.dispose();
});

test("--kv-cache specs parse (labels round-trip) and wrong ones name the fix; bytes per token by hand", () => {
  const s = parseKvCacheSpec("int4:channel,int4:token,window=32");
  assert.deepEqual(s, { k: { format: "int4", granularity: "channel" }, v: { format: "int4", granularity: "token" }, window: 32 });
  assert.deepEqual(parseKvCacheSpec(kvSpecLabel(s)), s);
  assert.deepEqual(parseKvCacheSpec("fp8-e4m3:head").v, { format: "fp8-e4m3", granularity: "head" });
  assert.equal(parseKvCacheSpec("uint2:channel,uint2:token,pre-rope,group=16").preRope, true);
  for (const bad of ["int4", "int4:row", "int4:channel,int4:token,fp8:head", "int4:channel,window=x", "int4:channel,size=3", "int9:token"])
    assert.throws(() => parseKvCacheSpec(bad), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT", bad);
  // 2 layers, 2 KV heads × 4 dims: int4 per channel (8 FP16 scales over 64 tokens) + int4 per token (one FP16 scale),
  // the 32 most recent of 64 tokens in FP16.
  const cfg = { nLayers: 2, nKvHeads: 2, dim: 16, nHeads: 4 };
  const quant = (8 * 4) / 8 + (8 / 64) * 2 + (8 * 4) / 8 + 2, full = 2 * 8 * 2;
  assert.ok(Math.abs(kvBytesPerToken(cfg, s, 64) - 2 * (32 * quant + 32 * full) / 64) < 1e-12);
});

test("a windowed or pre-RoPE KV spec refuses an incremental cache instead of silently skipping it", async () => {
  const { KvCache } = await import("../../src/model/runtime/forward.js");
  const rt = await LlamaRuntime.create(randomModel(TINY, 5));
  const cache = new KvCache(TINY.nLayers);
  assert.throws(() => rt.forward([1, 2, 3], kvQuantHook(parseKvCacheSpec("int4:channel,int4:token,window=2")), cache),
    (e: unknown) => e instanceof QuantLabError && /without an incremental cache/.test(e.message));
  cache.dispose();
  rt.dispose();
});
