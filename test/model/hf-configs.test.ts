/**
 * Hugging Face configs of the Llama family the runtime implements: Llama 3.x `rope_scaling` of type
 * `llama3`, tied embeddings (SmolLM2, Llama 3.2), Qwen2's q/k/v biases, Llama's attention/MLP biases,
 * Mistral's sliding window beyond the context. Each small random checkpoint is written in Hugging Face's
 * own layout (half-split rotary q/k rows) and its logits are compared with a float64 forward pass written
 * here in transformers' terms (rotate_half RoPE, biases added after each projection).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { writeGguf, type GgufValue } from "../../src/gguf/file.js";
import { quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { writeSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model/formats/load.js";
import { openModelSource } from "../../src/model/formats/source.js";
import { Tokenizer } from "../../src/model/formats/tokenizer.js";
import { writeModelGguf } from "../../src/model/quantize/export.js";
import { tokenNll } from "../../src/model/runtime/eval.js";
import { LlamaRuntime, runtimeFromSource } from "../../src/model/runtime/forward.js";
import { randn } from "../helpers/random.js";
import { llamaCppModel, llamaCppNll } from "./llamacpp.js";

interface Shape { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; ctx: number }
const S: Shape = { dim: 32, hidden: 48, layers: 2, heads: 2, kvHeads: 1, vocab: 300, ctx: 64 };

type Tensors = Map<string, { shape: number[]; data: Float32Array }>;

/** Random weights under Hugging Face names; `bias` lists the projections (q_proj, o_proj, …) that get one. */
function hfTensors(s: Shape, seed: number, opts: { tied: boolean; bias: string[] }): Tensors {
  const t: Tensors = new Map();
  let k = seed * 100;
  const hd = s.dim / s.heads;
  const put = (name: string, shape: number[], std: number, mean = 0) =>
    t.set(name, { shape, data: randn(shape.reduce((a, b) => a * b, 1), ++k, std).map((x) => x + mean) });
  put("model.embed_tokens.weight", [s.vocab, s.dim], 1);
  const out: Record<string, number> = { q_proj: s.dim, k_proj: s.kvHeads * hd, v_proj: s.kvHeads * hd, o_proj: s.dim, gate_proj: s.hidden, up_proj: s.hidden, down_proj: s.dim };
  const inp: Record<string, number> = { q_proj: s.dim, k_proj: s.dim, v_proj: s.dim, o_proj: s.dim, gate_proj: s.dim, up_proj: s.dim, down_proj: s.hidden };
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    put(p + "input_layernorm.weight", [s.dim], 0.1, 1);
    put(p + "post_attention_layernorm.weight", [s.dim], 0.1, 1);
    for (const n of Object.keys(out)) {
      const prefix = n.endsWith("proj") && ["gate_proj", "up_proj", "down_proj"].includes(n) ? "mlp." : "self_attn.";
      put(`${p}${prefix}${n}.weight`, [out[n]!, inp[n]!], 1 / Math.sqrt(inp[n]!));
      if (opts.bias.includes(n)) put(`${p}${prefix}${n}.bias`, [out[n]!], 0.5);
    }
  }
  put("model.norm.weight", [s.dim], 0.1, 1);
  if (!opts.tied) put("lm_head.weight", [s.vocab, s.dim], 1 / Math.sqrt(s.dim));
  return t;
}

/** transformers' inverse frequencies, with its `_compute_llama3_parameters` when scaling is given. */
function invFreq(hd: number, theta: number, scaling?: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number }): number[] {
  const inv = Array.from({ length: hd / 2 }, (_, i) => 1 / Math.pow(theta, (2 * i) / hd));
  if (!scaling) return inv;
  const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: old } = scaling;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    const scaled = wavelen > old / lo ? f / factor : f;
    if (wavelen < old / hi || wavelen > old / lo) return scaled;
    const smooth = (old / wavelen - lo) / (hi - lo);
    return (1 - smooth) * (scaled / factor) + smooth * scaled;
  });
}

