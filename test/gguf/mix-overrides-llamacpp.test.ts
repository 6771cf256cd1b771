/**
 * The K-quant mixes llama-quantize names Q2_K, Q2_K_S, Q3_K_S/M/L and the ternary TQ1_0/TQ2_0, then
 * llama-quantize's overrides (--output-tensor-type, --token-embedding-type, --pure, --tensor-type), each
 * against llama_model_quantize with the same parameters: every tensor's type and bytes.
 *
 * Three models: stories260K (rows of 64 and 172: nearly everything falls back), the 8-layer GQA-4
 * synthetic Llama (rows of 256: the GQA rules), and a 16-layer one without grouping whose ffn_down rows
 * are 288 (the n/16 rule, GQA < 4 branches, and K-quant fallbacks on ffn_down).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, tensorBytes, type GgufFile } from "../../src/gguf/file.js";
import { MIXES, planMix, type MixName, type MixOverrides } from "../../src/gguf/mix.js";
import { mixModelInfo, quantizeGgufModel } from "../../src/gguf/model-quantize.js";
import { ggufType } from "../../src/gguf/types.js";
import { mulberry32 } from "../helpers/random.js";
import { LIBLLAMA, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3, type LlamaQuantizeOverrides } from "./llama-quantize.js";
import { syntheticLlama } from "./synthetic-llama.js";

const STORIES = sharedFile("stories260K-f32.gguf").path;
const skip = skipUnless([
  [existsSync(STORIES), `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`],
  [existsSync(LIBLLAMA), `llama.cpp's ${LIBLLAMA} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`],
]);

interface Case { mix: MixName; overrides?: MixOverrides }

const id = (type: string) => ggufType(type)!.id;

/** The same overrides as llama_model_quantize_params takes them (ggml ids). */
function forLlama(o: MixOverrides = {}): LlamaQuantizeOverrides {
  const out: LlamaQuantizeOverrides = {};
  if (o.outputTensorType) out.outputTensorType = id(o.outputTensorType);
  if (o.tokenEmbeddingType) out.tokenEmbeddingType = id(o.tokenEmbeddingType);
  if (o.pure) out.pure = true;
  if (o.tensorTypes) out.tensorTypes = o.tensorTypes.map((t) => [t.pattern, id(t.type)]);
  return out;
}

function differences(label: string, theirs: GgufFile, src: GgufFile, c: Case, imatrices?: Map<string, Float32Array>): string[] {
  const ours = quantizeGgufModel(src, c.mix, { ...c.overrides, ...(imatrices ? { imatrices } : {}) }).content;
  const bad: string[] = [];
  assert.equal(ours.tensors.length, theirs.tensors.length, `${label}: tensor count`);
  assert.equal((ours.metadata as Map<string, { value: unknown }>).get("general.file_type")?.value, theirs.metadata.get("general.file_type")?.value, label);
  for (const t of theirs.tensors) {
    const o = ours.tensors.find((x) => x.name === t.name)!;
    const oType = typeof o.type === "string" ? o.type : o.type.name;
    if (oType !== t.type.name) bad.push(`${label} ${t.name}: llama.cpp ${t.type.name}, QuantLab ${oType}`);
    else if (Buffer.compare(Buffer.from(o.data), Buffer.from(tensorBytes(theirs, t.name))) !== 0) bad.push(`${label} ${t.name}: ${oType} bytes differ`);
  }
  return bad;
}

/** Runs every case through llama_model_quantize (one child process) and QuantLab; returns the mismatches. */
async function compare(dir: string, name: string, input: string, cases: Case[], imatrices?: Map<string, Float32Array>): Promise<string[]> {
  let imJson = "";
  if (imatrices) {
    imJson = join(dir, `${name}-imatrix.json`);
    writeFileSync(imJson, JSON.stringify(Object.fromEntries([...imatrices].map(([k, v]) => [k, Array.from(v)]))));
  }
  const jobs = cases.map((c, i) => [join(dir, `${name}-${i}-${c.mix}.gguf`), MIXES[c.mix].ftype, forLlama(c.overrides)] as [string, number, LlamaQuantizeOverrides]);
  llamaQuantize(input, jobs, imJson);
  const src = await readGguf(input);
  const bad: string[] = [];
  for (const [i, c] of cases.entries()) {
    const label = `${name} ${c.mix}${c.overrides ? " " + JSON.stringify(c.overrides) : ""}`;
    bad.push(...differences(label, await readGguf(jobs[i]![0]), src, c, imatrices));
  }
  return bad;
}

function imatricesFor(file: GgufFile, seed: number): Map<string, Float32Array> {
  const rand = mulberry32(seed);
  return new Map(file.tensors.filter((t) => t.dims.length === 2 && t.name !== "token_embd.weight")
    .map((t) => [t.name, Float32Array.from({ length: t.dims[0]! }, () => (rand() < 0.05 ? 40 : 0.5) * rand())]));
}

