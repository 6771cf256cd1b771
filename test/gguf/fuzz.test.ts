/**
 * Seeded, bounded mutation fuzzing of the GGUF reader: every mutant of a valid file (bit flips, bytes
 * overwritten with boundary values, lengths and counts replaced by huge ones, truncations, insertions
 * and deletions) must either parse — and then every tensor must decode — or throw QuantLabError. A
 * RangeError, TypeError or out-of-memory from a lying length fails the test. The corpus also holds a
 * tokenizer written with 64-bit integer arrays (read through the model's vocabulary loader) and a file of
 * arrays nested in arrays.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { QuantLabError } from "../../src/errors.js";
import { encodeGgufBytes, parseGguf, tensorF32, type GgufValue } from "../../src/gguf/file.js";
import { quantize } from "../../src/gguf/quants.js";
import { ggufTokenizer } from "../../src/model/formats/gguf.js";
import { mutate } from "../helpers/mutate.js";
import { mulberry32, randn } from "../helpers/random.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const STORIES = join(process.env.QUANTLAB_SHARED_DATA ?? join(repoRoot, "..", "shared", "data"), "stories260K-f32.gguf");

interface Tally { parsed: number; rejected: number }

function fuzz(seed: number, src: Uint8Array, iterations: number, hot: number, decode: boolean): Tally {
  const rand = mulberry32(seed);
  const tally: Tally = { parsed: 0, rejected: 0 };
  for (let i = 0; i < iterations; i++) {
    const m = mutate(src, rand, hot);
    try {
      const f = parseGguf(m);
      for (const t of f.tensors) {
        assert.ok(t.offset >= f.dataOffset && t.offset + t.nbytes <= m.length, `mutant ${i}: tensor '${t.name}' outside the file`);
        if (decode) {
          const x = tensorF32(f, t.name);
          assert.equal(x.length, t.dims.reduce((a, b) => a * b, 1));
        }
      }
      tally.parsed++;
    } catch (e) {
      if (!(e instanceof QuantLabError)) {
        throw new Error(`mutant ${i} (seed ${seed}) threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
      }
      assert.ok(e.message.length > 20, `mutant ${i}: message too thin: ${e.message}`);
      tally.rejected++;
    }
  }
  return tally;
}

/** A small v3 file with every metadata value type, nested arrays, and quantized tensors. */
function richFile(): Uint8Array {
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: "STRING", value: "llama" }],
    ["u8", { type: "UINT8", value: 200 }], ["i8", { type: "INT8", value: -100 }],
    ["u16", { type: "UINT16", value: 60000 }], ["i16", { type: "INT16", value: -30000 }],
    ["u32", { type: "UINT32", value: 4000000000 }], ["i32", { type: "INT32", value: -2000000000 }],
    ["f32", { type: "FLOAT32", value: 0.5 }], ["f64", { type: "FLOAT64", value: Math.PI }],
    ["u64", { type: "UINT64", value: 1n << 60n }], ["i64", { type: "INT64", value: -(1n << 60n) }],
    ["bool", { type: "BOOL", value: true }],
    ["strings", { type: "ARRAY", itemType: "STRING", value: ["a", "bb", "ccc", ""] }],
    ["floats", { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from([1, 2, 3]) }],
    ["nested", { type: "ARRAY", itemType: "ARRAY", value: [
      { type: "ARRAY", itemType: "INT32", value: Int32Array.from([1, -2]) },
      { type: "ARRAY", itemType: "STRING", value: ["x"] },
    ] }],
  ]);
  const w = randn(64 * 256, 7, 0.1);
  return encodeGgufBytes({
    metadata,
    tensors: [
      { name: "a.weight", dims: [256, 64], type: "Q4_K", data: quantize("Q4_K", w, 256) },
      { name: "b.weight", dims: [256, 64], type: "Q8_0", data: quantize("Q8_0", w, 256) },
      { name: "c.weight", dims: [64, 4], type: "F16", data: quantize("F16", w.subarray(0, 256), 64) },
      { name: "norm", dims: [64], type: "F32", data: quantize("F32", w.subarray(0, 64), 64) },
    ],
  });
}