/** Float64 logits [T][vocab] in transformers' formulation (rotate_half on half-split q/k). */
function reference(t: Tensors, s: Shape, tokens: number[], eps: number, inv: number[]): Float64Array[] {
  const g = (n: string) => t.get(n);
  const hd = s.dim / s.heads, half = hd / 2, group = s.heads / s.kvHeads;
  const lin = (x: Float64Array[], name: string) => {
    const w = g(name + ".weight")!, b = g(name + ".bias");
    const [rows, cols] = w.shape as [number, number];
    return x.map((row) => {
      const y = new Float64Array(rows);
      for (let r = 0; r < rows; r++) {
        let acc = b ? b.data[r]! : 0;
        for (let c = 0; c < cols; c++) acc += row[c]! * w.data[r * cols + c]!;
        y[r] = acc;
      }
      return y;
    });
  };
  const norm = (x: Float64Array[], name: string) => x.map((row) => {
    const ms = row.reduce((a, v) => a + v * v, 0) / row.length;
    const k = 1 / Math.sqrt(ms + eps);
    return row.map((v, i) => v * k * g(name)!.data[i]!);
  });
  const rope = (x: Float64Array[], heads: number) => x.map((row, pos) => {
    const y = row.slice();
    for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) {
      const a = pos * inv[i]!, c = Math.cos(a), sn = Math.sin(a);
      const x0 = row[h * hd + i]!, x1 = row[h * hd + i + half]!;
      y[h * hd + i] = x0 * c - x1 * sn;
      y[h * hd + i + half] = x1 * c + x0 * sn;
    }
    return y;
  });
  const emb = g("model.embed_tokens.weight")!;
  let x = tokens.map((id) => Float64Array.from(emb.data.subarray(id * s.dim, (id + 1) * s.dim)));
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    const h = norm(x, p + "input_layernorm.weight");
    const q = rope(lin(h, p + "self_attn.q_proj"), s.heads), k = rope(lin(h, p + "self_attn.k_proj"), s.kvHeads), v = lin(h, p + "self_attn.v_proj");
    const att = tokens.map((_, i) => {
      const o = new Float64Array(s.dim);
      for (let hh = 0; hh < s.heads; hh++) {
        const kv = Math.floor(hh / group);
        const sc = Array.from({ length: i + 1 }, (_, j) => {
          let d = 0;
          for (let e = 0; e < hd; e++) d += q[i]![hh * hd + e]! * k[j]![kv * hd + e]!;
          return d / Math.sqrt(hd);
        });
        const m = Math.max(...sc), ex = sc.map((z) => Math.exp(z - m)), z = ex.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= i; j++) for (let e = 0; e < hd; e++) o[hh * hd + e] += (ex[j]! / z) * v[j]![kv * hd + e]!;
      }
      return o;
    });
    const o = lin(att, p + "self_attn.o_proj");
    x = x.map((row, i) => row.map((val, e) => val + o[i]![e]!));
    const h2 = norm(x, p + "post_attention_layernorm.weight");
    const gt = lin(h2, p + "mlp.gate_proj"), up = lin(h2, p + "mlp.up_proj");
    const a = gt.map((row, i) => row.map((val, e) => (val / (1 + Math.exp(-val))) * up[i]![e]!));
    const d = lin(a, p + "mlp.down_proj");
    x = x.map((row, i) => row.map((val, e) => val + d[i]![e]!));
  }
  const f = norm(x, "model.norm.weight");
  const head = g("lm_head.weight") ?? emb;
  return f.map((row) => {
    const y = new Float64Array(s.vocab);
    for (let r = 0; r < s.vocab; r++) {
      let acc = 0;
      for (let c = 0; c < s.dim; c++) acc += row[c]! * head.data[r * s.dim + c]!;
      y[r] = acc;
    }
    return y;
  });
}

/** llama.cpp needs a vocabulary to load a model: bytes and a few letters, one piece per embedding row. */
function testVocabulary(): Tokenizer {
  const pieces = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
  for (let i = 0; pieces.length < S.vocab; i++) pieces.push(String.fromCharCode(0x61 + (i % 26)).repeat(1 + Math.floor(i / 26)));
  const types = pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  return new Tokenizer({ pieces, scores: pieces.map(() => 0), types, bos: 1, eos: 2 });
}

async function writeFolder(dir: string, t: Tensors, config: Record<string, unknown>): Promise<void> {
  await writeSafetensors(join(dir, "model.safetensors"), new Map([...t].map(([n, v]) => [n, { dtype: "F32" as const, ...v }])));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
}

