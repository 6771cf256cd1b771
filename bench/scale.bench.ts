/**
 * `npm run bench -- scale`: real-size models against llama.cpp on the same machine, in the same run, on
 * synthetic checkpoints with real shapes and random weights (scripts/synthetic-checkpoint.ts), written to
 * a temporary folder and deleted afterwards. Not part of `npm test`.
 *
 * Cases (--cases, comma-separated; default gguf-1b,eval-1b — the ones a loaded 2-core machine finishes):
 *   gguf-1b / gguf-8b  `quantlab gguf quantize --type Q4_K_M` of TinyLlama-1.1B (F32 GGUF) / Llama-3-8B
 *                      (F16 GGUF) next to llama.cpp's llama_model_quantize (one thread): wall and CPU time,
 *                      peak RSS, and whether every tensor's bytes are identical
 *   hf-1b              the same quantization from TinyLlama's shapes as a sharded BF16 Hugging Face folder
 *   eval-1b            `quantlab eval` of the 1.1B F16 and Q4_K_M files: tokens/s and peak RSS, next to
 *                      llama.cpp's prompt processing (node-llama-cpp, same file, same thread count),
 *                      with every position's logits as perplexity needs (the ratio), and last-token only
 *   gptq-1b            `quantlab quantize-model --method gptq --bits 4 --group-size 128` of the 1.1B with
 *                      --calib-windows × --calib-length (default 128 × 512): time, peak RSS, and how far the
 *                      progress line's ETA at 25 % and 50 % was from the real time
 *   eval-8b            `quantlab eval` of the 8B Q4_K_M (made by gguf-8b) on --tokens (default 2048)
 * Sizes: --layers N cuts both shapes to N layers (the per-layer costs stay real); --tokens N sets the
 * eval tokens (default 1024 for the 1.1B, one window: a layer's decode is paid once per pass, so a few
 * hundred tokens measure that more than the products; 2048 for the 8B); --dir D writes there (default: the temp dir);
 * --keep leaves the files. Flags come after the file name or in QUANTLAB_SCALE (for `npm run bench`).
 * Peak RSS is /usr/bin/time's maximum resident set of the process tree it waited for.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openGguf } from "../src/gguf/file.js";
import { SHAPES, writeSyntheticCheckpoint, type SyntheticFormat } from "../scripts/synthetic-checkpoint.js";

const root = join(import.meta.dirname, "..");
const shared = process.env.QUANTLAB_SHARED_DATA ?? join(root, "..", "shared", "data");
const argv = process.argv.slice(2).length ? process.argv.slice(2) : (process.env.QUANTLAB_SCALE ?? "").split(/\s+/).filter(Boolean);
const { values: o } = parseArgs({
  args: argv,
  options: {
    cases: { type: "string" }, layers: { type: "string" }, tokens: { type: "string" }, dir: { type: "string" }, keep: { type: "boolean" },
    "calib-windows": { type: "string" }, "calib-length": { type: "string" },
  },
});
const cases = new Set((o.cases ?? "gguf-1b,eval-1b").split(","));
const layers = o.layers ? Number(o.layers) : undefined;
const shape = (name: string) => ({ ...SHAPES[name]!, ...(layers ? { nLayers: layers } : {}) });
const dir = mkdtempSync(join(o.dir ?? tmpdir(), "quantlab-scale-"));
const threads = availableParallelism();
const textPath = join(dir, "text.txt");
writeFileSync(textPath, readFileSync(join(shared, "tinystories-val.txt"), "utf8").slice(0, 400_000));

interface Run { wall: number; cpu: number; rssMB: number; out: string; err: string; code: number | null }

/** A command under /usr/bin/time: wall seconds, user + system CPU seconds, peak RSS. */
function timed(cmd: string[], env: NodeJS.ProcessEnv = {}): Run {
  const tf = join(dir, "time.txt");
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", "-o", tf, ...cmd], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  const [wall, user, sys, kb] = readFileSync(tf, "utf8").trim().split(/\s+/).slice(-4).map(Number);
  return { wall: wall!, cpu: user! + sys!, rssMB: kb! / 1024, out: r.stdout, err: r.stderr, code: r.status };
}

const quantlab = (...args: string[]) => timed([process.execPath, join(root, "bin", "quantlab.js"), ...args]);

/** llama.cpp's llama_model_quantize (single-threaded, test/gguf/llama-quantize.ts) in a child of its own. */
function llamaCppQuantize(input: string, output: string, ftype: number): Run {
  const script = `import { llamaQuantize } from ${JSON.stringify(join(root, "test", "gguf", "llama-quantize.ts"))}; llamaQuantize(${JSON.stringify(input)}, [[${JSON.stringify(output)}, ${ftype}]]);`;
  return timed([process.execPath, "--import", "tsx", "--input-type=module", "-e", script]);
}

