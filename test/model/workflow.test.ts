import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import { calibrationWindows, quantizeModel, type GroupJob, type QuantizedLinear } from "../../src/model/quantize/workflow.js";
import { randomModel, TINY } from "./helpers.js";

const identity = (job: GroupJob): QuantizedLinear[] => job.weights.map((w) => ({ weight: w, format: "fp32" }));
// Coarse grid rounding (test-only, not a real method): step 0.25.
const coarse = (job: GroupJob): QuantizedLinear[] =>
  job.weights.map((w) => ({ weight: { ...w, data: w.data.map((x) => Math.round(x * 4) / 4) }, format: "grid 0.25" }));

const text = Array.from({ length: 60 }, (_, i) => 3 + ((i * 5) % 17));

test("visits every linear in use order, groups sharing an input together", async () => {
  const m = randomModel(TINY, 21);
  const calib = calibrationWindows(text, 1, 3, 12);
  assert.equal(calib.length, 3);
  const seen: string[] = [];
  const q = await quantizeModel(m, {
    calibration: calib,
    quantizer: (job) => {
      seen.push(`${job.layer}:${job.names.join("+")}:${job.inputs.rows}x${job.inputs.cols}`);
      return identity(job);
    },
  });
  assert.deepEqual(seen.slice(0, 4), ["0:attn_q+attn_k+attn_v:36x16", "0:attn_output:36x16", "0:ffn_gate+ffn_up:36x16", "0:ffn_down:36x24"]);
  assert.equal(seen.length, 8);
  assert.equal(q.errors.length, 14);
  assert.ok(q.errors.every((e) => e.relOutputError === 0 && e.weightMse === 0));
  assert.equal(q.linears.size, 14);
});

test("later layers are calibrated on the quantized model's activations (sequential)", async () => {
  const m = randomModel(TINY, 22);
  const calib = calibrationWindows(text, 1, 2, 10);
  const grab = (q: typeof identity) => {
    const inputs = new Map<string, Float32Array>();
    return {
      inputs,
      fn: (job: GroupJob) => {
        inputs.set(`${job.layer}:${job.names[0]}`, job.inputs.data.slice());
        return q(job);
      },
    };
  };
  const a = grab(identity), b = grab(coarse);
  await quantizeModel(m, { calibration: calib, quantizer: a.fn });
  const qb = await quantizeModel(m, { calibration: calib, quantizer: b.fn });
  assert.deepEqual(a.inputs.get("0:attn_q"), b.inputs.get("0:attn_q"));
  assert.notDeepEqual(a.inputs.get("0:attn_output"), b.inputs.get("0:attn_output"));
  assert.notDeepEqual(a.inputs.get("1:attn_q"), b.inputs.get("1:attn_q"));
  // the original model is untouched; the result carries the quantized weights
  assert.notDeepEqual(m.layers[0].attn_q.data, qb.model.layers[0].attn_q.data);
  assert.deepEqual(qb.model.layers[0].attn_q.data, m.layers[0].attn_q.data.map((x) => Math.round(x * 4) / 4));
  assert.ok(qb.errors.every((e) => e.relOutputError > 0));
  const rt = await LlamaRuntime.create(qb.model);
  rt.forward([1, 2, 3]).dispose();
  rt.dispose();
});

test("calibration windows and quantizer shape errors name the problem", async () => {
  assert.throws(() => calibrationWindows([1, 2], 1, 2, 8), /has 2 tokens, fewer than one window of 7/);
  const m = randomModel(TINY, 23);
  await assert.rejects(
    quantizeModel(m, { calibration: [[1, 2, 3]], quantizer: (job) => job.weights.map(() => ({ weight: { rows: 1, cols: 1, data: new Float32Array(1) }, format: "x" })) }),
    /returned 1 × 1 for blk.0.attn_q \(16 × 16\)/,
  );
});