const baseConfig = (s: Shape, extra: Record<string, unknown>) => ({
  hidden_size: s.dim, intermediate_size: s.hidden, num_hidden_layers: s.layers, num_attention_heads: s.heads,
  num_key_value_heads: s.kvHeads, vocab_size: s.vocab, max_position_embeddings: s.ctx, rms_norm_eps: 1e-5, hidden_act: "silu", ...extra,
});

const LLAMA3_SCALING = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
const TOKENS = [1, 17, 250, 3, 99, 42, 7, 7, 128, 201, 5, 64];

const VARIANTS: { name: string; tied: boolean; bias: string[]; config: Record<string, unknown>; theta: number }[] = [
  { name: "Llama 3.2 (rope_scaling llama3, tied embeddings)", tied: true, bias: [], theta: 10000,
    config: { model_type: "llama", rope_theta: 10000, rope_scaling: LLAMA3_SCALING, tie_word_embeddings: true } },
  { name: "SmolLM2 (tied embeddings, no lm_head tensor)", tied: true, bias: [], theta: 100000,
    config: { model_type: "llama", rope_theta: 100000, tie_word_embeddings: true } },
  { name: "Qwen2.5 (q/k/v biases)", tied: false, bias: ["q_proj", "k_proj", "v_proj"], theta: 1000000,
    config: { model_type: "qwen2", rope_theta: 1000000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: 32, max_window_layers: 2 } },
  { name: "Llama with attention_bias and mlp_bias", tied: false, bias: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], theta: 10000,
    config: { model_type: "llama", rope_theta: 10000, attention_bias: true, mlp_bias: true, tie_word_embeddings: false } },
  { name: "Mistral (sliding_window beyond the context)", tied: false, bias: [], theta: 10000,
    config: { model_type: "mistral", rope_theta: 10000, sliding_window: 4096, tie_word_embeddings: false } },
];

