/**
 * The GGUF container: v3 write → read round trips of every metadata type, the real v1 file, and corrupt
 * or lying headers rejected with BAD_FILE naming the field and byte offset — before any allocation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { QuantLabError } from "../../src/errors.js";
import {
  encodeGgufBytes, parseGguf, readGguf, readGgufHeader, tensorBytes, tensorF32, writeGguf, type GgufValue, type GgufWriteInput,
} from "../../src/gguf/file.js";
import { dequantize, quantize } from "../../src/gguf/quants.js";
import { randn } from "../helpers/random.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const shared = process.env.QUANTLAB_SHARED_DATA ?? join(repoRoot, "..", "shared", "data");
const STORIES = join(shared, "stories260K-f32.gguf");
const storiesMissing = existsSync(STORIES) ? false : `${STORIES} is missing: set QUANTLAB_SHARED_DATA to the shared data folder`;
if (storiesMissing && process.env.CI === "true") throw new Error(storiesMissing);

const nested: GgufValue = {
  type: "ARRAY", itemType: "ARRAY", value: [
    { type: "ARRAY", itemType: "INT16", value: Int16Array.from([-32768, 0, 32767]) },
    { type: "ARRAY", itemType: "STRING", value: ["a", "", "ü€𝄞"] },
    { type: "ARRAY", itemType: "ARRAY", value: [{ type: "ARRAY", itemType: "BOOL", value: [true, false] }] },
    { type: "ARRAY", itemType: "UINT8", value: new Uint8Array(0) },
  ],
};

/** One key per GGUF value type, with the edge values of each. */
export const EVERY_TYPE: [string, GgufValue][] = [
  ["general.architecture", { type: "STRING", value: "llama" }],
  ["t.u8", { type: "UINT8", value: 255 }],
  ["t.i8", { type: "INT8", value: -128 }],
  ["t.u16", { type: "UINT16", value: 65535 }],
  ["t.i16", { type: "INT16", value: -32768 }],
  ["t.u32", { type: "UINT32", value: 4294967295 }],
  ["t.i32", { type: "INT32", value: -2147483648 }],
  ["t.f32", { type: "FLOAT32", value: Math.fround(-1.5e-7) }],
  ["t.bool", { type: "BOOL", value: true }],
  ["t.string", { type: "STRING", value: "Once upon a time — ünïcödé 🦙" }],
  ["t.empty", { type: "STRING", value: "" }],
  ["t.u64", { type: "UINT64", value: 18446744073709551615n }],
  ["t.i64", { type: "INT64", value: -9223372036854775808n }],
  ["t.f64", { type: "FLOAT64", value: Math.PI }],
  ["a.u8", { type: "ARRAY", itemType: "UINT8", value: Uint8Array.from([0, 1, 255]) }],
  ["a.i8", { type: "ARRAY", itemType: "INT8", value: Int8Array.from([-128, 127]) }],
  ["a.u16", { type: "ARRAY", itemType: "UINT16", value: Uint16Array.from([1, 65535]) }],
  ["a.i16", { type: "ARRAY", itemType: "INT16", value: Int16Array.from([-2, 3]) }],
  ["a.u32", { type: "ARRAY", itemType: "UINT32", value: Uint32Array.from([7, 4294967295]) }],
  ["a.i32", { type: "ARRAY", itemType: "INT32", value: Int32Array.from([-1, 2147483647]) }],
  ["a.f32", { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from([0.5, -0, Infinity]) }],
  ["a.bool", { type: "ARRAY", itemType: "BOOL", value: [false, true, true] }],
  ["a.string", { type: "ARRAY", itemType: "STRING", value: ["<unk>", "<s>", "▁the"] }],
  ["a.u64", { type: "ARRAY", itemType: "UINT64", value: BigUint64Array.from([0n, 2n ** 64n - 1n]) }],
  ["a.i64", { type: "ARRAY", itemType: "INT64", value: BigInt64Array.from([-(2n ** 63n), 5n]) }],
  ["a.f64", { type: "ARRAY", itemType: "FLOAT64", value: Float64Array.from([1e300, -2.5]) }],
  ["a.nested", nested],
];

