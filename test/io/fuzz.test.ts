/**
 * Seeded, bounded mutation fuzzing of the safetensors and .npy readers: every mutant of a valid file
 * either parses (and then every tensor holds exactly product(shape) values) or throws QuantLabError
 * with a message — never a RangeError, a SyntaxError from JSON, or an allocation the file cannot back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { QuantLabError } from "../../src/errors.js";
import { encodeNpy, parseNpy } from "../../src/io/npy.js";
import { encodeSafetensors, parseSafetensors } from "../../src/io/safetensors.js";
import type { Tensor } from "../../src/io/tensor.js";
import { mutate, NPY_HEADER_VARIANTS, npyWithHeader } from "../helpers/mutate.js";
import { mulberry32, randn } from "../helpers/random.js";

function fuzz(seed: number, src: Uint8Array, iterations: number, hot: number, parse: (b: Uint8Array) => Tensor[]) {
  const rand = mulberry32(seed);
  const tally = { parsed: 0, rejected: 0 };
  for (let i = 0; i < iterations; i++) {
    const m = mutate(src, rand, hot);
    try {
      for (const t of parse(m)) {
        assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), `mutant ${i}: data does not match the shape`);
      }
      tally.parsed++;
    } catch (e) {
      if (!(e instanceof QuantLabError)) throw new Error(`mutant ${i} (seed ${seed}) threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
      assert.ok(e.message.length > 20, e.message);
      tally.rejected++;
    }
  }
  return tally;
}

test("mutants of a safetensors file parse or fail with QuantLabError", () => {
  const src = encodeSafetensors({
    w: { dtype: "F32", shape: [16, 8], data: randn(128, 1) },
    h: { dtype: "F16", shape: [4, 4], data: randn(16, 2) },
    b: { dtype: "BF16", shape: [8], data: randn(8, 3) },
    i: { dtype: "I32", shape: [3], data: Int32Array.from([1, -2, 3]) },
    q: { dtype: "U8", shape: [2, 3], data: Uint8Array.from([0, 1, 2, 253, 254, 255]) },
    l: { dtype: "I64", shape: [2], data: BigInt64Array.from([1n, -1n]) },
  }, { format: "pt", note: "fuzz" });
  const hot = 8 + Number(new DataView(src.buffer, src.byteOffset).getBigUint64(0, true));
  const tally = fuzz(7, src, 4000, hot, (b) => [...parseSafetensors(b).tensors.values()]);
  assert.ok(tally.parsed > 100 && tally.rejected > 1500, JSON.stringify(tally));
});

test("mutants of .npy files (v1 header, several dtypes) parse or fail with QuantLabError", () => {
  for (const [seed, t] of [
    [11, { dtype: "F32", shape: [8, 8], data: randn(64, 4) }],
    [12, { dtype: "F16", shape: [5], data: randn(5, 5) }],
    [13, { dtype: "I16", shape: [2, 2, 2], data: Int16Array.from([1, 2, 3, 4, -5, -6, 7, 8]) }],
  ] as [number, Tensor][]) {
    const src = encodeNpy(t);
    const tally = fuzz(seed, src, 1500, 128, (b) => [parseNpy(b)]);
    // the header is NumPy's Python literal: most mutants of it are refused, as NumPy refuses them
    assert.ok(tally.parsed > 10 && tally.rejected > 300, `${t.dtype}: ${JSON.stringify(tally)}`);
  }
});

test("a safetensors header length or data_offsets that lie are refused before allocating", () => {
  const src = encodeSafetensors({ w: { dtype: "F32", shape: [4, 4], data: randn(16, 9) } });
  const lie = (edit: (b: Uint8Array) => Uint8Array) => edit(src.slice());
  const setHeader = (b: Uint8Array, json: string) => {
    const body = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + body.length + 64);
    new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
    out.set(body, 8);
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["header length 2^60", lie((b) => { new DataView(b.buffer).setBigUint64(0, 1n << 60n, true); return b; }), /header length/],
    ["huge shape", setHeader(src, '{"w":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,64]}}'), /'w'/],
    ["offsets past the end", setHeader(src, '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,4000000000]}}'), /'w'.*truncated|'w'/],
    ["reversed offsets", setHeader(src, '{"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}'), /'w'/],
    ["overlap", setHeader(src, '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}'), /overlap/],
    ["unknown dtype", setHeader(src, '{"w":{"dtype":"F8_E9","shape":[4],"data_offsets":[0,4]}}'), /dtype/],
    ["not JSON", setHeader(src, '{"w":'), /JSON/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => parseSafetensors(bytes), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && re.test(e.message), what);
  }
});

test("mutants of the .npy shape text: only tuples of decimal integers are read (the shapes NumPy writes)", () => {
  const rand = mulberry32(21);
  const alphabet = "0123456789,() xXeE.-+_Lob'\"";
  const tuple = /^\s*\(\s*(?:(?:0|[1-9]\d*)\s*,\s*)*(?:(?:0|[1-9]\d*)\s*,?\s*)?\)\s*$/;
  const tally = { parsed: 0, rejected: 0 };
  const texts = NPY_HEADER_VARIANTS.filter(([l]) => l.startsWith("shape ")).map(([l]) => l.slice(6));
  for (let i = 0; i < 3000; i++) {
    const base = texts[Math.floor(rand() * texts.length)]!.split("");
    for (let k = 0, n = 1 + Math.floor(rand() * 3); k < n; k++) {
      const at = Math.floor(rand() * (base.length + 1));
      const c = alphabet[Math.floor(rand() * alphabet.length)]!;
      if (rand() < 0.5) base.splice(at, 1, c);
      else base.splice(at, 0, c);
    }
    const shape = base.join("");
    try {
      const t = parseNpy(npyWithHeader(`{'descr': '|u1', 'fortran_order': False, 'shape': ${shape}, }`));
      assert.match(shape, tuple, `read shape text ${shape} as [${t.shape}]`);
      assert.ok(!/^\s*\(\s*\d+\s*\)\s*$/.test(shape), `${shape} is an integer in Python, not a tuple`);
      tally.parsed++;
    } catch (e) {
      if (!(e instanceof QuantLabError)) throw e;
      tally.rejected++;
    }
  }
  assert.ok(tally.parsed > 10 && tally.rejected > 1000, JSON.stringify(tally));
});
