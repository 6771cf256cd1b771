/**
 * The serving side of `quantlab eval`: --activations, --kv-cache, --smoothquant and --rotate applied to
 * --model as an engine stacks them (src/model/runtime/engine.ts), scored by perplexity and KL
 * divergence from --base (default: --model itself run in full precision, so the numbers are what the
 * activation/KV options alone cost).
 */
import { readFileSync } from "node:fs";
import { check } from "../../errors.js";
import { num, printJson, str, type Parsed } from "../args.js";

export async function runEngine(p: Parsed): Promise<number> {
  const modelPath = str(p, "model"), textPath = str(p, "text"), basePath = str(p, "base");
  check(modelPath, "BAD_ARGUMENT", "--model is required: the model file to evaluate");
  check(textPath, "BAD_ARGUMENT", "--text is required: the text file to score");
  check(p.values["base-logits"] === undefined && p.values["save-base"] === undefined, "BAD_ARGUMENT",
    "--base-logits and --save-base do not combine with --activations/--kv-cache/--smoothquant/--rotate: give --base (or nothing: --model in full precision is the base)");
  const { loadModel } = await import("../../model/formats/load.js");
  const { LlamaRuntime } = await import("../../model/runtime/forward.js");
  const kld = await import("../../model/runtime/kld.js");
  const { parseActivationSpec } = await import("../../model/runtime/activations.js");
  const { parseKvCacheSpec, kvSpecLabel } = await import("../../model/runtime/kvcache.js");
  const { prepareEngine } = await import("../../model/runtime/engine.js");
  const t0 = performance.now();
  const rotate = str(p, "rotate");
  check(rotate === undefined || rotate === "hadamard", "BAD_ARGUMENT", `--rotate ${rotate} is unknown: use --rotate hadamard`);
  const activations = p.values.activations === undefined ? undefined : parseActivationSpec(str(p, "activations")!);
  const kvCache = p.values["kv-cache"] === undefined ? undefined : parseKvCacheSpec(str(p, "kv-cache")!);
  const alpha = p.values.smoothquant === undefined ? undefined : num("smoothquant", str(p, "smoothquant"));
  const model = await loadModel(modelPath);
  check(model.tokenizer, "BAD_ARGUMENT", `${modelPath} has no tokenizer: give a GGUF with a vocabulary (or tokenizer.bin beside a llama2.c model)`);
  const ids = model.tokenizer.encode(readFileSync(textPath, "utf8"));
  const calibPath = str(p, "calibration");
  const maxTokens = p.values["max-tokens"] === undefined ? undefined : num("max-tokens", str(p, "max-tokens"));
  const window = p.values.window === undefined ? model.config.contextLength : num("window", str(p, "window"));
  const bos = model.tokenizer.bos;
  const calibIds = calibPath ? model.tokenizer.encode(readFileSync(calibPath, "utf8")) : ids;
  const calibration = kld.scoredWindows(calibIds, bos, window, model.config.contextLength, calibPath ? undefined : maxTokens).slice(0, 2);
  const base = basePath ? await loadModel(basePath) : model;
  if (basePath) kld.checkSameVocabulary(base, model);
  const engine = await prepareEngine(model, { rotate: rotate as "hadamard" | undefined, smoothquant: alpha, activations, kvCache }, calibration);
  const brt = await LlamaRuntime.create(base, str(p, "backend"));
  const rt = await LlamaRuntime.create(engine.model, str(p, "backend"));
  try {
    const r = kld.klDivergenceRuntimes(brt, rt, ids, bos, { maxTokens, window, hooks: engine.hooks });
    const seconds = (performance.now() - t0) / 1000;
    const { detail: _detail, ...stats } = r;
    const recipe = {
      activations: activations ? `${activations.format}:${activations.granularity}:${activations.scaling}` : null,
      kvCache: kvCache ? kvSpecLabel(kvCache) : null, smoothquant: alpha ?? null, rotate: rotate ?? null,
      kvBytesPerToken: engine.kvBytesPerToken,
    };
    if (p.values.json) printJson({ ...stats, ...recipe, seconds });
    else console.log(kld.kldText(r, `${model.source} as ${engine.label} against ${basePath ? base.source : "itself in full precision"}`) +
      `\nKV cache ${engine.kvBytesPerToken.toFixed(1)} bytes per token (${seconds.toFixed(1)} s)`);
  } finally {
    rt.dispose();
    brt.dispose();
  }
  return 0;
}
