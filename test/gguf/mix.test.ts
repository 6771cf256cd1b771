/**
 * The type mixes on a synthetic 32-layer Llama (rows of 4096, so no fallbacks) against llama.cpp's rules
 * written out by hand from src/llama-quant.cpp: "more bits" layers for n = 32 are i < 4, i ≥ 28 and
 * (i − 4) % 3 == 2; then the fallbacks for rows that are not multiples of 256 or 32.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MIXES, parseTensorTypeOverride, planMix, type MixInputTensor } from "../../src/gguf/mix.js";

const N = 32;
const MORE_BITS = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];

function llama32(tied = false): MixInputTensor[] {
  const t = (name: string, ...dims: number[]): MixInputTensor => ({ name, dims, type: "F16" });
  const out = [t("token_embd.weight", 4096, 32000)];
  for (let i = 0; i < N; i++) {
    const b = `blk.${i}.`;
    out.push(t(b + "attn_norm.weight", 4096), t(b + "attn_q.weight", 4096, 4096), t(b + "attn_k.weight", 4096, 1024),
      t(b + "attn_v.weight", 4096, 1024), t(b + "attn_output.weight", 4096, 4096), t(b + "ffn_gate.weight", 4096, 11008),
      t(b + "ffn_up.weight", 4096, 11008), t(b + "ffn_down.weight", 11008, 4096), t(b + "ffn_norm.weight", 4096));
  }
  out.push(t("output_norm.weight", 4096));
  if (!tied) out.push(t("output.weight", 4096, 32000));
  return out;
}

/** llama.cpp's expected type for every tensor of llama32 under a mix, from its rules. */
function expected(mix: string, tied = false): Map<string, string> {
  const base = MIXES[mix as keyof typeof MIXES].base;
  const m = new Map<string, string>();
  const output = mix === "Q8_0" ? "Q8_0" : "Q6_K";
  m.set("token_embd.weight", tied ? output : base);
  m.set("output_norm.weight", "F16");
  if (!tied) m.set("output.weight", output);
  for (let i = 0; i < N; i++) {
    const b = `blk.${i}.`;
    const more = MORE_BITS.includes(i);
    for (const n of ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"]) m.set(`${b}${n}.weight`, base);
    m.set(b + "attn_norm.weight", "F16");
    m.set(b + "ffn_norm.weight", "F16");
    let v: string = base;
    let down: string = base;
    if ((mix === "Q4_K_M" || mix === "Q5_K_M") && more) v = down = "Q6_K";
    if (mix === "Q4_K_S") {
      if (i < 4) v = "Q5_K"; // the first four attn_v
      if (i < N / 8) down = "Q5_K";
    }
    if (mix === "Q2_K") { v = down = "Q3_K"; m.set(b + "attn_output.weight", "Q3_K"); } // GQA 1: attn_v Q3_K
    if (mix === "Q3_K_M") {
      v = i < 2 ? "Q5_K" : "Q4_K"; // the first two attn_v
      down = i < N / 16 ? "Q5_K" : "Q4_K";
      m.set(b + "attn_output.weight", "Q4_K");
    }
    if (mix === "Q3_K_L") { v = down = "Q5_K"; m.set(b + "attn_output.weight", "Q5_K"); }
    m.set(b + "attn_v.weight", v);
    m.set(b + "ffn_down.weight", down);
  }
  return m;
}

const types = (mix: string, tensors: MixInputTensor[]) =>
  new Map(planMix(mix, tensors, { nLayers: N }).choices.map((c) => [c.name, c.to]));

for (const mix of ["Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0", "Q4_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L"]) {
  test(`${mix} on a 32-layer Llama: every tensor's type as llama.cpp's rules give it`, () => {
    assert.deepEqual(types(mix, llama32()), expected(mix));
    assert.deepEqual(types(mix, llama32(true)), expected(mix, true), "tied embeddings: token_embd takes the output rule");
  });
}

test("Q4_K_M's more-bits layers for attn_v and ffn_down are exactly i < n/8, i ≥ 7n/8, (i − n/8) % 3 == 2", () => {
  const t = types("Q4_K_M", llama32());
  const six = (n: string) => [...Array(N).keys()].filter((i) => t.get(`blk.${i}.${n}.weight`) === "Q6_K");
  assert.deepEqual(six("attn_v"), MORE_BITS);
  assert.deepEqual(six("ffn_down"), MORE_BITS);
});

test("file order does not matter: llama.cpp counts layers in (layer, name) order", () => {
  const shuffled = llama32().reverse();
  assert.deepEqual(types("Q4_K_M", shuffled), expected("Q4_K_M"));
});

test("fallbacks when rows are not multiples of 256 (or 32), and general.file_type", () => {
  const t = (name: string, ...dims: number[]): MixInputTensor => ({ name, dims, type: "F32" });
  const small = [t("token_embd.weight", 64, 512), t("blk.0.attn_v.weight", 96, 32), t("blk.0.ffn_down.weight", 172, 64),
    t("blk.0.attn_q.weight", 64, 64), t("output.weight", 64, 512), t("blk.0.attn_norm.weight", 64)];
  const q4km = planMix("Q4_K_M", small, { nLayers: 1 });
  assert.deepEqual(q4km.choices.map((c) => c.to), [
    "Q5_0", // Q4_K → Q5_0
    "Q8_0", // layer 0 of 1 gets more bits: Q6_K → Q8_0 (96 = 3 × 32)
    "F16", // Q6_K → Q8_0 still does not divide 172
    "Q5_0",
    "Q8_0", // output: rows not a multiple of 256 → Q8_0 directly
    "F32", // 1-D
  ]);
  assert.equal(q4km.fallbacks, 4);
  assert.equal(q4km.ftype, 15);
  assert.deepEqual(planMix("Q5_K_S", small, { nLayers: 1 }).choices.map((c) => c.to), ["Q5_1", "Q5_1", "F16", "Q5_1", "Q8_0", "F32"]);
  assert.deepEqual(planMix("Q4_0", small, { nLayers: 1 }).choices.map((c) => c.to), ["Q4_0", "Q4_0", "F16", "Q4_0", "Q8_0", "F32"]);
  assert.deepEqual(Object.fromEntries(Object.entries(MIXES).map(([k, v]) => [k, v.ftype])), {
    F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, BF16: 32,
    // llama.h's llama_ftype for the mixes added with the newer types
    Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13, Q2_K_S: 21, IQ4_NL: 25, IQ4_XS: 30, TQ1_0: 36, TQ2_0: 37, MXFP4_MOE: 38,
  });
  const bytes = q4km.choices.reduce((a, c) => a + c.bytes, 0);
  assert.equal(q4km.totalBytes, bytes);
  assert.equal(q4km.choices[0]!.bytes, (64 * 512 / 32) * 22);
  assert.throws(() => planMix("Q3_X", small, { nLayers: 1 }), /unknown quantization mix 'Q3_X'/);
});

test("llama-quantize's overrides on the 32-layer Llama: output and embedding types, --pure, first matching --tensor-type", () => {
  const plan = (o: Parameters<typeof planMix>[3]) => new Map(planMix("Q4_K_M", llama32(), { nLayers: N }, o).choices.map((c) => [c.name, c.to]));
  const base = expected("Q4_K_M");
  const ov = plan({ outputTensorType: "q8_0", tokenEmbeddingType: "Q5_K" });
  assert.deepEqual(ov, new Map([...base, ["output.weight", "Q8_0"], ["token_embd.weight", "Q5_K"]]));
  const pure = plan({ pure: true });
  for (const [name, type] of pure) assert.equal(type, name.endsWith("norm.weight") ? "F16" : "Q4_K", `--pure: ${name}`);
  const tt = plan({ tensorTypes: [{ pattern: "blk\\.1[0-9]\\.attn_v", type: "Q8_0" }, { pattern: "attn_v", type: "Q2_K" }] });
  assert.deepEqual([tt.get("blk.12.attn_v.weight"), tt.get("blk.0.attn_v.weight"), tt.get("blk.0.ffn_down.weight")], ["Q8_0", "Q2_K", "Q6_K"]);
  // tied embeddings: --output-tensor-type reaches token_embd through the output rule
  const tied = new Map(planMix("Q4_K_M", llama32(true), { nLayers: N }, { outputTensorType: "Q5_0" }).choices.map((c) => [c.name, c.to]));
  assert.equal(tied.get("token_embd.weight"), "Q5_0");
});

test("--tensor-type NAME=TYPE parses as llama-quantize does, and bad overrides name the fix", () => {
  assert.deepEqual(parseTensorTypeOverride("Attn_V=q8_0"), { pattern: "attn_v", type: "Q8_0" });
  assert.deepEqual(parseTensorTypeOverride("blk\\.[0-3]\\.ffn_down=Q5_K"), { pattern: "blk\\.[0-3]\\.ffn_down", type: "Q5_K" });
  assert.throws(() => parseTensorTypeOverride("attn_v"), /must be NAME=TYPE/);
  assert.throws(() => parseTensorTypeOverride("=Q8_0"), /must be NAME=TYPE/);
  assert.throws(() => parseTensorTypeOverride("attn_v=Q9_9"), /cannot encode type 'Q9_9'/);
  assert.throws(() => planMix("Q4_K_M", llama32(), { nLayers: N }, { tensorTypes: [{ pattern: "attn_(v", type: "Q8_0" }] }), /pattern 'attn_\(v' is not a regular expression/);
  assert.throws(() => planMix("Q4_K_M", llama32(), { nLayers: N }, { outputTensorType: "IQ2_XXS" }), /--output-tensor-type: QuantLab cannot encode type 'IQ2_XXS'/);
});
