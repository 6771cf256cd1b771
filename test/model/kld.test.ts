/**
 * KL divergence against a base model: the per-token sum over the whole vocabulary against an
 * independent reference pass, the statistics by hand, a model against itself, the saved top-k base
 * against the exact computation, and the three refusals (corrupt base file, other vocabulary, a text
 * of fewer than two tokens).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { perplexity, windows } from "../../src/model/runtime/eval.js";
import { baseLogProbs, klDivergenceRuntimes, klDivergenceSaved, topOf } from "../../src/model/runtime/kld.js";
import { baseFileBytes, loadBaseLogProbs, saveBaseLogProbs } from "../../src/model/runtime/kld-base.js";
import { kldStatistics, median, percentile } from "../../src/model/runtime/kld-stats.js";
import { QuantLabError } from "../../src/errors.js";
import type { LlamaModel } from "../../src/model/llama.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randomModel, referenceForward, TINY } from "./helpers.js";

function perturbed(m: LlamaModel, scale: number, seed: number): LlamaModel {
  let s = seed;
  const noise = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * scale;
  return {
    ...m,
    layers: m.layers.map((l) => {
      const out: Record<string, unknown> = { ...l };
      for (const n of ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] as const) {
        const w = l[n];
        out[n] = matrix(w.rows, w.cols, w.data.map((x) => x + noise()));
      }
      return out as never;
    }),
  };
}

function logSoftmax(row: Float32Array): Float64Array {
  const m = Math.max(...row);
  const z = Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return Float64Array.from(row, (x) => x - m - z);
}

function near(a: number, b: number, tol: number): void {
  assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);
}

const text = Array.from({ length: 40 }, (_, i) => 3 + ((i * 7) % 17));

test("KLD per token is Σ p_base (ln p_base − ln p_quant) over the vocabulary on eval's scored tokens", async () => {
  const a = randomModel(TINY, 11), b = perturbed(a, 0.2, 5);
  const ra = await LlamaRuntime.create(a), rb = await LlamaRuntime.create(b);
  const r = klDivergenceRuntimes(ra, rb, text, 1, { window: 16 });
  let t = 0;
  const V = TINY.vocabSize;
  for (const w of windows(text, 1, 16)) {
    const la = referenceForward(a, w), lb = referenceForward(b, w);
    for (let i = 0; i + 1 < w.length; i++, t++) {
      const p = logSoftmax(la.subarray(i * V, (i + 1) * V)), q = logSoftmax(lb.subarray(i * V, (i + 1) * V));
      let kl = 0;
      for (let v = 0; v < V; v++) kl += Math.exp(p[v]) * (p[v] - q[v]);
      assert.ok(Math.abs(r.detail.kld[t] - kl) < 1e-4 + 1e-3 * kl, `position ${t}: ${r.detail.kld[t]} vs ${kl}`);
      assert.equal(r.detail.sameTop[t], p.indexOf(Math.max(...p)) === q.indexOf(Math.max(...q)) ? 1 : 0);
    }
  }
  assert.equal(t, text.length);
  assert.equal(r.tokens, text.length);
  // both perplexities are eval's
  assert.ok(Math.abs(r.basePerplexity / perplexity(ra, { bos: 1 }, text, { window: 16 }).perplexity - 1) < 1e-5);
  assert.ok(Math.abs(r.perplexity / perplexity(rb, { bos: 1 }, text, { window: 16 }).perplexity - 1) < 1e-5);
  assert.ok(r.kld.mean > 0 && r.kld.min >= 0 && r.kld.max >= r.kld.p999 && r.kld.p99 >= r.kld.p95 && r.kld.p95 >= r.kld.p90 && r.kld.p90 >= r.kld.median);
  ra.dispose();
  rb.dispose();
});

test("a model against itself: KLD 0, same top 100 %, Δp 0, equal perplexities", async () => {
  const a = randomModel(TINY, 12);
  const ra = await LlamaRuntime.create(a), rb = await LlamaRuntime.create(a);
  const r = klDivergenceRuntimes(ra, rb, text, 1);
  assert.ok(r.kld.max < 1e-6, `max KLD ${r.kld.max}`);
  assert.equal(r.sameTopPercent, 100);
  assert.ok(Math.abs(r.deltaP.rms) < 1e-6);
  assert.ok(Math.abs(r.ratio - 1) < 1e-6);
  ra.dispose();
  rb.dispose();
});

test("statistics: llama.cpp's mean ± uncertainty, interpolated percentiles, median, Δp", () => {
  const kld = Array.from({ length: 20 }, (_, i) => (i + 1) / 100);
  const nllBase = kld.map(() => 1), nllQuant = kld.map((_, i) => 1 + (i % 2 ? 0.1 : 0));
  const s = kldStatistics({ kld, nllBase, nllQuant, sameTop: kld.map((_, i) => (i < 15 ? 1 : 0)) });
  const mean = 0.105, var_ = kld.reduce((a, x) => a + x * x, 0) / 20 - mean * mean;
  near(s.kld.mean, mean, 1e-12);
  near(s.kld.stderr, Math.sqrt(var_ / 19), 1e-12);
  near(s.kld.median, 0.105, 1e-12);
  near(s.kld.p90, (0.18 + 0.1 * 0.01), 1e-12); // 0.9 · 19 = 17.1 → between 0.18 and 0.19
  assert.equal(s.kld.min, 0.01);
  assert.equal(s.kld.max, 0.2);
  assert.equal(s.sameTopPercent, 75);
  near(s.sameTopStderr, 100 * Math.sqrt(0.75 * 0.25 / 19), 1e-12);
  near(s.basePerplexity, Math.E, 1e-12);
  near(s.logRatio.mean, 0.05, 1e-12);
  near(s.ratio, Math.exp(0.05), 1e-12);
  const dp = Math.exp(-1.1) - Math.exp(-1);
  near(s.deltaP.mean, dp / 2, 1e-12);
  near(s.deltaP.rms, Math.sqrt(dp * dp / 2), 1e-12);
  assert.equal(percentile([1, 2, 3], 0), 1);
  assert.equal(percentile([1, 2, 3], 1), 3);
  assert.equal(median([1, 2, 3]), 2);
  // too few tokens for a spread: llama.cpp reports 0
  assert.equal(kldStatistics({ kld: [0.1, 0.3], nllBase: [1, 1], nllQuant: [1, 1], sameTop: [1, 0] }).kld.stderr, 0);
});

test("topOf keeps the k largest, most likely first", () => {
  const ids = new Int32Array(3), vals = new Float32Array(3);
  topOf(Float32Array.from([-3, -1, -7, -0.5, -2, -1]), 3, ids, vals, 0);
  assert.deepEqual(Array.from(ids), [3, 1, 5]);
  assert.deepEqual(Array.from(vals), [-0.5, -1, -1]);
});

test("saved base (top-k + rest mass): same tokens, KLD within 0.1 % of the exact one, compact file, reused", async () => {
  const big = { ...TINY, vocabSize: 96 };
  const a = randomModel(big, 13), b = perturbed(a, 0.15, 9);
  const ra = await LlamaRuntime.create(a), rb = await LlamaRuntime.create(b);
  const ids = Array.from({ length: 60 }, (_, i) => 3 + ((i * 13) % 90));
  const exact = klDivergenceRuntimes(ra, rb, ids, 1);
  const dir = mkdtempSync(join(tmpdir(), "ql-kld-"));
  try {
    const path = join(dir, "base.qlkld");
    const saved = baseLogProbs(ra, ids, 1);
    await saveBaseLogProbs(path, saved);
    const entries = saved.offsets[60];
    assert.ok(entries < 60 * 96, `${entries} entries`);
    for (let t = 0; t < 60; t++) assert.ok(saved.rest[t] <= 1e-4);
    assert.equal(statSync(path).size, baseFileBytes(60, entries));
    assert.equal(baseFileBytes(60, entries), 32 + 60 * 16 + 8 * entries);
    const r = klDivergenceSaved(loadBaseLogProbs(path), rb, ids, 1);
    assert.equal(r.exact, false);
    assert.ok(Math.abs(r.kld.mean / exact.kld.mean - 1) < 1e-3, `saved ${r.kld.mean} exact ${exact.kld.mean}`);
    assert.ok(r.kld.mean <= exact.kld.mean * (1 + 1e-6), "the bucketed KLD is a lower bound");
    assert.equal(r.sameTopPercent, exact.sameTopPercent);
    assert.ok(Math.abs(r.perplexity / exact.perplexity - 1) < 1e-6);
    assert.ok(Math.abs(r.basePerplexity / exact.basePerplexity - 1) < 1e-6);
    // nothing left out: the bucket is empty and the result is the exact one
    const full = klDivergenceSaved(baseLogProbs(ra, ids, 1, { restMass: 0 }), rb, ids, 1);
    assert.ok(Math.abs(full.kld.mean / exact.kld.mean - 1) < 1e-5);

    // corrupt: one flipped byte, and a truncated file
    const bytes = readFileSync(path);
    bytes[100] ^= 0xff;
    writeFileSync(join(dir, "flipped"), bytes);
    assert.throws(() => loadBaseLogProbs(join(dir, "flipped")), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && /checksum/.test(e.message));
    writeFileSync(join(dir, "short"), bytes.subarray(0, 500));
    assert.throws(() => loadBaseLogProbs(join(dir, "short")), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_FILE" && /truncated/.test(e.message));
    writeFileSync(join(dir, "text"), "not a base file at all, just some text");
    assert.throws(() => loadBaseLogProbs(join(dir, "text")), /is not a QuantLab base log-probabilities file/);
    // a cap on the entries kept: the bucket grows, the bound still holds
    const capped = klDivergenceSaved(baseLogProbs(ra, ids, 1, { maxK: 8 }), rb, ids, 1);
    assert.ok(capped.kld.mean < r.kld.mean && capped.kld.mean > 0);
    // other tokens than the saved ones
    assert.throws(() => klDivergenceSaved(saved, rb, ids.slice(0, 50), 1), /computed on other tokens/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    ra.dispose();
    rb.dispose();
  }
});

test("refusals: another vocabulary, a text of fewer than two tokens", async () => {
  const a = randomModel(TINY, 14), other = randomModel({ ...TINY, vocabSize: 24 }, 15);
  const ra = await LlamaRuntime.create(a), ro = await LlamaRuntime.create(other);
  assert.throws(() => klDivergenceRuntimes(ra, ro, text, 1), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT" && /vocabulary of 20 tokens and the quantized one 24/.test(e.message));
  assert.throws(() => klDivergenceSaved(baseLogProbs(ra, text, 1), ro, text, 1), /vocabulary of 20 tokens, the quantized model has 24/);
  assert.throws(() => klDivergenceRuntimes(ra, ra, [5], 1), (e: unknown) => e instanceof QuantLabError && /has 1 token: give at least two tokens/.test(e.message));
  assert.throws(() => klDivergenceRuntimes(ra, ra, text, 1, { maxTokens: 1 }), /raise --max-tokens 1/);
  ra.dispose();
  ro.dispose();
});