test("mutants of a v3 file with every value type and quantized tensors parse or fail with QuantLabError", () => {
  const src = richFile();
  const header = parseGguf(src).dataOffset;
  const tally = fuzz(0xC0FFEE, src, 3000, header, true);
  // both outcomes must actually occur, or the fuzzer is not exercising anything
  assert.ok(tally.parsed > 100 && tally.rejected > 1000, JSON.stringify(tally));
});

test("mutants of the real GGUF v1 stories260K header parse or fail with QuantLabError", { skip: existsSync(STORIES) ? false : `${STORIES} is missing` }, () => {
  const src = new Uint8Array(readFileSync(STORIES));
  const header = parseGguf(src).dataOffset;
  const tally = fuzz(42, src, 600, header, false);
  assert.ok(tally.parsed > 20 && tally.rejected > 200, JSON.stringify(tally));
});

test("lying counts and lengths are refused before anything of their size is allocated", () => {
  const src = richFile();
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ["tensor count 2^62", (b) => dv(b).setBigUint64(8, 1n << 62n, true), /tensor count|byte 8/],
    ["metadata count 2^40", (b) => dv(b).setBigUint64(16, 1n << 40n, true), /metadata count|byte 16/],
    ["first key length 2^50", (b) => dv(b).setBigUint64(24, 1n << 50n, true), /byte 24/],
    ["version 4", (b) => dv(b).setUint32(4, 4, true), /version/],
    ["magic", (b) => { b[0] = 0x47; b[1] = 0x47; b[2] = 0x4d; b[3] = 0x4c; }, /magic|GGUF/],
  ];
  for (const [what, lie, re] of cases) {
    const b = src.slice();
    lie(b);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(() => parseGguf(b), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && re.test(e.message), what);
    // a lying 2^40-element allocation would show up here (or crash); the file itself is ~30 KB
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, `${what}: memory grew`);
  }
  // every truncation of the header is refused with the byte offset named
  const header = parseGguf(src).dataOffset;
  for (let n = 0; n < header; n += 7) {
    assert.throws(() => parseGguf(src.subarray(0, n)), (e: unknown) => e instanceof QuantLabError && /byte \d+|GGUF/.test(e.message), `cut at ${n}`);
  }
});

/** A tokenizer's worth of metadata with every numeric array as 64-bit integers, as some converters write it. */
function tokenizer64(n: number, scores: "INT64" | "UINT64" = "INT64"): Map<string, GgufValue> {
  const pieces = ["<unk>", "<s>", "</s>", ...Array.from({ length: n - 3 }, (_, i) => (i % 7 === 0 ? "\u2581" : "") + String.fromCharCode(97 + (i % 26)).repeat(1 + (i % 3)))];
  const s = Array.from({ length: n }, (_, i) => BigInt(-i));
  return new Map<string, GgufValue>([
    ["general.architecture", { type: "STRING", value: "llama" }],
    ["tokenizer.ggml.model", { type: "STRING", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "ARRAY", itemType: "STRING", value: pieces }],
    ["tokenizer.ggml.scores", scores === "INT64"
      ? { type: "ARRAY", itemType: "INT64", value: BigInt64Array.from(s) }
      : { type: "ARRAY", itemType: "UINT64", value: BigUint64Array.from(s, (v) => -v) }],
    ["tokenizer.ggml.token_type", { type: "ARRAY", itemType: "UINT64", value: BigUint64Array.from(pieces, (_, i) => (i === 0 ? 2n : i < 3 ? 3n : 1n)) }],
    ["tokenizer.ggml.bos_token_id", { type: "UINT64", value: 1n }],
  ]);
}

