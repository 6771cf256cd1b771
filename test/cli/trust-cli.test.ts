/**
 * Bad paths and results that are not numbers, from the command line: every failure is one line on
 * stderr that names the path or value and the fix, with exit code 1 and no stack trace; output paths
 * are checked before any work; an output that is also an input needs --force.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { encodeGgufBytes, parseGguf } from "../../src/gguf/file.js";
import { encodeSafetensors } from "../../src/io/safetensors.js";
import { sharedFile } from "../helpers/shared.js";

const root = join(import.meta.dirname, "..", "..");
const model = sharedFile("stories260K-f32.gguf");
const val = sharedFile("tinystories-val.txt");
const dir = mkdtempSync(join(tmpdir(), "ql-trust-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function quantlab(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, "bin", "quantlab.js"), ...args], { encoding: "utf8", cwd: dir, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * One error line on stderr, naming what `re` says, exit code 1, no stack frames. A job that fails after
 * it started may have printed its memory estimate and progress lines (issue 19) before that line.
 */
function refused(r: { code: number | null; err: string; out: string }, re: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.err}`);
  const lines = r.err.trim().split("\n").filter((l) => !/^(memory|eval|gguf quantize|quantize-model): /.test(l));
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.err, /^\s+at |node:internal|Error: E[A-Z]+:/m);
}

const weights = join(dir, "w.safetensors");
writeFileSync(weights, encodeSafetensors({ w: { dtype: "F32", shape: [4, 8], data: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)) } }));

describe("paths", () => {
  it("refuses --out that is a folder, before any work", () => {
    mkdirSync(join(dir, "folder"), { recursive: true });
    refused(quantlab("rtn", "--weights", weights, "--bits", "4", "--group-size", "8", "--out", join(dir, "folder")), /--out .*folder: it is a folder: give a file path/);
  });

  it("refuses --out under /proc", () => {
    refused(quantlab("rtn", "--weights", weights, "--bits", "4", "--group-size", "8", "--out", "/proc/self/q.safetensors"), /under \/proc.*choose a path on a disk/);
  });

  it("refuses --out below a file", () => {
    refused(quantlab("rtn", "--weights", weights, "--bits", "4", "--group-size", "8", "--out", join(weights, "q.safetensors")), /is a file, not a folder/);
  });

  it("refuses an unwritable --out folder", { skip: process.getuid?.() === 0 ? "root may write anywhere" : false }, () => {
    const ro = join(dir, "ro");
    mkdirSync(ro, { mode: 0o500 });
    refused(quantlab("rtn", "--weights", weights, "--bits", "4", "--group-size", "8", "--out", join(ro, "q.safetensors")), /permission denied/);
  });

  it("says a missing --weights file is missing", () => {
    refused(quantlab("rtn", "--weights", join(dir, "nope.safetensors"), "--out", join(dir, "q.safetensors")), /--weights .*nope\.safetensors: ENOENT \(it does not exist\)/);
  });

  it("refuses gguf inspect of a folder", () => {
    refused(quantlab("gguf", "inspect", dir), /it is a folder: give a file/);
  });

  it("refuses --out equal to --in unless --force", () => {
    const own = join(dir, "w-own.safetensors");
    writeFileSync(own, readFileSync(weights));
    refused(quantlab("rtn", "--weights", own, "--out", own), /is also the input .*--force/);
    const r = quantlab("rtn", "--weights", own, "--bits", "4", "--group-size", "8", "--out", own, "--force");
    assert.equal(r.code, 0, r.err);
  });

  it("refuses eval --text missing.txt with the path", { skip: model.skip }, () => {
    refused(quantlab("eval", "--model", model.path, "--text", "missing.txt"), /--text missing\.txt: ENOENT \(it does not exist\)/);
  });

  it("refuses gguf dequantize --out equal to --in unless --force, leaving the model intact", { skip: model.skip }, () => {
    const copy = join(dir, "m.gguf");
    writeFileSync(copy, readFileSync(model.path));
    const before = statSync(copy).size;
    refused(quantlab("gguf", "dequantize", "--in", copy, "--tensor", "output_norm.weight", "--out", copy), /is also the input/);
    assert.equal(statSync(copy).size, before);
  });

  it("checks quantize-model's --out before loading the model", { skip: model.skip || val.skip }, () => {
    const text = join(dir, "calib.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 2000));
    const r = quantlab("quantize-model", "--model", model.path, "--calib", text, "--method", "rtn", "--out", "/proc/q.gguf");
    refused(r, /--out \/proc\/q\.gguf.*under \/proc/);
    assert.doesNotMatch(r.out, /blk\.0/, "layers were quantized before the path was checked");
  });
});

describe("results that are not numbers", () => {
  it("rtn on ±3.4e38 weights is an error, not a file of Inf", () => {
    const huge = join(dir, "huge.safetensors");
    writeFileSync(huge, encodeSafetensors({ w: { dtype: "F32", shape: [2, 8], data: Float32Array.from({ length: 16 }, (_, i) => (i % 2 ? 3.4e38 : -3.4e38)) } }));
    const out = join(dir, "huge-q.safetensors");
    refused(quantlab("rtn", "--weights", huge, "--bits", "4", "--group-size", "8", "--out", out), /non-finite/);
    assert.throws(() => statSync(out));
  });

  it("rtn --calib with NaN activations is an error naming the file", () => {
    const calib = join(dir, "nan.safetensors");
    writeFileSync(calib, encodeSafetensors({ x: { dtype: "F32", shape: [3, 8], data: Float32Array.from({ length: 24 }, (_, i) => (i === 13 ? NaN : 1)) } }));
    refused(quantlab("rtn", "--weights", weights, "--bits", "4", "--group-size", "8", "--calib", calib, "--out", join(dir, "q2.safetensors")), /--calib .*nan\.safetensors holds NaN at row 1, column 5/);
  });

  it("eval --max-tokens 0 is refused instead of printing null", { skip: model.skip || val.skip }, () => {
    refused(quantlab("eval", "--model", model.path, "--text", val.path, "--max-tokens", "0"), /--max-tokens must be .* at least 1/);
  });

  it("eval of a model with NaN weights reports it instead of perplexity NaN", { skip: model.skip || val.skip }, () => {
    const bytes = readFileSync(model.path);
    const f = parseGguf(new Uint8Array(bytes));
    const t = f.tensors.find((x) => x.name === "output_norm.weight")!;
    const nan = new Float32Array(t.nbytes / 4).fill(NaN);
    bytes.set(new Uint8Array(nan.buffer), t.offset);
    const bad = join(dir, "nan.gguf");
    writeFileSync(bad, bytes);
    const text = join(dir, "short.txt");
    writeFileSync(text, readFileSync(val.path, "utf8").slice(0, 1500));
    refused(quantlab("eval", "--model", bad, "--text", text, "--max-tokens", "100"), /perplexity .* is NaN: .*not finite/);
  });
});

describe("terminal escapes in a GGUF", () => {
  it("gguf inspect shows control characters in tensor names, keys and strings as escapes", () => {
    const evil = join(dir, "evil.gguf");
    writeFileSync(evil, encodeGgufBytes({
      metadata: { "general.architecture": "llama\u001b[2J", "general.name\u001b]0;pwned\u0007": "a\u009b31mred\u202etxt.exe", "tokenizer.ggml.tokens": ["\u001b[5m", "ok"] },
      tensors: [{ name: "w\u001b]0;title\u0007\r", dims: [4], type: "F32", data: new Uint8Array(16) }],
    }));
    const r = quantlab("gguf", "inspect", evil);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, "a raw control character reached the terminal");
    assert.match(r.out, /w\\x1b\]0;title\\x07\\x0d/);
    assert.match(r.out, /general\.name\\x1b\]0;pwned\\x07/);
    assert.match(r.out, /a\\x9b31mred\\u\{202e\}txt\.exe/);
    assert.match(r.out, /llama\\x1b\[2J/);
    assert.match(r.out, /"\\x1b\[5m"/);
  });
});
