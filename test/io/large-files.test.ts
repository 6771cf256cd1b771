/**
 * Files larger than 4 GiB, made sparse (ftruncate, then the header and a few tensor bytes written at
 * their offsets, so the test costs kilobytes of disk): a GGUF and a safetensors checkpoint with tensors
 * past the 2 GiB and 4 GiB offsets are inspected from their headers and those tensors read by offset.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { openGguf, readGguf, readGgufHeader } from "../../src/gguf/file.js";
import { formatInspection, inspectGguf } from "../../src/gguf/inspect.js";
import { dequantize, quantize } from "../../src/gguf/quants.js";
import { readF32 } from "../../src/gguf/source.js";
import { openSafetensors } from "../../src/io/safetensors.js";
import { randn } from "../helpers/random.js";

const GiB = 2 ** 30;

/** Writes `parts` ([absolute offset, bytes]) into a sparse file of `size` bytes. */
function sparseFile(path: string, size: number, parts: [number, Uint8Array][]): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, size);
    for (const [at, bytes] of parts) writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

/** A GGUF v3 header written by hand (the writer holds data in memory, which a 4 GiB test cannot). */
function ggufHeader(tensors: { name: string; dims: number[]; type: number; rel: number }[], alignment = 32): Uint8Array {
  const out: number[] = [];
  const u32 = (v: number) => { for (let i = 0; i < 4; i++) out.push((v >>> (8 * i)) & 0xff); };
  const u64 = (v: number) => { const b = BigInt(v); for (let i = 0n; i < 8n; i++) out.push(Number((b >> (8n * i)) & 0xffn)); };
  const str = (s: string) => { const b = new TextEncoder().encode(s); u64(b.length); out.push(...b); };
  u32(0x46554747); u32(3); u64(tensors.length); u64(1);
  str("general.architecture"); u32(8); str("llama");
  for (const t of tensors) {
    str(t.name); u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.type); u64(t.rel);
  }
  while (out.length % alignment) out.push(0);
  return Uint8Array.from(out);
}

test("a sparse 4.5 GiB GGUF: inspected from its header (true file size), tensors past 2 GiB and 4 GiB read by offset", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-large-"));
  try {
    const path = join(dir, "big.gguf");
    const small = randn(64, 1, 1);
    const q8vals = randn(2 * 256, 2, 0.1);
    const q8 = quantize("Q8_0", q8vals, 256);
    const f16vals = randn(4 * 128, 3, 1);
    const f16 = quantize("F16", f16vals, 128);
    // a contiguous layout, as llama.cpp writes it: zero F32 fillers of 2 GiB each push the tensors past 2 and 4 GiB
    const fill = GiB / 2; // F32 elements in 2 GiB
    const layout = [
      { name: "small", dims: [64], type: 0, nbytes: 256 },
      { name: "filler.0", dims: [fill], type: 0, nbytes: 2 * GiB },
      { name: "past2g", dims: [256, 2], type: 8, nbytes: q8.length },
      { name: "filler.1", dims: [fill], type: 0, nbytes: 2 * GiB },
      { name: "past4g", dims: [128, 4], type: 1, nbytes: f16.length },
    ];
    let rel = 0;
    const infos = layout.map((t) => { const r = rel; rel += Math.ceil(t.nbytes / 32) * 32; return { ...t, rel: r }; });
    const header = ggufHeader(infos);
    const size = header.length + rel;
    const at = (name: string) => header.length + infos.find((t) => t.name === name)!.rel;
    sparseFile(path, size, [[0, header], [at("small"), new Uint8Array(small.buffer)], [at("past2g"), q8], [at("past4g"), f16]]);
    assert.ok(at("past2g") > 2 * GiB && at("past4g") > 4 * GiB && size > 4 * GiB);

    const head = await readGgufHeader(path);
    assert.equal(head.fileSize, size);
    const info = inspectGguf(head);
    assert.equal(info.fileBytes, size, "the file's size, not the header window");
    assert.match(formatInspection(info), new RegExp(`file ${size} bytes`));
    assert.deepEqual(info.tensors.map((t) => t.offset), layout.map((t) => at(t.name)));

    const src = await openGguf(path);
    try {
      assert.deepEqual(await src.read("past2g"), q8);
      assert.deepEqual(await src.read("past4g"), f16);
      assert.deepEqual(await readF32(src, "small"), small);
      assert.deepEqual(await readF32(src, "past4g"), dequantize("F16", f16, 512));
      const back = await readF32(src, "past2g");
      const err = Math.max(...back.map((v, i) => Math.abs(v - q8vals[i]!)));
      assert.ok(err < 0.01, `Q8_0 past 2 GiB decodes (max error ${err})`);
    } finally {
      await src.close();
    }
    // the whole-file reader says what is wrong and what to use instead, rather than "not found"
    await assert.rejects(readGguf(path), (e: unknown) => e instanceof QuantLabError && e.code === "UNSUPPORTED" && /openGguf/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a sparse 4.5 GiB safetensors file: header parsed, BF16 past 2 GiB and F32 past 4 GiB read by offset", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-large-"));
  try {
    const path = join(dir, "big.safetensors");
    const bf16 = Uint16Array.from([0x3f80, 0xbf80, 0x4000, 0x0000, 0x3e80, 0xc040, 0x7f80, 0x3f00]); // 1 −1 2 0 0.25 −3 Inf 0.5
    const f32 = Float32Array.from([1.5, -2.25, 3e-8, 65504]);
    const b0 = 2 * GiB, e0 = b0 + bf16.byteLength, b1 = e0 + 2 * GiB, e1 = b1 + f32.byteLength;
    const header: Record<string, unknown> = {
      __metadata__: { format: "pt" },
      "filler.0": { dtype: "F32", shape: [GiB / 2], data_offsets: [0, 2 * GiB] },
      "model.past2g": { dtype: "BF16", shape: [2, 4], data_offsets: [b0, e0] },
      "filler.1": { dtype: "F32", shape: [GiB / 2], data_offsets: [e0, e0 + 2 * GiB] },
      "model.past4g": { dtype: "F32", shape: [4], data_offsets: [b1, e1] },
    };
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (json.length % 8)) % 8);
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(new TextEncoder().encode(json), 8);
    const start = head.length;
    sparseFile(path, start + e1, [[0, head], [start + b0, new Uint8Array(bf16.buffer)], [start + b1, new Uint8Array(f32.buffer)]]);

    const st = await openSafetensors(path);
    try {
      assert.equal(st.fileSize, start + e1);
      assert.deepEqual(st.metadata, { format: "pt" });
      assert.equal(st.entries.get("model.past4g")!.offset, start + b1);
      assert.ok(start + b1 > 4 * GiB);
      const a = await st.tensor("model.past2g");
      assert.deepEqual(a.shape, [2, 4]);
      assert.deepEqual(Array.from(a.data as Float32Array), [1, -1, 2, 0, 0.25, -3, Infinity, 0.5]);
      assert.deepEqual(await st.tensor("model.past4g"), { dtype: "F32", shape: [4], data: f32 });
      assert.deepEqual(await st.read("model.past2g"), new Uint8Array(bf16.buffer));
    } finally {
      await st.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
