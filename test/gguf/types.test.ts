/**
 * The GGUF traits table: every size, list and fallback the rest of QuantLab uses is derived from it,
 * so these checks are what keeps a new entry consistent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { encodeGgufBytes, parseGguf, tensorF32 } from "../../src/gguf/file.js";
import { imatrixFromActivations, readImatrix, writeImatrix } from "../../src/gguf/imatrix.js";
import { inspectGguf } from "../../src/gguf/inspect.js";
import { DISPLAY } from "../../src/display-protocol.js";
import { fallbackType } from "../../src/gguf/mix.js";
import { quantize } from "../../src/gguf/quants.js";
import { DECODABLE_TYPES, GGML_TYPES, GGUF_TYPE_NAMES, GGUF_TYPES, ggmlTypeById, ggufType, IMATRIX_TYPES, rowBytes } from "../../src/gguf/types.js";
import { ggufLinear } from "../../src/model/quantize/methods.js";

test("ids and names are unique, GGML_TYPES holds every encodable type, and bits per weight follow from the layout", () => {
  assert.equal(new Set(GGML_TYPES.map((t) => t.id)).size, GGML_TYPES.length);
  assert.equal(new Set(GGML_TYPES.map((t) => t.name)).size, GGML_TYPES.length);
  for (const t of GGUF_TYPES) {
    assert.equal(ggmlTypeById(t.id), t, t.name);
    assert.equal(t.bitsPerWeight, (t.typeSize * 8) / t.blockSize, t.name);
  }
  for (const t of GGML_TYPES) assert.equal(t.bitsPerWeight, (t.typeSize * 8) / t.blockSize, t.name);
  // the decode-only types are ggml types too, and every encodable type decodes
  for (const t of DECODABLE_TYPES) assert.equal(ggmlTypeById(t.id), t, t.name);
  assert.deepEqual(DECODABLE_TYPES.filter((t) => t.encodable).map((t) => t.name), GGUF_TYPE_NAMES);
  assert.equal(ggufType("q4_k")!.bitsPerWeight, 4.5);
  assert.equal(ggufType("Q6_K")!.typeSize, 210);
});

test("each type's block code writes exactly rowBytes and reads them back to the row length", () => {
  const n = 512;
  const x = Float32Array.from({ length: 2 * n }, (_, i) => Math.sin(i) * (1 + (i % 7)));
  for (const t of GGUF_TYPES) {
    const bytes = quantize(t.name, x, n);
    assert.equal(bytes.length, 2 * rowBytes(t, n), t.name);
    const y = new Float32Array(2 * n);
    t.dequantize(bytes, 0, y, 0, 2 * n);
    assert.ok(y.every(Number.isFinite), t.name);
  }
});

test("IMATRIX_TYPES are exactly the types with an importance-matrix quantizer, and an imatrix changes their bytes", () => {
  assert.deepEqual(IMATRIX_TYPES, GGUF_TYPES.filter((t) => t.quantizeImatrix).map((t) => t.name));
  const n = 256;
  const x = Float32Array.from({ length: 4 * n }, (_, i) => Math.cos(i * 0.37) * (i % 11 === 0 ? 5 : 1));
  const im = Float32Array.from({ length: n }, (_, j) => (j % 5 === 0 ? 40 : 0.5));
  for (const t of GGUF_TYPES) {
    const same = Buffer.compare(Buffer.from(quantize(t.name, x, n, im)), Buffer.from(quantize(t.name, x, n))) === 0;
    assert.equal(!same, t.usesImatrix, t.name);
  }
});

test("an unknown type's message lists every encodable type, from the table", () => {
  assert.throws(() => quantize("Q7_K" as never, new Float32Array(256), 256), (e: unknown) =>
    e instanceof QuantLabError && e.code === "BAD_ARGUMENT" && GGUF_TYPE_NAMES.every((n) => e.message.includes(n)));
});

test("one fallback rule: the traits' fallback, then F16; it fits a row the original block does not", () => {
  assert.equal(fallbackType("Q4_K", 64), "Q5_0");
  assert.equal(fallbackType("Q5_K", 96), "Q5_1");
  assert.equal(fallbackType("Q6_K", 32), "Q8_0");
  assert.equal(fallbackType("Q4_K", 256), "Q4_K");
  assert.equal(fallbackType("Q4_0", 172), "F16");
  assert.equal(fallbackType("Q4_K", 172), "F16");
  for (const t of GGUF_TYPES) {
    if (!t.fallback) continue;
    const fb = ggufType(t.fallback);
    assert.ok(fb, `${t.name}'s fallback ${t.fallback} is encodable`);
    assert.ok(fb.blockSize < t.blockSize && t.blockSize % fb.blockSize === 0, `${t.name} → ${fb.name}`);
  }
  // the model workflow follows it too (it used to go straight to F16)
  const W = { rows: 2, cols: 64, data: Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)) };
  const q = ggufLinear(W, "Q4_K");
  assert.equal(q.gguf!.type, "Q5_0");
  assert.match(q.format, /Q5_0 \(row 64 ∤ 256\)/);
});

test("importance weights written as llama.cpp's imatrix GGUF read back exactly", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-imatrix-rw-"));
  try {
    const X = Float32Array.from({ length: 40 * 8 }, (_, i) => Math.sin(i * 1.3) * (i % 8));
    const ims = new Map([["blk.0.attn_q.weight", imatrixFromActivations(X, 8)], ["blk.0.ffn_up.weight", Float32Array.of(1, 2, 3)]]);
    const path = join(dir, "imatrix.gguf");
    await writeImatrix(path, ims);
    const back = await readImatrix(path);
    assert.deepEqual([...back.keys()], [...ims.keys()]);
    for (const [k, v] of ims) assert.deepEqual(back.get(k), v);
    await assert.rejects(writeImatrix(join(dir, "empty.gguf"), new Map()), /no importance weights/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file with a type QuantLab has no block code for is read and sized, and inspect says it cannot decode it", () => {
  const q8k = new Uint8Array(2 * 292).fill(7); // two Q8_K super-blocks (llama.cpp's dot-product intermediate)
  const file = parseGguf(encodeGgufBytes({
    metadata: new Map(),
    tensors: [
      { name: "a", dims: [256, 2], type: "Q8_K", data: q8k },
      { name: "b", dims: [32, 1], type: "IQ4_NL", data: quantize("IQ4_NL", Float32Array.from({ length: 32 }, (_, i) => i - 16), 32) },
    ],
  }));
  const r = inspectGguf(file);
  assert.deepEqual(r.undecodable, ["Q8_K"]);
  assert.deepEqual(r.decodeOnly, []);
  assert.equal(r.tensors[0]!.bytes, 584);
  assert.equal(r.tensors[0]!.bitsPerWeight, 9.125);
  const shown = (r as unknown as { [DISPLAY](): { "text/plain": string; "text/html": string } })[DISPLAY]();
  assert.deepEqual(r.undecodableTensors, ["a"]);
  assert.deepEqual(r.tensors.map((t) => t.decodable), [false, true]);
  assert.match(shown["text/plain"], /cannot decode 1 tensor \(Q8_K: a\): QuantLab has no block code for these types/);
  assert.match(shown["text/plain"], /\n {2}a +Q8_K \(size only\) +\[256, 2\]/);
  assert.match(shown["text/plain"], /\n {2}b +IQ4_NL +\[32, 1\]/);
  assert.match(shown["text/html"], /all but Q8_K \(1 tensor, marked &quot;size only&quot;\)/);
  assert.throws(() => tensorF32(file, "a"), (e: unknown) => e instanceof QuantLabError && e.code === "UNSUPPORTED" && /Q6_K, IQ2_XXS, .*IQ4_NL/.test(e.message));
  assert.equal(tensorF32(file, "b").length, 32);
});

test("an IQ2_XXS tensor is no longer 'size only': inspect marks it decoded bit-exact but decode-only, and it dequantizes", () => {
  const iq2 = new Uint8Array(2 * 66).fill(7); // two IQ2_XXS super-blocks
  const file = parseGguf(encodeGgufBytes({ metadata: new Map(), tensors: [{ name: "a", dims: [256, 2], type: "IQ2_XXS", data: iq2 }] }));
  const r = inspectGguf(file);
  assert.deepEqual(r.undecodable, []);
  assert.deepEqual(r.undecodableTensors, []);
  assert.deepEqual(r.decodeOnly, ["IQ2_XXS"]);
  assert.deepEqual(r.tensors.map((t) => [t.decodable, t.encodable]), [[true, false]]);
  const shown = (r as unknown as { [DISPLAY](): { "text/plain": string; "text/html": string } })[DISPLAY]();
  assert.doesNotMatch(shown["text/plain"], /size only|cannot decode/);
  assert.match(shown["text/plain"], /\nIQ2_XXS: decoded bit-exact with llama\.cpp .*but decode-only: llama\.cpp's quantizers for these i-quants search lattice codebooks/);
  assert.match(shown["text/plain"], /\n {2}a +IQ2_XXS \(decode only\) +\[256, 2\]/);
  assert.match(shown["text/html"], /every tensor/);
  assert.match(shown["text/html"], /decode only/);
  assert.equal(tensorF32(file, "a").length, 512);
});
