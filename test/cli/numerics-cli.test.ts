// The issue-2 CLI contract: `--json` prints one object; errors exit non-zero with one line naming the fix;
// nothing partial is left at --out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors, readSafetensors } from "../../src/io/safetensors.js";
import { gaussian } from "../helpers/random.js";

function ql(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/quantlab.js", ...args], { encoding: "utf8", env: { ...process.env, QUANTLAB_FROM_SOURCE: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("quantlab ruler --json: the course's worked example", () => {
  const r = ql("ruler", "--bits", "8", "--scheme", "asymmetric", "--json", "--", "0.10", "-0.30", "0.70", "-1.00", "0.50");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(Object.keys(j).sort(), ["codes", "dequantized", "max", "maxError", "min", "mse", "scale", "zeroPoint"]);
  assert.deepEqual(j.codes, [165, 105, 255, 0, 225]);
  assert.ok(Math.abs(j.scale - 1.7 / 255) < 1e-9);
  assert.ok(j.maxError <= j.scale / 2);
  const text = ql("ruler", "--bits", "8", "--", "0.10", "-0.30", "0.70", "-1.00", "0.50");
  assert.match(text.out, /round\(165\) = 165/);
});

test("quantlab memory and kv --json", () => {
  const m = JSON.parse(ql("memory", "--params", "7e9", "--format", "int4", "--group-size", "128", "--json").out);
  assert.equal(m.bitsPerParam, 4.15625);
  assert.equal(m.bytes, Math.ceil((7e9 * 4.15625) / 8));
  const kv = JSON.parse(ql("kv", "--model", "llama-2-7b", "--context", "4096", "--batch", "1", "--dtype", "fp16", "--json").out);
  assert.equal(kv.bytes, 2147483648);
  const kv8 = JSON.parse(ql("kv", "--model", "llama-2-7b", "--context", "4096", "--dtype", "int8", "--json").out);
  assert.equal(kv8.bytes, 1073741824);
});

test("quantlab rtn: safetensors in, quantized safetensors out, JSON report", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-rtn-"));
  const g = gaussian(11);
  const W = Float32Array.from({ length: 16 * 256 }, () => g() * 0.02);
  await writeSafetensors(join(dir, "W.safetensors"), { "layer.weight": { dtype: "F16", shape: [16, 256], data: W } });
  for (const gs of ["128", "channel", "tensor"]) {
    const r = ql("rtn", "--weights", join(dir, "W.safetensors"), "--bits", "4", "--group-size", gs, "--out", join(dir, `Q${gs}.safetensors`), "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual(Object.keys(j).sort(), ["maxError", "mse", "seconds", "sqnrDb"]);
    const q = await readSafetensors(join(dir, `Q${gs}.safetensors`));
    assert.deepEqual(q.tensors.get("weight")!.shape, [16, 256]);
    assert.ok(q.tensors.has("codes") && q.tensors.has("scales") && q.tensors.has("zeros"));
  }
  const sym = JSON.parse(ql("rtn", "--weights", join(dir, "W.safetensors"), "--bits", "4", "--group-size", "128", "--scheme", "symmetric", "--out", join(dir, "S.safetensors"), "--json").out);
  assert.ok(sym.mse > 0);
});

test("CLI errors: one line naming the fix, non-zero exit, nothing left at --out", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-err-"));
  await writeSafetensors(join(dir, "W.safetensors"), { w: { dtype: "F32", shape: [2, 10], data: new Float32Array(20).fill(1) } });
  const r = ql("rtn", "--weights", join(dir, "W.safetensors"), "--bits", "4", "--group-size", "4", "--out", join(dir, "Q.safetensors"));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /group size 4 does not divide the row length 10/);
  assert.equal(r.err.trim().split("\n").length, 1);
  assert.equal(existsSync(join(dir, "Q.safetensors")), false);
  assert.deepEqual(readdirSync(dir), ["W.safetensors"]);
  const bits = ql("ruler", "--bits", "12", "--", "1", "2");
  assert.notEqual(bits.code, 0);
  assert.match(bits.err, /bits must be an integer from 2 to 8/);
  const nan = ql("ruler", "--", "1", "abc");
  assert.match(nan.err, /'abc' is not a number/);
  const missing = ql("rtn", "--weights", join(dir, "nope.safetensors"), "--out", join(dir, "Q.safetensors"));
  assert.match(missing.err, /cannot read .*nope\.safetensors: ENOENT/);
});
