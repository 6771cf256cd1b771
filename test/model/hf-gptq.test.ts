/**
 * Hugging Face GPTQ checkpoints: an independent reader written here from the v1 layout's description
 * (AutoGPTQ's pack loop: 3-bit words straddle in the 10 + 1 + 10 + 1 + 10 pattern; qzeros hold zero − 1;
 * g_idx names each input column's group; q/k rows in rotate-half order) checks the packed tensors
 * against QuantLab's codes, and the folder loads back and computes the quantized model's perplexity.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gptq } from "../../src/algorithms/gptq.js";
import { encodeSafetensors, readSafetensors } from "../../src/io/safetensors.js";
import { roundToF16 } from "../../src/numerics/float-bits.js";
import type { Tensor } from "../../src/io/tensor.js";
import { loadModel } from "../../src/model/formats/load.js";
import { hfQuantizedListing, readHfQuantized } from "../../src/model/formats/hf-quantized.js";
import { writeQuantizedGguf } from "../../src/model/quantize/export.js";
import { writeHfQuantized } from "../../src/model/quantize/hf-checkpoint.js";
import { gptqCheckpoint, writeHfGptq } from "../../src/model/quantize/hf-gptq.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, QuantizedModel, quantizeModel } from "../../src/model/quantize/workflow.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { perplexity, windows } from "../../src/model/runtime/eval.js";
import { hfQuantizedToGguf } from "../../src/model/quantize/hf-to-gguf.js";
import { llamaCppModel, llamaCppNll } from "./llamacpp.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randn } from "../helpers/random.js";
import { randomModel, sharedFile, TINY } from "./helpers.js";

/** AutoGPTQ's v1 unpacking, bit width by bit width, for one int32 matrix packed along its first axis. */
function unpackAlongRows(words: Int32Array, wordRows: number, lanes: number, bits: number): number[][] {
  const u = (r: number, c: number) => words[r * lanes + c]! >>> 0;
  const out: number[][] = [];
  for (let c = 0; c < lanes; c++) {
    const col: number[] = [];
    if (bits === 3) {
      for (let r = 0; r < wordRows; r += 3) {
        const w0 = u(r, c), w1 = u(r + 1, c), w2 = u(r + 2, c);
        for (let j = 0; j < 10; j++) col.push((w0 >>> (3 * j)) & 7);
        col.push(((w0 >>> 30) & 3) | ((w1 & 1) << 2));
        for (let j = 0; j < 10; j++) col.push((w1 >>> (3 * j + 1)) & 7);
        col.push(((w1 >>> 31) & 1) | ((w2 & 3) << 1));
        for (let j = 0; j < 10; j++) col.push((w2 >>> (3 * j + 2)) & 7);
      }
    } else {
      const per = 32 / bits;
      for (let r = 0; r < wordRows; r++) for (let j = 0; j < per; j++) col.push((u(r, c) >>> (bits * j)) & ((1 << bits) - 1));
    }
    out.push(col);
  }
  return out;
}

/** W[o][i] from one module's qweight/qzeros/scales/g_idx, following the v1 description (not the packer). */
function referenceDequant(t: Map<string, Tensor>, module: string, bits: number): { W: Float32Array; out: number; in: number } {
  const qw = t.get(`${module}.qweight`)!, qz = t.get(`${module}.qzeros`)!, sc = t.get(`${module}.scales`)!, gi = t.get(`${module}.g_idx`)!;
  assert.equal(qw.dtype, "I32"); assert.equal(qz.dtype, "I32"); assert.equal(sc.dtype, "F16"); assert.equal(gi.dtype, "I32");
  const [groups, out] = sc.shape as [number, number];
  const inF = gi.shape[0]!;
  assert.deepEqual(qw.shape, [inF * bits / 32, out]);
  assert.deepEqual(qz.shape, [groups, out * bits / 32]);
  const codes = unpackAlongRows(qw.data as Int32Array, qw.shape[0]!, out, bits); // codes[o][i]
  // qzeros rows are groups, packed along the output axis: transpose to unpack with the same routine
  const zt = new Int32Array(qz.shape[1]! * groups);
  for (let g = 0; g < groups; g++) for (let w = 0; w < qz.shape[1]!; w++) zt[w * groups + g] = (qz.data as Int32Array)[g * qz.shape[1]! + w]!;
  const zeros = unpackAlongRows(zt, qz.shape[1]!, groups, bits); // zeros[g][o], stored zero − 1
  const s = sc.data as Float32Array, gIdx = gi.data as Int32Array;
  const W = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) {
    const g = gIdx[i]!;
    W[o * inF + i] = s[g * out + o]! * (codes[o]![i]! - (zeros[g]![o]! + 1));
  }
  return { W, out, in: inF };
}

