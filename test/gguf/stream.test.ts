import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { encodeGgufBytes, openGguf, writeGguf, writeGgufStream, type GgufTensorInput } from "../../src/gguf/file.js";
import { quantizeTensorSource, quantizeTensorSourceToFile } from "../../src/gguf/model-quantize.js";
import { quantize } from "../../src/gguf/quants.js";
import { openAtomicStream } from "../../src/io/atomic-stream.js";
import { randn } from "../helpers/random.js";
import { sharedFile } from "../helpers/shared.js";

const tensors = (): GgufTensorInput[] => {
  const x = randn(256 * 3, 7);
  return [
    { name: "a", dims: [5], type: "F32", data: new Uint8Array(randn(5, 1).buffer) },
    { name: "q", dims: [256, 3], type: "Q4_K", data: quantize("Q4_K", x, 256) },
    { name: "b", dims: [3, 2], type: "F32", data: new Uint8Array(randn(6, 2).buffer) },
    { name: "q8", dims: [32, 3], type: "Q8_0", data: quantize("Q8_0", x.subarray(0, 96), 32) },
  ];
};
const meta = { "general.architecture": "llama", "general.name": "stream", vocab: ["a", "b", "c"], "general.alignment": { type: "UINT32", value: 64 } };

test("a streamed GGUF is byte for byte the one written whole, and only the asked-for tensor is produced at each step", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-stream-"));
  try {
    const ts = tensors();
    const asked: number[] = [];
    await writeGgufStream(join(dir, "s.gguf"), { metadata: meta, tensors: ts.map(({ data: _, ...h }) => h) }, async (i, t) => {
      asked.push(i);
      assert.equal(t.name, ts[i]!.name);
      return ts[i]!.data;
    });
    assert.deepEqual(asked, [0, 1, 2, 3]);
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, "s.gguf"))), encodeGgufBytes({ metadata: meta, tensors: ts }));
    assert.deepEqual(readdirSync(dir), ["s.gguf"], "no partial file is left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failed stream leaves the old file in place and no partial file; a wrong-sized tensor is named", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-stream-"));
  try {
    const path = join(dir, "s.gguf");
    writeFileSync(path, "old");
    const ts = tensors();
    const headers = ts.map(({ data: _, ...h }) => h);
    await assert.rejects(writeGgufStream(path, { metadata: meta, tensors: headers }, async (i) => {
      if (i === 2) throw new Error("disk on fire");
      return ts[i]!.data;
    }), /disk on fire/);
    assert.equal(readFileSync(path, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["s.gguf"]);
    await assert.rejects(writeGgufStream(path, { metadata: meta, tensors: headers }, async (i) => (i === 1 ? ts[1]!.data.subarray(1) : ts[i]!.data)),
      (e: unknown) => e instanceof QuantLabError && e.code === "BAD_SHAPE" && /tensor 'q' \(Q4_K \[256, 3\]\) needs 432 bytes of data, got 431/.test(e.message));
    assert.equal(readFileSync(path, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["s.gguf"]);
    // a header that cannot be written is refused before a file is opened
    await assert.rejects(writeGgufStream(join(dir, "bad.gguf"), { metadata: meta, tensors: [{ name: "x", dims: [31], type: "Q8_0" }] }, async () => new Uint8Array(0)),
      /rows of 31, not a multiple of Q8_0's block of 32/);
    assert.equal(existsSync(join(dir, "bad.gguf")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the atomic stream writes large buffers whole, and refuses writes after commit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-stream-"));
  try {
    const path = join(dir, "big.bin");
    const w = await openAtomicStream(path);
    const big = new Uint8Array(3 << 20).map((_, i) => i * 31);
    await w.write(big);
    await w.write(big.subarray(0, 7));
    assert.equal(w.length, big.length + 7);
    assert.equal(existsSync(path), false, "nothing at the target before commit");
    await w.commit();
    const got = readFileSync(path);
    assert.equal(got.length, big.length + 7);
    assert.deepEqual(new Uint8Array(got.subarray(0, big.length)), big);
    await assert.rejects(w.write(big), /already finished/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const stories = sharedFile("stories260K-f32.gguf");

test("quantizing stories260K straight to a file gives the bytes of the in-memory quantization written whole", { skip: stories.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-stream-"));
  try {
    for (const mix of ["Q4_K_M", "Q8_0", "Q5_0"]) {
      const src = await openGguf(stories.path);
      const done: number[] = [];
      let planned = 0;
      try {
        await quantizeTensorSourceToFile(src, mix, join(dir, `${mix}-stream.gguf`), {
          onPlan: (p) => (planned = p.choices.length),
          onTensor: (n, total) => { done.push(n); assert.equal(total, 48); },
        });
        await writeGguf(join(dir, `${mix}-whole.gguf`), (await quantizeTensorSource(src, mix)).content);
      } finally {
        await src.close();
      }
      assert.equal(planned, 48);
      assert.deepEqual(done, Array.from({ length: 48 }, (_, i) => i + 1));
      assert.ok(readFileSync(join(dir, `${mix}-stream.gguf`)).equals(readFileSync(join(dir, `${mix}-whole.gguf`))), `${mix}: identical files`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
