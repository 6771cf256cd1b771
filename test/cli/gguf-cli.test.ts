/**
 * `quantlab gguf …` end to end, through bin/quantlab.js: inspect (text and --json), quantize the real
 * stories260K to Q8_0, Q4_0 and Q4_K_M — then llama.cpp itself (node-llama-cpp, a devDependency) loads
 * each output and generates text — dequantize one tensor to safetensors, and the error contract (exit 1,
 * one line on stderr).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { encodeGgufBytes, readGguf, tensorBytes, tensorF32 } from "../../src/gguf/file.js";
import { dequantize } from "../../src/gguf/quants.js";
import { ggmlType, type DecodableTypeName } from "../../src/gguf/types.js";
import { mulberry32 } from "../helpers/random.js";
import { readSafetensors } from "../../src/io/safetensors.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const shared = process.env.QUANTLAB_SHARED_DATA ?? join(repoRoot, "..", "shared", "data");
const STORIES = join(shared, "stories260K-f32.gguf");
const CI = process.env.CI === "true";
const missing = existsSync(STORIES) ? false : `${STORIES} is missing: set QUANTLAB_SHARED_DATA to the shared data folder`;
if (missing && CI) throw new Error(missing);

interface Run { code: number; stdout: string; stderr: string }

async function quantlab(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(repoRoot, "bin", "quantlab.js"), ...args], {
      cwd: repoRoot, env: { ...process.env, QUANTLAB_FROM_SOURCE: "1" }, maxBuffer: 1 << 26,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

test("gguf inspect reads the v1 stories260K: text table and one JSON object", { skip: missing }, async () => {
  const text = await quantlab("gguf", "inspect", STORIES);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^GGUF v1, llama: 48 tensors, 292800 weights/);
  assert.match(text.stdout, /tokenizer\.ggml\.tokens\s+ARRAY\[STRING\] 512 × STRING: "<unk>", "<s>"/);
  assert.match(text.stdout, /blk\.4\.ffn_down\.weight\s+F32\s+\[172, 64\]\s+44032\s+32/);
  const json = await quantlab("gguf", "inspect", STORIES, "--json");
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal(json.stdout.trim().split("\n").length, 1);
  assert.equal(r.version, 1);
  assert.equal(r.architecture, "llama");
  assert.equal(r.tensors.length, 48);
  assert.equal(r.totalElements, 292800);
  assert.equal(r.metadata["tokenizer.ggml.tokens"].value.length, 512);
  assert.deepEqual(r.metadata["llama.block_count"], { type: "UINT32", value: 5 });
});

test("gguf quantize → Q8_0, Q4_0, Q4_K_M: the table first, then files llama.cpp loads and generates from", { skip: missing, timeout: 120_000 }, async () => {
  let llamaCpp: typeof import("node-llama-cpp") | null = null;
  try {
    llamaCpp = await import("node-llama-cpp");
  } catch (e) {
    if (CI) throw new Error(`node-llama-cpp (devDependency 3.21.1) is required under CI=true: ${(e as Error).message}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-cli-"));
  const llama = llamaCpp ? await llamaCpp.getLlama({ gpu: false, build: "never", logLevel: "error" as never }) : null;
  try {
    for (const mix of ["Q8_0", "Q4_0", "Q4_K_M"]) {
      const out = join(dir, `stories-${mix}.gguf`);
      const r = await quantlab("gguf", "quantize", "--type", mix, "--in", STORIES, "--out", out);
      assert.equal(r.code, 0, r.stderr);
      const [head, ...rest] = r.stdout.trim().split("\n");
      assert.match(head!, /^tensor\s+dims\s+from\s+to/);
      assert.match(rest.at(-1)!, new RegExp(`^wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      const f = await readGguf(out);
      assert.equal(f.version, 3);
      const ftype = { Q8_0: 7, Q4_0: 2, Q4_K_M: 15 }[mix];
      assert.deepEqual(f.metadata.get("general.file_type"), { type: "UINT32", value: ftype });
      assert.deepEqual(f.metadata.get("general.quantization_version"), { type: "UINT32", value: 2 });
      const types = new Set(f.tensors.map((t) => t.type.name));
      assert.ok(types.has(mix === "Q4_K_M" ? "Q5_0" : mix), `${mix}: ${[...types]}`); // rows of 64: Q4_K falls back to Q5_0
      assert.equal(f.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.type.name, "F16"); // rows of 172
      if (!llama) continue;
      const model = await llama.loadModel({ modelPath: out });
      const ctx = await model.createContext({ contextSize: 64, threads: 1 });
      try {
        const ids: number[] = [];
        for await (const t of ctx.getSequence().evaluate([model.tokens.bos!], { temperature: 0 })) {
          ids.push(t as unknown as number);
          if (ids.length >= 12) break;
        }
        const text = model.detokenize(ids as never[]);
        assert.match(text, /^\s*Once upon a time/, `${mix}: ${text}`);
      } finally {
        await ctx.dispose();
        await model.dispose();
      }
    }
    const json = await quantlab("gguf", "quantize", "--type", "Q4_K_S", "--in", STORIES, "--dry-run", "--json");
    assert.equal(json.code, 0, json.stderr);
    const plan = JSON.parse(json.stdout);
    assert.equal(plan.mix, "Q4_K_S");
    assert.equal(plan.written, false);
    assert.equal(plan.tensors.length, 48);
    assert.equal(plan.tensors.find((t: { name: string }) => t.name === "blk.0.attn_norm.weight").to, "F32");
  } finally {
    await llama?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gguf dequantize writes one tensor as F32 safetensors, rows × row length", { skip: missing }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-cli-"));
  try {
    const q = join(dir, "q8.gguf");
    assert.equal((await quantlab("gguf", "quantize", "--type", "Q8_0", "--in", STORIES, "--out", q, "--json")).code, 0);
    const out = join(dir, "t.safetensors");
    const r = await quantlab("gguf", "dequantize", "--in", q, "--tensor", "blk.1.attn_k.weight", "--out", out, "--json");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).shape, [32, 64]);
    const st = await readSafetensors(out);
    const t = st.tensors.get("blk.1.attn_k.weight")!;
    assert.deepEqual(t.shape, [32, 64]);
    assert.deepEqual(t.data, tensorF32(await readGguf(q), "blk.1.attn_k.weight"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gguf inspect marks IQ1/IQ2/IQ3 tensors decode-only, and gguf dequantize decodes them as dequantize_row_* does", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-cli-"));
  try {
    const u = mulberry32(12);
    const block = (type: string) => ggmlType(type)!.typeSize;
    const tensors = ["IQ2_XXS", "IQ1_M", "IQ3_S"].map((type, k) => {
      const data = Uint8Array.from({ length: 4 * block(type) }, () => Math.floor(u() * 256));
      for (let b = 0; b < 4 && type !== "IQ1_M"; b++) data[b * block(type) + 1] = 0x2c; // a finite fp16 d
      return { name: `w${k}`, dims: [512, 2], type, data };
    });
    const file = join(dir, "iq.gguf");
    writeFileSync(file, encodeGgufBytes({ metadata: new Map(), tensors }));
    const text = await quantlab("gguf", "inspect", file);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, /size only|cannot decode/);
    assert.match(text.stdout, /\nIQ2_XXS, IQ1_M, IQ3_S: decoded bit-exact with llama\.cpp/);
    assert.match(text.stdout, /\n {2}w0 +IQ2_XXS \(decode only\) +\[512, 2\] +264 +2\.0625\n/);
    const json = JSON.parse((await quantlab("gguf", "inspect", file, "--json")).stdout);
    assert.deepEqual(json.decodeOnly, ["IQ2_XXS", "IQ1_M", "IQ3_S"]);
    assert.deepEqual(json.undecodable, []);
    for (const t of tensors) {
      const out = join(dir, `${t.name}.safetensors`);
      const r = await quantlab("gguf", "dequantize", "--in", file, "--tensor", t.name, "--out", out);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${t.name} \\(${t.type} \\[512, 2\\]\\) as F32 \\[2, 512\\]`));
      assert.deepEqual((await readSafetensors(out)).tensors.get(t.name)!.data, dequantize(t.type as DecodableTypeName, t.data, 1024));
    }
    // encoding to one stays refused, with the reason
    const refused = await quantlab("gguf", "quantize", "--type", "Q8_0", "--in", file, "--tensor-type", "w=IQ2_XXS", "--out", join(dir, "o.gguf"));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /QuantLab cannot encode type 'IQ2_XXS' \(IQ2_XXS is decode-only in QuantLab: llama\.cpp's quantizer for it searches lattice codebooks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gguf quantize --type Q3_K_M with llama-quantize's overrides writes what the planner and encoder give", { skip: missing, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-cli-"));
  try {
    const out = join(dir, "q3km.gguf");
    const args = ["--type", "q3_k_m", "--in", STORIES, "--output-tensor-type", "q8_0", "--token-embedding-type", "Q4_0",
      "--tensor-type", "Blk\\.[0-1]\\.attn_v=q5_1", "--tensor-type", "attn_v=IQ4_NL"];
    const r = await quantlab("gguf", "quantize", ...args, "--out", out, "--json");
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    const to = (n: string) => plan.tensors.find((t: { name: string }) => t.name === n).to;
    assert.deepEqual([to("output.weight"), to("token_embd.weight"), to("blk.1.attn_v.weight"), to("blk.2.attn_v.weight"), to("blk.2.attn_q.weight")],
      ["Q8_0", "Q4_0", "Q5_1", "IQ4_NL", "Q4_0"], "rows of 64: Q3_K's fallback is Q4_0; the first matching pattern wins");
    const { quantizeGgufModel } = await import("../../src/gguf/model-quantize.js");
    const expected = quantizeGgufModel(await readGguf(STORIES), "Q3_K_M", {
      outputTensorType: "Q8_0", tokenEmbeddingType: "Q4_0",
      tensorTypes: [{ pattern: "blk\\.[0-1]\\.attn_v", type: "Q5_1" }, { pattern: "attn_v", type: "IQ4_NL" }],
    }).content;
    const written = await readGguf(out);
    for (const t of expected.tensors) {
      const w = written.tensors.find((x) => x.name === t.name)!;
      assert.equal(w.type.name, typeof t.type === "string" ? t.type : t.type.name, t.name);
      assert.deepEqual(tensorBytes(written, t.name), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), t.name);
    }
    const pure = JSON.parse((await quantlab("gguf", "quantize", "--type", "Q5_K_S", "--in", STORIES, "--pure", "--dry-run", "--json")).stdout);
    assert.ok(pure.tensors.every((t: { name: string; to: string }) => t.name.endsWith("norm.weight") || ["Q5_1", "F16"].includes(t.to)));
    assert.equal(pure.tensors.find((t: { name: string }) => t.name === "output.weight").to, "Q5_1", "--pure: no output rule, only the fallback");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("gguf errors: exit 1 and one line on stderr that names the problem", async () => {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-gguf-cli-"));
  try {
    const cases: [string[], RegExp][] = [
      [["gguf", "inspect", join(dir, "none.gguf")], /none\.gguf/],
      [["gguf", "quantize", "--type", "Q3_X", "--in", STORIES, "--out", join(dir, "o.gguf")], /unknown quantization mix 'Q3_X'/],
      [["gguf", "quantize", "--type", "Q8_0", "--in", STORIES], /--out is required/],
      [["gguf", "dequantize", "--in", STORIES, "--tensor", "nope", "--out", join(dir, "t.safetensors")], /no tensor 'nope'/],
      [["gguf", "frobnicate"], /unknown subcommand 'frobnicate'/],
      [["gguf", "quantize", "--type", "Q4_K_M", "--in", STORIES, "--tensor-type", "attn_v", "--out", join(dir, "o.gguf")], /--tensor-type 'attn_v' must be NAME=TYPE/],
      [["gguf", "quantize", "--type", "Q4_K_M", "--in", STORIES, "--output-tensor-type", "Q4_K", "--out", join(dir, "o.gguf")],
        /output\.weight's rows of 64 are not a multiple of Q4_K's block of 256/],
    ];
    for (const [args, pattern] of cases) {
      if (missing && args.includes(STORIES)) continue;
      const r = await quantlab(...args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
    assert.ok(!existsSync(join(dir, "o.gguf")), "a failed quantize writes nothing");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
