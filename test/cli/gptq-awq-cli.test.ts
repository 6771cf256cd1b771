// The issue-5 CLI contract: gptq / awq / rtn --calib on one input, --json prints one object, --out holds the
// dequantized (effective) weight in W's shape plus codes/scales/zeros; errors exit non-zero with one line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { randn, randt } from "../helpers/random.js";

function ql(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/quantlab.js", ...args], { encoding: "utf8", env: { ...process.env, QUANTLAB_FROM_SOURCE: "1" } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), "ql-gptq-"));
const W = join(dir, "W.safetensors");
const X = join(dir, "X.safetensors");
const Xbad = join(dir, "Xbad.safetensors");
const rows = 32, cols = 256, tokens = 256;
const x = randn(tokens * cols, 52);
for (let t = 0; t < tokens; t++) for (let c = 0; c < cols; c += 25) x[t * cols + c]! *= 20;
await writeSafetensors(W, { "layer.weight": { dtype: "F32", shape: [rows, cols], data: randt(rows * cols, 51, 5, 0.02) } });
await writeSafetensors(X, { x: { dtype: "F32", shape: [tokens, cols], data: x } });
await writeSafetensors(Xbad, { x: { dtype: "F32", shape: [tokens, 128], data: randn(tokens * 128, 53) } });

const results: Record<string, { outputError: number }> = {};
for (const method of ["gptq", "awq"]) {
  test(`quantlab ${method} --json: one object, and --out holds weight, codes, scales, zeros`, async () => {
    const out = join(dir, `${method}.safetensors`);
    const r = ql(method, "--weights", W, "--calib", X, "--bits", "4", "--group-size", "128", "--out", out, "--json", "--backend", "wasm");
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split("\n");
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(j).sort(), ["backend", "loss", "mse", "outputError", "seconds"]);
    assert.equal(j.backend, "wasm");
    assert.ok(j.outputError > 0 && j.outputError < 0.05);
    results[method] = j;
    const f = await readSafetensors(out);
    assert.deepEqual(f.tensors.get("weight")!.shape, [rows, cols]);
    assert.deepEqual(f.tensors.get("codes")!.shape, [rows, cols]);
    assert.deepEqual(f.tensors.get("scales")!.shape, [rows, 2]);
    assert.deepEqual(f.tensors.get("zeros")!.shape, [rows, 2]);
    assert.ok(f.tensors.has(method === "gptq" ? "g_idx" : "input_scales"));
  });
}

test("quantlab gptq --act-order --sym --group-size channel", () => {
  const r = ql("gptq", "--weights", W, "--calib", X, "--bits", "4", "--group-size", "channel", "--act-order", "--sym", "--out", join(dir, "ao.safetensors"), "--json");
  assert.equal(r.code, 0, r.err);
  assert.ok(JSON.parse(r.out).outputError > 0);
});

test("the three methods compare on one input: GPTQ and AWQ beat RTN", () => {
  const r = ql("rtn", "--weights", W, "--calib", X, "--bits", "4", "--group-size", "128", "--convention", "gptq", "--out", join(dir, "rtn.safetensors"), "--json");
  assert.equal(r.code, 0, r.err);
  const rtn = JSON.parse(r.out).outputError;
  assert.ok(results.gptq!.outputError < rtn, `gptq ${results.gptq!.outputError} vs rtn ${rtn}`);
  assert.ok(results.awq!.outputError < rtn, `awq ${results.awq!.outputError} vs rtn ${rtn}`);
});

test("bad input: one line on stderr naming the fix, non-zero exit", () => {
  const shape = ql("gptq", "--weights", W, "--calib", Xbad, "--out", join(dir, "no.safetensors"), "--json");
  assert.notEqual(shape.code, 0);
  assert.match(shape.err, /X must be \[tokens, 256\]/);
  assert.equal(shape.err.trim().split("\n").length, 1);
  const gs = ql("awq", "--weights", W, "--calib", X, "--group-size", "100", "--out", join(dir, "no.safetensors"));
  assert.notEqual(gs.code, 0);
  assert.match(gs.err, /group size 100 does not divide in_features 256/);
  const missing = ql("gptq", "--weights", W, "--out", join(dir, "no.safetensors"));
  assert.match(missing.err, /--calib/);
});
