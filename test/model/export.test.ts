import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf } from "../../src/gguf/file.js";
import { readSafetensors } from "../../src/io/safetensors.js";
import { ggufContent, writeQuantizedGguf, writeQuantizedSafetensors } from "../../src/model/quantize/export.js";
import { loadModel } from "../../src/model/formats/load.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { randomModel, TINY } from "./helpers.js";

const C32 = { ...TINY, dim: 32, hiddenDim: 64, vocabSize: 24 };

test("GGUF content: llama metadata and ggml-ordered dims", () => {
  const m = randomModel(C32, 51, false);
  const g = ggufContent(m);
  assert.equal(g.metadata.get("general.architecture")!.value, "llama");
  assert.equal(g.metadata.get("llama.rope.dimension_count")!.value, 8);
  assert.equal(g.metadata.get("llama.attention.head_count_kv")!.value, 2);
  const k = g.tensors.find((t) => t.name === "blk.1.attn_k.weight")!;
  assert.deepEqual(k.dims, [32, 16]);
  assert.equal(k.data.length, 32 * 16 * 4);
  assert.equal(g.tensors.length, 1 + 2 * 9 + 2);
  assert.equal(g.metadata.has("tokenizer.ggml.tokens"), false);
});

test("an RTN 3-bit model round-trips through GGUF (Q4_1) and safetensors with its codes and scales", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-export-"));
  try {
    const m = randomModel(C32, 52, true);
    const text = Array.from({ length: 80 }, (_, i) => 3 + ((i * 7) % 20));
    const q = await quantizeModel(m, { calibration: calibrationWindows(text, 1, 4, 16), quantizer: quantizerFor({ method: "rtn", bits: 3, groupSize: 32 }) });
    const gpath = join(dir, "q.gguf");
    await writeQuantizedGguf(q, gpath);
    const file = await readGguf(gpath);
    assert.equal(file.version, 3);
    assert.equal(file.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.type.name, "Q4_1");
    const back = await loadModel(gpath);
    const a = back.layers[1].ffn_up.data, b = q.model.layers[1].ffn_up.data;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 2e-3, `${a[i]} vs ${b[i]}`);
    const spath = join(dir, "q.safetensors");
    await writeQuantizedSafetensors(q, spath);
    const st = await readSafetensors(spath);
    const codes = st.tensors.get("blk.0.attn_q.weight.codes")!;
    assert.equal(codes.dtype, "U8");
    assert.deepEqual(codes.shape, [32, 32]);
    const scales = st.tensors.get("blk.0.attn_q.weight.scales")!.data as Float32Array;
    const zeros = st.tensors.get("blk.0.attn_q.weight.zeros")!.data as Float32Array;
    const w = st.tensors.get("blk.0.attn_q.weight")!.data as Float32Array;
    // the stored weight is exactly (code − zero) · scale
    for (let i = 0; i < 64; i++) assert.equal(w[i], Math.fround((codes.data[i] as number - zeros[Math.floor(i / 32)]) * scales[Math.floor(i / 32)]));
    assert.equal(st.metadata["blk.0.attn_q.weight"], "RTN int3 g32");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
