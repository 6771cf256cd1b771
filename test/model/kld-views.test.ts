/**
 * The views built on KLD: the layer trace (error enters where the weights changed and not before),
 * the token view (shading, flips, top-3 on hover, a static fallback), the KLD and same-top columns of
 * quantizationStudy and kvStudy, bits per weight, and the KLD-versus-bits frontier chart.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DISPLAY } from "../../src/display/mime.js";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { layerTrace } from "../../src/model/runtime/layer-trace.js";
import { windows } from "../../src/model/runtime/eval.js";
import { kvCacheStudy } from "../../src/model/runtime/kvcache.js";
import { quantizationStudy } from "../../src/model/quantize/study.js";
import { bitsPerWeight } from "../../src/model/quantize/bits.js";
import { matrix } from "../../src/numerics/matrix.js";
import type { LlamaModel } from "../../src/model/llama.js";
import * as ql from "../../src/dsl/index.js";
import { randomModel, TINY } from "./helpers.js";

const text = Array.from({ length: 40 }, (_, i) => 3 + ((i * 7) % 17));

function withLayer1Changed(m: LlamaModel): LlamaModel {
  const layers = m.layers.slice();
  const w = m.layers[1].ffn_up;
  layers[1] = { ...m.layers[1], ffn_up: matrix(w.rows, w.cols, w.data.map((x, i) => x + (i % 3 === 0 ? 0.05 : -0.02))) };
  return { ...m, layers };
}

test("layer trace: identical until the changed layer, the error enters there and is carried on", async () => {
  const a = randomModel(TINY, 21), b = withLayer1Changed(a);
  const ra = await LlamaRuntime.create(a), rb = await LlamaRuntime.create(b);
  const rows = layerTrace(ra, rb, windows(text, 1, 16));
  assert.equal(rows.length, 2);
  assert.equal(rows[0].sqnrDb, Infinity);
  assert.ok(Math.abs(rows[0].cosine - 1) < 1e-6);
  for (const n of Object.keys(rows[0].linears)) assert.equal(rows[0].linears[n as never], 0);
  assert.ok(Number.isFinite(rows[1].sqnrDb) && rows[1].sqnrDb > 0 && rows[1].cosine < 1);
  assert.ok(rows[1].linears.ffn_up > 1e-4, `ffn_up ${rows[1].linears.ffn_up}`);
  // ffn_down's weights are unchanged: its output error is 0 even though its input drifted
  assert.equal(rows[1].linears.ffn_down, 0);
  assert.equal(rows[1].linears.attn_q, 0);
  assert.throws(() => layerTrace(ra, rb, []), /at least one window/);
  ra.dispose();
  rb.dispose();
});

test("study and KV study carry KLD and same-top columns; bits per weight as stored", async () => {
  const m = await ql.loadModel(ql.projectModelPath());
  const ids = m.tokenizer!.encode(ql.courseText(m, 0, 6000));
  const t = await quantizationStudy(m, { calibTokens: ids.slice(600), evalTokens: ids.slice(0, 300), calibWindows: 1, calibLength: 64,
    specs: [{ gguf: "Q8_0" }, { gguf: "Q4_0" }, { method: "rtn", bits: 4, groupSize: 32 }] });
  const fp = t.get("FP32")!, q8 = t.get("Q8_0")!, q4 = t.get("Q4_0")!, rtn = t.get("RTN 4-bit g32")!;
  assert.equal(fp.kld, 0);
  assert.ok(q8.kld! > 0 && q8.kld! < q4.kld!, `Q8_0 ${q8.kld} Q4_0 ${q4.kld}`);
  assert.ok(q8.sameTopPercent! >= q4.sameTopPercent! && q4.sameTopPercent! <= 100);
  assert.equal(q8.bitsPerWeight, 8.5);
  assert.equal(q4.bitsPerWeight, 4.5);
  assert.equal(rtn.bitsPerWeight, 4 + (16 + 4) / 32);
  const md = t.toMarkdown();
  assert.match(md, /\| method \| perplexity \| vs FP32 \| KLD \| same top \| bits\/weight \|/);
  // the frontier: one point per quantized row, RTN and GGUF as families, a Pareto front
  const chart = ql.kldFrontier(t);
  const names = chart.figure.data.map((d) => d.name);
  assert.deepEqual(names, ["GGUF", "RTN", "Pareto front"]);
  assert.deepEqual(chart.figure.data[0].y, [q8.kld, q4.kld]);
  assert.throws(() => ql.kldFrontier([{ label: "FP32", kld: 0, bitsPerWeight: 32 }]), /needs rows with bitsPerWeight/);

  const rt = await LlamaRuntime.create(m);
  const kv = kvCacheStudy(rt, windows(ids.slice(0, 200), m.tokenizer!.bos, 128), [{ format: "INT8", granularity: "token" }, { format: "INT4", granularity: "token" }], m.tokenizer!.bos);
  rt.dispose();
  assert.equal(kv.rows[0].kld, 0);
  assert.ok(kv.rows[1].kld > 0 && kv.rows[1].kld < kv.rows[2].kld, `INT8 ${kv.rows[1].kld} INT4 ${kv.rows[2].kld}`);
  assert.match(kv[DISPLAY]()["text/plain"], /KLD\s+same top/);
});

test("klDivergence, tokenView and layerTrace in the DSL: displays with a static fallback", async () => {
  const m = await ql.loadModel(ql.projectModelPath());
  const q = await ql.quantizeModel(m, { gguf: "Q4_0" }, ql.courseText(m, 0, 2000), { windows: 1, length: 32 });
  const r = await ql.klDivergence(m, q, ql.courseText(m, 0, 2000), { maxTokens: 100 });
  assert.equal(r.tokens, 100);
  const b = r[DISPLAY]();
  assert.match(b["text/plain"], /Mean KLD\s+\d\.\d+ ± \d\.\d+/);
  assert.match(String(b["text/html"]), /<table[\s\S]*mean KLD/);
  assert.match(String(b["text/markdown"]), /\| mean KLD \|/);
  assert.equal((r.histogram().figure.data[0].y as number[]).reduce((s, c) => s + c, 0), 100);
  // against the saved base: the same tokens, within 0.1 %
  const saved = await ql.baseLogProbsOf(m, ql.courseText(m, 0, 2000), { maxTokens: 100 });
  const rs = await ql.klDivergence(saved, q, ql.courseText(m, 0, 2000), { maxTokens: 100 });
  assert.ok(Math.abs(rs.kld.mean / r.kld.mean - 1) < 1e-3);

  const view = ql.tokenView(r, { count: 30 });
  const rows = view.rows();
  assert.equal(rows.length, 30);
  const v = view[DISPLAY]();
  const spans = String(v["text/html"]).match(/<span style="background:rgba/g) ?? [];
  assert.equal(spans.length, 30);
  assert.match(String(v["text/html"]), /title="KLD [^"]*base top-3: [^"]*quant top-3: /);
  const flips = rows.filter((x) => x.flip).length;
  assert.equal((String(v["text/html"]).match(/<span style="background:[^"]*border-bottom/g) ?? []).length, flips);
  assert.match(v["text/plain"], new RegExp(`\\(${flips} top-token flips\\); the 10 worst tokens`));
  // the darkest shade is the worst token of the view
  const worst = rows.reduce((a, x) => (x.kld > a.kld ? x : a));
  assert.equal(v["text/plain"].split("\n")[2].trim().split(/\s+/)[0], String(worst.position));

  const lt = await ql.layerTrace(m, q, ql.courseText(m, 0, 2000), { maxTokens: 64 });
  assert.equal(lt.rows.length, m.config.nLayers);
  for (const row of lt.rows) assert.ok(row.cosine > 0.9 && row.cosine < 1 && row.sqnrDb > 5 && row.sqnrDb < 60, JSON.stringify(row));
  const c = lt.chart();
  assert.equal(c.figure.data.length, 1 + 7);
  assert.match(lt[DISPLAY]()["text/plain"], /layer\s+cosine\s+SQNR \(dB\)/);
  assert.equal(bitsPerWeight(q), 4.5);
  // another vocabulary is refused
  const other = { ...m, source: "other", tokenizer: m.tokenizer && Object.assign(Object.create(Object.getPrototypeOf(m.tokenizer)), m.tokenizer, { pieces: m.tokenizer.pieces.map((p, i) => (i === 300 ? "zz" : p)) }) };
  await assert.rejects(() => ql.klDivergence(other, q, ql.courseText(m, 0, 500)), /different vocabularies \(token 300/);
});
