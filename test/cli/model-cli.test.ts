import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedFile } from "../model/helpers.js";
import { quantlab } from "../helpers/cli.js";

const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const skip = model.skip || val.skip;


test("eval --json prints one object with perplexity and token count", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-eval-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 6000));
    const r = quantlab("eval", "--model", model.path, "--text", text, "--max-tokens", "600", "--json");
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split("\n");
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]);
    assert.equal(j.tokens, 600);
    assert.equal(j.windows, 2);
    assert.ok(j.perplexity > 2 && j.perplexity < 8, `perplexity ${j.perplexity}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("quantize-model writes a GGUF whose perplexity eval reproduces", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-qm-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 8000));
    const out = join(dir, "q.gguf");
    const r = quantlab("quantize-model", "--model", model.path, "--calib", text, "--method", "Q8_0", "--out", out,
      "--calib-windows", "4", "--calib-length", "64", "--max-tokens", "500", "--json");
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.layers.length, 35);
    assert.equal(j.layers[0].tensor, "blk.0.attn_q.weight");
    assert.ok(j.perplexity >= j.fp32Perplexity * 0.99 && j.perplexity < j.fp32Perplexity * 1.02);
    const e = JSON.parse(quantlab("eval", "--model", out, "--text", text, "--max-tokens", "500", "--json").out);
    assert.ok(Math.abs(e.perplexity / j.perplexity - 1) < 1e-4, `${e.perplexity} vs ${j.perplexity}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("missing options and unknown methods exit non-zero with one line naming the fix", () => {
  const a = quantlab("eval", "--text", "x.txt");
  assert.equal(a.code, 1);
  assert.match(a.err, /--model is required/);
  const b = quantlab("quantize-model", "--model", "m.gguf", "--calib", "c.txt", "--method", "zip");
  assert.equal(b.code, 1);
  assert.match(b.err, /unknown method 'zip': use rtn, gptq, awq or a GGUF type/);
  const c = quantlab("eval", "--model", "/nonexistent.gguf", "--text", "x.txt");
  assert.match(c.err, /does not exist/);
});
