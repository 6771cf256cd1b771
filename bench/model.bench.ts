/**
 * Model-level costs: forward-pass tokens/s per tfjs backend (wasm vs the cpu reference, same weights,
 * same tokens) and the time of a full layer-by-layer GPTQ pass (4-bit, group 32) next to RTN on the
 * same calibration windows, on stories260K (shared data) and on the project's own model (data/).
 *
 * Floors: a forward pass costs ≈ 2 · params FLOPs per token plus attention 4 · layers · T · dim per
 * token (T = positions so far); stories260K (≈ 0.26 M params, 5 layers, dim 64) at T = 512 is
 * ≈ 0.5 MFLOP + 0.65 MFLOP ≈ 1.2 MFLOP per token, so 1 GFLOP/s would be ≈ 850 tokens/s.
 * GPTQ per linear (n_in = n, n_out = m, N calibration tokens): Hessian N·n², Cholesky/inverse ≈ n³,
 * updates ≈ m·n²; tiny here (n ≤ 192), so the pass is dominated by calibration forward passes.
 *
 * KLD against FP32 (Q4_0 copy, wasm): exact KLD runs both models' forward passes plus a float64 sum
 * over the vocabulary per token (V exps: ≈ 0.5 k per token here, against ≈ 1 MFLOP of forward), so its
 * floor is the two perplexity runs it replaces (target ≤ 1.3×); with the base's distributions saved
 * once, each further quantization costs one forward pass (ratio to one perplexity run, target ≈ 1).
 * Best of 3 interleaved repetitions, since the machine is shared.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../src/model/formats/load.js";
import { LlamaRuntime } from "../src/model/runtime/forward.js";
import { perplexity, tokenNll } from "../src/model/runtime/eval.js";
import { baseLogProbs, klDivergenceRuntimes, klDivergenceSaved } from "../src/model/runtime/kld.js";
import { quantizerFor } from "../src/model/quantize/methods.js";
import { calibrationWindows, quantizeModel } from "../src/model/quantize/workflow.js";
import { ready } from "../src/model/runtime/tf.js";

const shared = process.env.QUANTLAB_SHARED_DATA ?? join(import.meta.dirname, "..", "..", "shared", "data");
const models = [join(shared, "stories260K-f32.gguf"), join(import.meta.dirname, "..", "data", "sotu-llama.gguf")].filter((p) => existsSync(p));
const textPath = join(shared, "tinystories-val.txt");
const text = existsSync(textPath) ? readFileSync(textPath, "utf8").slice(0, 40000) : "Once upon a time there was a model. ".repeat(800);

const rows: string[][] = [["model", "what", "backend", "value", "ratio"]];
for (const path of models) {
  const m = await loadModel(path);
  const ids = m.tokenizer!.encode(text);
  const T = Math.min(m.config.contextLength, 512);
  const win = [m.tokenizer!.bos, ...ids.slice(0, T - 1)];
  const name = path.split("/").pop()!;
  const tps: Record<string, number> = {};
  for (const backend of ["wasm", "cpu"]) {
    await ready(backend);
    const rt = await LlamaRuntime.create(m, backend);
    tokenNll(rt, win); // warm-up
    const reps = backend === "cpu" ? 1 : 5;
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) tokenNll(rt, win);
    tps[backend] = (reps * win.length) / ((performance.now() - t0) / 1000);
    rt.dispose();
    rows.push([name, `forward ${win.length} tokens`, backend, `${tps[backend].toFixed(0)} tok/s`, (tps[backend] / tps.wasm).toFixed(3)]);
  }
  await ready("wasm");
  {
    const bos = m.tokenizer!.bos;
    const evalIds = ids.slice(0, Math.min(ids.length, 4 * (m.config.contextLength - 1)));
    const q = await quantizeModel(m, { calibration: calibrationWindows(ids, bos, 2, Math.min(64, m.config.contextLength)), quantizer: quantizerFor({ gguf: "Q4_0" }) });
    const rb = await LlamaRuntime.create(m, "wasm"), rq = await LlamaRuntime.create(q.model, "wasm");
    const best: Record<string, number> = { ppl2: Infinity, exact: Infinity, save: Infinity, saved: Infinity, ppl1: Infinity };
    const time = (k: string, f: () => unknown) => {
      const t0 = performance.now();
      f();
      best[k] = Math.min(best[k], (performance.now() - t0) / 1000);
    };
    perplexity(rq, { bos }, evalIds); // warm-up
    const saved = baseLogProbs(rb, evalIds, bos);
    for (let r = 0; r < 3; r++) {
      time("ppl2", () => (perplexity(rb, { bos }, evalIds), perplexity(rq, { bos }, evalIds)));
      time("exact", () => klDivergenceRuntimes(rb, rq, evalIds, bos));
      time("save", () => baseLogProbs(rb, evalIds, bos));
      time("ppl1", () => perplexity(rq, { bos }, evalIds));
      time("saved", () => klDivergenceSaved(saved, rq, evalIds, bos));
    }
    rb.dispose();
    rq.dispose();
    const n = `${evalIds.length} tokens`;
    rows.push([name, `two perplexity runs (FP32 + Q4_0), ${n}`, "wasm", `${best.ppl2.toFixed(2)} s`, "1.00"]);
    rows.push([name, `exact KLD (both forwards + full-vocabulary sum)`, "wasm", `${best.exact.toFixed(2)} s`, (best.exact / best.ppl2).toFixed(2)]);
    rows.push([name, `one perplexity run (Q4_0), ${n}`, "wasm", `${best.ppl1.toFixed(2)} s`, "1.00"]);
    rows.push([name, `save the base (${(saved.offsets[evalIds.length] / evalIds.length).toFixed(0)} of ${m.config.vocabSize} entries/token)`, "wasm", `${best.save.toFixed(2)} s`, (best.save / best.ppl1).toFixed(2)]);
    rows.push([name, `KLD against the saved base`, "wasm", `${best.saved.toFixed(2)} s`, (best.saved / best.ppl1).toFixed(2)]);
  }
  const calib = calibrationWindows(ids, m.tokenizer!.bos, 16, Math.min(128, m.config.contextLength));
  const secs: Record<string, number> = {};
  for (const method of ["rtn", "gptq"] as const) {
    const t0 = performance.now();
    await quantizeModel(m, { calibration: calib, quantizer: quantizerFor({ method, bits: 4, groupSize: 32 }) });
    secs[method] = (performance.now() - t0) / 1000;
    rows.push([name, `${method.toUpperCase()} 4-bit g32 full pass`, "wasm", `${secs[method].toFixed(2)} s`, (secs[method] / secs.rtn).toFixed(2)]);
  }
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join("  "));
console.log("(ratio: tokens/s relative to wasm; pass time relative to RTN's pass on the same windows; KLD rows relative to the perplexity run(s) above them)");