/** Tensors whose stored bytes differ between two GGUF files (read one tensor at a time). */
async function differingTensors(a: string, b: string): Promise<{ same: number; differ: string[] }> {
  const fa = await openGguf(a), fb = await openGguf(b);
  try {
    const differ: string[] = [];
    let same = 0;
    for (const t of fa.tensors) {
      const u = fb.tensors.find((x) => x.name === t.name);
      if (!u || u.type.name !== t.type.name || !Buffer.from(await fa.read(t.name)).equals(Buffer.from(await fb.read(t.name)))) differ.push(t.name);
      else same++;
    }
    return { same, differ };
  } finally {
    await fa.close();
    await fb.close();
  }
}

const rows: string[][] = [["case", "tool", "wall s", "CPU s", "peak RSS", "result"]];
const mb = (x: number) => (x >= 1024 ? `${(x / 1024).toFixed(2)} GB` : `${x.toFixed(0)} MB`);
const row = (c: string, tool: string, r: Run, result: string) => {
  rows.push([c, tool, r.wall.toFixed(1), r.cpu.toFixed(1), mb(r.rssMB), result]);
  console.log(rows.at(-1)!.join(" | "));
  if (r.code !== 0) console.log(r.err.slice(-1500));
};

async function make(name: string, format: SyntheticFormat, shapeName: string): Promise<string> {
  const path = join(dir, name);
  const t0 = performance.now();
  const bytes = await writeSyntheticCheckpoint({ shape: shape(shapeName), format, out: path, stories: join(shared, "stories260K-f32.gguf") });
  console.log(`(wrote ${name}: ${(bytes / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  return path;
}

async function ggufCase(c: string, input: string) {
  const ql = join(dir, `${c}-quantlab.gguf`), lc = join(dir, `${c}-llamacpp.gguf`);
  const a = quantlab("gguf", "quantize", "--type", "Q4_K_M", "--in", input, "--out", ql, "--json");
  const b = llamaCppQuantize(input, lc, 15);
  const d = a.code === 0 && b.code === 0 ? await differingTensors(ql, lc) : null;
  row(c, "quantlab gguf quantize Q4_K_M", a, d ? `${d.same} tensors identical, ${d.differ.length} differ${d.differ.length ? ` (${d.differ.slice(0, 3).join(", ")})` : ""}` : "failed");
  row(c, "llama.cpp llama_model_quantize", b, `time ratio quantlab/llama.cpp ${(a.wall / b.wall).toFixed(2)}`);
  rmSync(lc, { force: true });
  return ql;
}

/**
 * llama.cpp's prompt processing: tokens/s evaluating the same tokens in windows of `window`, `threads`
 * threads. Like for like with perplexity (`allLogits`), every position's logits are computed and read
 * (a greedy next token at each, one pass over the vocabulary, as a log-softmax is); otherwise only the
 * last position's, which skips the output head for all other tokens (≈ 6 % of a 22-layer 1.1B's FLOPs,
 * ≈ 43 % of a 2-layer cut's).
 */
async function llamaCppPromptTps(path: string, tokens: number[], window: number, allLogits: boolean): Promise<number> {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  const model = await llama.loadModel({ modelPath: path });
  const ctx = await model.createContext({ contextSize: window, batchSize: 512, threads });
  const seq = ctx.getSequence();
  const t0 = performance.now();
  for (let s = 0; s < tokens.length; s += window - 1) {
    await seq.clearHistory();
    const ids = [1, ...tokens.slice(s, s + window - 1)] as never[];
    if (allLogits) await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { token: true } }] as never));
    else await seq.evaluateWithoutGeneratingNewTokens(ids);
  }
  const secs = (performance.now() - t0) / 1000;
  await ctx.dispose();
  await model.dispose();
  return tokens.length / secs;
}

async function evalCase(c: string, path: string, tokens: number, label: string) {
  const r = quantlab("eval", "--model", path, "--text", textPath, "--max-tokens", String(tokens), "--json");
  const j = r.code === 0 ? JSON.parse(r.out) : null;
  const tps = j ? j.tokens / j.seconds : 0;
  let peer = "";
  if (j) {
    const { openModelSource } = await import("../src/model/formats/source.js");
    const src = await openModelSource(path);
    const ids = src.llama().tokenizer!.encode(readFileSync(textPath, "utf8")).slice(0, tokens);
    const window = Math.min(j.window, 2048);
    await src.close();
    const all = await llamaCppPromptTps(path, ids, window, true);
    const last = await llamaCppPromptTps(path, ids, window, false);
    peer = `; llama.cpp (${threads} threads) all logits ${all.toFixed(1)} tok/s: ratio ${(tps / all).toFixed(3)} (last-token logits only: ${last.toFixed(1)} tok/s)`;
  }
  row(c, `quantlab eval ${label}`, r, j ? `ppl ${j.perplexity.toFixed(1)} over ${j.tokens} tokens, ${tps.toFixed(1)} tok/s${peer}` : "failed");
}

/** Seconds of a progress duration ("1.2 s", "42 s", "3 min 05 s"). */
const secondsOf = (d: string) => {
  const m = /(?:(\d+) min )?(\d+(?:\.\d+)?) s/.exec(d);
  return m ? Number(m[1] ?? 0) * 60 + Number(m[2]) : NaN;
};

function gptqCase(path: string) {
  const out = join(dir, "gptq.gguf");
  const w = o["calib-windows"] ?? "128", l = o["calib-length"] ?? "512";
  const r = quantlab("quantize-model", "--model", path, "--calib", textPath, "--method", "gptq", "--bits", "4", "--group-size", "128",
    "--calib-windows", w, "--calib-length", l, "--max-tokens", "256", "--out", out, "--json");
  // the ETA the progress line gave at 25 % and 50 % of the layers, against the time the layers really took
  const lines = r.err.split(/[\r\n]+/).filter((x) => x.startsWith("quantize layers:"));
  const done = lines.map((x) => /done in (.+)$/.exec(x)?.[1]).find(Boolean);
  const total = done ? secondsOf(done) : NaN;
  const at = (pct: number) => {
    const x = lines.find((s) => Number(/\((\d+) %\)/.exec(s)?.[1] ?? -1) >= pct && / ETA /.test(s));
    if (!x) return "n/a";
    const el = secondsOf(/· (.+?) elapsed/.exec(x)![1]!), eta = secondsOf(/ETA (.+?)( ·|$)/.exec(x)![1]!);
    return `${(100 * ((el + eta) / total - 1)).toFixed(0)} %`;
  };
  const j = r.code === 0 ? JSON.parse(r.out) : null;
  row("gptq-1b", `quantize-model gptq 4-bit g128, ${w} × ${l}`, r,
    j ? `ppl ${j.perplexity.toFixed(1)} (FP32 ${j.fp32Perplexity.toFixed(1)}); layers ${total.toFixed(0)} s (${(total / j.layerSeconds.length).toFixed(0)} s per layer), ETA error at 25 % ${at(25)}, at 50 % ${at(50)}` : "failed");
}

try {
  console.log(`scale bench: ${cpus()[0]?.model ?? "cpu"} × ${threads}, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}, layers ${layers ?? "full"}, cases ${[...cases].join(",")}`);
  const tok1 = Number(o.tokens ?? 1024), tok8 = Number(o.tokens ?? 2048);
  if (cases.has("gguf-1b") || cases.has("eval-1b") || cases.has("gptq-1b")) {
    const f32 = await make("tinyllama-f32.gguf", "gguf-f32", "tinyllama");
    const q4 = cases.has("gguf-1b") || cases.has("eval-1b") ? await ggufCase("gguf-1b", f32) : null;
    if (cases.has("eval-1b")) {
      const f16 = await make("tinyllama-f16.gguf", "gguf-f16", "tinyllama");
      await evalCase("eval-1b", f16, tok1, "F16");
      rmSync(f16, { force: true });
      if (q4) await evalCase("eval-1b", q4, tok1, "Q4_K_M");
    }
    if (cases.has("gptq-1b")) gptqCase(f32);
    rmSync(f32, { force: true });
  }
  if (cases.has("hf-1b")) {
    const hf = await make("tinyllama-hf-bf16", "hf-bf16", "tinyllama");
    const ql = join(dir, "hf-quantlab.gguf");
    row("hf-1b", "quantlab gguf quantize Q4_K_M (sharded BF16 folder)", quantlab("gguf", "quantize", "--type", "Q4_K_M", "--in", hf, "--out", ql, "--json"), "");
    rmSync(hf, { recursive: true, force: true });
  }
  if (cases.has("gguf-8b") || cases.has("eval-8b")) {
    const f16 = await make("llama3-8b-f16.gguf", "gguf-f16", "llama3-8b");
    const q4 = await ggufCase("gguf-8b", f16);
    rmSync(f16, { force: true });
    if (cases.has("eval-8b")) await evalCase("eval-8b", q4, tok8, "Q4_K_M");
  }
  console.log("\n| " + rows[0]!.join(" | ") + " |\n|" + rows[0]!.map(() => "---").join("|") + "|\n" + rows.slice(1).map((r) => "| " + r.join(" | ") + " |").join("\n"));
} finally {
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
}
