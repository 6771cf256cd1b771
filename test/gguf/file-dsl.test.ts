/**
 * The notebook's file names (src/dsl/files.ts, exported from "quantlab"): a GGUF file inspected and
 * displayed, a tensor as a Matrix, a mix planned and a model file quantized, safetensors/npy round trips.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DISPLAY } from "../../src/display/mime.js";
import * as ql from "../../src/dsl/index.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const STORIES = join(process.env.QUANTLAB_SHARED_DATA ?? join(repoRoot, "..", "shared", "data"), "stories260K-f32.gguf");
const skip = existsSync(STORIES) ? false : `${STORIES} is missing (set QUANTLAB_SHARED_DATA)`;

test("inspectGguf, ggufTensor, ggufMix and quantizeGgufFile from the notebook vocabulary", { skip }, async () => {
  const f = await ql.readGguf(STORIES);
  const info = await ql.inspectGguf(STORIES);
  assert.equal(info.tensors.length, 48);
  assert.equal(info.architecture, "llama");
  const shown = (info as unknown as { [DISPLAY](): { "text/plain": string; "text/html": string } })[DISPLAY]();
  assert.match(shown["text/plain"], /token_embd\.weight/);
  assert.match(shown["text/html"], /<table/);

  const W = ql.ggufTensor(f, "blk.0.ffn_down.weight");
  assert.deepEqual([W.rows, W.cols], [64, 172]);
  assert.deepEqual(Array.from(W.data.subarray(0, 3)), Array.from(ql.tensorF32(f, "blk.0.ffn_down.weight").subarray(0, 3)));
  assert.throws(() => ql.ggufTensor(f, "nope"), (e: unknown) => e instanceof ql.QuantLabError && e.code === "NOT_FOUND");

  const plan = await ql.ggufMix(f, "Q4_K_M");
  assert.equal(plan.choices.find((c) => c.name === "blk.0.ffn_down.weight")!.to, "F16");
  const planText = String(plan[DISPLAY]()["text/plain"]);
  // the summary comes first: one row per role (each block's attn_v …), then every tensor
  assert.match(planText.split("\n")[0], /^Q4_K_M \(file type 15\): 48 tensors, [\d.]+ MiB, [\d.]+ bits\/weight, \d+ fallbacks?$/);
  assert.ok(planText.indexOf("blk.N.ffn_down.weight") < planText.indexOf("every tensor:"));
  const roles = ql.mixSummary(plan);
  assert.equal(roles.reduce((a, r) => a + r.tensors, 0), 48);
  assert.equal(roles.find((r) => r.role === "blk.N.attn_q.weight")!.tensors, 5);
  assert.equal(roles.reduce((a, r) => a + r.bytes, 0), plan.totalBytes);
  assert.match(String(plan[DISPLAY]()["text/html"]), /<details><summary>every tensor \(48\)<\/summary>/);

  const dir = mkdtempSync(join(tmpdir(), "quantlab-dsl-"));
  try {
    const out = join(dir, "q8.gguf");
    const p = await ql.quantizeGgufFile(STORIES, out, "Q8_0");
    const q = await ql.readGguf(out);
    assert.equal(q.version, 3);
    assert.equal(q.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type.name, "Q8_0");
    assert.equal(p.totalBytes, q.tensors.reduce((a, t) => a + t.nbytes, 0));
    await assert.rejects(ql.quantizeGgufFile(STORIES, join(dir, "x.bin"), "Q8_0"), /must be a \.gguf/);

    await ql.writeSafetensors(join(dir, "w.safetensors"), { w: { dtype: "F16", shape: [2, 86], data: W.data.subarray(0, 172) } });
    const st = await ql.readSafetensors(join(dir, "w.safetensors"));
    assert.deepEqual(st.tensors.get("w")!.shape, [2, 86]);
    await ql.writeNpy(join(dir, "w.npy"), { dtype: "F32", shape: [64, 172], data: W.data });
    assert.deepEqual((await ql.readNpy(join(dir, "w.npy"))).data, W.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
