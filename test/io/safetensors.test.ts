import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeSafetensors, parseSafetensors, readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { encodeNpy, parseNpy } from "../../src/io/npy.js";
import { writeFileAtomic } from "../../src/io/atomic.js";
import { QuantLabError } from "../../src/errors.js";

const isBadFile = (re: RegExp) => (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && re.test(e.message);

test("safetensors round trip: F32, F16, BF16 (rounded to nearest even), integers, metadata", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-st-"));
  const f = Float32Array.of(1, -2.5, 3.140625, 65504, 1e-8, 0);
  await writeSafetensors(join(dir, "t.safetensors"), {
    a: { dtype: "F32", shape: [2, 3], data: f },
    b: { dtype: "F16", shape: [6], data: f },
    c: { dtype: "BF16", shape: [3, 2], data: f },
    d: { dtype: "I8", shape: [3], data: Int8Array.of(-128, 0, 127) },
    e: { dtype: "I64", shape: [1], data: BigInt64Array.of(-5n) },
  }, { format: "pt" });
  const r = await readSafetensors(join(dir, "t.safetensors"));
  assert.deepEqual(r.metadata, { format: "pt" });
  assert.deepEqual(Array.from(r.tensors.get("a")!.data as Float32Array), Array.from(f));
  assert.deepEqual(Array.from(r.tensors.get("b")!.data as Float32Array), [1, -2.5, 3.140625, 65504, 0, 0]);
  assert.equal((r.tensors.get("c")!.data as Float32Array)[2], 3.140625);
  assert.deepEqual(Array.from(r.tensors.get("d")!.data as Int8Array), [-128, 0, 127]);
  assert.equal((r.tensors.get("e")!.data as BigInt64Array)[0], -5n);
  assert.deepEqual(readdirSync(dir), ["t.safetensors"]); // no temporary files left behind
});

test("safetensors: truncated or lying headers are rejected before allocating", () => {
  const good = encodeSafetensors({ w: { dtype: "F32", shape: [4, 4], data: new Float32Array(16) } });
  assert.throws(() => parseSafetensors(good.subarray(0, 5)), isBadFile(/shorter than the 8-byte header length/));
  assert.throws(() => parseSafetensors(good.subarray(0, good.length - 4)), isBadFile(/truncated/));
  const huge = good.slice();
  new DataView(huge.buffer).setBigUint64(0, 1n << 60n, true);
  assert.throws(() => parseSafetensors(huge), isBadFile(/header length \d+ at byte 0 exceeds/));
  const lie = (header: object) => {
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  assert.throws(() => parseSafetensors(lie({ w: { dtype: "F32", shape: [1000000, 1000000], data_offsets: [0, 16] } })), isBadFile(/needs 4000000000000 bytes but data_offsets span 16/));
  assert.throws(() => parseSafetensors(lie({ w: { dtype: "F32", shape: [4], data_offsets: [0, 1 << 30] } })), isBadFile(/truncated/));
  assert.throws(() => parseSafetensors(lie({ w: { dtype: "Q9", shape: [4], data_offsets: [0, 16] } })), isBadFile(/dtype "Q9" is not supported/));
  assert.throws(() => parseSafetensors(lie({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 16] } })), isBadFile(/non-negative integers/));
  assert.throws(() => parseSafetensors(lie({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } })), isBadFile(/overlap/));
});

test(".npy round trip and NumPy's header forms; Fortran order and truncation rejected", () => {
  const t = { dtype: "F32" as const, shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) };
  const bytes = encodeNpy(t);
  assert.equal((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64, 0);
  const back = parseNpy(bytes);
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(Array.from(back.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  const f2 = bytes.slice();
  const at = new TextDecoder("latin1").decode(bytes).indexOf("False");
  f2.set(new TextEncoder().encode("True "), at);
  assert.throws(() => parseNpy(f2), isBadFile(/fortran_order is True/));
  assert.throws(() => parseNpy(bytes.subarray(0, bytes.length - 1)), isBadFile(/truncated/));
  assert.throws(() => parseNpy(new Uint8Array(20)), isBadFile(/magic/));
});

test("atomic writes: a failed write leaves the old file and no temporary file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-atomic-"));
  const p = join(dir, "x.bin");
  writeFileSync(p, "old");
  await assert.rejects(writeFileAtomic(p, [new Uint8Array(3), 42 as never]));
  assert.deepEqual(readdirSync(dir), ["x.bin"]);
  await writeFileAtomic(p, "new");
  assert.deepEqual(readdirSync(dir), ["x.bin"]);
});
