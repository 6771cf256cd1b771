/**
 * Quantizing a Hugging Face Llama checkpoint (model.safetensors in BF16 + config.json) by a mix: the
 * tensors arrive under llama.cpp's GGUF names and ggml dims, the plan follows the mix's rules, and the
 * written GGUF v3 carries the architecture, general.file_type and general.quantization_version.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGgufBytes, parseGguf, readGguf, writeGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel, quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { readHfModel } from "../../src/model/formats/hf.js";
import { ggufContent } from "../../src/model/quantize/export.js";
import { openModelSource } from "../../src/model/formats/source.js";
import { writeSafetensors } from "../../src/io/safetensors.js";
import type { Tensor } from "../../src/io/tensor.js";
import { randn } from "../helpers/random.js";

test("a BF16 Hugging Face checkpoint is quantized to Q4_K_M and Q8_0 GGUF with llama.cpp's names and types", async () => {
  const dim = 256, hidden = 512, layers = 2, heads = 4, kv = 2, vocab = 300;
  const dir = mkdtempSync(join(tmpdir(), "quantlab-hf-"));
  try {
    writeFileSync(join(dir, "config.json"), JSON.stringify({
      model_type: "llama", hidden_size: dim, intermediate_size: hidden, num_hidden_layers: layers,
      num_attention_heads: heads, num_key_value_heads: kv, vocab_size: vocab, rms_norm_eps: 1e-5, tie_word_embeddings: false,
    }));
    let seed = 3;
    const t = (shape: number[]): Tensor => ({ dtype: "BF16", shape, data: randn(shape.reduce((a, b) => a * b, 1), seed++, 0.02) });
    const tensors: Record<string, Tensor> = {
      "model.embed_tokens.weight": t([vocab, dim]), "model.norm.weight": t([dim]), "lm_head.weight": t([vocab, dim]),
    };
    for (let i = 0; i < layers; i++) {
      const p = `model.layers.${i}.`;
      Object.assign(tensors, {
        [p + "input_layernorm.weight"]: t([dim]), [p + "post_attention_layernorm.weight"]: t([dim]),
        [p + "self_attn.q_proj.weight"]: t([dim, dim]), [p + "self_attn.k_proj.weight"]: t([dim / heads * kv, dim]),
        [p + "self_attn.v_proj.weight"]: t([dim / heads * kv, dim]), [p + "self_attn.o_proj.weight"]: t([dim, dim]),
        [p + "mlp.gate_proj.weight"]: t([hidden, dim]), [p + "mlp.up_proj.weight"]: t([hidden, dim]), [p + "mlp.down_proj.weight"]: t([dim, hidden]),
      });
    }
    const st = join(dir, "model.safetensors");
    await writeSafetensors(st, tensors);

    const file = await openModelSource(st);
    const { plan, content } = await quantizeTensorSource(file, "Q4_K_M");
    const to = (n: string) => plan.choices.find((c) => c.name === n)?.to;
    // 2 layers: use_more_bits(i, 2) = i < 0 || i >= 1 || i % 3 == 2 holds for layer 1 only
    assert.equal(to("output.weight"), "Q6_K");
    assert.equal(to("token_embd.weight"), "Q4_K");
    assert.equal(to("blk.0.attn_q.weight"), "Q4_K");
    assert.equal(to("blk.0.attn_v.weight"), "Q4_K");
    assert.equal(to("blk.1.attn_v.weight"), "Q6_K");
    assert.equal(to("blk.0.ffn_down.weight"), "Q4_K");
    assert.equal(to("blk.1.ffn_down.weight"), "Q6_K");
    assert.equal(to("blk.0.attn_norm.weight"), "F32");
    assert.deepEqual(plan.choices.find((c) => c.name === "blk.0.ffn_down.weight")!.dims, [hidden, dim]);

    const out = join(dir, "q4km.gguf");
    await writeGguf(out, content);
    const q = await readGguf(out);
    assert.equal(q.version, 3);
    assert.equal(q.metadata.get("general.architecture")?.value, "llama");
    assert.equal(q.metadata.get("general.file_type")?.value, 15);
    assert.equal(q.metadata.get("general.quantization_version")?.value, 2);
    assert.equal(q.metadata.get("llama.block_count")?.value, layers);
    assert.equal(q.tensors.length, 3 + 9 * layers);

    const q8 = (await quantizeTensorSource(file, "Q8_0")).plan;
    assert.ok(q8.choices.filter((c) => c.dims.length === 2).every((c) => c.to === "Q8_0"), "Q8_0 keeps every matrix at Q8_0");

    // the BF16 tensors read as stored give the very file the old route gave (the whole model decoded to
    // FP32, laid out as an FP32 GGUF in memory, parsed back and quantized)
    const roundTrip = parseGguf(encodeGgufBytes(ggufContent(await readHfModel(st))));
    for (const mix of ["Q4_K_M", "Q8_0", "F16", "BF16"]) {
      const direct = encodeGgufBytes((await quantizeTensorSource(file, mix)).content);
      const old = encodeGgufBytes(quantizeGgufModel(roundTrip, mix).content);
      assert.ok(Buffer.from(direct).equals(Buffer.from(old)), `${mix}: the direct path differs from the round trip`);
    }
    await file.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