const K_MIXES: MixName[] = ["Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "TQ1_0", "TQ2_0"];

const OVERRIDES: Case[] = [
  { mix: "Q4_K_M", overrides: { outputTensorType: "Q8_0", tokenEmbeddingType: "Q4_0" } },
  { mix: "Q4_K_M", overrides: { tensorTypes: [{ pattern: "attn_v", type: "Q8_0" }, { pattern: "blk\\.[0-3]\\.ffn_down", type: "Q5_0" }, { pattern: "ffn_up", type: "IQ4_XS" }] } },
  { mix: "Q3_K_M", overrides: { pure: true } },
  { mix: "Q5_K_S", overrides: { pure: true, tensorTypes: [{ pattern: "ffn_down", type: "Q6_K" }], outputTensorType: "Q4_K" } },
  { mix: "Q2_K", overrides: { tensorTypes: [{ pattern: "attn_(q|k)", type: "Q4_K" }, { pattern: "attn_q", type: "Q8_0" }] } },
  { mix: "F16", overrides: { outputTensorType: "Q8_0", tensorTypes: [{ pattern: "attn_v", type: "Q4_0" }] } },
];

test("Q2_K … Q3_K_L, TQ1_0, TQ2_0 of stories260K and two synthetic Llamas match llama-quantize tensor for tensor", { skip, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-k-"));
  try {
    const stories = await readGguf(STORIES);
    await writeV3(stories, join(dir, "stories.gguf"));
    await syntheticLlama(stories, join(dir, "gqa.gguf"));
    await syntheticLlama(stories, join(dir, "wide.gguf"), { nLayer: 16, nKv: 4, hidden: 288 });
    const bad: string[] = [];
    bad.push(...await compare(dir, "stories", join(dir, "stories.gguf"), K_MIXES.map((mix) => ({ mix }))));
    for (const name of ["gqa", "wide"]) {
      const input = join(dir, `${name}.gguf`);
      // Q2_K_S needs an importance matrix wherever a weight stays Q2_K (rows of 256)
      bad.push(...await compare(dir, name, input, K_MIXES.filter((m) => m !== "Q2_K_S").map((mix) => ({ mix }))));
      bad.push(...await compare(dir, `${name}-im`, input, [{ mix: "Q2_K_S" }, { mix: "Q4_0" }, { mix: "Q5_0" }], imatricesFor(await readGguf(input), 9)));
    }
    assert.deepEqual(bad, []);

    // the rules really fired
    const wide = await readGguf(join(dir, "wide.gguf"));
    const to = (mix: MixName, n: string) => quantizeGgufModel(wide, mix).plan.choices.find((c) => c.name === n)!.to;
    assert.deepEqual([to("Q3_K_M", "blk.0.attn_v.weight"), to("Q3_K_M", "blk.2.attn_v.weight"), to("Q3_K_M", "blk.0.ffn_down.weight"), to("Q3_K_M", "blk.1.ffn_down.weight")],
      ["Q5_K", "Q4_K", "Q5_1", "Q5_0"], "Q3_K_M on 16 layers: attn_v first 2 Q5_K; ffn_down Q5_K (→ Q5_1) on the first n/16, Q4_K (→ Q5_0) after");
    assert.deepEqual([to("Q2_K", "blk.0.attn_v.weight"), to("Q2_K", "blk.0.attn_output.weight"), to("TQ1_0", "token_embd.weight")], ["Q3_K", "Q3_K", "Q4_K"]);
    const gqa = await readGguf(join(dir, "gqa.gguf"));
    assert.equal(quantizeGgufModel(gqa, "Q2_K").plan.choices.find((c) => c.name === "blk.5.attn_v.weight")!.to, "Q4_K", "Q2_K's attn_v with GQA ≥ 4");
    assert.throws(() => quantizeGgufModel(gqa, "Q2_K_S"), /Q2_K_S needs an importance matrix/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--output-tensor-type, --token-embedding-type, --pure and --tensor-type match llama-quantize with the same parameters", { skip, timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-ov-"));
  try {
    const stories = await readGguf(STORIES);
    await writeV3(stories, join(dir, "stories.gguf"));
    await syntheticLlama(stories, join(dir, "wide.gguf"), { nLayer: 16, nKv: 4, hidden: 288 });
    const bad: string[] = [];
    bad.push(...await compare(dir, "wide", join(dir, "wide.gguf"), OVERRIDES));
    // rows of 64: the overrides' types are used as they are, the --tensor-type one falls back
    bad.push(...await compare(dir, "stories", join(dir, "stories.gguf"), [
      { mix: "Q4_K_M", overrides: { outputTensorType: "Q5_0", tokenEmbeddingType: "IQ4_NL" } },
      { mix: "Q8_0", overrides: { pure: true, tokenEmbeddingType: "Q8_0" } },
      { mix: "Q4_0", overrides: { tensorTypes: [{ pattern: "token_embd", type: "Q5_K" }] } },
    ]));
    assert.deepEqual(bad, []);
    // where llama.cpp aborts inside ggml (an --output-tensor-type whose block does not divide the row), QuantLab refuses first
    assert.throws(() => quantizeGgufModel(stories, "Q4_K_M", { outputTensorType: "Q4_K" }),
      /--output-tensor-type Q4_K: output.weight's rows of 64 are not a multiple of Q4_K's block of 256/);

    const wide = await readGguf(join(dir, "wide.gguf"));
    const plan = planMix("Q4_K_M", wide.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: t.type.name })), mixModelInfo(wide), OVERRIDES[1]!.overrides);
    const to = (n: string) => plan.choices.find((c) => c.name === n)!;
    assert.equal(to("blk.7.attn_v.weight").to, "Q8_0");
    assert.match(to("blk.7.attn_v.weight").reason, /--tensor-type attn_v/);
    // as in llama.cpp, a tensor the pattern decides does not advance the mix's layer counter: blk.4 and blk.5
    // are ffn_down number 0 and 1, "more bits" (Q6_K → Q8_0 on rows of 288), blk.6 is number 2 (Q4_K → Q5_0)
    assert.deepEqual(["blk.3", "blk.4", "blk.5", "blk.6"].map((b) => to(`${b}.ffn_down.weight`).to), ["Q5_0", "Q8_0", "Q8_0", "Q5_0"]);
    assert.equal(to("blk.4.ffn_up.weight").to, "IQ4_XS");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
