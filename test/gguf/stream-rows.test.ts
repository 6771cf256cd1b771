/**
 * gguf quantize by blocks of rows: whatever the block size (here a few rows, cutting across heads), the
 * file is byte for byte the one encoded from whole tensors — from a GGUF, from a Hugging Face folder whose
 * q/k rows are permuted as they are read, with an importance matrix, and for tensors copied as stored.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGgufBytes, openGguf } from "../../src/gguf/file.js";
import { quantizeTensorSource, quantizeTensorSourceToFile } from "../../src/gguf/model-quantize.js";
import type { TensorSource } from "../../src/gguf/source.js";
import { writeSafetensors } from "../../src/io/safetensors.js";
import type { Tensor } from "../../src/io/tensor.js";
import { openModelSource } from "../../src/model/formats/source.js";
import { randn } from "../helpers/random.js";
import { sharedFile } from "../helpers/shared.js";

/** The source without readRows: the quantizer reads each tensor whole, the reference here. */
const whole = (s: TensorSource): TensorSource => ({ label: s.label, metadata: s.metadata, tensors: s.tensors, alignment: s.alignment, read: s.read, close: s.close });

async function sameBothWays(src: TensorSource, dir: string, mix: string, rowChunkBytes: number, extra: { imatrices?: Map<string, Float32Array> } = {}) {
  const rows = join(dir, `${mix}-rows.gguf`), ref = join(dir, `${mix}-whole.gguf`);
  await quantizeTensorSourceToFile(src, mix, rows, { ...extra, rowChunkBytes });
  await quantizeTensorSourceToFile(whole(src), mix, ref, { ...extra, rowChunkBytes: 2 ** 40 });
  assert.ok(readFileSync(rows).equals(readFileSync(ref)), `${mix}: the file by blocks of ${rowChunkBytes} bytes differs from the whole-tensor one`);
  const inMemory = encodeGgufBytes((await quantizeTensorSource(src, mix, { ...extra, rowChunkBytes })).content);
  assert.ok(readFileSync(ref).equals(Buffer.from(inMemory)), `${mix}: the in-memory quantization by blocks differs`);
}

const stories = sharedFile("stories260K-f32.gguf");

test("a GGUF quantized by blocks of a few rows is the file quantized from whole tensors, with and without an importance matrix", { skip: stories.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-rows-"));
  const src = await openGguf(stories.path);
  try {
    // 3 rows of 64 FP32 values per block: blocks end mid-head and leave a short last block
    for (const mix of ["Q4_K_M", "Q8_0", "F16"]) await sameBothWays(src, dir, mix, 3 * 64 * 4 + 5);
    let seed = 11;
    const imatrices = new Map(src.tensors.filter((t) => t.dims.length === 2).map((t) => [t.name, randn(t.dims[0]!, seed++).map(Math.abs)]));
    await sameBothWays(src, dir, "IQ4_XS", 1000, { imatrices });
    await sameBothWays(src, dir, "Q4_K_M", 1, { imatrices });
  } finally {
    await src.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Hugging Face folder quantized by blocks of rows keeps its q/k permutation exact across head boundaries", async () => {
  const dim = 256, hidden = 512, heads = 4, kv = 2, vocab = 96;
  const dir = mkdtempSync(join(tmpdir(), "ql-rows-hf-"));
  try {
    writeFileSync(join(dir, "config.json"), JSON.stringify({
      model_type: "llama", hidden_size: dim, intermediate_size: hidden, num_hidden_layers: 1,
      num_attention_heads: heads, num_key_value_heads: kv, vocab_size: vocab, rms_norm_eps: 1e-5, tie_word_embeddings: false,
    }));
    let seed = 5;
    const t = (shape: number[], dtype: Tensor["dtype"] = "BF16"): Tensor => ({ dtype, shape, data: randn(shape.reduce((a, b) => a * b, 1), seed++, 0.02) });
    const p = "model.layers.0.";
    await writeSafetensors(join(dir, "model.safetensors"), {
      "model.embed_tokens.weight": t([vocab, dim]), "model.norm.weight": t([dim]), "lm_head.weight": t([vocab, dim], "F16"),
      [p + "input_layernorm.weight"]: t([dim]), [p + "post_attention_layernorm.weight"]: t([dim], "F32"),
      [p + "self_attn.q_proj.weight"]: t([dim, dim]), [p + "self_attn.k_proj.weight"]: t([dim / heads * kv, dim], "F32"),
      [p + "self_attn.v_proj.weight"]: t([dim / heads * kv, dim]), [p + "self_attn.o_proj.weight"]: t([dim, dim]),
      [p + "mlp.gate_proj.weight"]: t([hidden, dim]), [p + "mlp.up_proj.weight"]: t([hidden, dim]), [p + "mlp.down_proj.weight"]: t([dim, hidden]),
    });
    const src = await openModelSource(dir);
    try {
      // heads of 64 rows; blocks of 7 rows straddle them
      for (const rows of [7, 64, 1]) {
        for (const mix of ["Q4_K_M", "BF16", "F32"]) await sameBothWays(src, dir, mix, rows * dim * 4);
      }
      // readRows gives the rows read() gives, in every stored type
      for (const info of src.tensors) {
        const all = await src.read(info.name), rows = info.dims.length === 1 ? 1 : info.dims[1]!, rb = all.length / rows;
        for (const [r0, r1] of [[0, rows], [Math.min(rows, 37), Math.min(rows, 101)], [rows, rows]] as const) {
          assert.deepEqual(await src.readRows!(info.name, r0, r1), all.subarray(r0 * rb, r1 * rb), `${info.name} rows ${r0}…${r1}`);
        }
      }
      await assert.rejects(src.readRows!("blk.0.attn_q.weight", 10, 300), /rows 10…300 of tensor 'blk\.0\.attn_q\.weight' .* are not within its 256 rows/);
    } finally {
      await src.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
