import { test } from "node:test";
import assert from "node:assert/strict";
import { kvCache, weightMemory, modelPreset, memoryTable } from "../../src/numerics/memory.js";

test("LLaMA-2-7B KV cache at 4096 tokens, batch 1: FP16 = 2,147,483,648 bytes; INT8 and FP8 half", () => {
  assert.equal(kvCache("llama-2-7b", { context: 4096, batch: 1, dtype: "fp16" }).bytes, 2_147_483_648);
  assert.equal(kvCache("llama-2-7b", { context: 1 }).bytesPerToken, 512 * 1024);
  assert.equal(kvCache("llama-2-7b", { context: 4096, dtype: "int8" }).bytes, 1_073_741_824);
  assert.equal(kvCache("llama-2-7b", { context: 4096, dtype: "fp8" }).bytes, 1_073_741_824);
});

test("grouped-query attention shrinks the cache: Llama-3-8B has 8 KV heads", () => {
  assert.equal(kvCache("llama-3-8b", { context: 4096 }).bytes, 2_147_483_648 / 4);
  assert.equal(modelPreset("Llama-2-70B").kvHeads, 8);
  assert.equal(modelPreset("mistral-7b").kvHeads, 8);
  assert.equal(kvCache("llama-3-70b", { context: 32768 }).bytes, 2 * 80 * 8 * 128 * 32768 * 2);
  assert.throws(() => modelPreset("gpt-5"), /unknown model 'gpt-5'/);
  assert.throws(() => kvCache("llama-2-7b", { context: 0 }), /context must be a positive integer/);
});

test("weights with group overhead: INT4 + FP16 scale + 4-bit zero per 128 = 4.15625 bits", () => {
  const m = weightMemory({ params: 7e9, format: "int4", groupSize: 128 });
  assert.equal(m.bitsPerParam, 4 + 20 / 128);
  assert.equal(m.bytes, Math.ceil((7e9 * 4.15625) / 8));
  assert.equal(weightMemory({ params: 7e9, format: "fp16" }).bytes, 14e9);
  assert.equal(weightMemory({ params: 1e9, format: "nf4", groupSize: 64 }).bitsPerParam, 4.5);
  assert.ok(Math.abs(weightMemory({ params: 1e9, format: "nf4", groupSize: 64, doubleQuant: true }).bitsPerParam - 4.127) < 0.001);
  assert.throws(() => weightMemory({ params: -1 }), /params must be a positive number/);
});

test("the memory table lists the course's formats", () => {
  const t = memoryTable(7e9);
  assert.deepEqual(t.map((r) => r.bytes / 7e9), [4, 2, 2, 1, 1, 0.5, 0.5]);
});
