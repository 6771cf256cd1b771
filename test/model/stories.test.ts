/**
 * The real model: stories260K (GGUF v1) loads, writes the reference story greedily, and agrees with
 * llama.cpp (node-llama-cpp) on tokens and perplexity; the files QuantLab writes load in llama.cpp.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { generate, perplexity, windows } from "../../src/model/runtime/eval.js";
import { writeModelGguf, writeQuantizedGguf } from "../../src/model/quantize/export.js";
import { loadModel } from "../../src/model/formats/load.js";
import { parameterCount } from "../../src/model/llama.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { sharedFile } from "./helpers.js";
import { llamaCppGreedy, llamaCppModel, llamaCppNll } from "./llamacpp.js";

const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const skip = model.skip || val.skip;
const LILY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

test("stories260K: config, tokenizer and the reference greedy story", { skip }, async () => {
  const m = await loadModel(model.path);
  assert.deepEqual(m.config, { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, contextLength: 512, rmsEps: m.config.rmsEps, ropeTheta: 10000 });
  assert.ok(Math.abs(m.config.rmsEps - 1e-5) < 1e-9);
  // "tied": the file carries output.weight as an exact copy of the embedding
  assert.deepEqual(m.output!.data, m.tokenEmbedding.data);
  assert.equal(parameterCount(m), 2 * 32768 + 5 * (4096 + 2048 + 2048 + 4096 + 3 * 64 * 172 + 2 * 64) + 64);
  const tok = m.tokenizer!;
  assert.deepEqual(tok.encode("Once upon a time, there was a little girl named Lily."), [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
  const rt = await LlamaRuntime.create(m);
  const g = generate(rt, tok, "", { maxTokens: 40 });
  assert.ok(g.text.startsWith(LILY), g.text);
  rt.dispose();
});

test("stories260K agrees with llama.cpp: tokens, per-token NLL and perplexity within 0.5%", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-stories-"));
  try {
    const m = await loadModel(model.path);
    const v3 = join(dir, "stories-v3.gguf");
    await writeModelGguf(m, v3); // node-llama-cpp reads GGUF v3 only; the shared file is v1
    const ref = await llamaCppModel(v3);
    const text = readFileSync(val.path, "utf8").slice(0, 12000);
    const ids = m.tokenizer!.encode(text);
    assert.deepEqual(ids, Array.from(ref.tokenize(text)));
    const ws = windows(ids, 1, 512, 1533); // three windows
    const rt = await LlamaRuntime.create(m);
    const ours = perplexity(rt, m.tokenizer!, ids, { maxTokens: 1533 });
    const nll = await llamaCppNll(ref, ws);
    const theirs = Math.exp(nll.reduce((s, x) => s + x, 0) / nll.length);
    assert.equal(ours.tokens, nll.length);
    assert.ok(Math.abs(ours.perplexity / theirs - 1) < 0.005, `ours ${ours.perplexity} llama.cpp ${theirs}`);
    rt.dispose();
    // llama.cpp generates the same greedy story from our rewritten file
    const g = await llamaCppGreedy(ref, [1], 15);
    assert.deepEqual(g, [403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
    await ref.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Q4_0-quantized stories260K written as GGUF loads and generates in llama.cpp, and reloads here", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-q4-"));
  try {
    const m = await loadModel(model.path);
    const ids = m.tokenizer!.encode(readFileSync(val.path, "utf8").slice(0, 6000));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, 1, 2, 64), quantizer: quantizerFor({ gguf: "Q4_0" }) });
    const out = join(dir, "q4.gguf");
    await writeQuantizedGguf(q, out);
    const back = await loadModel(out);
    assert.deepEqual(back.layers[2].attn_v.data, q.model.layers[2].attn_v.data);
    const ref = await llamaCppModel(out);
    const g = await llamaCppGreedy(ref, [1], 8);
    assert.equal(g.length, 8);
    assert.match(ref.detokenize(g as never), /Once upon a time/);
    await ref.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GPTQ 4-bit g32 written as GGUF (Q4_1 codes) scores the same in llama.cpp as here", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-gptq-"));
  try {
    const m = await loadModel(model.path);
    const ids = m.tokenizer!.encode(readFileSync(val.path, "utf8").slice(0, 8000));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, 1, 4, 64), quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 32 }) });
    const out = join(dir, "gptq.gguf");
    await writeQuantizedGguf(q, out);
    const back = await loadModel(out);
    const rt = await LlamaRuntime.create(back);
    const ours = perplexity(rt, m.tokenizer!, ids, { maxTokens: 511 });
    rt.dispose();
    const ref = await llamaCppModel(out);
    const nll = await llamaCppNll(ref, windows(ids, 1, 512, 511));
    const theirs = Math.exp(nll.reduce((s, x) => s + x, 0) / nll.length);
    assert.ok(Math.abs(ours.perplexity / theirs - 1) < 0.005, `ours ${ours.perplexity} llama.cpp ${theirs}`);
    await ref.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