function sampleInput(alignment?: number): GgufWriteInput {
  const w = randn(4 * 256, 7);
  return {
    metadata: new Map(EVERY_TYPE),
    tensors: [
      { name: "w.q4k", dims: [256, 4], type: "Q4_K", data: quantize("Q4_K", w, 256) },
      { name: "norm", dims: [5], type: "F32", data: new Uint8Array(Float32Array.from([1, 2, 3, 4, 5]).buffer) },
      { name: "w.q8", dims: [64, 2], type: "Q8_0", data: quantize("Q8_0", w.subarray(0, 128), 64) },
      { name: "w.f16", dims: [3, 2, 1, 2], type: "F16", data: quantize("F16", w.subarray(0, 12), 3) },
    ],
    ...(alignment ? { alignment } : {}),
  };
}

function expectBadFile(bytes: Uint8Array, ...patterns: RegExp[]): QuantLabError {
  let caught: unknown;
  try {
    parseGguf(bytes);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof QuantLabError, `expected a QuantLabError, got ${String(caught)}`);
  assert.equal(caught.code, "BAD_FILE");
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test("v3 write → read preserves every metadata type, nested arrays included, and the tensors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-"));
  try {
    const input = sampleInput();
    const path = join(dir, "all.gguf");
    await writeGguf(path, input);
    const f = await readGguf(path);
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 32);
    assert.deepEqual([...f.metadata], EVERY_TYPE);
    assert.equal(f.dataOffset % 32, 0);
    for (const [i, t] of input.tensors.entries()) {
      const r = f.tensors[i]!;
      assert.equal(r.name, t.name);
      assert.deepEqual(r.dims, t.dims);
      assert.equal(r.type.name, t.type);
      assert.equal(r.offset % 32, 0);
      assert.deepEqual(tensorBytes(f, t.name), t.data);
    }
    // the file re-encodes to itself: types and order survive a second trip
    const again = encodeGgufBytes({ metadata: f.metadata, tensors: f.tensors.map((t) => ({ ...t, data: tensorBytes(f, t.name) })) });
    assert.deepEqual(again, f.bytes);
    assert.deepEqual(tensorF32(f, "w.q4k"), dequantize("Q4_K", input.tensors[0]!.data, 1024));
    assert.deepEqual(tensorF32(f, "norm"), Float32Array.from([1, 2, 3, 4, 5]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("general.alignment is written, read and honoured for the data section and every tensor", () => {
  const f = parseGguf(encodeGgufBytes(sampleInput(256)));
  assert.equal(f.alignment, 256);
  assert.deepEqual(f.metadata.get("general.alignment"), { type: "UINT32", value: 256 });
  assert.equal(f.dataOffset % 256, 0);
  for (const t of f.tensors) assert.equal(t.offset % 256, 0, t.name);
  const input = sampleInput();
  (input.metadata as Map<string, GgufValue>).set("general.alignment", { type: "UINT32", value: 48 });
  assert.throws(() => encodeGgufBytes(input), (e: QuantLabError) => e.code === "BAD_ARGUMENT" && /power of two/.test(e.message));
});

test("version 2 (same layout as 3) is read; versions 0 and 4 are rejected at byte 4", () => {
  const bytes = encodeGgufBytes(sampleInput());
  const v2 = bytes.slice();
  v2[4] = 2;
  const f = parseGguf(v2);
  assert.equal(f.version, 2);
  assert.equal(f.tensors.length, 4);
  for (const v of [0, 4]) {
    const b = bytes.slice();
    b[4] = v;
    expectBadFile(b, /version at byte 4/);
  }
});

test("plain JS metadata values get llama.cpp's usual types; export.ts-style { type: 'u32' } records are understood", () => {
  const f = parseGguf(encodeGgufBytes({
    metadata: [
      ["s", "x"], ["n", 3], ["neg", -3], ["x", 0.25], ["b", false], ["big", 5n], ["toks", ["a", "b"]], ["ids", [1, -2]], ["sc", [0.5, 1]],
      ["alias.u32", { type: "u32", value: 9 }], ["alias.f32a", { type: "f32[]", value: [1.5] }], ["alias.sa", { type: "string[]", value: ["q"] }],
    ],
    tensors: [],
  }));
  const types = Object.fromEntries([...f.metadata].map(([k, v]) => [k, v.type === "ARRAY" ? `${v.itemType}[]` : v.type]));
  assert.deepEqual(types, {
    s: "STRING", n: "UINT32", neg: "INT32", x: "FLOAT32", b: "BOOL", big: "UINT64", toks: "STRING[]", ids: "INT32[]", sc: "FLOAT32[]",
    "alias.u32": "UINT32", "alias.f32a": "FLOAT32[]", "alias.sa": "STRING[]",
  });
  assert.throws(() => encodeGgufBytes({ metadata: { bad: { type: "UINT8", value: 256 } }, tensors: [] }), /UINT8/);
  assert.throws(() => encodeGgufBytes({ metadata: { mixed: [1, "a"] }, tensors: [] }), /mixed array/);
});

test("writeGguf rejects tensors whose data or rows do not fit their type", () => {
  const base = { metadata: {} };
  assert.throws(() => encodeGgufBytes({ ...base, tensors: [{ name: "a", dims: [64, 2], type: "Q8_0", data: new Uint8Array(10) }] }),
    (e: QuantLabError) => e.code === "BAD_SHAPE" && /needs 136 bytes/.test(e.message));
  assert.throws(() => encodeGgufBytes({ ...base, tensors: [{ name: "a", dims: [64], type: "Q4_K", data: new Uint8Array(36) }] }),
    (e: QuantLabError) => e.code === "BAD_SHAPE" && /block of 256/.test(e.message));
  assert.throws(() => encodeGgufBytes({ ...base, tensors: [{ name: "a", dims: [1], type: "F32", data: new Uint8Array(4) }, { name: "a", dims: [1], type: "F32", data: new Uint8Array(4) }] }),
    /given twice/);
});

test("the real GGUF v1 stories260K: 48 tensors, llama metadata, dims and a 512-piece tokenizer", { skip: storiesMissing }, async () => {
  const f = await readGguf(STORIES);
  assert.equal(f.version, 1);
  assert.equal(f.tensors.length, 48);
  assert.equal(f.alignment, 32);
  assert.equal(f.dataOffset, 11456);
  const meta = (k: string) => f.metadata.get(k);
  assert.deepEqual(meta("general.architecture"), { type: "STRING", value: "llama" });
  assert.deepEqual(meta("llama.block_count"), { type: "UINT32", value: 5 });
  assert.deepEqual(meta("llama.embedding_length"), { type: "UINT32", value: 64 });
  assert.deepEqual(meta("llama.feed_forward_length"), { type: "UINT32", value: 172 });
  assert.deepEqual(meta("llama.attention.head_count_kv"), { type: "UINT32", value: 4 });
  const tokens = meta("tokenizer.ggml.tokens")!;
  assert.equal(tokens.type, "ARRAY");
  assert.equal(tokens.type === "ARRAY" && tokens.itemType, "STRING");
  const pieces = tokens.value as string[];
  assert.equal(pieces.length, 512);
  assert.deepEqual(pieces.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
  const scores = meta("tokenizer.ggml.scores")!.value;
  assert.ok(scores instanceof Float32Array && scores.length === 512, "scores: 512 FLOAT32");
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  assert.deepEqual(byName.get("token_embd.weight")!.dims, [64, 512]);
  assert.deepEqual(byName.get("blk.0.attn_k.weight")!.dims, [64, 32]);
  assert.deepEqual(byName.get("blk.4.ffn_down.weight")!.dims, [172, 64]);
  assert.deepEqual(byName.get("output_norm.weight")!.dims, [64]);
  assert.ok(f.tensors.every((t) => t.type.name === "F32" && t.offset % 32 === 0), "all F32, 32-aligned");
  const last = f.tensors.reduce((a, t) => (t.offset > a.offset ? t : a));
  assert.equal(last.offset + last.nbytes, f.bytes.length);
  const emb = tensorF32(f, "token_embd.weight");
  assert.equal(emb.length, 64 * 512);
  assert.ok(emb.every(Number.isFinite), "finite embedding");
  // v1 → v3: same metadata (with their types) and the same tensor bytes
  const v3 = parseGguf(encodeGgufBytes({ metadata: f.metadata, tensors: f.tensors.map((t) => ({ ...t, data: tensorBytes(f, t.name) })) }));
  assert.equal(v3.version, 3);
  assert.deepEqual([...v3.metadata], [...f.metadata]);
  for (const t of f.tensors) assert.deepEqual(tensorBytes(v3, t.name), tensorBytes(f, t.name));
  assert.throws(() => tensorF32(f, "nope"), (e: QuantLabError) => e.code === "NOT_FOUND" && /token_embd\.weight/.test(e.message));
});

// ---- a hand-built v3 header, to lie about one field at a time ----

class Bytes {
  parts: number[] = [];
  u32(v: number) { for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff); return this; }
  u64(v: bigint) { for (let i = 0n; i < 8n; i++) this.parts.push(Number((v >> (8n * i)) & 0xffn)); return this; }
  str(s: string, len?: bigint) { const b = new TextEncoder().encode(s); this.u64(len ?? BigInt(b.length)); this.parts.push(...b); return this; }
  raw(...b: number[]) { this.parts.push(...b); return this; }
  fill(n: number) { for (let i = 0; i < n; i++) this.parts.push(0); return this; }
  pad() { while (this.parts.length % 32) this.parts.push(0); return this; }
  get bytes() { return Uint8Array.from(this.parts); }
}
const header = (nTensors: bigint, nKv: bigint) => new Bytes().raw(0x47, 0x47, 0x55, 0x46).u32(3).u64(nTensors).u64(nKv);

test("lying headers are rejected naming the field and its byte offset", () => {
  expectBadFile(Uint8Array.from([0x47, 0x47, 0x55]), /too short/, /byte 0/);
  expectBadFile(new TextEncoder().encode("GGML\x03\0\0\0"), /magic at byte 0/);
  expectBadFile(header(1n << 60n, 0n).bytes, /tensor count at byte 8/);
  expectBadFile(header(0n, 1n << 40n).bytes, /metadata count at byte 16/);
  expectBadFile(header(0n, 1n).str("k", 1n << 50n).fill(16).bytes, /metadata key #0 length at byte 24/);
  expectBadFile(header(0n, 1n).str("k").u32(13).bytes, /metadata 'k' type at byte 33/, /not a GGUF value type/);
  expectBadFile(header(0n, 1n).str("k").u32(9).u32(0).u64(1n << 61n).bytes, /metadata 'k' length at byte 41/);
  expectBadFile(header(0n, 1n).str("k").u32(9).u32(8).u64(2n).str("a").u64(1n << 40n).fill(8).bytes, /metadata 'k'\[1\] length at byte 58/);
  expectBadFile(header(0n, 1n).str("k").u32(7).raw(2).bytes, /metadata 'k' at byte 37/, /bool/);
  expectBadFile(header(0n, 1n).u64(1n).raw(0xff).fill(16).bytes, /metadata key #0 at byte 32 is not valid UTF-8/);
  expectBadFile(header(0n, 2n).str("k").u32(4).u32(1).str("k").u32(4).u32(1).bytes, /metadata key 'k'/, /twice/);
  expectBadFile(header(0n, 1n).str("general.alignment").u32(4).u32(24).bytes, /general.alignment is 24/);
  // deep nesting: ARRAY of ARRAY of … until the depth limit, not a stack overflow
  const deep = header(0n, 1n).str("k").u32(9);
  for (let i = 0; i < 70; i++) deep.u32(9).u64(1n);
  deep.u32(0).u64(0n);
  expectBadFile(deep.bytes, /nests arrays more than 64 deep/);
  const tensor = (name: string, dims: bigint[], type: number, offset: bigint) => {
    const b = header(1n, 0n).str(name).u32(dims.length);
    for (const d of dims) b.u64(d);
    return b.u32(type).u64(offset);
  };
  expectBadFile(tensor("t", [1n, 1n, 1n, 1n, 1n], 0, 0n).bytes, /tensor 't' n_dims at byte 33/, /more than ggml's 4/);
  expectBadFile(tensor("t", [1n << 40n], 0, 0n).bytes, /tensor 't' dim 0 at byte 37/, /larger than the whole file/);
  expectBadFile(tensor("t", [8n, 1n << 40n], 0, 0n).bytes, /tensor 't' dim 1 at byte 45/);
  expectBadFile(tensor("t", [4n], 99, 0n).bytes, /tensor 't' type at byte 45/, /99/);
  expectBadFile(tensor("t", [33n], 8, 0n).bytes, /tensor 't' dim 0/, /block of 32/);
  expectBadFile(tensor("t", [4n], 0, 3n).pad().bytes, /tensor 't' offset at byte 49/, /alignment 32/);
  expectBadFile(tensor("t", [4n], 0, 0n).pad().bytes, /tensor 't' offset at byte 49/, /past the end of the file/);
  const ok = tensor("t", [4n], 0, 0n).pad();
  ok.raw(...new Array(16).fill(0));
  assert.deepEqual(parseGguf(ok.bytes).tensors[0]!.dims, [4]);
});

test("every truncation of a valid file fails with BAD_FILE, never another error", () => {
  const bytes = encodeGgufBytes(sampleInput());
  const f = parseGguf(bytes);
  const end = f.tensors.reduce((a, t) => Math.max(a, t.offset + t.nbytes), 0);
  for (let n = 0; n < end; n++) {
    assert.throws(() => parseGguf(bytes.subarray(0, n)), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE", `prefix of ${n} bytes`);
  }
});

test("a header claiming 2^40 array items allocates nothing of that size", () => {
  const lie = header(0n, 1n).str("k").u32(9).u32(6).u64(1n << 40n).bytes;
  const before = process.memoryUsage().arrayBuffers;
  expectBadFile(lie, /metadata 'k' length at byte 41 is 1099511627776/);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 1 << 20, `array buffers grew by ${grown} bytes`);
  // a v1 header's u32 counts are bounded the same way
  const v1 = new Bytes().raw(0x47, 0x47, 0x55, 0x46).u32(1).u32(0).u32(1).u32(1).raw(0x6b).u32(9).u32(6).u32(0xffffffff).bytes;
  expectBadFile(v1, /metadata 'k' length at byte 29 is 4294967295/);
});

test("readGgufHeader reads metadata and tensor infos alone, growing past a 4 MiB header, bounded by the file size", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-"));
  try {
    const path = join(dir, "big-header.gguf");
    const blob = new Uint8Array(5 << 20).map((_, i) => i & 0xff);
    const input = sampleInput();
    const bigTensor = { name: "big", dims: [1024, 2048], type: "F32" as const, data: new Uint8Array(8 << 20) };
    await writeGguf(path, {
      tensors: [...input.tensors, bigTensor],
      metadata: new Map([...(input.metadata as Map<string, GgufValue>), ["blob", { type: "ARRAY", itemType: "UINT8", value: blob }]]),
    });
    const full = await readGguf(path);
    const head = await readGgufHeader(path);
    assert.deepEqual([...head.metadata], [...full.metadata]);
    assert.deepEqual(head.tensors, full.tensors);
    assert.equal(head.dataOffset, full.dataOffset);
    assert.ok(head.bytes.length < full.bytes.length, `header read ${head.bytes.length} of ${full.bytes.length} bytes`);
    assert.throws(() => tensorF32(head, "big"), (e: QuantLabError) => e.code === "UNSUPPORTED" && /readGguf/.test(e.message));
    if (!storiesMissing) {
      const s = await readGgufHeader(STORIES);
      assert.equal(s.version, 1);
      assert.equal(s.tensors.length, 48);
    }
    // a lying tensor offset is still caught against the real file size
    const { writeFileSync } = await import("node:fs");
    const bytes = encodeGgufBytes(input);
    const lie = join(dir, "lie.gguf");
    writeFileSync(lie, bytes.subarray(0, bytes.length - 64));
    await assert.rejects(readGgufHeader(lie), (e: QuantLabError) => e.code === "BAD_FILE" && /past the end of the file/.test(e.message));
    await assert.rejects(readGgufHeader(join(dir, "none.gguf")), (e: QuantLabError) => e.code === "NOT_FOUND");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
