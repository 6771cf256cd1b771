/**
 * `quantlab quantize-model --model M.gguf --calib T.txt --method gptq|awq|rtn|Q4_0… --bits 4
 *   --group-size 32 [--sym] --out Q.gguf [--format gguf|hf] [--safetensors Q.safetensors] [--eval T.txt] [--json]`:
 * layer-by-layer quantization on calibration text, per-layer errors, final perplexity, GGUF output or a
 * Hugging Face GPTQ/AWQ folder; the tensors not stored in the method's own grid are listed with why.
 *
 * Layer-major from the checkpoint (workflow.ts `quantizeLayers`): one layer in FP32 at a time, the
 * evaluation windows advanced through each quantized layer as it is finished, each finished layer kept
 * in a work folder beside --out (work-dir.ts) so `--resume` continues an interrupted run; the GGUF is then
 * streamed from that folder (assemble.ts).
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
  --max-memory 8G     refuse when the memory estimate (printed on stderr) exceeds this (default: the free memory)
  --resume            continue an interrupted run from its last finished layer (kept in .OUT.quantlab-work/
                      beside --out; refused when the method, model or calibration differ)
  --json              print {"method","bits","groupSize","layers":[…],"layerSeconds":[…],"resumedFrom","perplexity",
                      "fp32Perplexity","tokens","seconds"}`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("quantize-model", argv, {
    model: { type: "string" }, calib: { type: "string" }, method: { type: "string" }, bits: { type: "string" },
    "group-size": { type: "string" }, sym: { type: "boolean" }, out: { type: "string" }, format: { type: "string" }, safetensors: { type: "string" }, eval: { type: "string" },
    "max-tokens": { type: "string" }, "calib-windows": { type: "string" }, "calib-length": { type: "string" },
    json: { type: "boolean" }, "max-memory": { type: "string" }, resume: { type: "boolean" },
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

  const { openModelSource } = await import("../../model/formats/source.js");
  const { llamaTensorReader, sourceLayers } = await import("../../model/runtime/layer-source.js");
  const { LayerMajorPass, perplexityCollector, perplexityLayerMajor, perplexityWindows } = await import("../../model/runtime/layer-major.js");
  const { quantizerFor, specLabel } = await import("../../model/quantize/methods.js");
  const { calibrationWindows, quantizeLayers } = await import("../../model/quantize/workflow.js");
  const { modelIdentity, WorkDir } = await import("../../model/quantize/work-dir.js");
  const assemble = await import("../../model/quantize/assemble.js");
  const resume = !!p.values.resume;
  check(!resume || out || st, "BAD_ARGUMENT", "--resume continues an interrupted run that was writing --out (or --safetensors): give the same --out");
  const t0 = performance.now();
  const source = await openModelSource(modelPath);
  const layerSeconds: number[] = [];
  let r, fp, plan: { tensor: string; stored: string; reason?: string }[] = [];
  let errors: import("../../model/quantize/workflow.js").LayerError[] = [];
  let resumedFrom: number | null = null;
  try {
    const { config, tokenizer: tok, label } = source.llama();
    check(tok, "BAD_ARGUMENT", `${modelPath} has no tokenizer: calibration text needs one (a GGUF with a vocabulary, or tokenizer.json in the Hugging Face folder)`);
    const calibIds = tok.encode(calibText);
    const evalIds = evalText !== undefined ? tok.encode(evalText) : calibIds;
    const { checkFits, describeEstimate, estimateQuantizeModel, memoryBudget } = await import("../../model/formats/memory.js");
    const tied = !source.tensors.some((t) => t.name === "output.weight");
    const budget = memoryBudget(str(p, "max-memory"));
    const e = estimateQuantizeModel(config, tied, {
      windows: nWin, length: Math.min(winLen, config.contextLength), hessian: /gptq|awq/i.test(method),
      bits: /^(rtn|gptq|awq)$/i.test(method) ? bits : 8, evalWindow: Math.min(config.contextLength, maxTokens + 1),
      evalTokens: Math.min(evalIds.length, maxTokens), wholeModel: !!st || format === "hf" || ("method" in spec && spec.method === "awq" && !!out),
    });
    checkFits(e, budget, "use fewer --calib-windows or a shorter --calib-length, or raise --max-memory if the estimate is too cautious");
    console.error(`memory: ${describeEstimate(e, budget)}`);
    const calib = calibrationWindows(calibIds, tok.bos, nWin, Math.min(winLen, config.contextLength));
    const layers = await sourceLayers(source);
    const reader = await llamaTensorReader(source);
    const c = layers.config;
    const ev = perplexityWindows(c, tok.bos, evalIds, { maxTokens });
    // the quantized model's evaluation windows advance with the quantization, layer by layer; FP32's run on their own
    fp = await perplexityLayerMajor(layers, tok.bos, evalIds, { maxTokens });
    const awq = "method" in spec && spec.method === "awq";
    const streamGguf = format === "gguf" && !awq;
    const { work, resumed } = out || st
      ? await WorkDir.open(out ?? st!, {
        recipe: { spec, storeGguf: streamGguf && !!out },
        model: modelIdentity(source, modelPath),
        calibration: { calib, eval: ev.windows },
      }, c.nLayers, resume)
      : { work: null, resumed: null };
    if (resumed) {
      resumedFrom = resumed.layer;
      errors = resumed.errors;
      layerSeconds.push(...resumed.seconds);
      if (!p.values.json) console.error(`resuming at layer ${resumed.layer} of ${c.nLayers} from ${work!.dir}`);
    }
    const pass = await LayerMajorPass.start(c, ev.windows, resumed?.evalHidden ?? await layers.embed(ev.windows));
    try {
      const q = await quantizeLayers(layers, {
        calibration: calib,
        quantizer: quantizerFor(spec),
        ...(resumed ? { start: { layer: resumed.layer, hidden: resumed.hidden } } : {}),
        onLayer: (e) => { if (!p.values.json) console.log(`blk.${e.layer}.${e.name.padEnd(12)} ${e.format.padEnd(24)} rel. output error ${e.relOutputError.toExponential(3)}`); },
        onLayerDone: async (d) => {
          await pass.step(d.layer, d.weights, `layer ${d.layer} eval windows`);
          await work?.saveLayer(d, pass.states, streamGguf && !!out);
          layerSeconds.push(d.seconds);
        },
      });
      errors = [...errors, ...q.errors];
      const ppl = perplexityCollector(ev.windows, ev.window);
      await pass.finish(await layers.head(), ppl.onLogits);
      r = ppl.result();
    } finally {
      pass.dispose();
    }
    finite(fp.perplexity, `the perplexity of ${modelPath}`, "its logits are not finite numbers (a corrupt or overflowing model): check its weights with 'quantlab gguf inspect'");
    finite(r.perplexity, "the perplexity of the quantized model", "its logits are not finite numbers (a corrupt or overflowing model): check its weights with 'quantlab gguf inspect'");
    if (work) {
      const seconds = layerSeconds.reduce((a, b) => a + b, 0);
      const whole = () => assemble.quantizedModelFromWork(work, layers, reader, tok, label, errors, seconds);
      if (out && format === "hf") {
        const hf = awq ? await import("../../model/quantize/hf-awq.js") : null;
        const { statSync } = await import("node:fs");
        const opts = statSync(modelPath).isDirectory() ? { tokenizerFrom: modelPath } : {};
        const qm = await whole();
        const w = hf ? await hf.writeHfAwq(qm, out, opts) : await (await import("../../model/quantize/hf-gptq.js")).writeHfGptq(qm, out, opts);
        plan = w.plan.map((x) => ({ tensor: x.module, stored: x.stored, ...(x.reason ? { reason: x.reason } : {}) }));
        if (!p.values.json) console.log(w.tokenizerNote);
      } else if (out && streamGguf) {
        plan = (await assemble.writeGgufFromWork(work, reader, tok, label, out)).map((x) => ({ tensor: x.tensor, stored: x.lossless ? x.type : `${x.type} (re-encoded)`, ...(x.reason ? { reason: x.reason } : {}) }));
      } else if (out) {
        const { writeQuantizedGguf } = await import("../../model/quantize/export.js");
        plan = (await writeQuantizedGguf(await whole(), out)).map((x) => ({ tensor: x.tensor, stored: x.lossless ? x.type : `${x.type} (re-encoded)`, ...(x.reason ? { reason: x.reason } : {}) }));
      }
      if (st) await (await import("../../model/quantize/export.js")).writeQuantizedSafetensors(await whole(), st);
      work.remove();
    }
  } finally {
    await source.close();
  }
  if (!p.values.json) for (const r of plan) if (r.reason) console.log(`${r.tensor.padEnd(34)} ${r.stored}: ${r.reason}`);
  const seconds = (performance.now() - t0) / 1000;
  if (p.values.json) {
    printJson({
      method: specLabel(spec), bits, groupSize,
      layers: errors.map((e) => ({ tensor: `blk.${e.layer}.${e.name}.weight`, format: e.format, relOutputError: e.relOutputError, weightMse: e.weightMse })),
      layerSeconds, resumedFrom,
      perplexity: r.perplexity, fp32Perplexity: fp.perplexity, tokens: r.tokens, out: out ?? null, format, plan, seconds,
    });
  } else {
    console.log(`${specLabel(spec)}: perplexity ${r.perplexity.toFixed(4)} (FP32 ${fp.perplexity.toFixed(4)}) over ${r.tokens} tokens` +
      (out ? `; wrote ${out}` : "") + ` in ${seconds.toFixed(1)} s`);
  }
  return 0;
}