test("tokenizer arrays of 64-bit integers are converted, or refused naming the field", () => {
  const tok = ggufTokenizer(parseGguf(encodeGgufBytes({ metadata: tokenizer64(40), tensors: [] })))!;
  assert.equal(tok.vocabSize, 40);
  assert.deepEqual(Array.from(tok.scores.subarray(0, 4)), [0, -1, -2, -3]);
  assert.deepEqual(Array.from(tok.tokenTypes.subarray(0, 4)), [2, 3, 3, 1]);
  assert.ok(tok.encode("abc").length > 0);
  assert.equal(ggufTokenizer(parseGguf(encodeGgufBytes({ metadata: tokenizer64(40, "UINT64"), tensors: [] })))!.scores[5], 5);
  const huge = tokenizer64(40);
  huge.set("tokenizer.ggml.token_type", { type: "ARRAY", itemType: "UINT64", value: new BigUint64Array(40).fill(1n << 60n) });
  assert.throws(() => ggufTokenizer(parseGguf(encodeGgufBytes({ metadata: huge, tensors: [] }))),
    (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && /'tokenizer\.ggml\.token_type'\[0\] is 1152921504606846976/.test(e.message));
  const short = tokenizer64(40);
  short.set("tokenizer.ggml.scores", { type: "ARRAY", itemType: "INT64", value: new BigInt64Array(3) });
  assert.throws(() => ggufTokenizer(parseGguf(encodeGgufBytes({ metadata: short, tensors: [] }))), /'tokenizer\.ggml\.scores' has 3 values for 40 tokens/);
});

test("mutants of a 64-bit tokenizer file load their vocabulary or fail with QuantLabError", () => {
  const src = encodeGgufBytes({ metadata: tokenizer64(60), tensors: [] });
  const rand = mulberry32(0x64);
  const tally: Tally = { parsed: 0, rejected: 0 };
  for (let i = 0; i < 1500; i++) {
    const m = mutate(src, rand, src.length);
    try {
      const tok = ggufTokenizer(parseGguf(m));
      if (tok) tok.encode("a bc");
      tally.parsed++;
    } catch (e) {
      if (!(e instanceof QuantLabError)) throw new Error(`mutant ${i} threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
      tally.rejected++;
    }
  }
  assert.ok(tally.parsed > 100 && tally.rejected > 300, JSON.stringify(tally));
});

/** A file of one key holding `n` empty arrays nested in an array: 12 bytes each on disk. */
function nestedEmpty(n: number): Uint8Array {
  const value = Array.from({ length: n }, () => ({ type: "ARRAY" as const, itemType: "UINT8" as const, value: new Uint8Array(0) }));
  return encodeGgufBytes({ metadata: { "general.architecture": "llama", nest: { type: "ARRAY", itemType: "ARRAY", value } }, tensors: [] });
}

test("arrays nested in arrays are bounded by the file's size: empty ones cannot cost more than the file", () => {
  const ok = parseGguf(nestedEmpty(2000));
  assert.equal((ok.metadata.get("nest")!.value as unknown[]).length, 2000);
  const bomb = nestedEmpty(400_000); // 4.8 MB of empty arrays; 60 MB of them cost 2.24 GB before the bound
  const before = process.memoryUsage().heapUsed;
  assert.throws(() => parseGguf(bomb), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" &&
    /'nest' length .* is 400000 nested arrays: a \d+-byte file may hold at most \d+ arrays inside arrays/.test(e.message));
  assert.ok(process.memoryUsage().heapUsed - before < 64 << 20, "refused before the arrays were built");
});

test("mutants of a file of nested arrays parse or fail with QuantLabError", () => {
  const src = nestedEmpty(300);
  const tally = fuzz(0x9e57, src, 1500, src.length, false);
  assert.ok(tally.parsed > 100 && tally.rejected > 300, JSON.stringify(tally));
});
