/**
 * `quantlab quantize-model --model M.gguf --calib T.txt --method gptq|awq|rtn|Q4_0… --bits 4
 *   --group-size 32 [--sym] --out Q.gguf [--format gguf|hf] [--safetensors Q.safetensors] [--eval T.txt] [--json]`:
 * layer-by-layer quantization on calibration text, per-layer errors, final perplexity, GGUF output or a
 * Hugging Face GPTQ/AWQ folder; the tensors not stored in the method's own grid are listed with why.
 */
import { check } from "../../errors.js";
import { num, parse, printJson, str } from "../args.js";
import { checkInput, checkOutput, finite, readText } from "../paths.js";

export const summary = "quantize every linear layer of a model (RTN, GPTQ, AWQ or a GGUF type) and write GGUF";

const USAGE = `usage: quantlab quantize-model --model M.gguf --calib T.txt --method gptq|awq|rtn|Q8_0|Q4_0|… [options]
  --bits N            bits per weight for rtn/gptq/awq (default 4)
  --group-size N      weights per scale along a row (default 32)
  --sym               symmetric grid for rtn/gptq/awq (scheme "symmetric"; default asymmetric)
  --out PATH          write the quantized model: a .gguf file (llama.cpp loads it), or with --format hf a folder
  --format gguf|hf    gguf (default), or hf: a Hugging Face checkpoint in the method's own layout
                      (GPTQ v1 for gptq/rtn, AutoAWQ GEMM for awq) that transformers and vLLM load
  --safetensors F     also write weights with their codes, scales and zero points as safetensors
  --eval T.txt        text for the final perplexity (default: the calibration file)
  --max-tokens N      score at most N tokens (default 8192)
  --calib-windows N   calibration windows (default 16), --calib-length N tokens each (default 128)
  --json              print {"method","bits","groupSize","layers":[…],"perplexity","fp32Perplexity","tokens","seconds"}`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("quantize-model", argv, {
    model: { type: "string" }, calib: { type: "string" }, method: { type: "string" }, bits: { type: "string" },
    "group-size": { type: "string" }, sym: { type: "boolean" }, out: { type: "string" }, format: { type: "string" }, safetensors: { type: "string" }, eval: { type: "string" },
    "max-tokens": { type: "string" }, "calib-windows": { type: "string" }, "calib-length": { type: "string" },
    json: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const modelPath = str(p, "model"), calibPath = str(p, "calib"), method = str(p, "method") ?? "gptq";
  check(modelPath, "BAD_ARGUMENT", "--model is required: the model file to quantize");
  check(calibPath, "BAD_ARGUMENT", "--calib is required: a text file for calibration");
  const bits = num("bits", str(p, "bits"), 4), groupSize = num("group-size", str(p, "group-size"), 32);
  const maxTokens = num("max-tokens", str(p, "max-tokens"), 8192);
  const nWin = num("calib-windows", str(p, "calib-windows"), 16), winLen = num("calib-length", str(p, "calib-length"), 128);
  const { parseMethod } = await import("../../model/quantize/methods.js");
  const spec = parseMethod(method, { bits, groupSize, ...(p.values.sym ? { scheme: "symmetric" as const } : {}) });
  const format = (str(p, "format") ?? "gguf").toLowerCase();
  check(format === "gguf" || format === "hf", "BAD_ARGUMENT", `--format ${format} is not known: use gguf (a .gguf file) or hf (a Hugging Face folder)`);
  check(format === "gguf" || !("gguf" in spec), "BAD_ARGUMENT", `--format hf writes GPTQ or AWQ layouts: use --method gptq, rtn or awq (${method} is a GGUF type, write it with --format gguf)`);
  const out = str(p, "out"), st = str(p, "safetensors");
  check(format === "gguf" || out, "BAD_ARGUMENT", "--format hf needs --out FOLDER: the Hugging Face checkpoint folder to write");
  // every path is checked before the model loads: a bad --out must not cost the whole computation
  checkInput("--model", modelPath, { folderOk: true });
  const calibText = readText("--calib", calibPath);
  const evalPath = str(p, "eval");
  const evalText = evalPath ? readText("--eval", evalPath) : undefined;
  const inputs = [modelPath, calibPath, ...(evalPath ? [evalPath] : [])];
  if (out && format === "gguf") checkOutput("--out", out, { inputs });
  if (st) checkOutput("--safetensors", st, { inputs: out ? [...inputs, out] : inputs });

  const { loadModel } = await import("../../model/formats/load.js");
  const { LlamaRuntime } = await import("../../model/runtime/forward.js");
  const { perplexity } = await import("../../model/runtime/eval.js");
  const { quantizerFor, specLabel } = await import("../../model/quantize/methods.js");
  const { calibrationWindows, quantizeModel } = await import("../../model/quantize/workflow.js");
  const t0 = performance.now();
  const model = await loadModel(modelPath);
  const tok = model.tokenizer;
  check(tok, "BAD_ARGUMENT", `${modelPath} has no tokenizer: calibration text needs one (use a GGUF with a vocabulary)`);
  const calibIds = tok.encode(calibText);
  const evalIds = evalText !== undefined ? tok.encode(evalText) : calibIds;
  const calib = calibrationWindows(calibIds, tok.bos, nWin, Math.min(winLen, model.config.contextLength));
  const q = await quantizeModel(model, {
    calibration: calib,
    quantizer: quantizerFor(spec),
    onLayer: (e) => { if (!p.values.json) console.log(`blk.${e.layer}.${e.name.padEnd(12)} ${e.format.padEnd(24)} rel. output error ${e.relOutputError.toExponential(3)}`); },
  });
  const score = async (m: typeof model) => {
    const rt = await LlamaRuntime.create(m);
    try {
      const r = perplexity(rt, tok, evalIds, { maxTokens });
      finite(r.perplexity, `the perplexity of ${m === model ? modelPath : "the quantized model"}`, "its logits are not finite numbers (a corrupt or overflowing model): check its weights with 'quantlab gguf inspect'");
      return r;
    } finally {
      rt.dispose();
    }
  };
  const fp = await score(model);
  const r = await score(q.model);
  let plan: { tensor: string; stored: string; reason?: string }[] = [];
  if (out && format === "hf") {
    const hf = "method" in spec && spec.method === "awq" ? await import("../../model/quantize/hf-awq.js") : null;
    const { statSync } = await import("node:fs");
    const opts = statSync(modelPath).isDirectory() ? { tokenizerFrom: modelPath } : {};
    const r = hf ? await hf.writeHfAwq(q, out, opts) : await (await import("../../model/quantize/hf-gptq.js")).writeHfGptq(q, out, opts);
    plan = r.plan.map((x) => ({ tensor: x.module, stored: x.stored, ...(x.reason ? { reason: x.reason } : {}) }));
    if (!p.values.json) console.log(r.tokenizerNote);
  } else if (out) {
    const { writeQuantizedGguf } = await import("../../model/quantize/export.js");
    plan = (await writeQuantizedGguf(q, out)).map((x) => ({ tensor: x.tensor, stored: x.lossless ? x.type : `${x.type} (re-encoded)`, ...(x.reason ? { reason: x.reason } : {}) }));
  }
  if (st) await (await import("../../model/quantize/export.js")).writeQuantizedSafetensors(q, st);
  if (!p.values.json) for (const r of plan) if (r.reason) console.log(`${r.tensor.padEnd(34)} ${r.stored}: ${r.reason}`);
  const seconds = (performance.now() - t0) / 1000;
  if (p.values.json) {
    printJson({
      method: specLabel(spec), bits, groupSize,
      layers: q.errors.map((e) => ({ tensor: `blk.${e.layer}.${e.name}.weight`, format: e.format, relOutputError: e.relOutputError, weightMse: e.weightMse })),
      perplexity: r.perplexity, fp32Perplexity: fp.perplexity, tokens: r.tokens, out: out ?? null, format, plan, seconds,
    });
  } else {
    console.log(`${specLabel(spec)}: perplexity ${r.perplexity.toFixed(4)} (FP32 ${fp.perplexity.toFixed(4)}) over ${r.tokens} tokens` +
      (out ? `; wrote ${out}` : "") + ` in ${seconds.toFixed(1)} s`);
  }
  return 0;
}
