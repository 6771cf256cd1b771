/**
 * KLD parity with llama.cpp: stories260K re-quantized to Q8_0, Q4_0, Q4_K_M (QuantLab's mixes, which
 * match llama-quantize byte for byte) and Q2_K (llama_model_quantize itself); each file is scored by
 * QuantLab and by libllama on the same BOS-led windows, and the statistics agree within 1 % relative
 * or one standard error. Q8_0 is the exception, kept to a looser check: llama.cpp's CPU matmul rounds
 * every activation row to Q8_0 blocks (F16 for F16 weights) before the dot product while QuantLab
 * multiplies in float32, and at 8.5 bits that rounding is as large as the weights' own error — its KLD
 * measured 0.00075 in llama.cpp against 0.00038 here (Q4_0 0.1003 vs 0.1004); a plain-loop forward
 * that rounds the activations as llama.cpp does (Q8_0 blocks with an FP16 scale, F16 for ffn_down)
 * gives 0.00073 on the same tokens. The saved base stays within 0.1 % of the exact KLD on the real
 * model, and KLD orders the quantizations as their bits do: Q8_0 < Q4_K_M < Q2_K, on both course models.
 * (stories260K's rows of 64 and 172 are no multiple of 256, so llama.cpp's Q2_K falls back to Q4_0 on
 * every tensor there and the two files score alike; the project model is the sharper check.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, writeGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel } from "../../src/gguf/model-quantize.js";
import type { MixName } from "../../src/gguf/mix.js";
import { loadModel } from "../../src/model/formats/load.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { windows } from "../../src/model/runtime/eval.js";
import { baseFileBytes } from "../../src/model/runtime/kld-base.js";
import { baseLogProbs, klDivergenceRuntimes, klDivergenceSaved, type KldResult } from "../../src/model/runtime/kld.js";
import { LIBLLAMA, REPO_ROOT, sharedFile, skipUnless } from "../helpers/shared.js";
import { llamaQuantize, writeV3 } from "../gguf/llama-quantize.js";
import { llamaCppModel } from "./llamacpp.js";
import { llamaCppLogProbs, referenceStats } from "./kld-reference.js";

const STORIES = sharedFile("stories260K-f32.gguf");
const VAL = sharedFile("tinystories-val.txt");
const SOTU = join(REPO_ROOT, "data", "sotu-llama.gguf");
const skip = skipUnless([[!STORIES.skip, String(STORIES.skip)], [!VAL.skip, String(VAL.skip)], [existsSync(LIBLLAMA), `${LIBLLAMA} is missing (npm ci installs node-llama-cpp)`]]);
const Q2_K_FTYPE = 10;

/** F32 (v3) and the four quantizations of a GGUF model, in a temporary folder. */
async function quantizations(src: string, dir: string): Promise<Record<string, string>> {
  const file = await readGguf(src);
  const paths: Record<string, string> = { F32: join(dir, "f32.gguf") };
  await writeV3(file, paths.F32);
  for (const mix of ["Q8_0", "Q4_0", "Q4_K_M"] as MixName[]) {
    paths[mix] = join(dir, `${mix}.gguf`);
    await writeGguf(paths[mix], quantizeGgufModel(file, mix).content);
  }
  paths.Q2_K = join(dir, "Q2_K.gguf");
  llamaQuantize(paths.F32, [[paths.Q2_K, Q2_K_FTYPE]]);
  return paths;
}

async function ours(basePath: string, quantPath: string, ids: number[], maxTokens: number): Promise<KldResult> {
  const [b, q] = await Promise.all([loadModel(basePath), loadModel(quantPath)]);
  const rb = await LlamaRuntime.create(b), rq = await LlamaRuntime.create(q);
  try {
    return klDivergenceRuntimes(rb, rq, ids, b.tokenizer!.bos, { maxTokens });
  } finally {
    rb.dispose();
    rq.dispose();
  }
}

const misses: string[] = [];
const close = (a: number, b: number, stderr: number, what: string) => {
  if (!(Math.abs(a - b) <= Math.max(0.01 * Math.abs(b), stderr))) misses.push(`${what}: QuantLab ${a}, llama.cpp ${b} (± ${stderr})`);
};

