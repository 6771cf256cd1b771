/**
 * The GGUF writer against llama.cpp's own reader (gguf_init_from_buffer in the devDependency's
 * libggml-base.so): a file QuantLab writes — every scalar type, arrays of each, alignment 64, tensors of
 * several types — is read by llama.cpp with the same values, the same data offset and tensor offsets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { encodeGgufBytes, parseGguf, type GgufValue } from "../../src/gguf/file.js";
import { quantize } from "../../src/gguf/quants.js";
import { ORACLE_PATH } from "./oracle.js";
import { randn } from "../helpers/random.js";

type Fn = (...a: unknown[]) => unknown;
interface Koffi {
  load(p: string): { func(sig: string): Fn };
  struct(name: string, def: Record<string, string>): unknown;
  proto(sig: string): unknown;
  pointer(t: unknown): unknown;
  register(f: Fn, t: unknown): unknown;
  decode(p: unknown, t: string, n?: number): unknown;
}

function loadKoffi(): Koffi | null {
  try {
    return createRequire(import.meta.url)("koffi") as Koffi;
  } catch {
    return null;
  }
}
const koffi = existsSync(ORACLE_PATH) ? loadKoffi() : null;
function skipReason(): string | false {
  if (koffi) return false;
  const why = `llama.cpp's ${ORACLE_PATH} or koffi is not installed (devDependencies @node-llama-cpp/linux-x64, koffi)`;
  if (process.env.CI === "true") throw new Error(`${why} — CI=true requires it`);
  return why;
}
const skip = skipReason();

test("llama.cpp's gguf reader sees every value, offset and tensor of a file QuantLab wrote", { skip }, () => {
  const k = koffi!;
  const lib = k.load(ORACLE_PATH);
  k.struct("gguf_init_params", { no_alloc: "bool", ctx: "void*" });
  const init = lib.func("void* gguf_init_from_buffer(const void*, size_t, gguf_init_params)");
  const free = lib.func("void gguf_free(void*)");
  const find = lib.func("int64 gguf_find_key(void*, const char*)");
  const kvType = lib.func("int gguf_get_kv_type(void*, int64)");
  const arrType = lib.func("int gguf_get_arr_type(void*, int64)");
  const arrN = lib.func("size_t gguf_get_arr_n(void*, int64)");
  const arrStr = lib.func("const char* gguf_get_arr_str(void*, int64, size_t)");
  const arrData = lib.func("const void* gguf_get_arr_data(void*, int64)");
  const get: Record<string, Fn> = {};
  for (const [t, c] of [["u8", "uint8"], ["i8", "int8"], ["u16", "uint16"], ["i16", "int16"], ["u32", "uint32"], ["i32", "int32"],
    ["f32", "float"], ["u64", "uint64"], ["i64", "int64"], ["f64", "double"], ["bool", "bool"], ["str", "const char*"]] as const) {
    get[t] = lib.func(`${c} gguf_get_val_${t}(void*, int64)`);
  }
  const alignment = lib.func("size_t gguf_get_alignment(void*)");
  const dataOffset = lib.func("size_t gguf_get_data_offset(void*)");
  const nTensors = lib.func("int64 gguf_get_n_tensors(void*)");
  const tName = lib.func("const char* gguf_get_tensor_name(void*, int64)");
  const tOffset = lib.func("size_t gguf_get_tensor_offset(void*, int64)");
  const tType = lib.func("int gguf_get_tensor_type(void*, int64)");
  const tSize = lib.func("size_t gguf_get_tensor_size(void*, int64)");

  const scalars: [string, GgufValue, string, unknown][] = [
    ["t.u8", { type: "UINT8", value: 250 }, "u8", 250], ["t.i8", { type: "INT8", value: -7 }, "i8", -7],
    ["t.u16", { type: "UINT16", value: 65000 }, "u16", 65000], ["t.i16", { type: "INT16", value: -32000 }, "i16", -32000],
    ["t.u32", { type: "UINT32", value: 4e9 }, "u32", 4e9], ["t.i32", { type: "INT32", value: -2e9 }, "i32", -2e9],
    ["t.f32", { type: "FLOAT32", value: 0.1 }, "f32", Math.fround(0.1)], ["t.f64", { type: "FLOAT64", value: 0.1 }, "f64", 0.1],
    ["t.u64", { type: "UINT64", value: (1n << 63n) + 5n }, "u64", (1n << 63n) + 5n], ["t.i64", { type: "INT64", value: -(1n << 62n) }, "i64", -(1n << 62n)],
    ["t.bool", { type: "BOOL", value: true }, "bool", true], ["general.architecture", { type: "STRING", value: "llama ✓ ünïcode" }, "str", "llama ✓ ünïcode"],
  ];
  const metadata = new Map<string, GgufValue>(scalars.map(([key, v]) => [key, v]));
  metadata.set("general.alignment", { type: "UINT32", value: 64 });
  metadata.set("a.str", { type: "ARRAY", itemType: "STRING", value: ["", "x", "▁the", "<0x0A>"] });
  metadata.set("a.f32", { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from([1.5, -0, 3e-40]) });
  metadata.set("a.i32", { type: "ARRAY", itemType: "INT32", value: Int32Array.from([-1, 2, 3]) });
  metadata.set("a.u8", { type: "ARRAY", itemType: "UINT8", value: Uint8Array.from([0, 255]) });
  metadata.set("a.empty", { type: "ARRAY", itemType: "INT64", value: new BigInt64Array(0) });
  const w = randn(256 * 8, 4, 0.1);
  const bytes = encodeGgufBytes({
    metadata,
    tensors: [
      { name: "q4k", dims: [256, 8], type: "Q4_K", data: quantize("Q4_K", w, 256) },
      { name: "norm", dims: [33], type: "F32", data: quantize("F32", w.subarray(0, 33), 33) },
      { name: "q80", dims: [32, 2, 2, 2], type: "Q8_0", data: quantize("Q8_0", w.subarray(0, 256), 32) },
      { name: "f16", dims: [3], type: "F16", data: quantize("F16", w.subarray(0, 3), 3) },
    ],
  });
  const ours = parseGguf(bytes);
  const ctx = init(bytes, bytes.length, { no_alloc: true, ctx: null });
  assert.ok(ctx, "llama.cpp refused the file");
  try {
    for (const [key, , getter, want] of scalars) {
      const id = find(ctx, key) as number | bigint;
      assert.ok(Number(id) >= 0, `llama.cpp lacks ${key}`);
      const got = get[getter]!(ctx, id);
      assert.equal(typeof want === "bigint" ? BigInt(got as number | bigint) : got, want, key);
    }
    const arr = (key: string) => find(ctx, key) as number;
    assert.equal(kvType(ctx, arr("a.str")), 9);
    assert.equal(arrType(ctx, arr("a.str")), 8);
    assert.deepEqual([0, 1, 2, 3].map((i) => arrStr(ctx, arr("a.str"), i)), ["", "x", "▁the", "<0x0A>"]);
    assert.deepEqual(Array.from(k.decode(arrData(ctx, arr("a.f32")), "float", 3) as ArrayLike<number>), [1.5, -0, Math.fround(3e-40)]);
    assert.deepEqual(Array.from(k.decode(arrData(ctx, arr("a.i32")), "int32", 3) as ArrayLike<number>), [-1, 2, 3]);
    assert.equal(Number(arrN(ctx, arr("a.u8"))), 2);
    assert.equal(Number(arrN(ctx, arr("a.empty"))), 0);
    assert.equal(Number(alignment(ctx)), 64);
    assert.equal(Number(dataOffset(ctx)), ours.dataOffset);
    assert.equal(Number(nTensors(ctx)), 4);
    ours.tensors.forEach((t, i) => {
      assert.equal(tName(ctx, i), t.name);
      assert.equal(Number(dataOffset(ctx)) + Number(tOffset(ctx, i)), t.offset, `${t.name} offset`);
      assert.equal(tType(ctx, i), t.type.id, `${t.name} type`);
      assert.equal(Number(tSize(ctx, i)), t.nbytes, `${t.name} size`);
      assert.equal(t.offset % 64, 0);
    });
  } finally {
    free(ctx);
  }
});