for (const [vi, v] of VARIANTS.entries()) {
  test(`${v.name}: one forward step matches a float64 transformers-style computation`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "ql-hf-cfg-"));
    try {
      const t = hfTensors(S, 60 + vi, { tied: v.tied, bias: v.bias });
      await writeFolder(dir, t, baseConfig(S, v.config));
      const m = await loadModel(dir);
      assert.equal(m.output === null, v.tied);
      assert.equal(m.config.contextLength, S.ctx);
      const rt = await LlamaRuntime.create(m);
      const scaling = v.config.rope_scaling as typeof LLAMA3_SCALING | undefined;
      const want = reference(t, S, TOKENS, 1e-5, invFreq(S.dim / S.heads, v.theta, scaling));
      try {
        const got = rt.forward(TOKENS);
        const y = got.dataSync();
        got.dispose();
        let err = 0, scale = 0;
        want.forEach((row, i) => row.forEach((w, j) => { err = Math.max(err, Math.abs(y[i * S.vocab + j]! - w)); scale = Math.max(scale, Math.abs(w)); }));
        assert.ok(err < 2e-4 * scale, `max |Δlogit| ${err} at logit scale ${scale}`);
        if (scaling || v.bias.length) {
          // the feature matters: leaving it out moves the logits far beyond the tolerance
          const plain = scaling ? reference(t, S, TOKENS, 1e-5, invFreq(S.dim / S.heads, v.theta))
            : reference(new Map([...t].filter(([n]) => !n.endsWith(".bias"))), S, TOKENS, 1e-5, invFreq(S.dim / S.heads, v.theta));
          let d = 0;
          plain.forEach((row, i) => row.forEach((w, j) => (d = Math.max(d, Math.abs(w - want[i]![j]!)))));
          assert.ok(d > 100 * err, `without the feature the logits move by ${d}, against an error of ${err}`);
        }
      } finally {
        rt.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a sliding window shorter than max_position_embeddings caps the context; other rope types are refused by name", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf-cfg-"));
  try {
    const t = hfTensors(S, 70, { tied: false, bias: [] });
    await writeFolder(dir, t, baseConfig(S, { model_type: "mistral", sliding_window: 8 }));
    const m = await loadModel(dir);
    assert.equal(m.config.contextLength, 8);
    const rt = await LlamaRuntime.create(m);
    try {
      assert.throws(() => rt.forward(TOKENS), /12 positions exceed the model's context of 8/);
    } finally {
      rt.dispose();
    }
    const oneLine = (re: RegExp) => (e: unknown) => e instanceof QuantLabError && re.test(e.message) && !e.message.includes("\n");
    writeFileSync(join(dir, "config.json"), JSON.stringify(baseConfig(S, { model_type: "llama", rope_scaling: { rope_type: "yarn", factor: 4 } })));
    await assert.rejects(loadModel(dir), oneLine(/rope_scaling of type 'yarn'/));
    writeFileSync(join(dir, "config.json"), JSON.stringify(baseConfig(S, { model_type: "llama", rope_scaling: { rope_type: "llama3", factor: 8 } })));
    await assert.rejects(loadModel(dir), oneLine(/rope_scaling of type 'llama3' needs a positive 'low_freq_factor'/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the GGUF written from a Llama 3-scaled, biased, tied checkpoint gives llama.cpp's token probabilities", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf-cfg-cpp-"));
  try {
    const t = hfTensors(S, 80, { tied: true, bias: ["q_proj", "k_proj", "v_proj"] });
    await writeFolder(dir, t, baseConfig(S, { model_type: "llama", rope_theta: 10000, rope_scaling: LLAMA3_SCALING, attention_bias: true, tie_word_embeddings: true }));
    const src = await openModelSource(dir);
    const gguf = join(dir, "model.gguf");
    try {
      assert.equal(src.tensors[0]!.name, "rope_freqs.weight");
      const { content } = await quantizeTensorSource(src, "F32");
      for (const [k, val] of testVocabulary().ggufMetadata()) (content.metadata as Map<string, unknown>).set(k, val);
      await writeGguf(gguf, content);
    } finally {
      await src.close();
    }
    const m = await loadModel(gguf);
    assert.ok(m.config.ropeFreqFactors, "rope_freqs.weight is read back");
    assert.ok(m.layers[1]!.bias?.attn_k, "biases are read back");
    const rt = await LlamaRuntime.create(m);
    const ours = Array.from(tokenNll(rt, TOKENS));
    rt.dispose();
    const ref = await llamaCppModel(gguf);
    try {
      const theirs = await llamaCppNll(ref, [TOKENS]);
            // random weights make confident, wrong predictions (NLL ≈ 25): the agreement is relative
      for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(ours[i]! - theirs[i]!) < 1e-3 + 3e-4 * theirs[i]!, `token ${i + 1}: ours ${ours[i]} llama.cpp ${theirs[i]}`);
    } finally {
      await ref.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a model with rope scaling and biases written back as GGUF (quantize-model's writer) keeps both", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-hf-cfg-out-"));
  try {
    await writeFolder(dir, hfTensors(S, 90, { tied: false, bias: ["q_proj", "k_proj", "v_proj"] }),
      baseConfig(S, { model_type: "qwen2", rope_scaling: LLAMA3_SCALING }));
    const m = await loadModel(dir);
    const out = join(dir, "out.gguf");
    await writeModelGguf(m, out);
    const back = await loadModel(out);
    assert.deepEqual(back.config.ropeFreqFactors, m.config.ropeFreqFactors);
    assert.deepEqual(back.layers.map((l) => l.bias), m.layers.map((l) => l.bias));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a GGUF of architecture qwen2 (q/k in half-split order, as llama.cpp's converter writes Qwen2) runs as transformers and llama.cpp compute it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-qwen2-gguf-"));
  try {
    const t = hfTensors(S, 95, { tied: true, bias: ["q_proj", "k_proj", "v_proj"] });
    const theta = 1000000;
    const meta = new Map<string, GgufValue>();
    const u32 = (k: string, v: number) => meta.set(k, { type: "UINT32", value: v });
    meta.set("general.architecture", { type: "STRING", value: "qwen2" });
    u32("qwen2.context_length", S.ctx);
    u32("qwen2.embedding_length", S.dim);
    u32("qwen2.block_count", S.layers);
    u32("qwen2.feed_forward_length", S.hidden);
    u32("qwen2.attention.head_count", S.heads);
    u32("qwen2.attention.head_count_kv", S.kvHeads);
    meta.set("qwen2.rope.freq_base", { type: "FLOAT32", value: theta });
    meta.set("qwen2.attention.layer_norm_rms_epsilon", { type: "FLOAT32", value: 1e-5 });
    for (const [k, v] of testVocabulary().ggufMetadata()) meta.set(k, v);
    const names: Record<string, string> = {
      "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
      "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", input_layernorm: "attn_norm", post_attention_layernorm: "ffn_norm",
    };
    const tensors = [...t].map(([n, v]) => {
      const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
      const name = n === "model.embed_tokens.weight" ? "token_embd.weight" : n === "model.norm.weight" ? "output_norm.weight" : `blk.${m![1]}.${names[m![2]!]}.${m![3]}`;
      return { name, dims: [...v.shape].reverse(), type: "F32" as const, data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) };
    });
    const gguf = join(dir, "qwen2.gguf");
    await writeGguf(gguf, { metadata: meta, tensors });
    const m = await loadModel(gguf);
    const rt = await LlamaRuntime.create(m);
    try {
      const got = rt.forward(TOKENS);
      const y = got.dataSync();
      got.dispose();
      const want = reference(t, S, TOKENS, 1e-5, invFreq(S.dim / S.heads, theta));
      let err = 0, scale = 0;
      want.forEach((row, i) => row.forEach((w, j) => { err = Math.max(err, Math.abs(y[i * S.vocab + j]! - w)); scale = Math.max(scale, Math.abs(w)); }));
      assert.ok(err < 2e-4 * scale, `max |Δlogit| ${err} at logit scale ${scale}`);
      const ours = Array.from(tokenNll(rt, TOKENS));
      const ref = await llamaCppModel(gguf);
      try {
        const theirs = await llamaCppNll(ref, [TOKENS]);
        // ours matches the float64 reference above; llama.cpp's float32 NEOX angles at theta 1e6 drift ~1e-3 relative
        for (let i = 0; i < ours.length; i++) assert.ok(Math.abs(ours[i]! - theirs[i]!) < 1e-3 + 1e-3 * theirs[i]!, `token ${i + 1}: ours ${ours[i]} llama.cpp ${theirs[i]}`);
      } finally {
        await ref.dispose();
      }
    } finally {
      rt.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runtimeFromSource (tensor by tensor) gives the logits of the loaded model's runtime: Hugging Face folder and qwen2 GGUF", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-rt-src-"));
  try {
    await writeFolder(dir, hfTensors(S, 97, { tied: true, bias: ["q_proj", "k_proj", "v_proj"] }),
      baseConfig(S, { model_type: "qwen2", rope_scaling: LLAMA3_SCALING, tie_word_embeddings: true }));
    const m = await loadModel(dir);
    const gguf = join(dir, "m.gguf");
    // a qwen2-architecture GGUF keeps q/k half-split: undo the loader's permutation to write one
    const src0 = await openModelSource(dir);
    try {
      const { content } = await quantizeTensorSource(src0, "F32");
      (content.metadata as Map<string, GgufValue>).set("general.architecture", { type: "STRING", value: "qwen2" });
      for (const [k, v] of [...(content.metadata as Map<string, GgufValue>)]) if (k.startsWith("llama.")) (content.metadata as Map<string, GgufValue>).set("qwen2." + k.slice(6), v);
      const halfOf = (x: Uint8Array, rows: number, heads: number) => {
        const hd = rows / heads, rb = x.length / rows, out = new Uint8Array(x.length);
        for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) {
          out.set(x.subarray((h * hd + 2 * i) * rb, (h * hd + 2 * i + 1) * rb), (h * hd + i) * rb);
          out.set(x.subarray((h * hd + 2 * i + 1) * rb, (h * hd + 2 * i + 2) * rb), (h * hd + i + hd / 2) * rb);
        }
        return out;
      };
      const tensors = content.tensors.map((t) => {
        const q = /attn_q\.(weight|bias)$/.test(t.name), k = /attn_k\.(weight|bias)$/.test(t.name);
        if (!q && !k) return t;
        const rows = t.dims.length === 1 ? t.dims[0]! : t.dims[1]!;
        return { ...t, data: halfOf(t.data, rows, q ? S.heads : S.kvHeads) };
      });
      await writeGguf(gguf, { ...content, tensors });
    } finally {
      await src0.close();
    }
    const a = await LlamaRuntime.create(m);
    const want = a.forward(TOKENS).dataSync() as Float32Array;
    a.dispose();
    for (const path of [dir, gguf]) {
      const src = await openModelSource(path);
      const rt = await runtimeFromSource(src);
      await src.close();
      const got = rt.forward(TOKENS).dataSync() as Float32Array;
      rt.dispose();
      let d = 0;
      for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
      assert.ok(d < 1e-4, `${path}: max |Δlogit| ${d}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
