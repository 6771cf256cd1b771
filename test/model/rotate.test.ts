/**
 * Rotations: the Hadamard is orthogonal and its own inverse, the randomized Hadamard keeps norms and
 * spreads an outlier, folding the norms and rotating the residual stream (with the online Hadamard
 * on the down projection) leaves the full-precision model's perplexity unchanged to 1e-5 relative.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime, type BlockHooks } from "../../src/model/runtime/forward.js";
import type { LlamaModel } from "../../src/model/llama.js";
import { perplexity } from "../../src/model/runtime/eval.js";
import { fwht, hadamardMatrix, hadamardBlock, randomizedHadamard } from "../../src/model/runtime/hadamard.js";
import { foldNorms, outlierStats, rotateModel } from "../../src/model/runtime/rotate.js";
import { loadModel } from "../../src/model/formats/load.js";
import { matrix } from "../../src/numerics/matrix.js";
import { randomModel, TINY } from "./helpers.js";
import { sharedFile } from "../helpers/shared.js";

test("the normalized Hadamard is orthogonal and symmetric; non-powers of two use the largest power-of-two block", () => {
  const H = hadamardMatrix(8);
  for (let i = 0; i < 8; i++)
    for (let j = 0; j < 8; j++) {
      let d = 0;
      for (let k = 0; k < 8; k++) d += H.data[i * 8 + k] * H.data[j * 8 + k];
      assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-6);
      assert.equal(H.data[i * 8 + j], H.data[j * 8 + i]);
    }
  assert.equal(hadamardBlock(172), 4);
  assert.equal(hadamardBlock(64), 64);
  const x = Float64Array.from([1, 2, 3, 4]);
  fwht(x, 4);
  fwht(x, 4);
  assert.deepEqual(Array.from(x, (v) => Math.round(v * 1e9) / 1e9), [1, 2, 3, 4]);
});

test("randomizedHadamard keeps each row's norm and turns a one-hot outlier into a flat row", () => {
  const M = matrix(2, 16, Float32Array.from({ length: 32 }, (_, i) => (i === 5 ? 100 : i >= 16 ? Math.sin(i) : 0)));
  const R = randomizedHadamard(M, 3);
  for (let r = 0; r < 2; r++) {
    let a = 0, b = 0;
    for (let c = 0; c < 16; c++) { a += M.data[r * 16 + c] ** 2; b += R.data[r * 16 + c] ** 2; }
    assert.ok(Math.abs(a - b) < 1e-4 * a);
  }
  assert.ok(Array.from(R.data.slice(0, 16)).every((v) => Math.abs(Math.abs(v) - 25) < 1e-4));
  assert.ok(outlierStats(M.data.slice(0, 16)).maxOverMean > 15);
  assert.ok(Math.abs(outlierStats(R.data.slice(0, 16)).maxOverMean - 1) < 1e-5);
});

async function pplOf(m: LlamaModel, ids: number[], bos: number, hooks: BlockHooks = {}) {
  const rt = await LlamaRuntime.create(m);
  try { return perplexity(rt, { bos }, ids, { hooks }).perplexity; } finally { rt.dispose(); }
}

test("folded norms and the rotated residual stream (with the online down-projection Hadamard) keep perplexity to 1e-5 relative", async () => {
  const m = randomModel({ ...TINY, hiddenDim: 32 }, 11, true);
  const ids = [3, 5, 7, 9, 2, 4, 6, 8, 10, 12, 14, 1, 13, 15];
  const base = await pplOf(m, ids, 1);
  assert.ok(Math.abs((await pplOf(foldNorms(m), ids, 1)) / base - 1) < 1e-5);
  for (const online of [false, true]) {
    const r = rotateModel(m, { seed: 4, online });
    const p = await pplOf(r.model, ids, 1, r.hooks);
    assert.ok(Math.abs(p / base - 1) < 1e-5, `online=${online}: ${p} vs ${base}`);
    assert.equal(r.model.output !== null, true);
  }
});

const stories = sharedFile("stories260K-f32.gguf");
test("stories260K rotated (QuaRot's first rotation + online down Hadamard): perplexity unchanged to 1e-5 relative", { skip: stories.skip }, async () => {
  const m = await loadModel(stories.path);
  const ids = m.tokenizer!.encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.");
  const base = await pplOf(m, ids, m.tokenizer!.bos);
  const r = rotateModel(m, { seed: 0 });
  const p = await pplOf(r.model, ids, m.tokenizer!.bos, r.hooks);
  assert.ok(Math.abs(p / base - 1) < 1e-5, `${p} vs ${base}`);
});
