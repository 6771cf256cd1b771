/**
 * `quantlab eval --model M.gguf --text T.txt [--max-tokens N] [--window W] [--json]`: perplexity of a
 * model on a text (BOS-led non-overlapping windows of the model's context; see src/model/eval.ts).
 */
import { check } from "../../errors.js";
import { num, parse, printJson, str } from "../args.js";
import { checkInput, finite, readText } from "../paths.js";

export const summary = "perplexity of a model (GGUF, Hugging Face, llama2.c) on a text file";

const USAGE = `usage: quantlab eval --model M.gguf --text T.txt [--max-tokens N] [--window W] [--backend wasm|cpu] [--max-memory 8G] [--json]
       quantlab eval --model Q.gguf --base F.gguf | --base-logits B.qlkld --text T.txt [--save-base B.qlkld] [--json]
  --model       a .gguf file, a Hugging Face folder (config.json + model.safetensors) or a llama2.c .bin
  --text        a UTF-8 text file to score
  --max-tokens  score at most N tokens (default: the whole text)
  --window      positions per window including BOS (default: the model's context length)
  --max-memory  refuse when the memory estimate (printed on stderr) exceeds this (default: the free memory)
  --json        print {"perplexity", "tokens", "meanNll", "windows", "window", "seconds"}
  --base        the unquantized model: report KL divergence of --model from it on the same tokens
                (with --json: {"perplexity", "basePerplexity", "tokens", "kld": {"mean", "stderr", "median",
                "p90", "p95", "p99", "p999", "min", "max"}, "sameTopPercent", "deltaP": {"mean", "rms"}, …})
  --save-base   write the base's most likely tokens' log-probabilities there (with --base: the base's;
                without: --model's): 32 + Σ(16 + 8k) bytes, k per token until the rest's mass < --rest-mass
  --base-logits reuse a file from --save-base instead of --base (one forward pass per quantization)
  --rest-mass   probability left out per token in --save-base (default 1e-4)
  --like-llama-cpp  round each linear's input to its weight type's dot-product format (Q8_0/Q8_K blocks,
                F16) and keep the KV cache in F16, as llama.cpp's CPU backend does, so the KLD matches
                llama-perplexity --kl-divergence (it matters at 8 bits; QuantLab's default is float32)
       quantlab eval --model M --text T.txt [--base F] [--activations FORMAT:GRANULARITY[:static|:dynamic]]
                     [--kv-cache K_FORMAT:K_GRAN,V_FORMAT:V_GRAN[,window=N][,group=N][,pre-rope][,rotate]]
                     [--smoothquant ALPHA] [--rotate hadamard] [--calibration C.txt] [--json]
  --activations every linear's input quantized in the forward pass: int8, int4, fp8-e4m3, fp8-e5m2 per
                tensor (static: scales from calibration; dynamic: per call) or per token (dynamic), e.g.
                int8:token:dynamic, fp8-e4m3:tensor:static
  --kv-cache    keys and values quantized (int8, int4, int2, uint4, uint2 asymmetric, fp8-e4m3, fp8-e5m2;
                tensor, token, head or channel), e.g. int4:channel,int4:token,window=32 (KIVI): window =
                recent tokens kept in FP16, group = tokens per per-channel scale, pre-rope = keys before RoPE,
                rotate = keys Hadamard-rotated
  --smoothquant SmoothQuant's α in [0, 1], migrated into the RMSNorms (calibrated on --calibration)
  --rotate      hadamard: QuaRot's residual rotation fused into the weights, online Hadamard on ffn_down
  --calibration text for static scales and SmoothQuant (default: the first two windows of --text)
                with these, --json prints eval --base's object plus {"activations", "kvCache",
                "smoothquant", "rotate", "kvBytesPerToken"}; the base is --base, else --model in full precision`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("eval", argv, {
    model: { type: "string" }, text: { type: "string" }, "max-tokens": { type: "string" }, window: { type: "string" },
    backend: { type: "string" }, json: { type: "boolean" },
    base: { type: "string" }, "save-base": { type: "string" }, "base-logits": { type: "string" }, "rest-mass": { type: "string" }, "max-memory": { type: "string" },
    activations: { type: "string" }, "kv-cache": { type: "string" }, smoothquant: { type: "string" }, rotate: { type: "string" },
    calibration: { type: "string" }, "like-llama-cpp": { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  if (["activations", "kv-cache", "smoothquant", "rotate"].some((f) => p.values[f] !== undefined)) {
    check(!p.values["like-llama-cpp"], "BAD_ARGUMENT", "--like-llama-cpp rounds as llama.cpp's own engine does: it does not combine with --activations/--kv-cache/--smoothquant/--rotate");
    const { runEngine } = await import("./eval-engine.js");
    return runEngine(p);
  }
  check(!p.values["like-llama-cpp"] || p.values.base !== undefined || p.values["save-base"] !== undefined || p.values["base-logits"] !== undefined,
    "BAD_ARGUMENT", "--like-llama-cpp applies to KL divergence: give --base (or --save-base / --base-logits)");
  if (p.values.base !== undefined || p.values["save-base"] !== undefined || p.values["base-logits"] !== undefined) {
    const { runKld } = await import("./eval-kld.js");
    return runKld(p);
  }
  const modelPath = str(p, "model"), textPath = str(p, "text");
  check(modelPath, "BAD_ARGUMENT", "--model is required: the model file to evaluate");
  check(textPath, "BAD_ARGUMENT", "--text is required: the text file to score");
  checkInput("--model", modelPath, { folderOk: true });
  const text = readText("--text", textPath);
  const maxTokens = p.values["max-tokens"] === undefined ? undefined : num("max-tokens", str(p, "max-tokens"));
  check(maxTokens === undefined || (Number.isInteger(maxTokens) && maxTokens >= 1), "BAD_ARGUMENT", `--max-tokens must be a whole number of tokens, at least 1, got ${maxTokens}`);
  const { openModelSource } = await import("../../model/formats/source.js");
  const { sourceLayers } = await import("../../model/runtime/layer-source.js");
  const { perplexityLayerMajor } = await import("../../model/runtime/layer-major.js");
  const t0 = performance.now();
  const window = p.values.window === undefined ? undefined : num("window", str(p, "window"));
  const source = await openModelSource(modelPath);
  try {
    const { config, tokenizer, label } = source.llama();
    check(tokenizer, "BAD_ARGUMENT", `${modelPath} has no tokenizer: give a GGUF with a vocabulary, a Hugging Face folder with tokenizer.json, or tokenizer.bin beside a llama2.c model`);
    const ids = tokenizer.encode(text);
    // the estimate from the header, before a weight is read
    const { checkFits, describeEstimate, estimateEval, memoryBudget } = await import("../../model/formats/memory.js");
    const tied = !source.tensors.some((t) => t.name === "output.weight");
    const positions = Math.min(window ?? config.contextLength, config.contextLength, maxTokens === undefined ? Infinity : maxTokens + 1);
    const budget = memoryBudget(str(p, "max-memory"));
    const e = estimateEval(config, tied, positions, Math.min(ids.length, maxTokens ?? Infinity));
    checkFits(e, budget, "use a smaller --window or fewer --max-tokens, or raise --max-memory if the estimate is too cautious");
    console.error(`memory: ${describeEstimate(e, budget)}`);
    // layer-major: every window's hidden states are kept and the model is read one layer at a time, so
    // memory holds one layer, not the model (progress: "perplexity layers" on stderr, with an ETA)
    const r = await perplexityLayerMajor(await sourceLayers(source), tokenizer.bos, ids, { maxTokens, window, backend: str(p, "backend") });
    check(r.tokens > 0, "BAD_ARGUMENT", `${textPath} gives no tokens to score (window ${r.window}): give a longer text`);
    finite(r.perplexity, `the perplexity of ${modelPath} on ${textPath}`, "the model's logits are not finite numbers (a corrupt or overflowing model): check its weights with 'quantlab gguf inspect'");
    const seconds = (performance.now() - t0) / 1000;
    if (p.values.json) printJson({ ...r.toJSON(), seconds });
    else console.log(`${label}: perplexity ${r.perplexity.toFixed(4)} over ${r.tokens} tokens (${r.windows} windows of ${r.window}, ${seconds.toFixed(1)} s)`);
  } finally {
    await source.close();
  }
  return 0;
}
