/** Memory honesty: estimates from the header, the budget flag, and the one-line refusal of the CLI jobs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { QuantLabError } from "../../src/errors.js";
import { ggmlType } from "../../src/gguf/types.js";
import { checkFits, describeEstimate, estimateEval, estimateGgufQuantize, estimateQuantizeModel, llamaParameterBytes, memoryBudget } from "../../src/model/formats/memory.js";
import type { LlamaConfig } from "../../src/model/llama.js";
import { sharedFile } from "../helpers/shared.js";

const GiB = 2 ** 30, MiB = 2 ** 20;
const F16 = ggmlType("F16")!, F32 = ggmlType("F32")!;

/** Tensor infos of a Llama with TinyLlama-1.1B's shapes (F16 matrices) and `layers` layers. */
function tinyLlama(layers: number) {
  const t = (name: string, dims: number[], type = F16) => ({ name, dims, type, nbytes: dims.reduce((a, b) => a * b, 1) * type.typeSize });
  const out = [t("token_embd.weight", [2048, 32000])];
  for (let i = 0; i < layers; i++) {
    out.push(t(`blk.${i}.attn_norm.weight`, [2048], F32), t(`blk.${i}.attn_q.weight`, [2048, 2048]), t(`blk.${i}.attn_k.weight`, [2048, 256]),
      t(`blk.${i}.attn_v.weight`, [2048, 256]), t(`blk.${i}.attn_output.weight`, [2048, 2048]), t(`blk.${i}.ffn_gate.weight`, [2048, 5632]),
      t(`blk.${i}.ffn_up.weight`, [2048, 5632]), t(`blk.${i}.ffn_down.weight`, [5632, 2048]), t(`blk.${i}.ffn_norm.weight`, [2048], F32));
  }
  return [...out, t("output_norm.weight", [2048], F32), t("output.weight", [2048, 32000])];
}

const TINYLLAMA: LlamaConfig = { dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, vocabSize: 32000, contextLength: 2048, rmsEps: 1e-5, ropeTheta: 10000 };

test("the streamed gguf quantize estimate is set by one block of rows, not by the model's size or its largest tensor", () => {
  const small = estimateGgufQuantize(tinyLlama(2)), big = estimateGgufQuantize(tinyLlama(80));
  assert.equal(big.total, small.total);
  // a block of 64 MiB of FP32 (8192 rows of 2048): stored F16 + FP32 + the conversion's copy, plus the baseline
  const block = 8192 * 2048;
  assert.equal(small.weights, block * 2 + 2 * block * 4);
  assert.ok(small.total < 1 * GiB, describeEstimate(small));
  // a vocabulary 4 times larger changes nothing: the embedding goes by the same blocks
  const wide = tinyLlama(2).map((t) => (t.name === "token_embd.weight" ? { ...t, dims: [2048, 128000], nbytes: 2048 * 128000 * 2 } : t));
  assert.equal(estimateGgufQuantize(wide).total, small.total);
  // a source that cannot read by offset holds its largest tensor whole as well
  assert.equal(estimateGgufQuantize(tinyLlama(2), undefined, { byRows: false }).weights, 32000 * 2048 * 2 + block * 10);
});

test("eval and quantize-model estimates grow with the model and the windows, and name their parts", () => {
  const params = llamaParameterBytes(TINYLLAMA, false);
  assert.ok(Math.abs(params / 4 - 1.1e9) < 0.05e9, `TinyLlama has ≈ 1.1 B parameters, counted ${params / 4}`);
  const e = estimateEval(TINYLLAMA, false, 2048), e2 = estimateEval(TINYLLAMA, false, 512);
  // layer-major: the head (32000 × 2048, larger than a layer) read, transposed and uploaded — not the model
  assert.equal(e.weights, 3 * 4 * 32000 * 2048);
  assert.equal(estimateEval({ ...TINYLLAMA, nLayers: 80 }, false, 2048).total, e.total, "independent of the depth");
  assert.ok(e.activations > e2.activations);
  assert.ok(estimateEval(TINYLLAMA, false, 2048, 8192).activations > e.activations, "every window's hidden states are kept");
  const q = estimateQuantizeModel(TINYLLAMA, false, { windows: 128, length: 512, hessian: true, bits: 4, evalWindow: 2048 });
  assert.equal(q.hessians, 5 * 4 * 5632 * 5632, "the float32 Hessian and GPTQ's four working copies of the widest input");
  assert.ok(q.total > e.total);
  assert.match(describeEstimate(q, 24 * GiB), /^quantize-model needs about \d+\.\d GB \(weights [\d.]+ [GM]B, activations [\d.]+ [GM]B, Hessians [\d.]+ MB, output [\d.]+ [GM]B\) of 24\.0 GB available$/);
  const rtn = estimateQuantizeModel(TINYLLAMA, false, { windows: 128, length: 512, hessian: false, bits: 4, evalWindow: 2048 });
  assert.equal(rtn.hessians, 0);
});

test("--max-memory takes sizes with units; a job over budget is refused in one line that says what to change", () => {
  assert.equal(memoryBudget("24G"), 24 * GiB);
  assert.equal(memoryBudget("512MB"), 512 * MiB);
  assert.equal(memoryBudget("1.5GiB"), 1.5 * GiB);
  assert.equal(memoryBudget("1000"), 1000);
  assert.ok(memoryBudget() > 0, "default: the machine's free memory");
  assert.throws(() => memoryBudget("lots"), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT" && /--max-memory lots is not a size/.test(e.message));
  const e = estimateEval(TINYLLAMA, false, 2048);
  checkFits(e, 64 * GiB, "unused");
  assert.throws(() => checkFits(e, 2 * GiB, "use a smaller --window"), (x: unknown) => x instanceof QuantLabError && x.code === "UNSUPPORTED" &&
    /^eval needs about \d+\.\d GB \(weights 750 MB, activations .*\), more than the 2\.0 GB available \(--max-memory\): use a smaller --window$/.test(x.message));
});

const stories = sharedFile("stories260K-f32.gguf");
const text = sharedFile("tinystories-val.txt");
const bin = join(import.meta.dirname, "..", "..", "bin", "quantlab.js");

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { env: { ...process.env, QUANTLAB_FROM_SOURCE: "1" } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

test("gguf quantize and eval print their estimate on stderr, and refuse before reading when it exceeds --max-memory", { skip: stories.skip || text.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-mem-"));
  try {
    const out = join(dir, "q.gguf");
    const ok = await cli(["gguf", "quantize", "--type", "Q8_0", "--in", stories.path, "--out", out, "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^memory: gguf quantize needs about \d+ MB \(weights \d+ MB, output \d+ MB\) of [\d.]+ [GM]B available$/m);
    JSON.parse(ok.stdout);
    rmSync(out);
    const no = await cli(["gguf", "quantize", "--type", "Q8_0", "--in", stories.path, "--out", out, "--max-memory", "20M"]);
    assert.equal(no.code, 1);
    assert.equal(no.stderr.trim().split("\n").length, 1, no.stderr);
    assert.match(no.stderr, /gguf quantize needs about \d+ MB .*more than the 20 MB available \(--max-memory\)/);
    assert.equal(existsSync(out), false, "nothing is written");
    const ev = await cli(["eval", "--model", stories.path, "--text", text.path, "--max-tokens", "100", "--max-memory", "20M"]);
    assert.equal(ev.code, 1);
    assert.equal(ev.stderr.trim().split("\n").length, 1, ev.stderr);
    assert.match(ev.stderr, /eval needs about \d+ MB \(weights \d+ MB, activations \d+ MB\), more than the 20 MB available \(--max-memory\): use a smaller --window/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
