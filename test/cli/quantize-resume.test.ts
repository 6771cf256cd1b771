/**
 * `quantize-model` layer-major on QuantLab's own model: the streamed GGUF is byte for byte what the
 * in-memory workflow and writer give, and a run killed after some layers resumes (--resume) from its work
 * folder to the same file and perplexity, refusing a restart over it or a different recipe.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedFile } from "../model/helpers.js";
import { loadModel } from "../../src/model/formats/load.js";
import { quantizerFor } from "../../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../../src/model/quantize/workflow.js";
import { writeQuantizedGguf } from "../../src/model/quantize/export.js";
import { workDirOf } from "../../src/model/quantize/work-dir.js";

const root = join(import.meta.dirname, "..", "..");
const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const skip = model.skip || val.skip;
const bin = join(root, "bin", "quantlab.js");
const env = { ...process.env, QUANTLAB_FROM_SOURCE: "1" };

function quantlab(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const COMMON = ["--method", "gptq", "--bits", "4", "--group-size", "32", "--calib-windows", "8", "--calib-length", "128", "--max-tokens", "300", "--json"];

test("quantize-model streams the same GGUF as the in-memory writer, and a killed run resumes to it", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ql-resume-"));
  try {
    const text = join(dir, "t.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 12000));
    const a = join(dir, "a.gguf");
    const r = quantlab("quantize-model", "--model", model.path, "--calib", text, "--out", a, ...COMMON);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.resumedFrom, null);
    assert.equal(j.layerSeconds.length, 5);
    assert.ok(!existsSync(workDirOf(a)), "the work folder is removed once the file is written");

    // the notebook-sized path: the whole model in memory, quantized and written at once
    const m = await loadModel(model.path);
    const ids = m.tokenizer!.encode(readFileSync(text, "utf8"));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, m.tokenizer!.bos, 8, 128), quantizer: quantizerFor({ method: "gptq", bits: 4, groupSize: 32 }) });
    const mem = join(dir, "mem.gguf");
    await writeQuantizedGguf(q, mem);
    assert.ok(readFileSync(a).equals(readFileSync(mem)), "streamed and in-memory GGUF differ");
    assert.deepEqual(j.layers.map((l: { relOutputError: number }) => l.relOutputError), q.errors.map((e) => e.relOutputError));

    // a run killed once two layers are in its work folder
    const b = join(dir, "b.gguf");
    const manifest = join(workDirOf(b), "manifest.json");
    const child = spawn(process.execPath, [bin, "quantize-model", "--model", model.path, "--calib", text, "--out", b, ...COMMON], { env, stdio: "ignore" });
    const exited = new Promise<void>((res) => child.on("exit", () => res()));
    for (let k = 0; k < 3000 && child.exitCode === null; k++) {
      try {
        if (JSON.parse(readFileSync(manifest, "utf8")).done.length >= 2) break;
      } catch { /* not written yet */ }
      await new Promise((res) => setTimeout(res, 10));
    }
    child.kill("SIGKILL");
    await exited;
    assert.ok(!existsSync(b), "the killed run wrote no output");
    const again = quantlab("quantize-model", "--model", model.path, "--calib", text, "--out", b, ...COMMON);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /holds an interrupted run .* add --resume/);
    const other = quantlab("quantize-model", "--model", model.path, "--calib", text, "--out", b, ...COMMON, "--bits", "3", "--resume");
    assert.notEqual(other.code, 0);
    assert.match(other.err, /--resume: .* different method, bits, group size/);
    const res = quantlab("quantize-model", "--model", model.path, "--calib", text, "--out", b, ...COMMON, "--resume");
    assert.equal(res.code, 0, res.err);
    const jr = JSON.parse(res.out);
    assert.ok(jr.resumedFrom >= 2 && jr.resumedFrom < 5, `resumed from ${jr.resumedFrom}`);
    assert.equal(jr.layerSeconds.length, 5);
    assert.equal(jr.perplexity, j.perplexity);
    assert.deepEqual(jr.layers, j.layers);
    assert.ok(readFileSync(b).equals(readFileSync(a)), "the resumed run's GGUF differs");
    assert.ok(!existsSync(workDirOf(b)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
