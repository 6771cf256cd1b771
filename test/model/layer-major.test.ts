import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { perplexity } from "../../src/model/runtime/eval.js";
import { modelLayers, sourceLayers } from "../../src/model/runtime/layer-source.js";
import { perplexityLayerMajor } from "../../src/model/runtime/layer-major.js";
import { modelFromSource, openModelSource } from "../../src/model/formats/source.js";
import { calibrationWindows, quantizeLayers, quantizeModel, type LayerDone } from "../../src/model/quantize/workflow.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { WorkDir, workDirOf } from "../../src/model/quantize/work-dir.js";
import { randomModel, sharedFile, TINY } from "./helpers.js";

const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");

test("layer-major perplexity equals the whole-model runtime's, from memory and from the file", { skip: model.skip || val.skip }, async () => {
  const src = await openModelSource(model.path);
  try {
    const m = await modelFromSource(src);
    const ids = m.tokenizer!.encode(readFileSync(val.path, "utf8").slice(0, 6000));
    const rt = await LlamaRuntime.create(m);
    const whole = perplexity(rt, m.tokenizer!, ids, { maxTokens: 600 });
    rt.dispose();
    const mem = await perplexityLayerMajor(modelLayers(m), m.tokenizer!.bos, ids, { maxTokens: 600 });
    const file = await perplexityLayerMajor(await sourceLayers(src), m.tokenizer!.bos, ids, { maxTokens: 600 });
    assert.equal(mem.tokens, whole.tokens);
    assert.equal(mem.windows, whole.windows);
    assert.ok(Math.abs(mem.perplexity / whole.perplexity - 1) < 1e-6, `${mem.perplexity} vs ${whole.perplexity}`);
    assert.equal(file.perplexity, mem.perplexity);
  } finally {
    await src.close();
  }
});

const text = Array.from({ length: 80 }, (_, i) => 3 + ((i * 7) % 17));

test("a run resumed from a finished layer's hidden states continues exactly", async () => {
  const m = randomModel({ ...TINY, nLayers: 3 }, 31);
  const calib = calibrationWindows(text, 1, 3, 12);
  const quantizer = quantizerFor({ method: "gptq", bits: 3, groupSize: 8 });
  const full = await quantizeModel(m, { calibration: calib, quantizer });
  let after0: LayerDone | undefined;
  const part = await quantizeLayers(modelLayers(m), {
    calibration: calib, quantizer,
    onLayerDone: (d) => {
      // the hidden states are the run's residual stream, updated in place by the next layer
      if (d.layer === 0) after0 = { ...d, hidden: d.hidden.slice() };
    },
  });
  assert.deepEqual(part.errors.map((e) => e.relOutputError), full.errors.map((e) => e.relOutputError));
  const layers: LayerDone[] = [];
  const resumed = await quantizeLayers(modelLayers(m), { calibration: calib, quantizer, start: { layer: 1, hidden: after0!.hidden }, onLayerDone: (d) => void layers.push(d) });
  assert.deepEqual(layers.map((d) => d.layer), [1, 2]);
  assert.deepEqual(resumed.errors.map((e) => e.relOutputError), full.errors.filter((e) => e.layer > 0).map((e) => e.relOutputError));
  assert.deepEqual(layers[1]!.weights.ffn_down.data, full.model.layers[2]!.ffn_down.data);
});

test("the work folder stores layers losslessly, resumes, and refuses another recipe or a restart over it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-work-"));
  try {
    const out = join(dir, "q.gguf");
    const m = randomModel({ ...TINY, nLayers: 2 }, 32);
    const calib = calibrationWindows(text, 1, 2, 12);
    const id = { recipe: { method: "gptq", bits: 4, groupSize: 8 }, model: "m", calibration: calib };
    const { work, resumed } = await WorkDir.open(out, id, 2, false);
    assert.equal(resumed, null);
    assert.ok(existsSync(workDirOf(out)));
    let done: LayerDone | undefined;
    await quantizeLayers(modelLayers(m), {
      calibration: calib, quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 8 }),
      onLayerDone: async (d) => {
        if (d.layer === 0) {
          done = { ...d, hidden: d.hidden.slice() };
          await work.saveLayer(d, new Float32Array([1, 2, 3]), true);
        }
      },
    });
    const back = await work.readLayer(0);
    for (const [n, q] of done!.linears) {
      const r = back.get(n)!;
      assert.deepEqual(r.weight.data, q.weight.data);
      assert.deepEqual(r.grouped!.codes, q.grouped!.codes);
      assert.deepEqual(r.grouped!.scales, q.grouped!.scales);
      assert.equal(r.grouped!.spec.bits, 4);
      assert.equal(r.grouped!.spec.round(2.5), q.grouped!.spec.round(2.5));
    }
    const stored = await work.storedLayer(0);
    // a g8 grid does not fit Q4_1's 32-blocks, and rows of 16 not Q8_0's: re-encoded as F16 (llama.cpp's fallback)
    assert.deepEqual([stored.get("attn_q")!.type, stored.get("attn_q")!.lossless], ["F16", false]);
    await assert.rejects(WorkDir.open(out, id, 2, false), /holds an interrupted run .* add --resume/);
    await assert.rejects(WorkDir.open(out, { ...id, recipe: { method: "rtn" } }, 2, true), /different method, bits, group size/);
    await assert.rejects(WorkDir.open(out, { ...id, calibration: [[1, 2]] }, 2, true), /different calibration/);
    const again = await WorkDir.open(out, id, 2, true);
    assert.equal(again.resumed!.layer, 1);
    assert.deepEqual(again.resumed!.hidden, done!.hidden);
    assert.deepEqual(again.resumed!.evalHidden, new Float32Array([1, 2, 3]));
    again.work.remove();
    assert.ok(!existsSync(workDirOf(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("layer-major KL divergence equals the whole-runtime one", async () => {
  const { klDivergenceRuntimes } = await import("../../src/model/runtime/kld.js");
  const { klDivergenceLayerMajor } = await import("../../src/model/runtime/layer-major.js");
  const base = randomModel(TINY, 41);
  const q = await quantizeModel(base, { calibration: calibrationWindows(text, 1, 2, 12), quantizer: quantizerFor({ method: "rtn", bits: 3, groupSize: 8 }) });
  const ids = text.slice(0, 50);
  const rb = await LlamaRuntime.create(base), rq = await LlamaRuntime.create(q.model);
  const whole = klDivergenceRuntimes(rb, rq, ids, 1, { window: 16 });
  rb.dispose();
  rq.dispose();
  const lm = await klDivergenceLayerMajor(modelLayers(base), modelLayers(q.model), ids, 1, { window: 16 });
  assert.ok(whole.kld.mean > 0);
  assert.equal(lm.windows, whole.windows);
  assert.ok(Math.abs(lm.kld.mean / whole.kld.mean - 1) < 1e-6, `${lm.kld.mean} vs ${whole.kld.mean}`);
  assert.equal(lm.sameTopPercent, whole.sameTopPercent);
});
