/**
 * `quantlab hf inspect FOLDER` end to end, through bin/quantlab.js: a GPTQ folder (some linears kept
 * float16 because their shapes do not pack) and an AWQ folder (o_proj kept float16 under grouped-query
 * attention), as text and --json, checked against the folders' own safetensors headers and configs; and
 * the one-line errors for folders that are not GPTQ/AWQ checkpoints.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSafetensors } from "../../src/io/safetensors.js";
import { writeHfAwq } from "../../src/model/quantize/hf-awq.js";
import { writeHfGptq } from "../../src/model/quantize/hf-gptq.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { randomModel, TINY } from "../model/helpers.js";
import { quantlab } from "../helpers/cli.js";



const calib = calibrationWindows(Array.from({ length: 200 }, (_, i) => 3 + ((i * 7 + (i >> 3)) % 20)), 1, 4, 32);
// 100 hidden features: gate/up outputs do not pack GPTQ's 4-bit zero points, down's inputs not its codes
const C = { ...TINY, dim: 64, hiddenDim: 100, vocabSize: 24, nHeads: 4, nKvHeads: 2, contextLength: 64 };

test("hf inspect lists a GPTQ folder: config, each linear's stored tensors and bytes, the float16 linears and why", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfcli-gptq-"));
  try {
    const q = await quantizeModel(randomModel(C, 5, true), { calibration: calib, quantizer: quantizerFor({ method: "rtn", bits: 4, groupSize: 32 }) });
    const folder = join(dir, "gptq");
    await writeHfGptq(q, folder);
    const text = quantlab("hf", "inspect", folder);
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, new RegExp(`^Hugging Face GPTQ checkpoint ${folder}: int4, group size 32, desc_act false, zero point (a)?symmetric\\n`));
    assert.match(text.out, /\n8 quantized linears, 6 linears kept float16, \d+ entries: \d+ bytes, \d+ weights, [\d.]+ bits\/weight \(quantized linears [\d.]+\)/);
    assert.match(text.out, /\n {2}model\.layers\.0\.mlp\.gate_proj +quantization_config\.dynamic excludes it \('-:.*'\): its 100 outputs do not pack its zero points into 32-bit words at 4 bits/);
    assert.match(text.out, /\n {2}model\.layers\.1\.mlp\.down_proj +quantization_config\.dynamic excludes it \('-:.*'\): its 100 inputs do not pack into 32-bit words at 4 bits/);
    assert.match(text.out, /\n {2}model\.layers\.0\.self_attn\.q_proj +GPTQ int4 g32 +\[64, 64\] +2624 +5\.125 +qweight I32 \[8, 64\], qzeros I32 \[2, 8\], scales F16 \[2, 64\], g_idx I32 \[64\]\n/);
    assert.match(text.out, /\n {2}model\.layers\.0\.mlp\.down_proj\.weight +F16 +\[64, 100\] +12800 +16 +skipped\n/);

    const json = quantlab("hf", "inspect", folder, "--json");
    assert.equal(json.code, 0, json.err);
    assert.equal(json.out.trim().split("\n").length, 1);
    const r = JSON.parse(json.out);
    const cfg = JSON.parse(readFileSync(join(folder, "config.json"), "utf8")).quantization_config;
    assert.deepEqual([r.method, r.bits, r.groupSize, r.descAct, r.zeroPoint], ["gptq", 4, 32, cfg.desc_act, cfg.sym ? "symmetric" : "asymmetric"]);
    assert.equal(r.quantizedLinears, 8);
    assert.deepEqual(r.skipped.map((s: { name: string }) => s.name),
      [0, 1].flatMap((i) => ["gate_proj", "up_proj", "down_proj"].map((n) => `model.layers.${i}.mlp.${n}`)));
    // every byte the listing counts is in the file's header, and every tensor of the header is listed once
    const st = await openSafetensors(join(folder, "model.safetensors"));
    try {
      const listed = r.tensors.flatMap((t: { tensors: { name: string; dtype: string; shape: number[]; bytes: number }[] }) => t.tensors);
      assert.deepEqual(listed.map((t: { name: string }) => t.name).sort(), [...st.entries.keys()].sort());
      for (const t of listed) {
        const e = st.entries.get(t.name)!;
        assert.deepEqual([t.dtype, t.shape, t.bytes], [e.dtype, e.shape, e.nbytes], t.name);
      }
      assert.equal(r.totalBytes, [...st.entries.values()].reduce((a, e) => a + e.nbytes, 0));
    } finally {
      await st.close();
    }
    const qproj = r.tensors.find((t: { name: string }) => t.name === "model.layers.0.self_attn.q_proj");
    assert.deepEqual([qproj.bits, qproj.groupSize, qproj.actOrder, qproj.shape, qproj.bytes, qproj.bitsPerWeight], [4, 32, false, [64, 64], 2624, 5.125]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hf inspect lists an AWQ folder: GEMM tensors, zero points, o_proj in modules_to_not_convert", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfcli-awq-"));
  try {
    const m = randomModel({ ...C, hiddenDim: 96 }, 6, true);
    const q = await quantizeModel(m, { calibration: calib, quantizer: quantizerFor({ method: "awq", bits: 4, groupSize: 32 }) });
    const folder = join(dir, "awq");
    await writeHfAwq(q, folder);
    const r = JSON.parse(quantlab("hf", "inspect", folder, "--json").out);
    assert.deepEqual([r.method, r.bits, r.groupSize, r.descAct, r.zeroPoint], ["awq", 4, 32, false, "asymmetric"]);
    assert.deepEqual(r.skipped, [0, 1].map((i) => ({ name: `model.layers.${i}.self_attn.o_proj`, reason: "in quantization_config.modules_to_not_convert" })));
    const up = r.tensors.find((t: { name: string }) => t.name === "model.layers.0.mlp.up_proj");
    assert.deepEqual(up.tensors.map((t: { name: string; shape: number[] }) => [t.name.split(".").pop(), t.shape]), [["qweight", [64, 12]], ["qzeros", [2, 12]], ["scales", [2, 96]]]);
    const text = quantlab("hf", "inspect", folder);
    assert.match(text.out, /^Hugging Face AWQ checkpoint .*: int4, group size 32, desc_act false, zero point asymmetric\n12 quantized linears, 2 linears kept float16/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hf inspect errors: exit 1 and one line naming what is missing", () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hfcli-bad-"));
  try {
    const empty = join(dir, "empty");
    mkdirSync(empty);
    const float = join(dir, "float");
    mkdirSync(float);
    writeFileSync(join(float, "config.json"), JSON.stringify({ model_type: "llama", hidden_size: 64 }));
    const noWeights = join(dir, "noweights");
    mkdirSync(noWeights);
    writeFileSync(join(noWeights, "config.json"), JSON.stringify({ model_type: "llama", quantization_config: { quant_method: "gptq", bits: 4, group_size: 32 } }));
    const other = join(dir, "other");
    mkdirSync(other);
    writeFileSync(join(other, "config.json"), JSON.stringify({ model_type: "llama", quantization_config: { quant_method: "bitsandbytes", bits: 4, group_size: 32 } }));
    const file = join(dir, "m.gguf");
    writeFileSync(file, "GGUF");
    for (const [path, re] of [
      [empty, /has no config\.json: give the folder of a Hugging Face GPTQ or AWQ checkpoint/],
      [float, /has no quantization_config: .* is not a quantized checkpoint/],
      [noWeights, /has neither model\.safetensors nor model\.safetensors\.index\.json/],
      [other, /has quant_method 'bitsandbytes': QuantLab reads 'gptq' and 'awq' checkpoints/],
      [file, /is a file, not a checkpoint folder: give the folder holding config\.json \(for a GGUF file use quantlab gguf inspect\)/],
      [join(dir, "absent"), /absent/],
    ] as const) {
      const r = quantlab("hf", "inspect", path);
      assert.equal(r.code, 1, `${path}: ${r.err}`);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
      assert.match(r.err, /^quantlab hf: /);
      assert.match(r.err, re);
    }
    assert.equal(quantlab("hf", "inspect").code, 1);
    assert.equal(quantlab("hf", "list").code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
