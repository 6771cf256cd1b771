/**
 * The type mixes and whole-model quantization against llama.cpp itself: `llama_model_quantize` from the
 * devDependency's libllama (the exact llama.cpp node-llama-cpp ships) quantizes the same F32 model, and
 * QuantLab's plan must give every tensor the same type and — the block quantizers being bit-exact — the
 * same bytes. Then llama.cpp (node-llama-cpp) loads QuantLab's files and generates text.
 *
 * Two models: the real stories260K (rows of 64 and 172, so nearly every K-quant falls back) and a
 * synthetic 8-layer Llama with rows of 256 (the layer-position rules for attn_v and ffn_down), written
 * with its layers in reverse file order, since llama.cpp counts layers in its own sorted order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openGguf, readGguf, writeGguf, tensorBytes, type GgufValue } from "../../src/gguf/file.js";
import { MIXES, type MixName } from "../../src/gguf/mix.js";
import { quantizeGgufModel, quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { LIBLLAMA, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3 } from "./llama-quantize.js";
import { syntheticLlama } from "./synthetic-llama.js";

const STORIES = sharedFile("stories260K-f32.gguf").path;
const skip = skipUnless([
  [existsSync(STORIES), `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`],
  [existsSync(LIBLLAMA), `llama.cpp's ${LIBLLAMA} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`],
]);

/** Compares QuantLab's quantization of `input` by `mix` with llama.cpp's (`ref`): every tensor's type and bytes. */
async function compareMix(input: string, mix: MixName, ref: string): Promise<string[]> {
  const theirs = await readGguf(ref);
  // the streaming path the CLI takes: the input opened by its header, tensors read one at a time
  const src = await openGguf(input);
  const ours = await quantizeTensorSource(src, mix);
  await src.close();
  const mismatches: string[] = [];
  for (const t of theirs.tensors) {
    const o = ours.content.tensors.find((x) => x.name === t.name);
    if (!o) {
      // llama.cpp materialises a tied output (TENSOR_DUPLICATED) only when the model lacks one
      mismatches.push(`${t.name}: missing in QuantLab's file`);
      continue;
    }
    const oType = typeof o.type === "string" ? o.type : o.type.name;
    if (oType !== t.type.name) mismatches.push(`${t.name}: llama.cpp ${t.type.name}, QuantLab ${oType}`);
    else if (Buffer.compare(Buffer.from(o.data), Buffer.from(tensorBytes(theirs, t.name))) !== 0) mismatches.push(`${t.name}: ${oType} bytes differ`);
  }
  assert.equal(ours.content.tensors.length, theirs.tensors.length, `${mix}: tensor count`);
  const meta = ours.content.metadata as Map<string, GgufValue>;
  assert.equal(meta.get("general.file_type")?.value, theirs.metadata.get("general.file_type")?.value, `${mix}: general.file_type`);
  assert.equal(meta.get("general.quantization_version")?.value, 2);
  return mismatches;
}

async function compareAll(input: string, mixes: MixName[], dir: string): Promise<string[]> {
  const jobs = mixes.map((m) => [join(dir, `ref-${m}.gguf`), MIXES[m].ftype] as [string, number]);
  llamaQuantize(input, jobs);
  const bad: string[] = [];
  for (const [i, mix] of mixes.entries()) bad.push(...(await compareMix(input, mix, jobs[i]![0])).map((m) => `${mix} ${m}`));
  return bad;
}

const STORIES_MIXES: MixName[] = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16"];
const SYNTH_MIXES: MixName[] = ["Q4_K_S", "Q4_K_M", "Q5_K_M"];

test("every mix of stories260K matches llama-quantize tensor for tensor, byte for byte", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-"));
  try {
    const input = join(dir, "stories-v3.gguf");
    await writeV3(await readGguf(STORIES), input);
    const bad = await compareAll(input, STORIES_MIXES, dir);
    assert.deepEqual(bad, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("layer-position rules on rows of 256 (8 layers, reverse file order) match llama-quantize", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-"));
  try {
    const input = join(dir, "synthetic.gguf");
    await syntheticLlama(await readGguf(STORIES), input);
    const bad = await compareAll(input, SYNTH_MIXES, dir);
    assert.deepEqual(bad, []);
    // the rules really fired: Q4_K_M gives Q6_K to attn_v/ffn_down on layers 0, 3, 6, 7 and Q4_K elsewhere
    const plan = quantizeGgufModel(await readGguf(input), "Q4_K_M").plan;
    const typeOf = (n: string) => plan.choices.find((c) => c.name === n)!.to;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => typeOf(`blk.${i}.attn_v.weight`)), ["Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q6_K"]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => typeOf(`blk.${i}.ffn_down.weight`)), ["Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q4_K", "Q4_K", "Q6_K", "Q6_K"]);
    assert.equal(typeOf("output.weight"), "Q6_K");
    assert.equal(typeOf("token_embd.weight"), "Q4_K");
    assert.equal(typeOf("blk.0.attn_norm.weight"), "F32");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("llama.cpp loads QuantLab's Q8_0, Q4_0 and Q4_K_M stories260K and generates the same story opening", { skip }, async () => {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-"));
  try {
    const src = await readGguf(STORIES);
    const greedy = async (path: string): Promise<string> => {
      const model = await llama.loadModel({ modelPath: path });
      const ctx = await model.createContext({ contextSize: 128, threads: 1 });
      try {
        const seq = ctx.getSequence();
        const out: number[] = [];
        for await (const t of seq.evaluate([model.tokens.bos!], { temperature: 0 })) {
          out.push(t as unknown as number);
          if (out.length >= 24) break;
        }
        return model.detokenize(out as never[]);
      } finally {
        await ctx.dispose();
        await model.dispose();
      }
    };
    const f32Path = join(dir, "f32.gguf");
    await writeV3(src, f32Path);
    const reference = await greedy(f32Path);
    assert.match(reference, /^\s*Once upon a time/);
    for (const mix of ["Q8_0", "Q4_0", "Q4_K_M"] as MixName[]) {
      const path = join(dir, `${mix}.gguf`);
      await writeGguf(path, quantizeGgufModel(src, mix).content);
      const text = await greedy(path);
      // every mix keeps the opening; Q8_0 (8.5 bits) keeps the whole greedy continuation
      assert.match(text, /^\s*Once upon a time/, `${mix}: ${text}`);
      if (mix === "Q8_0") assert.equal(text, reference);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
