/**
 * The types that landed as one traits entry plus their block code (IQ4_NL, IQ4_XS, MXFP4, NVFP4, TQ1_0, TQ2_0): bit-exact with
 * llama.cpp's libggml-base.so on the same edge-row sets as the older types, with and without an
 * importance matrix, and dequantize on arbitrary bytes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dequantize, quantize } from "../../src/gguf/quants.js";
import { ggufType, rowBytes, type GgufTypeName } from "../../src/gguf/types.js";
import { mulberry32 } from "../helpers/random.js";
import { oracleOrSkip } from "./oracle.js";
import { hardRowSets, imatrixFor, sameFloats } from "./quants-rows.js";

const NEW_TYPES: GgufTypeName[] = ["IQ4_NL", "IQ4_XS", "MXFP4", "NVFP4", "TQ1_0", "TQ2_0"];
const { oracle, skip } = oracleOrSkip();
const SETS = hardRowSets(20240611);

function sameBytes(what: string, nPerRow: number, type: GgufTypeName, ours: Uint8Array, theirs: Uint8Array): void {
  assert.equal(ours.length, theirs.length, what);
  const rb = rowBytes(ggufType(type)!, nPerRow);
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i]) assert.fail(`${what}: first differing byte ${i} (row ${Math.floor(i / rb)}, byte ${i % rb}): ours ${ours[i]}, llama.cpp ${theirs[i]}`);
  }
}

for (const type of NEW_TYPES) {
  test(`${type}: quantize and dequantize bit-exact with llama.cpp on every row set`, { skip }, () => {
    let rows = 0;
    for (const set of SETS) {
      const theirs = oracle!.quantize(type, set.data, set.nPerRow);
      sameBytes(`${type} on "${set.name}"`, set.nPerRow, type, quantize(type, set.data, set.nPerRow), theirs);
      sameFloats(`${type} dequantize of "${set.name}"`, dequantize(type, theirs, set.data.length), oracle!.dequantize(type, theirs, set.data.length));
      rows += set.data.length / set.nPerRow;
    }
    assert.ok(rows > 1500, `${rows} rows`);
  });

  test(`${type}: with an importance matrix (hot channels, exact zeros) bit-exact with llama.cpp`, { skip }, () => {
    for (const [k, set] of SETS.entries()) {
      const im = imatrixFor(set.nPerRow, 177 + k, k % 2 === 1);
      sameBytes(`${type} on "${set.name}", imatrix`, set.nPerRow, type, quantize(type, set.data, set.nPerRow, im), oracle!.quantize(type, set.data, set.nPerRow, im));
    }
  });

  test(`${type}: dequantize of random bytes (any scale bits, NaN/Inf scales) and rows with NaN/Inf match llama.cpp`, { skip }, () => {
    const t = ggufType(type)!;
    const u = mulberry32(5);
    const n = t.blockSize * 64;
    const bytes = Uint8Array.from({ length: rowBytes(t, n) }, () => Math.floor(u() * 256));
    sameFloats(`${type} random bytes`, dequantize(type, bytes, n), oracle!.dequantize(type, bytes, n));
    const x = Float32Array.from(SETS[0]!.data.subarray(0, 256 * 8));
    x[5] = NaN; x[300] = Infinity; x[600] = -Infinity; x[1000] = NaN; x[1001] = Infinity; x[2047] = -Infinity;
    sameBytes(`${type} non-finite`, 256, type, quantize(type, x, 256), oracle!.quantize(type, x, 256));
  });
}

test("IQ4_NL keeps more of a gaussian row than Q4_0 at the same 4.5 bits per weight", () => {
  const g = SETS[0]!.data.subarray(0, 256 * 64);
  const err = (type: GgufTypeName) => {
    const back = dequantize(type, quantize(type, g, 256), g.length);
    let s = 0;
    for (let i = 0; i < g.length; i++) s += (back[i]! - g[i]!) ** 2;
    return s;
  };
  assert.equal(ggufType("IQ4_NL")!.bitsPerWeight, ggufType("Q4_0")!.bitsPerWeight);
  assert.ok(err("IQ4_NL") < err("Q4_0"), `IQ4_NL ${err("IQ4_NL")} vs Q4_0 ${err("Q4_0")}`);
});

test("IQ4_NL and IQ4_XS rows longer than the WebAssembly chunk carry their importance weights along, chunk by chunk", { skip }, () => {
  const n = 16384 + 4096 + 256; // one full chunk, then a partial one
  const x = Float32Array.from(SETS[0]!.data.subarray(0, 2 * n));
  const im = imatrixFor(n, 4242, true);
  for (const type of ["IQ4_NL", "IQ4_XS"] as const) {
    sameBytes(`${type}, rows of ${n} with an imatrix`, n, type, quantize(type, x, n, im), oracle!.quantize(type, x, n, im));
    sameBytes(`${type}, rows of ${n}`, n, type, quantize(type, x, n), oracle!.quantize(type, x, n));
  }
});

test("MXFP4's shared exponent matches llama.cpp's floorf(log2f(amax)) just below and at every power of two", { skip }, () => {
  // log2f rounds to float, so an amax a few ulps under 2^k can count as 2^k; sweep those for every exponent
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  const maxima: number[] = [];
  for (let e = 1; e < 255; e++) {
    for (let j = 0; j < 48; j++) {
      bits[0] = ((e << 23) >>> 0) - j; // 2^(e−127) and the 47 floats below it
      maxima.push(asFloat[0]!);
    }
  }
  for (let j = 1; j <= 64; j++) (bits[0] = j * 4099), maxima.push(asFloat[0]!); // subnormals (an even count of blocks, for NVFP4)
  const x = new Float32Array(maxima.length * 32);
  maxima.forEach((m, b) => {
    for (let i = 0; i < 32; i++) x[b * 32 + i] = i === b % 32 ? (b % 3 ? m : -m) : m * ((i % 7) - 3) / 8;
  });
  sameBytes("MXFP4 near powers of two", 32, "MXFP4", quantize("MXFP4", x, 32), oracle!.quantize("MXFP4", x, 32));
  sameBytes("NVFP4 near powers of two", 64, "NVFP4", quantize("NVFP4", x, 64), oracle!.quantize("NVFP4", x, 64));
});

test("the WebAssembly FP4 and ternary quantizers take C's literal path wherever a NaN sits, and cross chunk boundaries", { skip }, () => {
  // a NaN first, in the middle, last in its block; big values before it (the ternary max keeps only what
  // follows the NaN, so |x/d| exceeds 1); an Inf; a block of subnormals (1/d overflows)
  const u = mulberry32(77);
  const blocks = 40;
  const x = Float32Array.from({ length: 256 * blocks }, () => (u() - 0.5) * 2);
  for (let b = 0; b < blocks; b++) {
    const o = 256 * b;
    const at = [0, 1, 15, 16, 31, 63, 128, 254, 255][b % 9]!;
    if (b % 4 !== 3) x[o + at] = NaN;
    if (b % 3 === 0) x[o + Math.max(0, at - 1)] = 40;
    if (b % 5 === 1) x[o + 200] = -Infinity;
    if (b % 7 === 6) for (let j = 0; j < 256; j++) x[o + j] = (u() - 0.5) * 1e-42;
  }
  for (const type of ["MXFP4", "NVFP4", "TQ1_0", "TQ2_0"] as GgufTypeName[]) {
    sameBytes(`${type} NaN placements`, 256, type, quantize(type, x, 256), oracle!.quantize(type, x, 256));
    // one row longer than the module's 16384-float chunk
    const long = SETS[0]!.data.subarray(0, 256 * 96);
    sameBytes(`${type} a row of ${long.length}`, long.length, type, quantize(type, long, long.length), oracle!.quantize(type, long, long.length));
  }
});
