import { parse, num, str, printJson } from "../args.js";
import { kvCache, bytesText, MODEL_PRESETS, type KvDtype } from "../../numerics/memory.js";

export const summary = "KV-cache bytes of a model at a context length, batch and element type";

const USAGE = `usage: quantlab kv --model ${Object.keys(MODEL_PRESETS).join("|")} --context 4096 [--batch 1]
                   [--dtype fp16|bf16|fp8|int8|int4|fp32] [--json]
       quantlab kv --layers 32 --kv-heads 8 --head-dim 128 --context 4096 …   (your own model)
  --json prints {"bytes","bytesPerToken","model","context","batch","dtype"}.`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("kv", argv, {
    model: { type: "string" }, context: { type: "string" }, batch: { type: "string" }, dtype: { type: "string" },
    layers: { type: "string" }, "kv-heads": { type: "string" }, "head-dim": { type: "string" }, json: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const model = str(p, "model");
  const cfg = model ?? {
    name: "custom", layers: num("layers", str(p, "layers")), kvHeads: num("kv-heads", str(p, "kv-heads")), headDim: num("head-dim", str(p, "head-dim")),
  };
  const kv = kvCache(cfg, {
    context: num("context", str(p, "context")), batch: num("batch", str(p, "batch"), 1), dtype: (str(p, "dtype") ?? "fp16") as KvDtype,
  });
  if (p.values.json) printJson({ bytes: kv.bytes, bytesPerToken: kv.bytesPerToken, model: kv.model, context: kv.context, batch: kv.batch, dtype: kv.dtype });
  else console.log(`${kv.model}, ${kv.context} tokens × batch ${kv.batch} in ${kv.dtype}: ${bytesText(kv.bytes)} (${bytesText(kv.bytesPerToken)} per token)`);
  return 0;
}
