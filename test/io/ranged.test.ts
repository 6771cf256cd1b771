/**
 * Read errors say what happened: a missing file is NOT_FOUND, a folder or an unreadable file is a bad
 * argument, a file that ends before what its header promised is BAD_FILE — never "not found" for all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QuantLabError } from "../../src/errors.js";
import { openGguf, readGguf, readGgufHeader } from "../../src/gguf/file.js";
import { encodeSafetensors, openSafetensors, readSafetensors } from "../../src/io/safetensors.js";
import { readNpy } from "../../src/io/npy.js";

const is = (code: string, re: RegExp) => (e: unknown) => e instanceof QuantLabError && e.code === code && re.test(e.message) && !e.message.includes("\n");

test("missing files, folders and unreadable files are each named for what they are", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-ranged-"));
  try {
    const none = join(dir, "none.safetensors");
    await assert.rejects(readSafetensors(none), is("NOT_FOUND", /none\.safetensors: ENOENT \(it does not exist\)/));
    await assert.rejects(readGguf(join(dir, "none.gguf")), is("NOT_FOUND", /does not exist/));
    await assert.rejects(readSafetensors(dir), is("BAD_ARGUMENT", /is a folder/));
    await assert.rejects(readGgufHeader(dir), is("BAD_ARGUMENT", /is a folder/));
    await assert.rejects(readNpy(dir), is("BAD_ARGUMENT", /is a folder/));
    await assert.rejects(openGguf(join(dir, "none.gguf", "x.gguf")), is("NOT_FOUND", /ENOENT|ENOTDIR/));
    if (process.getuid?.() !== 0) { // root reads anything
      const locked = join(dir, "locked.safetensors");
      writeFileSync(locked, encodeSafetensors({ w: { dtype: "F32", shape: [1], data: new Float32Array([1]) } }));
      chmodSync(locked, 0);
      await assert.rejects(readSafetensors(locked), is("BAD_ARGUMENT", /permission/));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file cut short after it was opened is BAD_FILE naming the offset it ends at", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-ranged-"));
  try {
    const path = join(dir, "w.safetensors");
    writeFileSync(path, encodeSafetensors({ a: { dtype: "F32", shape: [4], data: new Float32Array([1, 2, 3, 4]) }, b: { dtype: "F32", shape: [1024], data: new Float32Array(1024) } }));
    const f = await openSafetensors(path);
    try {
      truncateSync(path, f.entries.get("b")!.offset + 100);
      assert.deepEqual(Array.from((await f.tensor("a")).data as Float32Array), [1, 2, 3, 4]);
      await assert.rejects(f.read("b"), is("BAD_FILE", /ends at byte \d+, before the 4096 bytes at \d+ it promised: it is truncated/));
      await assert.rejects(f.read("c"), is("NOT_FOUND", /has no tensor 'c'/));
    } finally {
      await f.close();
    }
    await assert.rejects(readSafetensors(path), is("BAD_FILE", /truncated/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
