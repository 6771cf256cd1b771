/**
 * The final outputs of a layer-major quantization, assembled from its work folder (work-dir.ts) and the
 * original checkpoint: a GGUF streamed tensor by tensor — the embedding, norms and biases read from the
 * checkpoint, each layer's linears from its file in the work folder — so memory holds one tensor; or,
 * for the writers that need the whole quantized model at once (AWQ's folding into GGUF, the Hugging Face
 * layouts, safetensors), the `QuantizedModel` rebuilt from the same two places.
 */
import { writeGgufStream } from "../../gguf/file.js";
import { ggufType, type GgufTypeName } from "../../gguf/types.js";
import { llamaGgufMetadata } from "../formats/gguf.js";
import type { Tokenizer } from "../formats/tokenizer.js";
import type { LinearName, LlamaConfig, LlamaLayer, LlamaModel } from "../llama.js";
import { linearShapes, type LayerSource } from "../runtime/layer-source.js";
import { llamaGgufSlots } from "./export.js";
import type { WorkDir } from "./work-dir.js";
import { QuantizedModel, type LayerError, type QuantizedLinear } from "./workflow.js";

/** The checkpoint's tensors by GGUF name in FP32 (q/k rows interleaved), as `llamaTensorReader` reads them. */
export interface TensorReader {
  config: LlamaConfig;
  names: ReadonlySet<string>;
  read(name: string): Promise<Float32Array>;
}

export interface StoredRow {
  tensor: string;
  type: string;
  lossless: boolean;
  reason?: string;
}

const f32Bytes = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);

/**
 * Writes the quantized model as GGUF v3 (atomically) by streaming: byte for byte what `writeQuantizedGguf`
 * writes for the same model, for methods whose linears store without folding (all but AWQ).
 */
export async function writeGgufFromWork(work: WorkDir, reader: TensorReader, tokenizer: Tokenizer | null, name: string, out: string): Promise<StoredRow[]> {
  const c = reader.config;
  const shapes = linearShapes(c);
  const slots = llamaGgufSlots(c, {
    output: reader.names.has("output.weight"),
    bias: (i, n) => (reader.names.has(`blk.${i}.${n}.bias`) ? shapes[n][0] : undefined),
  });
  // the types go in the header: each layer's stored linears are read once for it (types only kept)
  const types = new Map<string, { type: string; lossless: boolean; format: string }>();
  for (let i = 0; i < c.nLayers; i++) for (const [n, s] of await work.storedLayer(i)) types.set(`blk.${i}.${n}.weight`, { type: s.type, lossless: s.lossless, format: s.format });
  const meta = llamaGgufMetadata(c, name, tokenizer);
  if ([...types.values()].some((t) => ggufType(t.type)!.blockSize > 1)) meta.set("general.quantization_version", { type: "UINT32", value: 2 });
  const headers = slots.map((s) => ({ name: s.name, dims: s.dims, type: (types.get(s.name)?.type ?? "F32") as GgufTypeName }));
  let cached: { layer: number; tensors: Map<LinearName, { bytes: Uint8Array }> } | null = null;
  await writeGgufStream(out, { metadata: meta, tensors: headers }, async (i) => {
    const s = slots[i]!;
    if (s.linear && types.has(s.name)) {
      if (cached?.layer !== s.linear.layer) cached = { layer: s.linear.layer, tensors: await work.storedLayer(s.linear.layer) };
      return cached.tensors.get(s.linear.name)!.bytes;
    }
    return f32Bytes(s.name === "rope_freqs.weight" ? c.ropeFreqFactors! : await reader.read(s.name));
  });
  return [...types].map(([tensor, t]) => ({ tensor, type: t.type, lossless: t.lossless, ...(t.lossless ? {} : { reason: `no GGUF type holds its ${t.format} grid as it is` }) }));
}

/** The whole quantized model in memory, from the work folder and the checkpoint (for writers that need it all). */
export async function quantizedModelFromWork(work: WorkDir, layers: LayerSource, reader: TensorReader, tokenizer: Tokenizer | null, label: string,
  errors: LayerError[], seconds: number): Promise<QuantizedModel> {
  const c = layers.config;
  const linears = new Map<string, QuantizedLinear>();
  const ls: LlamaLayer[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    const l = await layers.layer(i);
    for (const [n, q] of await work.readLayer(i)) {
      l[n] = q.weight;
      linears.set(`blk.${i}.${n}.weight`, q);
    }
    ls.push(l);
  }
  const { outputNorm } = await layers.head();
  const mat = async (name: string) => ({ rows: c.vocabSize, cols: c.dim, data: await reader.read(name) });
  const model: LlamaModel = {
    config: c, tokenEmbedding: await mat("token_embd.weight"), layers: ls, outputNorm,
    output: reader.names.has("output.weight") ? await mat("output.weight") : null, tokenizer, source: label,
  };
  return new QuantizedModel(model, linears, errors, seconds);
}
