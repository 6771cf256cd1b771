/**
 * The "run as llama.cpp rounds it" hooks against llama.cpp's own CPU library: the activation rounding
 * chosen for each weight type is ggml-cpu's `vec_dot_type` (from `ggml_get_type_traits_cpu`), and the
 * Q8_0 / Q8_K / F16 roundings are bit-exact with the conversions ggml-cpu applies (`from_float` of that
 * type, decoded by libggml-base's dequantizers). With these hooks the KLD parity test meets llama.cpp on
 * Q8_0 too (test/model/kld-llamacpp.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { klDivergence } from "../../src/dsl/quality.js";
import { readGguf, writeGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel } from "../../src/gguf/model-quantize.js";
import { GGML_TYPES } from "../../src/gguf/types.js";
import { cloneModel } from "../../src/model/llama.js";
import { loadModel } from "../../src/model/formats/load.js";
import { activationRounding, roundActivations, type ActivationRounding } from "../../src/model/runtime/like-llama-cpp.js";
import { LLAMA_BINS, sharedFile, skipUnless } from "../helpers/shared.js";
import { mulberry32 } from "../helpers/random.js";

type Fn = (...args: unknown[]) => unknown;
interface Koffi {
  load(path: string): { func(sig: string): Fn };
  struct(name: string, def: Record<string, string>): unknown;
  decode(p: unknown, t: unknown): Record<string, unknown>;
}

// the AVX2 build: what ggml loads on any x86-64 CPU from the last decade (the AVX-512 builds share its row converters)
const CPU_LIB = join(LLAMA_BINS, "libggml-cpu-haswell.so");
const BASE_LIB = join(LLAMA_BINS, "libggml-base.so");
const STORIES = sharedFile("stories260K-f32.gguf");
const skip = skipUnless([[existsSync(CPU_LIB), `${CPU_LIB} is missing (npm ci installs node-llama-cpp)`]]);

let cachedLibs: ReturnType<typeof loadLibs> | undefined;
const libs = () => (cachedLibs ??= loadLibs());

function loadLibs() {
  const koffi = createRequire(import.meta.url)("koffi") as Koffi;
  const base = koffi.load(BASE_LIB);
  const cpu = koffi.load(CPU_LIB);
  const traits = koffi.struct("ql_type_traits_cpu", { from_float: "void *", vec_dot: "void *", vec_dot_type: "int", nrows: "int64" });
  const get = cpu.func("const ql_type_traits_cpu *ggml_get_type_traits_cpu(int type)");
  return {
    vecDotType: (id: number) => koffi.decode(get(id), traits).vec_dot_type as number,
    q8_0: cpu.func("void quantize_row_q8_0(const float *x, _Out_ void *y, int64_t k)"),
    q8_K: cpu.func("void quantize_row_q8_K(const float *x, _Out_ void *y, int64_t k)"),
    f16: cpu.func("void ggml_cpu_fp32_to_fp16(const float *x, _Out_ uint16_t *y, int64_t n)"),
    dq8_0: base.func("void dequantize_row_q8_0(const void *x, _Out_ float *y, int64_t k)"),
    dq8_K: base.func("void dequantize_row_q8_K(const void *x, _Out_ float *y, int64_t k)"),
    f16ToF32: base.func("void ggml_fp16_to_fp32_row(const uint16_t *x, _Out_ float *y, int64_t n)"),
  };
}

const NAME_OF: Record<number, ActivationRounding> = { 0: "F32", 1: "F16", 8: "Q8_0", 9: "Q8_0", 15: "Q8_K", 30: "BF16" };

test("each weight type's activation rounding is ggml-cpu's vec_dot_type", { skip }, () => {
  const l = libs();
  for (const t of GGML_TYPES) {
    if (/^(I8|I16|I32|I64|F64|Q8_1|Q8_K|Q1_0)$/.test(t.name)) continue; // never weights of a linear
    const want = NAME_OF[l.vecDotType(t.id)];
    assert.ok(want, `${t.name}: vec_dot_type ${l.vecDotType(t.id)} is not one QuantLab rounds to`);
    assert.equal(activationRounding(t.name), want, t.name);
  }
});

test("Q8_0, Q8_K and F16 activation rounding are bit-exact with ggml-cpu's conversions", { skip }, () => {
  const l = libs();
  const rand = mulberry32(7);
  const n = 256 * 16;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const scale = [1e-3, 1, 30, 1e4][(i >> 8) & 3];
    x[i] = (rand() - 0.5) * scale * (i % 97 === 0 ? 40 : 1);
  }
  x.fill(0, 512, 768); // an all-zero block of each size
  x.fill(0.25, 768, 800); // a constant one
  for (let i = 1024; i < 1056; i++) x[i] = (i - 1040) * 0.5; // exact halves: the tie rule decides
  const check = (r: ActivationRounding, theirs: Float32Array) => {
    const ours = roundActivations(x.slice(), n, r);
    let diff = 0;
    for (let i = 0; i < n; i++) if (!Object.is(ours[i], theirs[i])) diff++;
    assert.equal(diff, 0, `${r}: ${diff} of ${n} values differ`);
  };
  const bytes = new Uint8Array(n * 2);
  const out = new Float32Array(n);
  l.q8_0(x, bytes, n);
  l.dq8_0(bytes, out, n);
  check("Q8_0", out.slice());
  const k = new Uint8Array((n / 256) * 292);
  l.q8_K(x, k, n);
  l.dq8_K(k, out, n);
  check("Q8_K", out.slice());
  const h = new Uint16Array(n);
  l.f16(x, h, n);
  l.f16ToF32(h, out, n);
  check("F16", out.slice());
});

test("klDivergence({ likeLlamaCpp }): a file's stored types decide the rounding; a model against itself stays at 0", { skip: STORIES.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-like-"));
  try {
    const q8 = join(dir, "q8_0.gguf");
    await writeGguf(q8, quantizeGgufModel(await readGguf(STORIES.path), "Q8_0").content);
    const [base, quant] = await Promise.all([loadModel(STORIES.path), loadModel(q8)]);
    assert.equal(quant.storedTypes?.get("blk.0.attn_q.weight"), "Q8_0");
    assert.equal(cloneModel(quant).storedTypes, undefined, "a copy made to be changed no longer has the file's types");
    const text = readFileSync(sharedFile("tinystories-val.txt").path, "utf8").slice(0, 3000);
    const self = await klDivergence(quant, quant, text, { maxTokens: 200, likeLlamaCpp: true });
    assert.equal(self.kld.max, 0);
    assert.equal(self.sameTopPercent, 100);
    const plain = await klDivergence(base, quant, text, { maxTokens: 200 });
    const like = await klDivergence(base, quant, text, { maxTokens: 200, likeLlamaCpp: true });
    assert.ok(like.kld.mean > 1.5 * plain.kld.mean, `rounded as llama.cpp ${like.kld.mean}, float32 ${plain.kld.mean}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
