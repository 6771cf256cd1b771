/**
 * Bit-exactness of every GGUF block format against llama.cpp's own libggml-base.so (the oracle), with and
 * without an importance matrix, on thousands of seeded rows including the hard ones; dequantize too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dequantize, IMATRIX_TYPES, quantize } from "../../src/gguf/quants.js";
import { ggufType, rowBytes, type GgufTypeName } from "../../src/gguf/types.js";
import { QuantLabError } from "../../src/errors.js";
import { mulberry32 } from "../helpers/random.js";
import { f16BitsToF32 } from "../../src/numerics/float-bits.js";
import { oracleOrSkip } from "./oracle.js";
import { hardRowSets, imatrixFor } from "./quants-rows.js";

const TYPES: GgufTypeName[] = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];
const { oracle, skip } = oracleOrSkip();
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SETS = hardRowSets(20240611);

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function assertSameBytes(type: GgufTypeName, set: string, nPerRow: number, ours: Uint8Array, theirs: Uint8Array): void {
  const i = firstDiff(ours, theirs);
  if (i === -1) return;
  const rb = rowBytes(ggufType(type)!, nPerRow);
  assert.fail(`${type} on "${set}": ${i === -2 ? `length ${ours.length} ≠ ${theirs.length}` :
    `first differing byte ${i} (row ${Math.floor(i / rb)}, byte ${i % rb} of the row): ours ${ours[i]}, llama.cpp ${theirs[i]}`}`);
}

/** Float arrays equal bit for bit (NaN equals NaN). */
function assertSameFloats(what: string, a: Float32Array, b: Float32Array): void {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
      assert.fail(`${what}: value ${i} is ${a[i]} (0x${ua[i]!.toString(16)}), llama.cpp gives ${b[i]} (0x${ub[i]!.toString(16)})`);
    }
  }
}

for (const type of TYPES) {
  test(`${type}: quantize and dequantize bit-exact with llama.cpp on every row set`, { skip }, () => {
    let rowsChecked = 0;
    for (const set of SETS) {
      const ours = quantize(type, set.data, set.nPerRow);
      const theirs = oracle!.quantize(type, set.data, set.nPerRow);
      assertSameBytes(type, set.name, set.nPerRow, ours, theirs);
      assertSameFloats(`${type} dequantize of "${set.name}"`, dequantize(type, theirs, set.data.length),
        oracle!.dequantize(type, theirs, set.data.length));
      rowsChecked += set.data.length / set.nPerRow;
    }
    assert.ok(rowsChecked > 1500, `${rowsChecked} rows`);
  });
}

for (const type of IMATRIX_TYPES) {
  test(`${type}: quantize with an importance matrix bit-exact with llama.cpp`, { skip }, () => {
    for (const [k, set] of SETS.entries()) {
      const im = imatrixFor(set.nPerRow, 77 + k, k % 2 === 1);
      const ours = quantize(type, set.data, set.nPerRow, im);
      const theirs = oracle!.quantize(type, set.data, set.nPerRow, im);
      assertSameBytes(type, `${set.name}, imatrix`, set.nPerRow, ours, theirs);
    }
  });
}

test("dequantize decodes arbitrary block bytes exactly as llama.cpp (layouts, sign bits, NaN/Inf scales)", { skip }, () => {
  const u = mulberry32(99);
  for (const type of TYPES) {
    const t = ggufType(type)!;
    const n = t.blockSize === 1 ? 4096 : t.blockSize * 64;
    const bytes = new Uint8Array(rowBytes(t, n));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(u() * 256);
    if (type === "F32") continue; // raw copy; NaN payloads are not a decoding question
    assertSameFloats(`${type} dequantize of random bytes`, dequantize(type, bytes, n), oracle!.dequantize(type, bytes, n));
  }
});

test("F32, F16 and BF16 carry ±0, ±Inf, NaN payloads and FP16 overflow exactly as ggml converts them", { skip }, () => {
  const x = new Float32Array(256);
  const bits = new Uint32Array(x.buffer);
  const special = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345, 0x7f800000, 0xff800000, 0x80000000, 0x477fe000, 0x477ff000, 0x33800000, 0x33000001];
  for (let i = 0; i < 256; i++) bits[i] = special[i % special.length]! + (i >> 4);
  for (const type of ["F32", "F16", "BF16"] as const) {
    assertSameBytes(type, "special values", 256, quantize(type, x, 256), oracle!.quantize(type, x, 256));
  }
});

test("rows holding NaN and ±Inf still give llama.cpp's bytes for every block type", { skip }, () => {
  const x = Float32Array.from(SETS[0]!.data.subarray(0, 256 * 8));
  x[5] = NaN; x[300] = Infinity; x[600] = -Infinity; x[1000] = NaN; x[1001] = Infinity; x[2047] = -Infinity;
  for (const type of TYPES) {
    assertSameBytes(type, "non-finite values", 256, quantize(type, x, 256), oracle!.quantize(type, x, 256));
  }
});

