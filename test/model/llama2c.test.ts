import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseLlama2c, parseLlama2cTokenizer } from "../../src/model/formats/llama2c.js";
import { encodeGgufBytes, parseGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel, quantizeTensorSource } from "../../src/gguf/model-quantize.js";
import { loadModel } from "../../src/model/formats/load.js";
import { openModelSource } from "../../src/model/formats/source.js";
import { ggufContent } from "../../src/model/quantize/export.js";
import type { LlamaModel } from "../../src/model/llama.js";
import { randomModel, TINY } from "./helpers.js";

// Test-side writer of the two llama2.c layouts, following export.py's order.
function writeLlama2c(m: LlamaModel, version: 0 | 1): Uint8Array {
  const c = m.config;
  const parts: Float32Array[] = [];
  const L = m.layers;
  const shared = m.output === null;
  if (version === 1) {
    parts.push(...L.map((l) => l.attnNorm), ...L.map((l) => l.ffnNorm), m.outputNorm, m.tokenEmbedding.data);
  } else {
    parts.push(m.tokenEmbedding.data, ...L.map((l) => l.attnNorm));
  }
  parts.push(...L.map((l) => l.attn_q.data), ...L.map((l) => l.attn_k.data), ...L.map((l) => l.attn_v.data), ...L.map((l) => l.attn_output.data));
  if (version === 0) parts.push(...L.map((l) => l.ffnNorm));
  parts.push(...L.map((l) => l.ffn_gate.data), ...L.map((l) => l.ffn_down.data), ...L.map((l) => l.ffn_up.data));
  if (version === 0) parts.push(m.outputNorm, new Float32Array(c.contextLength * (c.dim / c.nHeads)));
  if (!shared) parts.push(m.output!.data);
  const header = version === 1 ? 256 : 28;
  const n = parts.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(header + 4 * n);
  const dv = new DataView(buf.buffer);
  let o = 0;
  if (version === 1) {
    dv.setUint32(0, 0x616b3432, true);
    dv.setInt32(4, 1, true);
    o = 8;
  }
  const vocab = version === 0 && !shared ? -c.vocabSize : c.vocabSize;
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, vocab, c.contextLength].forEach((v, i) => dv.setInt32(o + 4 * i, v, true));
  if (version === 1) dv.setUint8(o + 28, shared ? 1 : 0);
  o = header;
  for (const p of parts) for (const x of p) { dv.setFloat32(o, x, true); o += 4; }
  return buf;
}

for (const version of [0, 1] as const) {
  for (const tied of [true, false]) {
    test(`llama2.c v${version} checkpoint round-trips (${tied ? "shared" : "separate"} classifier)`, () => {
      const m = randomModel(TINY, 31, tied);
      const r = parseLlama2c(writeLlama2c(m, version));
      assert.deepEqual(r.config, TINY);
      assert.deepEqual(r.layers[1].ffn_down, m.layers[1].ffn_down);
      assert.deepEqual(r.layers[0].ffn_up, m.layers[0].ffn_up);
      assert.deepEqual(r.layers[1].attnNorm, m.layers[1].attnNorm);
      assert.deepEqual(r.outputNorm, m.outputNorm);
      assert.deepEqual(r.tokenEmbedding, m.tokenEmbedding);
      assert.equal(r.output === null, tied);
      if (!tied) assert.deepEqual(r.output, m.output);
    });
  }
}

test("truncated llama2.c files and bad headers are refused with the sizes", () => {
  const b = writeLlama2c(randomModel(), 0);
  assert.throws(() => parseLlama2c(b.subarray(0, 1000)), /truncated: needs \d+ bytes .* has 1000/);
  const bad = b.slice();
  new DataView(bad.buffer).setInt32(12, 3, true); // 3 heads do not divide dim 16
  assert.throws(() => parseLlama2c(bad), /is not a llama2.c config/);
});

test("llama2.c tokenizer: spaces back to ▁, BOS/EOS as control pieces", () => {
  const toks = ["<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", " a", "a", "b", " ab", "ab"];
  const scores = [0, 0, 0, 0, -1, -2, -3, -4, -0.5];
  const enc = new TextEncoder();
  const chunks: number[] = [];
  const push32 = (v: number, f = false) => { const b = new Uint8Array(4); const d = new DataView(b.buffer); f ? d.setFloat32(0, v, true) : d.setInt32(0, v, true); chunks.push(...b); };
  push32(8);
  toks.forEach((t, i) => { push32(scores[i], true); const e = enc.encode(t); push32(e.length); chunks.push(...e); });
  const tok = parseLlama2cTokenizer(Uint8Array.from(chunks), toks.length);
  assert.equal(tok.pieces[4], "\u2581a");
  assert.equal(tok.pieces[1], "<s>");
  assert.deepEqual(tok.encode("ab\n", { bos: true }), [1, 7, 3]);
  assert.throws(() => parseLlama2cTokenizer(Uint8Array.from(chunks), 20), /ends after 9 of 20 tokens/);
  // loadModel picks up tokenizer.bin beside a .bin checkpoint
  const dir = mkdtempSync(join(tmpdir(), "ql-l2c-"));
  try {
    const m = randomModel({ ...TINY, vocabSize: 9 }, 33);
    writeFileSync(join(dir, "model.bin"), writeLlama2c(m, 0));
    writeFileSync(join(dir, "tokenizer.bin"), Uint8Array.from(chunks));
    return loadModel(join(dir, "model.bin")).then((r) => {
      assert.equal(r.tokenizer!.vocabSize, 9);
      assert.match(r.source, /llama2.c v0/);
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
});

test("a llama2.c file opened as a tensor source: read by offset, loaded and quantized as the in-memory parser's model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-l2c-src-"));
  try {
    for (const version of [0, 1] as const) {
      const m = randomModel(TINY, 34 + version, version === 0);
      const bytes = writeLlama2c(m, version);
      const path = join(dir, `v${version}.bin`);
      writeFileSync(path, bytes);
      const { storedTypes, ...loaded } = await loadModel(path);
      assert.deepEqual(loaded, parseLlama2c(bytes, path), `v${version}`);
      assert.ok(storedTypes && [...storedTypes.values()].every((t) => t === "F32"), "llama2.c stores FP32");
      // the quantizer reads the source tensor by tensor; the old route laid the whole model out as a GGUF first
      const src = await openModelSource(path);
      const direct = encodeGgufBytes((await quantizeTensorSource(src, "Q8_0")).content);
      await src.close();
      const old = encodeGgufBytes(quantizeGgufModel(parseGguf(encodeGgufBytes(ggufContent(loaded))), "Q8_0").content);
      assert.ok(Buffer.from(direct).equals(Buffer.from(old)), `v${version}: the bytes differ`);
      writeFileSync(path, bytes.subarray(0, bytes.length - 4));
      await assert.rejects(loadModel(path), /is truncated: needs \d+ bytes .* has \d+/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
