/**
 * The GGUF quantizer over a tensor source: a file opened by its header and read tensor by tensor gives
 * byte for byte the file the in-memory path gives (the in-memory path being checked against
 * llama-quantize in mix-llamacpp.test.ts), and the checks that need no data run before any read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { QuantLabError } from "../../src/errors.js";
import { encodeGgufBytes, openGguf, parseGguf, readGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel, quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { quantize } from "../../src/gguf/quants.js";
import { readF32, tensorSourceOf, type TensorSource } from "../../src/gguf/source.js";
import { randn } from "../helpers/random.js";
import { sharedFile } from "../helpers/shared.js";

const stories = sharedFile("stories260K-f32.gguf");

test("stories260K quantized through the header-only source is byte-identical to the in-memory path", { skip: stories.skip }, async () => {
  const file = await readGguf(stories.path);
  for (const mix of ["Q4_K_M", "Q8_0", "Q5_K_S", "F16"]) {
    const src = await openGguf(stories.path);
    try {
      const streamed = encodeGgufBytes((await quantizeTensorSource(src, mix)).content);
      const inMemory = encodeGgufBytes(quantizeGgufModel(file, mix).content);
      assert.equal(streamed.length, inMemory.length, mix);
      assert.ok(Buffer.from(streamed).equals(Buffer.from(inMemory)), `${mix}: the bytes differ`);
    } finally {
      await src.close();
    }
  }
});

test("a source's tensors decode per tensor, and an already-quantized source is refused before its data are read", async () => {
  const w = randn(4 * 256, 5, 0.1);
  const file = parseGguf(encodeGgufBytes({
    metadata: { "general.architecture": "llama" },
    tensors: [{ name: "blk.0.ffn_up.weight", dims: [256, 4], type: "Q4_K", data: quantize("Q4_K", w, 256) }],
  }));
  const mem = tensorSourceOf(file, "q4k.gguf");
  assert.equal((await readF32(mem, "blk.0.ffn_up.weight")).length, 1024);
  await assert.rejects(readF32(mem, "nope"), (e: unknown) => e instanceof QuantLabError && e.code === "NOT_FOUND" && /q4k\.gguf has no tensor 'nope'/.test(e.message));
  let reads = 0;
  // the quantizer reads by rows when the source can: both kinds of read count (one block of 4 rows here)
  const counting: TensorSource = { ...mem, read: async (n) => { reads++; return mem.read(n); }, readRows: async (n, r0, r1, into) => { reads++; return mem.readRows!(n, r0, r1, into); } };
  await assert.rejects(quantizeTensorSource(counting, "Q8_0"), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT" && /already Q4_K/.test(e.message));
  assert.equal(reads, 0, "refused before reading");
  const again = await quantizeTensorSource(counting, "Q8_0", { allowRequantize: true });
  assert.equal(again.content.tensors[0]!.type, "Q8_0");
  assert.equal(reads, 1);
});
