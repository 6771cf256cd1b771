/**
 * The decode-only lattice i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): their grid
 * tables re-derived from llama.cpp's libggml-base.so match the committed iq-grids.ts, and dequantize is
 * bit-exact with its dequantize_row_<type> on blocks llama.cpp's own quantizer wrote from the edge-row
 * sets (with and without an importance matrix where ggml allows none) and on random bytes, NaN/Inf/zero
 * scales included. Quantizing to them stays refused, naming why.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { encodeGgufBytes, parseGguf, readGguf, tensorElements, tensorF32, writeGguf } from "../../src/gguf/file.js";
import * as GRIDS from "../../src/gguf/blocks/iq-grids.js";
import { KSIGNS, unpackGrid, type PackedGrid } from "../../src/gguf/blocks/lattice.js";
import { planMix } from "../../src/gguf/mix.js";
import { dequantize, quantize } from "../../src/gguf/quants.js";
import { decodableType, ggufType, rowBytes, type DecodeOnlyTypeName } from "../../src/gguf/types.js";
import { ggufQuantize } from "../../src/dsl/gguf.js";
import { deriveIqGrids, gridsModule, GRIDS_MODULE } from "../../scripts/derive-iq-grids.js";
import { loadModel } from "../../src/model/formats/load.js";
import { LINEAR_NAMES } from "../../src/model/llama.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { perplexity } from "../../src/model/runtime/eval.js";
import { mulberry32 } from "../helpers/random.js";
import { sharedFile } from "../helpers/shared.js";
import { syntheticLlama } from "./synthetic-llama.js";
import { oracleOrSkip } from "./oracle.js";
import { hardRowSets, imatrixFor, sameFloats } from "./quants-rows.js";

const TYPES: DecodeOnlyTypeName[] = ["IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ3_S", "IQ2_S", "IQ1_M"];
/** ggml_quantize_requires_imatrix: ggml aborts when these get none. */
const NEEDS_IMATRIX = new Set<DecodeOnlyTypeName>(["IQ2_XXS", "IQ2_XS", "IQ1_S"]);
const { oracle, skip } = oracleOrSkip();
const SETS = hardRowSets(20240611);

test("the committed lattice grids are what ggml's decoders give, re-derived now", { skip }, () => {
  const derived = deriveIqGrids((type, bytes, n) => oracle!.dequantize(type, bytes, n));
  assert.equal(derived.length, 6);
  for (const g of derived) {
    const committed = unpackGrid((GRIDS as Record<string, PackedGrid>)[g.exportName]!);
    assert.deepEqual(Array.from(committed), Array.from(g.table), g.name);
  }
  assert.equal(readFileSync(GRIDS_MODULE, "utf8"), gridsModule(derived), "iq-grids.ts is stale: run node --import tsx scripts/derive-iq-grids.ts");
});

test("the grids' shapes and value sets, and the parity sign table", () => {
  const shapes = Object.fromEntries(Object.entries(GRIDS as Record<string, PackedGrid>).map(([k, g]) => [k, [g.points, g.width, g.values.length]]));
  assert.deepEqual(shapes, {
    IQ2XXS_GRID: [256, 8, 3], IQ2XS_GRID: [512, 8, 3], IQ2S_GRID: [1024, 8, 3],
    IQ3XXS_GRID: [256, 4, 8], IQ3S_GRID: [512, 4, 8], IQ1S_GRID: [2048, 8, 3],
  });
  assert.deepEqual(GRIDS.IQ1S_GRID.values, [-1, 0, 1]);
  // every grid point is distinct (a lattice codebook, not a repeated pattern)
  for (const g of Object.values(GRIDS as Record<string, PackedGrid>)) {
    const t = unpackGrid(g);
    const points = new Set(Array.from({ length: g.points }, (_, p) => t.subarray(p * g.width, (p + 1) * g.width).join(",")));
    assert.equal(points.size, g.points);
  }
  for (let i = 0; i < 128; i++) {
    assert.equal(KSIGNS[i]! & 127, i);
    let ones = 0;
    for (let b = KSIGNS[i]!; b; b >>= 1) ones += b & 1;
    assert.equal(ones % 2, 0, `ksigns[${i}] has an even count of negatives`);
  }
});

for (const type of TYPES) {
  test(`${type}: dequantize is bit-exact with llama.cpp on blocks its quantizer wrote from every row set`, { skip }, () => {
    let rows = 0;
    for (const [k, set] of SETS.entries()) {
      const im = imatrixFor(set.nPerRow, 177 + k, k % 2 === 1);
      const theirs = oracle!.quantize(type, set.data, set.nPerRow, im);
      sameFloats(`${type} dequantize of "${set.name}" (imatrix)`, dequantize(type, theirs, set.data.length), oracle!.dequantize(type, theirs, set.data.length));
      if (!NEEDS_IMATRIX.has(type)) {
        const plain = oracle!.quantize(type, set.data, set.nPerRow);
        sameFloats(`${type} dequantize of "${set.name}"`, dequantize(type, plain, set.data.length), oracle!.dequantize(type, plain, set.data.length));
      }
      rows += set.data.length / set.nPerRow;
    }
    assert.ok(rows > 1500, `${rows} rows`);
  });

  test(`${type}: dequantize of random bytes (every index, sign and scale bit; NaN, Inf, zero and subnormal d) matches llama.cpp`, { skip }, () => {
    const t = decodableType(type)!;
    const u = mulberry32(31 + t.id);
    const blocks = 96;
    const bytes = Uint8Array.from({ length: blocks * t.typeSize }, () => Math.floor(u() * 256));
    // the block scale d in some blocks: NaN, ±Inf, ±0, the smallest subnormal, the largest finite half
    const specials = [0x7e00, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x0001, 0x7bff, 0xfe01];
    specials.forEach((h, s) => {
      const o = (s * 7 + 3) * t.typeSize;
      if (type === "IQ1_M") {
        // d's four nibbles sit in the top nibble of the four u16 scales
        for (let k = 0; k < 4; k++) bytes[o + 49 + 2 * k] = (bytes[o + 49 + 2 * k]! & 0x0f) | (((h >> (4 * k)) & 0xf) << 4);
      } else {
        bytes[o] = h & 0xff;
        bytes[o + 1] = h >> 8;
      }
    });
    const n = blocks * t.blockSize;
    sameFloats(`${type} random bytes`, dequantize(type, bytes, n), oracle!.dequantize(type, bytes, n));
  });
}

