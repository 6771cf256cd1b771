/**
 * `quantlab eval` with the serving options: the --json contract (one object, eval --base's fields
 * plus the recipe), per-tensor static INT8 activations costing more than per-token dynamic on
 * stories260K, a KIVI cache whose window covers the text being lossless, and refusals with the fix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedFile } from "../helpers/shared.js";
import { quantlab } from "../helpers/cli.js";

const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const skip = model.skip || val.skip;


test("eval --activations / --kv-cache / --smoothquant / --rotate --json: one object with the quality fields", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-act-cli-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 2000));
    const run = (...extra: string[]) => {
      const r = quantlab("eval", "--model", model.path, "--text", text, "--max-tokens", "200", "--json", ...extra);
      assert.equal(r.code, 0, r.err);
      const lines = r.out.trim().split("\n");
      assert.equal(lines.length, 1);
      return JSON.parse(lines[0]);
    };
    const tensor = run("--activations", "int8:tensor:static");
    for (const k of ["perplexity", "basePerplexity", "tokens", "kld", "sameTopPercent", "deltaP", "activations", "kvCache", "smoothquant", "rotate", "kvBytesPerToken", "seconds"])
      assert.ok(k in tensor, k);
    assert.equal(tensor.activations, "int8:tensor:static");
    assert.equal(tensor.tokens, 200);
    const token = run("--activations", "int8:token:dynamic");
    assert.ok(tensor.kld.mean > token.kld.mean, `${tensor.kld.mean} vs ${token.kld.mean}`);
    const lossless = run("--kv-cache", "uint2:channel,uint2:token,window=512");
    assert.ok(lossless.kld.mean < 1e-9, `${lossless.kld.mean}`);
    assert.equal(lossless.perplexity, lossless.basePerplexity);
    const kivi = run("--kv-cache", "int4:channel,int4:token,window=32");
    assert.ok(kivi.kld.mean > 0 && kivi.kvBytesPerToken < 640, JSON.stringify(kivi));
    const rotated = run("--rotate", "hadamard");
    assert.ok(Math.abs(rotated.perplexity / rotated.basePerplexity - 1) < 1e-5);
    const smooth = run("--smoothquant", "0.5", "--activations", "int8:tensor:static");
    assert.equal(smooth.smoothquant, 0.5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("eval refuses malformed serving options with one line naming the fix", { skip }, () => {
  for (const [flag, value, hint] of [
    ["--activations", "int8:token:static", /token:dynamic/], ["--kv-cache", "int4:row", /granularity/],
    ["--rotate", "givens", /hadamard/], ["--smoothquant", "2", /\[0, 1\]/],
  ] as const) {
    const r = quantlab("eval", "--model", model.path, "--text", val.path, "--max-tokens", "20", flag, value);
    assert.notEqual(r.code, 0, `${flag} ${value}`);
    assert.match(r.err, hint);
    assert.ok(!/at .*\.ts:\d+/.test(r.err), r.err);
  }
});
