/**
 * The KL-divergence side of `quantlab eval`: --base (exact, both models), --save-base (write the
 * base's top-k log-probabilities once), --base-logits (reuse them: one forward pass per quantization);
 * --like-llama-cpp rounds activations and the KV cache as llama.cpp's CPU backend does.
 */
import { readFileSync, statSync } from "node:fs";
import { check } from "../../errors.js";
import { num, printJson, str, type Parsed } from "../args.js";

export async function runKld(p: Parsed): Promise<number> {
  const modelPath = str(p, "model"), textPath = str(p, "text");
  const basePath = str(p, "base"), savePath = str(p, "save-base"), logitsPath = str(p, "base-logits");
  check(modelPath, "BAD_ARGUMENT", "--model is required: the (quantized) model file to evaluate");
  check(textPath, "BAD_ARGUMENT", "--text is required: the text file to score");
  check(!(basePath && logitsPath), "BAD_ARGUMENT", "give --base or --base-logits, not both: --base-logits already holds the base model's log-probabilities");
  check(!(savePath && logitsPath), "BAD_ARGUMENT", "--save-base writes what --base-logits reads: give one of them");
  if (basePath && !savePath) return runKldLayerMajor(p, modelPath, basePath, textPath);
  const { loadModel } = await import("../../model/formats/load.js");
  const { LlamaRuntime } = await import("../../model/runtime/forward.js");
  const kld = await import("../../model/runtime/kld.js");
  const { loadBaseLogProbs, saveBaseLogProbs } = await import("../../model/runtime/kld-base.js");
  const t0 = performance.now();
  const model = await loadModel(modelPath);
  check(model.tokenizer, "BAD_ARGUMENT", `${modelPath} has no tokenizer: give a GGUF with a vocabulary (or tokenizer.bin beside a llama2.c model)`);
  const ids = model.tokenizer.encode(readFileSync(textPath, "utf8"));
  const maxTokens = p.values["max-tokens"] === undefined ? undefined : num("max-tokens", str(p, "max-tokens"));
  const window = p.values.window === undefined ? undefined : num("window", str(p, "window"));
  const restMass = p.values["rest-mass"] === undefined ? undefined : num("rest-mass", str(p, "rest-mass"));
  const bos = model.tokenizer.bos;
  const base = basePath ? await loadModel(basePath) : null;
  if (base) kld.checkSameVocabulary(base, model);
  const saved = logitsPath ? loadBaseLogProbs(logitsPath) : null;
  const rt = await LlamaRuntime.create(model, str(p, "backend"));
  const brt = base ? await LlamaRuntime.create(base, str(p, "backend")) : null;
  try {
    const { llamaCppHooks } = await import("../../model/runtime/like-llama-cpp.js");
    const like = p.values["like-llama-cpp"] ? { hooks: llamaCppHooks(model), baseHooks: llamaCppHooks(base ?? model) } : {};
    const opts = { maxTokens, window: window ?? saved?.window, ...like };
    if (savePath) {
      const b = kld.baseLogProbs(brt ?? rt, ids, bos, { ...opts, restMass });
      await saveBaseLogProbs(savePath, b);
      const bytes = statSync(savePath).size;
      if (!brt) {
        const seconds = (performance.now() - t0) / 1000;
        const ppl = Math.exp(b.nll.reduce((s, x) => s + x, 0) / b.nll.length);
        if (p.values.json) printJson({ basePerplexity: ppl, tokens: b.tokens.length, window: b.window, entries: b.offsets[b.tokens.length], vocabSize: b.vocabSize, saved: savePath, bytes, seconds });
        else console.log(`${model.source}: base log-probabilities of ${b.tokens.length} tokens (${(b.offsets[b.tokens.length] / b.tokens.length).toFixed(1)} of ${b.vocabSize} entries per token) written to ${savePath}, ${bytes} bytes; perplexity ${ppl.toFixed(4)}`);
        return 0;
      }
      if (!p.values.json) console.log(`base log-probabilities written to ${savePath} (${bytes} bytes)`);
    }
    const r = saved ? kld.klDivergenceSaved(saved, rt, ids, bos, opts) : kld.klDivergenceRuntimes(brt!, rt, ids, bos, opts);
    const seconds = (performance.now() - t0) / 1000;
    const { detail: _detail, ...stats } = r;
    if (p.values.json) printJson({ ...stats, ...(savePath ? { saved: savePath } : {}), seconds });
    else console.log(kld.kldText(r, `${model.source} against ${base?.source ?? logitsPath}`) + `\n(${seconds.toFixed(1)} s)`);
  } finally {
    rt.dispose();
    brt?.dispose();
  }
  return 0;
}

/**
 * `--base` alone: exact KLD layer-major from both checkpoints (src/model/runtime/layer-major.ts), one layer
 * of each in memory at a time rather than two whole models.
 */
async function runKldLayerMajor(p: Parsed, modelPath: string, basePath: string, textPath: string): Promise<number> {
  const { openModelSource } = await import("../../model/formats/source.js");
  const { sourceLayers } = await import("../../model/runtime/layer-source.js");
  const { klDivergenceLayerMajor } = await import("../../model/runtime/layer-major.js");
  const kld = await import("../../model/runtime/kld.js");
  const t0 = performance.now();
  const maxTokens = p.values["max-tokens"] === undefined ? undefined : num("max-tokens", str(p, "max-tokens"));
  const window = p.values.window === undefined ? undefined : num("window", str(p, "window"));
  const src = await openModelSource(modelPath);
  try {
    const base = await openModelSource(basePath);
    try {
      const m = src.llama(), b = base.llama();
      check(m.tokenizer, "BAD_ARGUMENT", `${modelPath} has no tokenizer: give a GGUF with a vocabulary (or tokenizer.bin beside a llama2.c model)`);
      kld.checkSameVocabulary({ config: b.config, tokenizer: b.tokenizer, source: b.label }, { config: m.config, tokenizer: m.tokenizer, source: m.label });
      const ids = m.tokenizer.encode(readFileSync(textPath, "utf8"));
      const { llamaCppHooks } = await import("../../model/runtime/like-llama-cpp.js");
      const { storedTypes } = await import("../../model/formats/source.js");
      const like = p.values["like-llama-cpp"]
        ? { hooks: llamaCppHooks({ storedTypes: storedTypes(src) }), baseHooks: llamaCppHooks({ storedTypes: storedTypes(base) }) } : {};
      const r = await klDivergenceLayerMajor(await sourceLayers(base), await sourceLayers(src), ids, m.tokenizer.bos, { maxTokens, window, backend: str(p, "backend"), ...like });
      const seconds = (performance.now() - t0) / 1000;
      const { detail: _detail, ...stats } = r;
      if (p.values.json) printJson({ ...stats, seconds });
      else console.log(kld.kldText(r, `${m.label} against ${b.label}`) + `\n(${seconds.toFixed(1)} s)`);
    } finally {
      await base.close();
    }
  } finally {
    await src.close();
  }
  return 0;
}
