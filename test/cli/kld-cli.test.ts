/**
 * `quantlab eval --base`: the --json contract, the saved base reused across quantizations
 * (--save-base, then --base-logits), and one clear line for each refusal (a corrupted base file, a base
 * with another vocabulary, a text of fewer than two tokens).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGguf, writeGguf } from "../../src/gguf/file.js";
import { quantizeGgufModel } from "../../src/gguf/model-quantize.js";
import { sharedFile } from "../model/helpers.js";
import { quantlab } from "../helpers/cli.js";

const root = join(import.meta.dirname, "..", "..");
const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const sotu = join(root, "data", "sotu-llama.gguf");
const skip = model.skip || val.skip;


test("eval --base --json: the KLD contract; --save-base then --base-logits gives the same numbers", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-kld-cli-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 4000));
    const q = join(dir, "q4_0.gguf");
    await writeGguf(q, quantizeGgufModel(await readGguf(model.path), "Q4_0").content);
    const r = quantlab("eval", "--model", q, "--base", model.path, "--text", text, "--max-tokens", "300", "--json");
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split("\n");
    assert.equal(lines.length, 1);
    const j = JSON.parse(lines[0]);
    for (const k of ["perplexity", "basePerplexity", "tokens", "sameTopPercent"]) assert.equal(typeof j[k], "number", k);
    for (const k of ["mean", "stderr", "median", "p90", "p95", "p99", "p999", "min", "max"]) assert.equal(typeof j.kld[k], "number", `kld.${k}`);
    assert.equal(typeof j.deltaP.mean, "number");
    assert.equal(typeof j.deltaP.rms, "number");
    assert.equal(j.tokens, 300);
    assert.ok(j.kld.mean > 0.01 && j.kld.mean < 1, `KLD ${j.kld.mean}`);
    assert.ok(j.perplexity > j.basePerplexity * 0.9 && j.sameTopPercent > 50 && j.sameTopPercent < 100);
    // the plain eval of the same model scores the same tokens to the same perplexity
    const plain = JSON.parse(quantlab("eval", "--model", q, "--text", text, "--max-tokens", "300", "--json").out);
    assert.ok(Math.abs(plain.perplexity / j.perplexity - 1) < 1e-6);

    const base = join(dir, "base.qlkld");
    const s = quantlab("eval", "--model", model.path, "--text", text, "--max-tokens", "300", "--save-base", base, "--json");
    assert.equal(s.code, 0, s.err);
    const sj = JSON.parse(s.out);
    assert.equal(sj.bytes, statSync(base).size);
    assert.equal(sj.bytes, 32 + 300 * 16 + 8 * sj.entries);
    assert.ok(Math.abs(sj.basePerplexity / j.basePerplexity - 1) < 1e-6);
    const u = quantlab("eval", "--model", q, "--base-logits", base, "--text", text, "--max-tokens", "300", "--json");
    assert.equal(u.code, 0, u.err);
    const uj = JSON.parse(u.out);
    assert.ok(Math.abs(uj.kld.mean / j.kld.mean - 1) < 1e-3, `saved ${uj.kld.mean} exact ${j.kld.mean}`);
    assert.equal(uj.sameTopPercent, j.sameTopPercent);
    assert.equal(uj.exact, false);

    // a corrupted base file
    const bytes = readFileSync(base);
    bytes[bytes.length - 3] ^= 0x55;
    const bad = join(dir, "bad.qlkld");
    writeFileSync(bad, bytes);
    const c = quantlab("eval", "--model", q, "--base-logits", bad, "--text", text, "--max-tokens", "300");
    assert.equal(c.code, 1);
    assert.match(c.err, /^quantlab eval: .*bad\.qlkld fails its checksum \(corrupt or truncated\): recompute it with --save-base/);
    assert.equal(c.err.trim().split("\n").length, 1);
    // other tokens than the saved ones
    const o = quantlab("eval", "--model", q, "--base-logits", base, "--text", text, "--max-tokens", "200");
    assert.equal(o.code, 1);
    assert.match(o.err, /computed on other tokens/);
    // a text of one token
    const one = join(dir, "one.txt");
    writeFileSync(one, "Once");
    const t = quantlab("eval", "--model", q, "--base", model.path, "--text", one);
    assert.equal(t.code, 1);
    assert.match(t.err, /has 1 token: give at least two tokens/);
    // a base with another vocabulary (the project model: 512 pieces too, but other ones)
    if (existsSync(sotu)) {
      const v = quantlab("eval", "--model", q, "--base", sotu, "--text", text, "--max-tokens", "100");
      assert.equal(v.code, 1);
      assert.match(v.err, /have different vocabularies \(token \d+ is .* in one and .* in the other\): compare a model with a quantization of itself/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("eval --base --like-llama-cpp rounds as llama.cpp does: Q8_0's KLD roughly doubles; alone it is refused", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-kld-like-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 4000));
    const q = join(dir, "q8_0.gguf");
    await writeGguf(q, quantizeGgufModel(await readGguf(model.path), "Q8_0").content);
    const run = (...extra: string[]) => quantlab("eval", "--model", q, "--base", model.path, "--text", text, "--max-tokens", "300", "--json", ...extra);
    const f32 = run(), like = run("--like-llama-cpp");
    assert.equal(like.code, 0, like.err);
    const a = JSON.parse(f32.out).kld.mean, b = JSON.parse(like.out).kld.mean;
    assert.ok(b > 1.5 * a && b < 4 * a, `float32 ${a}, rounded as llama.cpp ${b}`);
    const alone = quantlab("eval", "--model", q, "--text", text, "--like-llama-cpp");
    assert.equal(alone.code, 1);
    assert.match(alone.err, /--like-llama-cpp applies to KL divergence: give --base/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