test("the WebAssembly quantizers stream matrices through their 64 KiB buffer: many chunks, a partial last one, an offset view", { skip }, () => {
  const n = 4096;
  const backing = new Float32Array(70 * n + 3);
  const g = mulberry32(7);
  for (let i = 0; i < backing.length; i++) backing[i] = (g() - 0.5) * (i % 97 === 0 ? 4 : 0.1);
  const x = backing.subarray(3); // 17.5 chunks of 16384 floats, starting 12 bytes into the buffer
  for (const type of ["Q4_0", "Q8_0", "Q2_K", "Q4_K", "Q5_K", "Q6_K"] as GgufTypeName[]) {
    assertSameBytes(type, "70 × 4096 at an offset", n, quantize(type, x, n), oracle!.quantize(type, Float32Array.from(x), n));
  }
});

test("without the WebAssembly build, quantizing says how to build it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-nowasm-"));
  try {
    // a copy of the compiled loader whose dist/ has no wasm/ folder
    mkdirSync(join(dir, "dist/gguf/blocks"), { recursive: true });
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    copyFileSync(join(ROOT, "dist/errors.js"), join(dir, "dist/errors.js"));
    copyFileSync(join(ROOT, "dist/gguf/blocks/wasm.js"), join(dir, "dist/gguf/blocks/wasm.js"));
    const { quantizeQ4_0 } = await import(pathToFileURL(join(dir, "dist/gguf/blocks/wasm.js")).href);
    assert.throws(() => quantizeQ4_0(new Float32Array(32), 0, new Uint8Array(18), 0, 1), (e: unknown) =>
      e instanceof Error && e.name === "QuantLabError" && /gguf-blocks\.wasm/.test(e.message) && /npm run build/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Q8_0 ignores an imatrix, as llama.cpp does", () => {
  const x = SETS[0]!.data.subarray(0, 1024);
  assert.deepEqual(quantize("Q8_0", x, 256, imatrixFor(256, 1)), quantize("Q8_0", x, 256));
});

test("row lengths that are not a multiple of the block size fail with the fix in the message", () => {
  const x = new Float32Array(300);
  assert.throws(() => quantize("Q4_K", x, 300), (e: unknown) =>
    e instanceof QuantLabError && e.code === "BAD_SHAPE" && /multiple of 256/.test(e.message) && /pad each row to 512/.test(e.message));
  assert.throws(() => quantize("Q4_0", new Float32Array(100), 100), /not a multiple of 32/);
  assert.throws(() => quantize("Q4_0", new Float32Array(96), 64), /whole number of rows/);
  assert.throws(() => quantize("Q4_K", new Float32Array(512), 256, new Float32Array(100)), /one weight per input column/);
  assert.throws(() => dequantize("Q4_K", new Uint8Array(10), 256), /need 144 bytes/);
  assert.throws(() => quantize("Q7_X" as GgufTypeName, x, 300), /unknown GGUF type/);
  assert.throws(() => quantize("Q8_0", [1, 2] as unknown as Float32Array, 32), /Float32Array\.from/);
  assert.throws(() => dequantize("Q8_0", [1, 2] as unknown as Uint8Array, 32), /Uint8Array/);
  assert.deepEqual(quantize("Q4_K", new Float32Array(0), 256), new Uint8Array(0));
});

test("sizes follow the type table: bytes = rows × blocks × bytes per block", () => {
  for (const type of TYPES) {
    const t = ggufType(type)!;
    const out = quantize(type, new Float32Array(4096 * 2), 4096);
    assert.equal(out.length, 2 * (4096 / t.blockSize) * t.typeSize, type);
  }
});

test("F16 decodes every half exactly (WebAssembly SIMD): a chunk boundary, a partial tail, an odd byte offset", () => {
  const n = 65536 + 16384 + 5; // every pattern, then more to cross the 16384-value chunk and end off the 8-lane step
  const bytes = new Uint8Array(1 + 2 * n).subarray(1); // bytes start off any alignment
  for (let i = 0; i < n; i++) bytes[2 * i] = i & 0xff, bytes[2 * i + 1] = (i >> 8) & 0xff;
  const got = dequantize("F16", bytes, n);
  const want = Float32Array.from({ length: n }, (_, i) => f16BitsToF32(i & 0xffff));
  assertSameFloats("F16 decode against float-bits", got, want);
  if (!skip) assertSameFloats("F16 decode against llama.cpp", got, oracle!.dequantize("F16", bytes, n));
});

test("Q4_K and Q6_K decode (WebAssembly) across a chunk boundary from an odd byte offset, as llama.cpp", { skip }, () => {
  const u = mulberry32(5);
  for (const type of ["Q4_K", "Q6_K"] as GgufTypeName[]) {
    const n = 256 * 70; // one full 16384-value chunk and a partial one
    const bytes = new Uint8Array(1 + rowBytes(ggufType(type)!, n)).subarray(1);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(u() * 256);
    assertSameFloats(`${type} decode of ${n} values`, dequantize(type, bytes, n), oracle!.dequantize(type, Uint8Array.from(bytes), n));
  }
});
