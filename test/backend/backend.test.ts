import { test } from "node:test";
import assert from "node:assert/strict";
import { backendReport, tf, useBackend } from "../../src/backend/index.js";
import { DISPLAY } from "../../src/display/mime.js";
import { QuantLabError } from "../../src/errors.js";

test("wasm is the default, with SIMD, and the report says why threads are off", async () => {
  const saved = process.env.QUANTLAB_BACKEND;
  delete process.env.QUANTLAB_BACKEND;
  try {
    const r = await useBackend();
    assert.equal(r.active, "wasm");
    assert.equal(r.chosenBy, "default");
    assert.equal(r.candidates.wasm, "active");
    assert.equal(r.candidates.cpu, "available");
    assert.equal(r.wasm?.simd, true);
    assert.ok(r.wasm!.threads >= 1 && r.wasm!.note.length > 0);
    assert.ok(r.wasm!.poolWorkers >= 0);
  } finally {
    if (saved !== undefined) process.env.QUANTLAB_BACKEND = saved;
  }
});

test("QUANTLAB_BACKEND and the option choose; the report renders", async () => {
  process.env.QUANTLAB_BACKEND = "cpu";
  try {
    const r = await useBackend();
    assert.equal(r.active, "cpu");
    assert.equal(r.chosenBy, "QUANTLAB_BACKEND");
    assert.equal(tf.getBackend(), "cpu");
  } finally {
    delete process.env.QUANTLAB_BACKEND;
  }
  const r = await useBackend("wasm");
  assert.equal(r.chosenBy, "option");
  const text = (await backendReport() as unknown as { [DISPLAY](): Record<string, string> })[DISPLAY]()["text/plain"]!;
  assert.match(text, /wasm/);
  assert.match(text, /tensorflow/);
});

test("an unknown or unavailable backend is a clear error and leaves the running one in place", async () => {
  await useBackend("wasm");
  await assert.rejects(useBackend("metal"), (e: QuantLabError) => e.code === "BAD_ARGUMENT" && /use one of wasm, cpu, tensorflow, webgpu/.test(e.message));
  await assert.rejects(useBackend("tensorflow"), (e: QuantLabError) => e.code === "UNSUPPORTED" && /tfjs-node/.test(e.message));
  assert.equal(tf.getBackend(), "wasm");
  const r = await backendReport();
  assert.match(r.candidates.tensorflow, /tfjs-node/);
});

test("the two backends compute the same product", async () => {
  const a = tf.tensor2d(Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i)), [64, 32]);
  const b = tf.tensor2d(Float32Array.from({ length: 32 * 16 }, (_, i) => Math.cos(i)), [32, 16]);
  await useBackend("cpu");
  const c1 = await tf.matMul(a, b).data();
  await useBackend("wasm");
  const a2 = tf.tensor2d(await a.data(), [64, 32]);
  const b2 = tf.tensor2d(await b.data(), [32, 16]);
  const c2 = await tf.matMul(a2, b2).data();
  for (let i = 0; i < c1.length; i++) assert.ok(Math.abs(c1[i]! - c2[i]!) < 1e-4);
});
