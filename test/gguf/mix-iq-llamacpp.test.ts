/**
 * The mixes of the newer types — IQ4_NL, IQ4_XS, MXFP4_MOE — against llama_model_quantize: on
 * stories260K (rows of 64 and 172: the fallbacks) and on the synthetic 8-layer GQA-4 Llama (the attn_v
 * GQA rule and the ffn_down bump, which an importance matrix switches off), every tensor's type and bytes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, tensorBytes, type GgufFile } from "../../src/gguf/file.js";
import { MIXES, type MixName } from "../../src/gguf/mix.js";
import { quantizeGgufModel } from "../../src/gguf/model-quantize.js";
import { mulberry32 } from "../helpers/random.js";
import { LIBLLAMA, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3 } from "./llama-quantize.js";
import { syntheticLlama } from "./synthetic-llama.js";

const STORIES = sharedFile("stories260K-f32.gguf").path;
const skip = skipUnless([
  [existsSync(STORIES), `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`],
  [existsSync(LIBLLAMA), `llama.cpp's ${LIBLLAMA} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`],
]);

const MIX_NAMES: MixName[] = ["IQ4_NL", "IQ4_XS", "MXFP4_MOE"];

/** Every tensor of llama.cpp's file against QuantLab's for the same mix: type, then bytes. */
function differences(mix: MixName, theirs: GgufFile, src: GgufFile, imatrices?: Map<string, Float32Array>): string[] {
  const ours = quantizeGgufModel(src, mix, imatrices ? { imatrices } : {}).content;
  const bad: string[] = [];
  assert.equal(ours.tensors.length, theirs.tensors.length, `${mix}: tensor count`);
  assert.equal((ours.metadata as Map<string, { value: unknown }>).get("general.file_type")?.value, theirs.metadata.get("general.file_type")?.value);
  for (const t of theirs.tensors) {
    const o = ours.tensors.find((x) => x.name === t.name)!;
    const oType = typeof o.type === "string" ? o.type : o.type.name;
    if (oType !== t.type.name) bad.push(`${mix} ${t.name}: llama.cpp ${t.type.name}, QuantLab ${oType}`);
    else if (Buffer.compare(Buffer.from(o.data), Buffer.from(tensorBytes(theirs, t.name))) !== 0) bad.push(`${mix} ${t.name}: ${oType} bytes differ`);
  }
  return bad;
}

test("IQ4_NL, IQ4_XS and MXFP4_MOE of stories260K and of a GQA-4 Llama match llama-quantize tensor for tensor", { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-mix-iq-"));
  try {
    const stories = await readGguf(STORIES);
    const inputs: [string, GgufFile][] = [];
    await writeV3(stories, join(dir, "stories.gguf"));
    await syntheticLlama(stories, join(dir, "synthetic.gguf"));
    for (const name of ["stories", "synthetic"]) inputs.push([name, await readGguf(join(dir, `${name}.gguf`))]);
    const bad: string[] = [];
    for (const [name, src] of inputs) {
      const jobs = MIX_NAMES.map((m) => [join(dir, `${name}-${m}.gguf`), MIXES[m].ftype] as [string, number]);
      llamaQuantize(join(dir, `${name}.gguf`), jobs);
      for (const [i, mix] of MIX_NAMES.entries()) bad.push(...differences(mix, await readGguf(jobs[i]![0]), src).map((d) => `${name} ${d}`));
    }
    assert.deepEqual(bad, []);
    // the rules really fired on the synthetic model
    const plan = quantizeGgufModel(inputs[1]![1], "IQ4_XS").plan;
    const to = (n: string) => plan.choices.find((c) => c.name === n)!.to;
    assert.deepEqual([to("blk.0.attn_v.weight"), to("blk.0.ffn_down.weight"), to("blk.1.ffn_down.weight"), to("output.weight")], ["Q5_K", "Q5_K", "IQ4_XS", "Q6_K"]);

    // with an importance matrix llama.cpp drops the ffn_down bump, and the imatrix shapes the IQ4 bytes
    const rand = mulberry32(5);
    const synth = inputs[1]![1];
    const imatrices = new Map(synth.tensors.filter((t) => t.dims.length === 2 && t.name !== "token_embd.weight")
      .map((t) => [t.name, Float32Array.from({ length: t.dims[0]! }, () => (rand() < 0.05 ? 40 : 0.5) * rand())]));
    const imJson = join(dir, "imatrix.json");
    writeFileSync(imJson, JSON.stringify(Object.fromEntries([...imatrices].map(([k, v]) => [k, Array.from(v)]))));
    const jobs = (["IQ4_NL", "IQ4_XS"] as MixName[]).map((m) => [join(dir, `im-${m}.gguf`), MIXES[m].ftype] as [string, number]);
    llamaQuantize(join(dir, "synthetic.gguf"), jobs, imJson);
    const badIm: string[] = [];
    for (const [i, mix] of (["IQ4_NL", "IQ4_XS"] as MixName[]).entries()) badIm.push(...differences(mix, await readGguf(jobs[i]![0]), synth, imatrices));
    assert.deepEqual(badIm, []);
    assert.equal(quantizeGgufModel(synth, "IQ4_XS", { imatrices }).plan.choices.find((c) => c.name === "blk.0.ffn_down.weight")!.to, "IQ4_XS");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