test("the decode-only types are in the traits table with llama.cpp's ids and sizes, and a GGUF tensor of each decodes", () => {
  const expect: Record<DecodeOnlyTypeName, [number, number]> = {
    IQ2_XXS: [16, 66], IQ2_XS: [17, 74], IQ3_XXS: [18, 98], IQ1_S: [19, 50], IQ3_S: [21, 110], IQ2_S: [22, 82], IQ1_M: [29, 56],
  };
  const u = mulberry32(9);
  for (const type of TYPES) {
    const t = decodableType(type)!;
    assert.deepEqual([t.id, t.typeSize, t.blockSize, t.encodable], [...expect[type], 256, false], type);
    assert.equal(ggufType(type), undefined, `${type} is not encodable`);
    const data = Uint8Array.from({ length: rowBytes(t, 256) * 2 }, () => Math.floor(u() * 256));
    data[0] = 0; data[1] = 0x3c; data[t.typeSize] = 0; data[t.typeSize + 1] = 0x3c; // finite d (IQ1_M reads d elsewhere; any bits decode)
    const file = parseGguf(encodeGgufBytes({ metadata: new Map(), tensors: [{ name: "w", dims: [256, 2], type, data }] }));
    assert.deepEqual(tensorF32(file, "w"), dequantize(type, data, 512), type);
  }
});

test("quantizing to a decode-only type is refused, saying it is decode-only and why", () => {
  const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
  for (const type of TYPES) {
    assert.throws(() => quantize(type as never, x, 256), (e: unknown) =>
      e instanceof QuantLabError && e.code === "UNSUPPORTED" &&
      new RegExp(`cannot quantize to ${type}: ${type} is decode-only in QuantLab: llama\\.cpp's quantizer for it searches lattice codebooks.*: use one of F32, F16`).test(e.message), type);
  }
  assert.throws(() => ggufQuantize({ rows: 1, cols: 256, data: x }, "IQ3_S" as never), /IQ3_S is decode-only in QuantLab/);
  assert.throws(() => planMix("Q4_K_M", [{ name: "output.weight", dims: [256, 8], type: "F32" }], { nLayers: 1 }, { outputTensorType: "IQ1_M" }),
    /--output-tensor-type: QuantLab cannot encode type 'IQ1_M' \(IQ1_M is decode-only in QuantLab/);
});

const stories = sharedFile("stories260K-f32.gguf");

test("a Llama whose linears llama.cpp quantized to the seven lattice i-quants loads with exactly llama.cpp's decoded weights, and runs", { skip: skip || stories.skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-iq-model-"));
  try {
    const f32 = join(dir, "f32.gguf");
    await syntheticLlama(await readGguf(stories.path), f32, { nLayer: 1, nKv: 4 });
    const src = await readGguf(f32);
    // one type per linear, so every decoder feeds the forward pass
    const typeOf: Record<string, DecodeOnlyTypeName> = {
      attn_q: "IQ2_XXS", attn_k: "IQ2_XS", attn_v: "IQ3_XXS", attn_output: "IQ3_S", ffn_gate: "IQ2_S", ffn_up: "IQ1_M", ffn_down: "IQ1_S",
    };
    const expected = new Map<string, Float32Array>();
    const tensors = src.tensors.map((t) => {
      const kind = /^blk\.\d+\.(\w+)\.weight$/.exec(t.name)?.[1];
      const type = kind ? typeOf[kind] : undefined;
      if (!type) return { name: t.name, dims: t.dims, type: t.type, data: src.bytes.subarray(t.offset, t.offset + t.nbytes) };
      const x = tensorF32(src, t.name);
      const data = oracle!.quantize(type, x, t.dims[0]!, imatrixFor(t.dims[0]!, 7, false));
      expected.set(t.name, oracle!.dequantize(type, data, tensorElements(t.dims)));
      return { name: t.name, dims: t.dims, type, data };
    });
    const iq = join(dir, "iq.gguf");
    await writeGguf(iq, { metadata: src.metadata, tensors });
    const m = await loadModel(iq);
    for (const n of LINEAR_NAMES) sameFloats(`${n} (${typeOf[n]})`, m.layers[0]![n].data, expected.get(`blk.0.${n}.weight`)!);
    const rt = await LlamaRuntime.create(m);
    try {
      const ids = m.tokenizer!.encode("Once upon a time, there was a little girl named Lily. She liked to play outside.");
      assert.ok(Number.isFinite(perplexity(rt, m.tokenizer!, ids).perplexity));
    } finally {
      rt.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