test("KLD, same-top % and both perplexities agree with llama.cpp on stories260K Q8_0, Q4_0, Q4_K_M, Q2_K", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-kld-ref-"));
  try {
    const paths = await quantizations(STORIES.path, dir);
    const m = await loadModel(paths.F32);
    const ids = m.tokenizer!.encode(readFileSync(VAL.path, "utf8").slice(0, 8000));
    const N = 1022; // two full windows of 512
    const ws = windows(ids, m.tokenizer!.bos, 512, N);
    const targets = ws.flatMap((w) => w.slice(1));
    const baseRef = await llamaCppLogProbs(await llamaCppModel(paths.F32), ws, m.config.vocabSize);
    const results: Record<string, KldResult> = {};
    for (const q of ["Q8_0", "Q4_0", "Q4_K_M", "Q2_K"]) {
      const ref = referenceStats(baseRef, await llamaCppLogProbs(await llamaCppModel(paths[q]), ws, m.config.vocabSize), targets);
      const r = (results[q] = await ours(paths.F32, paths[q], ids, N));
      assert.equal(r.tokens, targets.length);
      const sameStderr = 100 * Math.sqrt((ref.sameTopPercent / 100) * (1 - ref.sameTopPercent / 100) / (targets.length - 1));
      if (q === "Q8_0") {
        // activation rounding only adds error: llama.cpp's KLD is above ours, by less than 3×
        assert.ok(r.kld.mean < ref.meanKld && r.kld.mean > ref.meanKld / 3, `Q8_0 KLD ${r.kld.mean} vs llama.cpp ${ref.meanKld}`);
        assert.ok(Math.abs(r.sameTopPercent - ref.sameTopPercent) < 3 * sameStderr, `Q8_0 same top ${r.sameTopPercent} vs ${ref.sameTopPercent}`);
      } else {
        close(r.kld.mean, ref.meanKld, ref.kldStderr, `${q} mean KLD`);
        close(r.sameTopPercent, ref.sameTopPercent, sameStderr, `${q} same top %`);
      }
      close(r.perplexity, ref.perplexity, 0, `${q} perplexity`);
      close(r.basePerplexity, ref.basePerplexity, 0, `${q} base perplexity`);
      console.log(`# ${q}: KLD ${r.kld.mean.toFixed(6)} ± ${r.kld.stderr.toFixed(6)} (llama.cpp ${ref.meanKld.toFixed(6)}), same top ${r.sameTopPercent.toFixed(2)} % (${ref.sameTopPercent.toFixed(2)}), PPL ${r.perplexity.toFixed(4)} (${ref.perplexity.toFixed(4)}) / base ${r.basePerplexity.toFixed(4)} (${ref.basePerplexity.toFixed(4)})`);
    }
    assert.deepEqual(misses, []);
    assert.ok(results.Q8_0.kld.mean < results.Q4_K_M.kld.mean && results.Q4_K_M.kld.mean < results.Q2_K.kld.mean,
      `Q8_0 ${results.Q8_0.kld.mean} < Q4_K_M ${results.Q4_K_M.kld.mean} < Q2_K ${results.Q2_K.kld.mean}`);

    // the saved base (the tokens it takes to leave out less than 1e-4 of the mass, plus that mass),
    // within 0.1 % of the exact KLD on each file
    const rb = await LlamaRuntime.create(m);
    const saved = baseLogProbs(rb, ids, m.tokenizer!.bos, { maxTokens: N });
    rb.dispose();
    for (const q of ["Q8_0", "Q4_0", "Q4_K_M", "Q2_K"]) {
      const rq = await LlamaRuntime.create(await loadModel(paths[q]));
      const s = klDivergenceSaved(saved, rq, ids, m.tokenizer!.bos, { maxTokens: N });
      rq.dispose();
      const rel = Math.abs(s.kld.mean / results[q].kld.mean - 1);
      console.log(`# ${q}: saved base (${(saved.offsets[N] / N).toFixed(1)} entries per token, ${baseFileBytes(N, saved.offsets[N])} bytes) KLD ${s.kld.mean.toFixed(6)}, exact ${results[q].kld.mean.toFixed(6)} (${(100 * rel).toFixed(4)} %)`);
      assert.ok(rel < 1e-3, `${q}: saved ${s.kld.mean} exact ${results[q].kld.mean}`);
      assert.equal(s.sameTopPercent, results[q].sameTopPercent);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("KLD orders the project model's quantizations by bits: Q8_0 < Q4_K_M < Q2_K", { skip: skip || (!existsSync(SOTU) && `${SOTU} is missing`) }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-kld-sotu-"));
  try {
    const paths = await quantizations(SOTU, dir);
    const m = await loadModel(paths.F32);
    const { courseText } = await import("../../src/dsl/layer.js");
    const ids = m.tokenizer!.encode(courseText(m, 0, 4000));
    const r = Object.fromEntries(await Promise.all(["Q8_0", "Q4_K_M", "Q2_K"].map(async (q) => [q, (await ours(paths.F32, paths[q], ids, 1000)).kld.mean] as const)));
    console.log(`# sotu-llama KLD: ${JSON.stringify(r)}`);
    assert.ok(r.Q8_0 < r.Q4_K_M && r.Q4_K_M < r.Q2_K, JSON.stringify(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
