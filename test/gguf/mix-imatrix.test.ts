/**
 * Whole-model quantization with an importance matrix, against llama.cpp: an imatrix file in llama.cpp's
 * GGUF format (and the same data in the legacy .dat format) is read into per-tensor weights, and
 * QuantLab's Q4_K_M, Q5_K_M, Q4_0 and Q5_1 files of stories260K match llama_model_quantize given the same
 * weights byte for byte (the Q4_K → Q5_0 and Q5_K → Q5_1 fallbacks use the imatrix, Q8_0 and F16 ignore it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { readGguf, tensorBytes, writeGguf, type GgufValue } from "../../src/gguf/file.js";
import { MIXES, type MixName } from "../../src/gguf/mix.js";
import { quantizeGgufModel, readImatrix } from "../../src/gguf/model-quantize.js";
import { mulberry32 } from "../helpers/random.js";
import { LIBLLAMA, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3 } from "./llama-quantize.js";

const STORIES = sharedFile("stories260K-f32.gguf").path;
const skip = skipUnless([
  [existsSync(STORIES), `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`],
  [existsSync(LIBLLAMA), `llama.cpp's ${LIBLLAMA} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`],
]);

test("Q4_K_M, Q5_K_M, Q4_0, Q5_1 with an importance matrix (GGUF and legacy files) match llama-quantize byte for byte", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-imatrix-"));
  try {
    const src = await readGguf(STORIES);
    const input = join(dir, "stories-v3.gguf");
    await writeV3(src, input);
    // sums of x² over 37 calls with a few strong input channels, as llama-imatrix would collect them
    const rand = mulberry32(9);
    const weights = src.tensors.filter((t) => t.dims.length === 2 && t.name !== "token_embd.weight");
    const calls = 37;
    const imTensors = weights.flatMap((t) => {
      const sums = Float32Array.from({ length: t.dims[0]! }, () => calls * (rand() < 0.05 ? 50 * rand() : rand()));
      return [
        { name: `${t.name}.in_sum2`, dims: [t.dims[0]!, 1], type: "F32" as const, data: new Uint8Array(sums.buffer) },
        { name: `${t.name}.counts`, dims: [1, 1], type: "F32" as const, data: new Uint8Array(Float32Array.of(calls).buffer) },
      ];
    });
    const imPath = join(dir, "imatrix.gguf");
    await writeGguf(imPath, {
      metadata: new Map<string, GgufValue>([
        ["general.type", { type: "STRING", value: "imatrix" }],
        ["imatrix.datasets", { type: "ARRAY", itemType: "STRING", value: ["synthetic"] }],
        ["imatrix.chunk_count", { type: "UINT32", value: calls }],
        ["imatrix.chunk_size", { type: "UINT32", value: 512 }],
      ]),
      tensors: imTensors,
    });
    const imatrices = await readImatrix(imPath);
    assert.equal(imatrices.size, weights.length);

    // the same data as a legacy .dat file reads to the same weights
    const parts: Buffer[] = [Buffer.from(Int32Array.of(weights.length).buffer)];
    for (const t of weights) {
      const name = Buffer.from(t.name);
      const sums = Float32Array.from(imatrices.get(t.name)!, (w) => w * calls);
      parts.push(Buffer.from(Int32Array.of(name.length).buffer), name, Buffer.from(Int32Array.of(calls, sums.length).buffer), Buffer.from(sums.buffer));
    }
    writeFileSync(join(dir, "imatrix.dat"), Buffer.concat(parts));
    const legacy = await readImatrix(join(dir, "imatrix.dat"));
    for (const [name, w] of imatrices) {
      const l = legacy.get(name)!;
      for (let i = 0; i < w.length; i++) assert.ok(Math.abs(l[i]! - w[i]!) <= 1e-6 * w[i]!, `${name}[${i}]`);
    }

    const imJson = join(dir, "imatrix.json");
    writeFileSync(imJson, JSON.stringify(Object.fromEntries([...imatrices].map(([k, v]) => [k, Array.from(v)]))));
    const mixes: MixName[] = ["Q4_K_M", "Q5_K_M", "Q4_0", "Q5_1"];
    const jobs = mixes.map((m) => [join(dir, `ref-${m}.gguf`), MIXES[m].ftype] as [string, number]);
    llamaQuantize(input, jobs, imJson);
    const bad: string[] = [];
    for (const [i, mix] of mixes.entries()) {
      const theirs = await readGguf(jobs[i]![0]);
      const ours = quantizeGgufModel(src, mix, { imatrices }).content;
      const plain = quantizeGgufModel(src, mix).content;
      let changed = 0;
      for (const t of theirs.tensors) {
        const o = ours.tensors.find((x) => x.name === t.name)!;
        const oType = typeof o.type === "string" ? o.type : o.type.name;
        if (oType !== t.type.name) bad.push(`${mix} ${t.name}: llama.cpp ${t.type.name}, QuantLab ${oType}`);
        else if (Buffer.compare(Buffer.from(o.data), Buffer.from(tensorBytes(theirs, t.name))) !== 0) bad.push(`${mix} ${t.name}: bytes differ`);
        if (Buffer.compare(Buffer.from(o.data), Buffer.from(plain.tensors.find((x) => x.name === t.name)!.data)) !== 0) changed++;
      }
      // the imatrix really shaped the encoding of the re-encoded weight tensors
      assert.ok(changed >= 20, `${mix}: only ${changed} tensors changed with the imatrix`);
    }
    assert.deepEqual(bad, []);

    // an imatrix for another model is refused, naming the tensor
    const wrong = new Map([["blk.0.attn_q.weight", new Float32Array(32)]]);
    assert.throws(() => quantizeGgufModel(src, "Q4_K_M", { imatrices: wrong }),
      (e: unknown) => e instanceof QuantLabError && /blk\.0\.attn_q\.weight.*32 weights.*64/.test(e.message));
    await assert.rejects(readImatrix(input), /not an importance matrix/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