/** Rotate-half row of an interleaved q/k row d, head by head (the inverse of llama.cpp's permute). */
function halfRowOf(d: number, headDim: number): number {
  const h = Math.floor(d / headDim), k = d % headDim;
  return h * headDim + (k % 2 === 0 ? k / 2 : headDim / 2 + (k - 1) / 2);
}

const C64 = { ...TINY, dim: 64, hiddenDim: 96, vocabSize: 24, nHeads: 4, nKvHeads: 2 };
const C32 = { ...TINY, dim: 32, hiddenDim: 64, vocabSize: 24 };
const calibText = Array.from({ length: 120 }, (_, i) => 3 + ((i * 7) % 20));

for (const bits of [2, 3, 4, 8]) {
  test(`GPTQ ${bits}-bit: the independent v1 reader recovers QuantLab's weights (q/k in rotate-half order)`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-"));
    try {
      const m = randomModel(C64, 60 + bits, false);
      const q = await quantizeModel(m, { calibration: calibrationWindows(calibText, 1, 4, 16), quantizer: quantizerFor({ method: "gptq", bits, groupSize: 32 }) });
      const { plan } = await writeHfGptq(q, dir);
      assert.ok(plan.every((r) => !r.reason), JSON.stringify(plan.filter((r) => r.reason)));
      const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.equal(cfg.quantization_config.quant_method, "gptq");
      assert.equal(cfg.quantization_config.checkpoint_format, "gptq");
      assert.equal(cfg.quantization_config.bits, bits);
      assert.equal(cfg.tie_word_embeddings, false);
      assert.ok(readdirSync(dir).includes("quantize_config.json"));
      const st = await readSafetensors(join(dir, "model.safetensors"));
      const hd = C64.dim / C64.nHeads;
      for (let layer = 0; layer < C64.nLayers; layer++) {
        for (const [n, hf] of [["attn_q", "self_attn.q_proj"], ["attn_k", "self_attn.k_proj"], ["ffn_down", "mlp.down_proj"], ["ffn_up", "mlp.up_proj"]] as const) {
          const ref = referenceDequant(st.tensors, `model.layers.${layer}.${hf}`, bits);
          const mine = q.model.layers[layer]![n];
          assert.equal(ref.out, mine.rows);
          for (let d = 0; d < mine.rows; d++) {
            const e = n === "attn_q" || n === "attn_k" ? halfRowOf(d, hd) : d;
            for (let i = 0; i < mine.cols; i++) {
              const a = ref.W[e * mine.cols + i]!, b = mine.data[d * mine.cols + i]!;
              // float16 scales are the one difference: |Δ| ≤ |code − zero| · ulp(scale)/2
              assert.ok(Math.abs(a - b) <= Math.abs(b) * 1e-3 + 1e-6, `${hf} row ${d} col ${i}: ${a} vs ${b}`);
            }
          }
        }
      }
      assert.equal(st.tensors.has("lm_head.weight"), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("GPTQ act-order: g_idx carries the permuted groups and desc_act is set", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-act-"));
  try {
    const m = randomModel(C32, 71, true);
    const W = m.layers[0]!.attn_output;
    const X = matrix(64, W.cols, randn(64 * W.cols, 5, 1).map((v, k) => v * (1 + (k % W.cols) / 4)));
    const g = await gptq(W, X, { bits: 4, groupSize: 8, actOrder: true });
    const linears = new Map([["blk.0.attn_output.weight", { weight: { rows: W.rows, cols: W.cols, data: g.dequantized }, format: "GPTQ int4 g8", grouped: g }]]);
    const model = { ...m, layers: m.layers.map((l, i) => (i === 0 ? { ...l, attn_output: { rows: W.rows, cols: W.cols, data: g.dequantized } } : l)) };
    const out = gptqCheckpoint(new QuantizedModel(model, linears, [], 0));
    assert.equal(out.checkpoint.config.quantization_config.desc_act, true);
    await writeHfQuantized(dir, out.checkpoint);
    const st = await readSafetensors(join(dir, "model.safetensors"));
    const gi = st.tensors.get("model.layers.0.self_attn.o_proj.g_idx")!.data as Int32Array;
    assert.ok(gi.some((x, i) => x !== Math.floor(i / 8)), "act-order groups are not contiguous runs");
    const ref = referenceDequant(st.tensors, "model.layers.0.self_attn.o_proj", 4);
    for (let k = 0; k < ref.W.length; k++) assert.ok(Math.abs(ref.W[k]! - g.dequantized[k]!) <= Math.abs(g.dequantized[k]!) * 1e-3 + 1e-6);
    // the un-quantized linears are float16 and named as skipped for GPTQModel/vLLM
    assert.ok(Object.keys(out.checkpoint.config.quantization_config.dynamic as object).includes("-:model\\.layers\\.0\\.self_attn\\.q_proj$"));
    assert.equal(st.tensors.get("model.layers.0.self_attn.q_proj.weight")!.dtype, "F16");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const stories = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");

test("stories260K GPTQ 4-bit g32 as a Hugging Face folder: ffn_down skipped, same perplexity read back, byte-identical rewrite", { skip: stories.skip || val.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-stories-"));
  try {
    const m = await loadModel(stories.path);
    const tok = m.tokenizer!;
    const ids = tok.encode(readFileSync(val.path, "utf8").slice(0, 6000));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, tok.bos, 8, 128), quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 32 }) });
    const { plan } = await writeHfGptq(q, dir);
    const skipped = plan.filter((r) => r.reason).map((r) => r.module);
    // 172 outputs (gate, up) do not pack their zero points, 172 inputs (down) do not pack their codes
    assert.deepEqual(skipped, Array.from({ length: 5 }, (_, i) => ["gate_proj", "up_proj", "down_proj"].map((n) => `model.layers.${i}.mlp.${n}`)).flat());
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    assert.deepEqual(cfg.quantization_config.modules_in_block_to_quantize, [["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"]]);
    assert.ok(readdirSync(dir).includes("tokenizer.model"));
    const ck = await readHfQuantized(dir);
    const listing = hfQuantizedListing(ck);
    assert.equal(listing.find((r) => r.name === "model.layers.0.self_attn.q_proj")!.stored, "GPTQ int4 g32");
    assert.equal(listing.find((r) => r.name === "model.layers.0.mlp.down_proj.weight")!.stored, "F16");
    const back = await loadModel(dir);
    // the tokenizer.model written from the GGUF vocabulary reads back as the same tokenizer
    const sample = readFileSync(val.path, "utf8").slice(0, 2000);
    assert.deepEqual(back.tokenizer!.encode(sample), tok.encode(sample));
    assert.deepEqual([back.tokenizer!.bos, back.tokenizer!.eos, back.tokenizer!.unk], [tok.bos, tok.eos, tok.unk]);
    const score = async (mm: typeof m) => {
      const rt = await LlamaRuntime.create(mm);
      try { return perplexity(rt, tok, ids, { maxTokens: 1024 }).perplexity; } finally { rt.dispose(); }
    };
    const inside = await score(q.model), hf = await score(back);
    assert.ok(Math.abs(hf / inside - 1) <= 0.005, `Hugging Face folder ${hf} vs QuantLab ${inside}`);
    console.log(`# stories260K GPTQ int4 g32: QuantLab ${inside.toFixed(4)}, Hugging Face folder read back ${hf.toFixed(4)}, FP32 ${(await score(m)).toFixed(4)}`);
    const again = join(dir, "..", `${dir.split("/").pop()}-again`);
    try {
      await writeHfQuantized(again, ck);
      for (const f of readdirSync(dir)) assert.deepEqual(readFileSync(join(again, f)), readFileSync(join(dir, f)), f);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GPTQ symmetric: sym true, every zero point 2^(bits−1), weights recovered by the v1 reader", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-sym-"));
  try {
    const m = randomModel(C64, 75, true);
    const q = await quantizeModel(m, { calibration: calibrationWindows(calibText, 1, 4, 16), quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 32, scheme: "symmetric" }) });
    const { checkpoint } = await writeHfGptq(q, dir);
    assert.equal(checkpoint.config.quantization_config.sym, true);
    assert.equal(checkpoint.config.tie_word_embeddings, true);
    const st = await readSafetensors(join(dir, "model.safetensors"));
    assert.equal(st.tensors.has("lm_head.weight"), false);
    const zeros = unpackAlongRows(st.tensors.get("model.layers.0.mlp.up_proj.qzeros")!.data as Int32Array, 1, 3, 4);
    for (const g of zeros) assert.ok(g.every((z) => z + 1 === 8), "symmetric 4-bit zero points are 8");
    const ref = referenceDequant(st.tensors, "model.layers.0.mlp.up_proj", 4);
    const mine = q.model.layers[0]!.ffn_up.data;
    for (let k = 0; k < mine.length; k++) assert.ok(Math.abs(ref.W[k]! - mine[k]!) <= Math.abs(mine[k]!) * 1e-3 + 1e-6);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a group with zero point 0 stays float16 with the reason; tokenizer files of a Hugging Face source are copied", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-z0-"));
  try {
    const m = randomModel(C64, 76, true);
    const W = m.layers[1]!.attn_v;
    W.data = W.data.map(Math.abs); // every group ≥ 0: GPTQ's range [0, max] puts the zero point at 0
    const q = await quantizeModel(m, { calibration: calibrationWindows(calibText, 1, 2, 16), quantizer: quantizerFor({ method: "rtn", bits: 4, groupSize: 32 }) });
    const src = join(dir, "src");
    await writeHfQuantized(src, { method: "gptq", config: { hidden_size: 1, intermediate_size: 1, num_hidden_layers: 1, num_attention_heads: 1, vocab_size: 1, quantization_config: {} }, files: new Map([["tokenizer.json", new TextEncoder().encode("{\"model\":{}}")]]), entries: [], metadata: {} });
    const out = gptqCheckpoint(q, { tokenizerFrom: src });
    const row = out.plan.find((r) => r.module === "model.layers.1.self_attn.v_proj")!;
    assert.equal(row.stored, "F16");
    assert.match(row.reason!, /zero point 0/);
    assert.deepEqual(out.checkpoint.config.quantization_config.dynamic, { "-:model\\.layers\\.1\\.self_attn\\.v_proj$": {} });
    assert.equal("modules_in_block_to_quantize" in out.checkpoint.config.quantization_config, false); // block 0 quantizes v_proj, block 1 does not
    assert.deepEqual([...out.checkpoint.files.keys()].sort(), ["quantize_config.json", "tokenizer.json"]);
    assert.match(out.tokenizerNote, /copied/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** AutoGPTQ's 4-bit pack of one int matrix along its first axis (rows), written here from the description. */
function pack4AlongRows(v: number[][], rows: number, lanes: number): Int32Array {
  const out = new Int32Array((rows / 8) * lanes);
  for (let r = 0; r < rows; r++) for (let c = 0; c < lanes; c++) out[Math.floor(r / 8) * lanes + c]! |= v[r]![c]! << (4 * (r % 8));
  return out;
}

test("a checkpoint written elsewhere: sorted header, two shards, group_size −1, zero biases — listed, dequantized and loaded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfgptq-foreign-"));
  try {
    const C = { ...C64, nLayers: 1 };
    const m = randomModel(C, 77, true);
    const hd = C.dim / C.nHeads;
    const tensors: Record<string, Tensor> = {};
    const expect = new Map<string, Float32Array>();
    const hfName = { attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj", ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj" } as const;
    for (const [n, hf] of Object.entries(hfName) as [keyof typeof hfName, string][]) {
      const W = m.layers[0]![n];
      // Hugging Face rows: rotate-half order for q/k
      const row = (e: number) => {
        if (n !== "attn_q" && n !== "attn_k") return e;
        const h = Math.floor(e / hd), k = e % hd;
        return h * hd + (k < hd / 2 ? 2 * k : 2 * (k - hd / 2) + 1);
      };
      const codes: number[][] = Array.from({ length: W.cols }, () => new Array(W.rows).fill(0)); // [in][out]
      const scales = new Float32Array(W.rows), zeros: number[][] = [new Array(W.rows).fill(0)];
      const deq = new Float32Array(W.rows * W.cols);
      for (let e = 0; e < W.rows; e++) {
        const r = row(e);
        let lo = 0, hi = 0;
        for (let i = 0; i < W.cols; i++) { lo = Math.min(lo, W.data[r * W.cols + i]!); hi = Math.max(hi, W.data[r * W.cols + i]!); }
        scales[e] = roundToF16([(hi - lo) / 15])[0]!;
        const z = Math.min(15, Math.max(1, Math.round(-lo / scales[e]!)));
        zeros[0]![e] = z - 1;
        for (let i = 0; i < W.cols; i++) {
          const q = Math.min(15, Math.max(0, Math.round(W.data[r * W.cols + i]! / scales[e]!) + z));
          codes[i]![e] = q;
          deq[r * W.cols + i] = scales[e]! * (q - z);
        }
      }
      const p = `model.layers.0.${hf}`;
      tensors[`${p}.qweight`] = { dtype: "I32", shape: [W.cols / 8, W.rows], data: pack4AlongRows(codes, W.cols, W.rows) };
      const zt = Array.from({ length: W.rows }, (_, o) => [zeros[0]![o]!]); // pack along outputs: rows = outputs
      const qz = pack4AlongRows(zt, W.rows, 1);
      tensors[`${p}.qzeros`] = { dtype: "I32", shape: [1, W.rows / 8], data: qz };
      tensors[`${p}.scales`] = { dtype: "F16", shape: [1, W.rows], data: scales };
      tensors[`${p}.g_idx`] = { dtype: "I32", shape: [W.cols], data: new Int32Array(W.cols) };
      tensors[`${p}.bias`] = { dtype: "F16", shape: [W.rows], data: new Float32Array(W.rows) };
      expect.set(n, deq);
    }
    tensors["model.embed_tokens.weight"] = { dtype: "F16", shape: [C.vocabSize, C.dim], data: m.tokenEmbedding.data };
    tensors["model.layers.0.input_layernorm.weight"] = { dtype: "F16", shape: [C.dim], data: m.layers[0]!.attnNorm };
    tensors["model.layers.0.post_attention_layernorm.weight"] = { dtype: "F16", shape: [C.dim], data: m.layers[0]!.ffnNorm };
    tensors["model.norm.weight"] = { dtype: "F16", shape: [C.dim], data: m.outputNorm };
    const names = Object.keys(tensors).sort();
    const half = Math.floor(names.length / 2);
    const shard = (k: number) => `model-0000${k + 1}-of-00002.safetensors`;
    const weightMap: Record<string, string> = {};
    for (const [k, part] of [names.slice(0, half), names.slice(half)].entries()) {
      writeFileSync(join(dir, shard(k)), encodeSafetensors(Object.fromEntries(part.map((n) => [n, tensors[n]!])), { format: "pt" }));
      for (const n of part) weightMap[n] = shard(k);
    }
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    writeFileSync(join(dir, "config.json"), JSON.stringify({
      architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: C.dim, intermediate_size: C.hiddenDim, num_hidden_layers: 1,
      num_attention_heads: C.nHeads, num_key_value_heads: C.nKvHeads, vocab_size: C.vocabSize, rms_norm_eps: C.rmsEps, tie_word_embeddings: true,
      quantization_config: { quant_method: "gptq", bits: 4, group_size: -1, desc_act: true, sym: false, damp_percent: 0.01 },
    }));
    const ck = await readHfQuantized(dir);
    assert.equal(hfQuantizedListing(ck).find((r) => r.name === "model.layers.0.mlp.down_proj")!.stored, "GPTQ int4 g96");
    const back = await loadModel(dir);
    for (const n of Object.keys(hfName) as (keyof typeof hfName)[]) {
      const a = back.layers[0]![n].data, b = expect.get(n)!;
      for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k]! - b[k]!) <= 1e-6 + Math.abs(b[k]!) * 1e-6, `${n}[${k}]: ${a[k]} vs ${b[k]}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GGUF plan: 4-bit grids go in as Q4_1 as they are, 8-bit grids are named as re-encoded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-gguf-plan-"));
  try {
    const m = randomModel(C32, 78, true);
    const calibration = calibrationWindows(calibText, 1, 2, 16);
    for (const [bits, type, lossless] of [[4, "Q4_1", true], [8, "Q8_0", false]] as const) {
      const q = await quantizeModel(m, { calibration, quantizer: quantizerFor({ method: "rtn", bits, groupSize: 32 }) });
      const plan = await writeQuantizedGguf(q, join(dir, `q${bits}.gguf`));
      assert.equal(plan.length, 14);
      for (const r of plan) {
        assert.equal(r.type, type, r.tensor);
        assert.equal(r.lossless, lossless, r.tensor);
        assert.equal(r.reason === undefined, lossless);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a GPTQ folder converts to GGUF without re-quantizing: Q4_1 grids that llama.cpp scores as the folder does", { skip: stories.skip || val.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf2gguf-"));
  try {
    const m = await loadModel(stories.path);
    const tok = m.tokenizer!;
    const ids = tok.encode(readFileSync(val.path, "utf8").slice(0, 6000));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, tok.bos, 4, 128), quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 32 }) });
    const folder = join(dir, "gptq");
    await writeHfGptq(q, folder);
    const out = join(dir, "gptq.gguf");
    const plan = await hfQuantizedToGguf(folder, out);
    // q/k/v/o are GPTQ int4 in the folder and go in as Q4_1; gate/up/down were float16 there
    assert.equal(plan.length, 5 * 4);
    assert.ok(plan.every((r) => r.lossless && r.type === "Q4_1"));
    const fromFolder = await loadModel(folder), fromGguf = await loadModel(out);
    for (const n of ["attn_q", "attn_k", "attn_output"] as const) {
      const a = fromGguf.layers[2]![n].data, b = fromFolder.layers[2]![n].data;
      // Q4_1 stores m = −zero·scale in float16, the one rounding the conversion adds: half an ulp of
      // |m| < 2 here, 2⁻¹¹
      for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k]! - b[k]!) <= 2 ** -11 + 1e-7, `${n}[${k}]: ${a[k]} vs ${b[k]}`);
    }
    const ref = await llamaCppModel(out);
    const nll = await llamaCppNll(ref, windows(ids, tok.bos, 512, 511));
    await ref.dispose();
    const theirs = Math.exp(nll.reduce((s, x) => s + x, 0) / nll.length);
    const rt = await LlamaRuntime.create(fromFolder);
    const ours = perplexity(rt, tok, ids, { maxTokens: 511 }).perplexity;
    rt.dispose();
    assert.ok(Math.abs(theirs / ours - 1) < 0.005, `llama.cpp on the GGUF ${theirs} vs the folder here ${ours}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
