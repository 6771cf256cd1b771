/**
 * Reads Hugging Face GPTQ (`checkpoint_format: "gptq"`) and AWQ (AutoAWQ GEMM) checkpoint folders: the
 * config's `quantization_config` says which layout the linears use (hf-quantized-layout.ts); each linear
 * with `qweight` is unpacked into its codes, zero points, scales and g_idx, every other tensor is kept as
 * stored. From that one in-memory checkpoint come the listing, the dequantized Llama model (q/k rows
 * permuted from rotate-half to interleaved pairs, as for any Hugging Face checkpoint) and a tensor source
 * for `loadModel`. The checkpoint is also what the writers take: tensors keep their header order and the
 * config its key order, so reading a single-file checkpoint and writing it back gives the same bytes
 * (a sharded one comes back as one file). The whole checkpoint is read into memory: fine for the models
 * QuantLab quantizes on a laptop, not yet streamed like the float loaders.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { check, QuantLabError } from "../../errors.js";
import { ggmlType } from "../../gguf/types.js";
import { openSafetensors, type SafetensorsFile } from "../../io/safetensors.js";
import { DTYPE_BYTES, numel, type DType, type Tensor } from "../../io/tensor.js";
import { LINEAR_NAMES, type LinearName, type LlamaModel } from "../llama.js";
import { HF_NAMES, hfConfig, modelFromHf, type HfConfig } from "./hf.js";
import { llamaGgufMetadata } from "./gguf.js";
import { awqUnpackable, dequantizeHfInt, gptqUnpackable, unpackAwq, unpackGptq, type HfIntLinear } from "./hf-quantized-layout.js";
import type { ModelSource } from "../llama.js";
import { decodeSentencePiece } from "./sentencepiece.js";

export type HfQuantMethod = "gptq" | "awq";

/** A tensor as the checkpoint's safetensors header gives it. */
export interface HfStoredTensor {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: number;
}

/**
 * One stored tensor group: an integer linear (by module name) or a dense tensor (by tensor name). A
 * linear read from a folder also carries its stored tensors (qweight, qzeros, scales, g_idx) as the
 * header gives them, for the listing; the writers do not need them.
 */
export type HfEntry = { module: string; linear: HfIntLinear; stored?: HfStoredTensor[] } | { name: string; tensor: Tensor };

/** A quantized Hugging Face checkpoint in memory, in file order. */
export interface HfQuantizedCheckpoint {
  method: HfQuantMethod;
  /** config.json, with its quantization_config. */
  config: HfConfig & { quantization_config: Record<string, unknown> } & Record<string, unknown>;
  /** Every other file of the folder (quantize_config.json, tokenizer files …), verbatim by name. */
  files: Map<string, Uint8Array>;
  entries: HfEntry[];
  /** The safetensors `__metadata__`. */
  metadata: Record<string, string>;
}

export const WEIGHTS_FILE = "model.safetensors";
const INDEX_FILE = "model.safetensors.index.json";

interface QuantInfo {
  method: HfQuantMethod;
  bits: number;
  groupSize: number;
}

function quantInfo(q: Record<string, unknown>, where: string): QuantInfo {
  const method = String(q.quant_method ?? "").toLowerCase();
  check(method === "gptq" || method === "awq", "UNSUPPORTED",
    `${where} has quant_method '${method}': QuantLab reads 'gptq' and 'awq' checkpoints`);
  const bits = Number(q.bits ?? q.w_bit), groupSize = Number(q.group_size ?? q.q_group_size);
  check(Number.isInteger(bits) && Number.isInteger(groupSize) && (groupSize > 0 || groupSize === -1), "BAD_FILE",
    `${where} needs integer 'bits' and a positive 'group_size' (or -1: one group per row) in its quantization_config (got ${q.bits}, ${q.group_size})`);
  if (method === "gptq") {
    const fmt = q.checkpoint_format ?? "gptq";
    check(fmt === "gptq", "UNSUPPORTED", `${where} has checkpoint_format '${String(fmt)}': QuantLab reads the v1 'gptq' layout`);
  } else {
    const version = String(q.version ?? "gemm").toLowerCase();
    check(version === "gemm", "UNSUPPORTED", `${where} has AWQ version '${version}': QuantLab reads AutoAWQ's 'gemm' layout`);
    check(q.zero_point !== false, "UNSUPPORTED", `${where} has zero_point false: QuantLab reads AWQ GEMM with zero points`);
  }
  return { method, bits, groupSize };
}

/** Whether `path` is a folder whose config.json declares a GPTQ or AWQ quantization_config. */
export function isHfQuantizedDir(path: string): boolean {
  if (!existsSync(path) || !statSync(path).isDirectory()) return false;
  const cfg = join(path, "config.json");
  if (!existsSync(cfg)) return false;
  try {
    const c = JSON.parse(readFileSync(cfg, "utf8")) as { quantization_config?: { quant_method?: string } };
    const m = String(c?.quantization_config?.quant_method ?? "").toLowerCase();
    return m === "gptq" || m === "awq";
  } catch {
    return false;
  }
}

/**
 * Reads a GPTQ or AWQ checkpoint folder (config.json + model.safetensors) into memory.
 * @example
 * ```ts
 * const ck = await readHfQuantized("out/stories-gptq");
 * ck.config.quantization_config.bits   // 4
 * ```
 */
export async function readHfQuantized(dir: string): Promise<HfQuantizedCheckpoint> {
  const cfgPath = join(dir, "config.json");
  check(existsSync(cfgPath), "NOT_FOUND", `${dir} has no config.json: give the folder of a Hugging Face GPTQ or AWQ checkpoint`);
  let config: HfQuantizedCheckpoint["config"];
  try {
    config = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (e) {
    throw new QuantLabError("BAD_FILE", `${cfgPath} is not valid JSON (${(e as Error).message}): the checkpoint's config is corrupt`);
  }
  const qc = config?.quantization_config;
  check(qc && typeof qc === "object", "BAD_FILE", `${cfgPath} has no quantization_config: ${dir} is not a quantized checkpoint (load it with loadModel)`);
  const info = quantInfo(qc, cfgPath);
  const single = join(dir, WEIGHTS_FILE), index = join(dir, INDEX_FILE);
  let shardNames: string[];
  if (existsSync(single)) shardNames = [WEIGHTS_FILE];
  else {
    check(existsSync(index), "NOT_FOUND", `${dir} has neither ${WEIGHTS_FILE} nor ${INDEX_FILE}: the checkpoint's weights are missing`);
    let wm: unknown;
    try {
      wm = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new QuantLabError("BAD_FILE", `${index} is not valid JSON (${(e as Error).message}): the shard index is corrupt`);
    }
    check(wm && typeof wm === "object" && !Array.isArray(wm), "BAD_FILE", `${index} has no 'weight_map' object: it is not a safetensors shard index`);
    shardNames = [...new Set(Object.values(wm as Record<string, string>))];
  }
  const files = new Map<string, Uint8Array>();
  for (const f of readdirSync(dir).sort()) {
    if (f === "config.json" || shardNames.includes(f) || f.startsWith(".") || !statSync(join(dir, f)).isFile()) continue;
    files.set(f, new Uint8Array(readFileSync(join(dir, f))));
  }
  const shards: SafetensorsFile[] = [];
  try {
    for (const f of shardNames) shards.push(await openSafetensors(join(dir, f)));
    const where = new Map<string, SafetensorsFile>();
    for (const st of shards) for (const name of st.entries.keys()) where.set(name, st);
    const entries: HfEntry[] = [];
    const seen = new Set<string>();
    const get = async (name: string) => {
      const st = where.get(name);
      check(st, "BAD_FILE", `${dir} has no tensor '${name}', which a ${info.method.toUpperCase()} linear needs`);
      seen.add(name);
      return st.tensor(name);
    };
    const suffix = /\.(qweight|qzeros|scales|g_idx)$/;
    for (const name of where.keys()) {
      if (seen.has(name)) continue;
      const m = suffix.exec(name);
      if (!m) {
        const tensor = await get(name);
        if (name.endsWith(".bias")) {
          // quantizers write zero biases for bias-free Llama linears; a real bias would change the model
          check(tensor.data instanceof Float32Array && tensor.data.every((v) => v === 0), "UNSUPPORTED",
            `${dir} holds a non-zero '${name}': QuantLab's Llama layers have no biases, so this model cannot be read without losing them`);
        }
        entries.push({ name, tensor });
        continue;
      }
      const module = name.slice(0, -m[0].length);
      const stored = ["qweight", "qzeros", "scales", "g_idx"].map((k) => `${module}.${k}`).filter((n) => where.has(n)).map((n): HfStoredTensor => {
        const e = where.get(n)!.entries.get(n)!;
        return { name: n, dtype: e.dtype, shape: [...e.shape], bytes: e.nbytes };
      });
      const qweight = (await get(`${module}.qweight`)).data as Int32Array;
      const qzeros = (await get(`${module}.qzeros`)).data as Int32Array;
      const scalesT = await get(`${module}.scales`);
      const scales = scalesT.data as Float32Array;
      const out = scalesT.shape[1]!;
      if (info.method === "gptq") {
        const gIdxT = await get(`${module}.g_idx`);
        const inF = gIdxT.shape[0]!;
        // group_size −1: one group spanning the whole row
        const gs = info.groupSize > 0 ? info.groupSize : inF;
        entries.push({ module, linear: unpackGptq({ qweight, qzeros, scales, gIdx: gIdxT.data as Int32Array }, out, inF, info.bits, gs), stored });
      } else {
        const inF = where.get(`${module}.qweight`)!.entries.get(`${module}.qweight`)!.shape[0]!;
        entries.push({ module, linear: unpackAwq({ qweight, qzeros, scales }, out, inF, info.groupSize > 0 ? info.groupSize : inF), stored });
      }
    }
    return { method: info.method, config, files, entries, metadata: shards[0]?.metadata ?? {} };
  } finally {
    for (const st of shards) await st.close();
  }
}

/** One row of a checkpoint's listing: an integer linear, or a tensor as stored (a float16 Llama linear is marked skipped). */
export interface HfListingRow {
  /** The module for an integer linear ("model.layers.0.self_attn.q_proj"), the tensor name otherwise. */
  name: string;
  /** "GPTQ int4 g32", "GPTQ int4 g128 act-order", "AWQ int4 g32", or the stored dtype ("F16"). */
  stored: string;
  /** out × in for linears; the tensor's shape otherwise. */
  shape: number[];
  /** Integer linears: the method, bits, group size, whether g_idx permutes the groups (desc_act), and the zero point. */
  method?: HfQuantMethod;
  bits?: number;
  groupSize?: number;
  actOrder?: boolean;
  /** "asymmetric": a zero point per group; "symmetric": GPTQ's sym, the zero fixed at 2^(bits−1). */
  zeroPoint?: "asymmetric" | "symmetric";
  /** What the header stores: qweight, qzeros, scales, g_idx for a linear; the tensor itself otherwise. */
  tensors: HfStoredTensor[];
  bytes: number;
  /** Stored bits per weight: bytes · 8 / (out · in) for a linear, the dtype's width otherwise. */
  bitsPerWeight: number;
  /** A Llama linear kept in float16: what in quantization_config says so and, when the layout cannot hold it, why. */
  skipped?: string;
}

const LLAMA_LINEAR = /^(model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj))\.weight$/;

/**
 * What a checkpoint read by readHfQuantized holds, linear by linear, as `quantlab gguf inspect` lists a
 * GGUF file (`quantlab hf inspect` prints it).
 */
export function hfQuantizedListing(ck: HfQuantizedCheckpoint): HfListingRow[] {
  const q = ck.config.quantization_config;
  const zeroPoint = ck.method === "gptq" && q.sym === true ? "symmetric" : "asymmetric";
  return ck.entries.map((e): HfListingRow => {
    if ("module" in e) {
      const l = e.linear;
      check(e.stored, "BAD_ARGUMENT", `${e.module} carries no stored tensors: list a checkpoint read from its folder (readHfQuantized)`);
      const bytes = e.stored.reduce((a, t) => a + t.bytes, 0);
      const actOrder = !isContiguous(l);
      return {
        name: e.module, stored: `${ck.method.toUpperCase()} int${l.bits} g${l.groupSize}${actOrder ? " act-order" : ""}`, shape: [l.out, l.in],
        method: ck.method, bits: l.bits, groupSize: l.groupSize, actOrder, zeroPoint,
        tensors: e.stored, bytes, bitsPerWeight: (bytes * 8) / (l.out * l.in),
      };
    }
    const t = e.tensor, bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    const row: HfListingRow = { name: e.name, stored: t.dtype, shape: t.shape, tensors: [{ name: e.name, dtype: t.dtype, shape: t.shape, bytes }], bytes, bitsPerWeight: DTYPE_BYTES[t.dtype] * 8 };
    const m = LLAMA_LINEAR.exec(e.name);
    if (m && t.shape.length === 2) row.skipped = skippedReason(ck, m[1]!, t.shape[0]!, t.shape[1]!);
    return row;
  });
}

/** Why the float linear `module` (out × in) was left unquantized, from the config's own lists and the layout's constraints. */
function skippedReason(ck: HfQuantizedCheckpoint, module: string, out: number, inF: number): string {
  const q = ck.config.quantization_config;
  let said: string;
  if (ck.method === "gptq") {
    const dyn = Object.keys((q.dynamic ?? {}) as Record<string, unknown>).find((k) => {
      if (!k.startsWith("-:")) return false;
      try { return new RegExp(k.slice(2)).test(module); } catch { return false; }
    });
    const inBlock = q.modules_in_block_to_quantize as string[][] | undefined;
    said = dyn ? `quantization_config.dynamic excludes it ('${dyn}')`
      : inBlock && !inBlock.flat().some((n) => module.endsWith(`.${n}`)) ? "not in quantization_config.modules_in_block_to_quantize"
      : "stored float16, though quantization_config does not exclude it";
  } else {
    const not = (q.modules_to_not_convert ?? []) as string[];
    said = not.some((n) => module.includes(n)) ? "in quantization_config.modules_to_not_convert" : "stored float16, though quantization_config does not exclude it";
  }
  const bits = Number(q.bits ?? q.w_bit), gs = Number(q.group_size ?? q.q_group_size);
  const group = gs > 0 ? gs : inF;
  const layout = ck.method === "gptq" ? gptqUnpackable(out, inF, bits, group) : awqUnpackable(out, inF, bits, group);
  return layout ? `${said}: ${layout}` : said;
}

function isContiguous(l: HfIntLinear): boolean {
  return !l.gIdx || l.gIdx.every((g, i) => g === Math.floor(i / l.groupSize));
}

/** The checkpoint's float weights by Hugging Face tensor name (linears dequantized, shapes out × in). */
export function hfQuantizedWeights(ck: HfQuantizedCheckpoint): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of ck.entries) {
    if ("module" in e) out.set(`${e.module}.weight`, { shape: [e.linear.out, e.linear.in], data: dequantizeHfInt(e.linear) });
    // integer buffers some writers keep (rotary inv_freq as ints, step counters) are not weights
    else if (e.tensor.data instanceof Float32Array) out.set(e.name, { shape: e.tensor.shape, data: e.tensor.data });
  }
  return out;
}

/**
 * The Llama model a quantized checkpoint computes: dequantized weights, q/k rows in interleaved order,
 * and the tokenizer when the folder has a SentencePiece tokenizer.model.
 */
export function hfQuantizedModel(ck: HfQuantizedCheckpoint, label: string): LlamaModel {
  const w = hfQuantizedWeights(ck);
  const m = modelFromHf(ck.config, (n) => w.get(n), label);
  const sp = ck.files.get("tokenizer.model");
  return { ...m, tokenizer: sp ? decodeSentencePiece(sp) : null, source: `${label} (Hugging Face ${ck.method.toUpperCase()})` };
}

/** A quantized checkpoint as a tensor source under GGUF names, every tensor dequantized to F32. */
export async function openHfQuantizedSource(dir: string): Promise<ModelSource> {
  const ck = await readHfQuantized(dir);
  const model = hfQuantizedModel(ck, dir);
  const c = model.config;
  const F32 = ggmlType("F32")!;
  const values = new Map<string, { dims: number[]; data: Float32Array }>();
  values.set("token_embd.weight", { dims: [c.dim, c.vocabSize], data: model.tokenEmbedding.data });
  model.layers.forEach((l, i) => {
    values.set(`blk.${i}.attn_norm.weight`, { dims: [c.dim], data: l.attnNorm });
    for (const n of LINEAR_NAMES) values.set(`blk.${i}.${n}.weight`, { dims: [l[n].cols, l[n].rows], data: l[n].data });
    values.set(`blk.${i}.ffn_norm.weight`, { dims: [c.dim], data: l.ffnNorm });
  });
  values.set("output_norm.weight", { dims: [c.dim], data: model.outputNorm });
  if (model.output) values.set("output.weight", { dims: [c.dim, c.vocabSize], data: model.output.data });
  const label = `${dir} (Hugging Face ${ck.method.toUpperCase()})`;
  return {
    label, format: "Hugging Face", metadata: llamaGgufMetadata(c, label), alignment: 32,
    tensors: [...values].map(([name, v]) => ({ name, dims: v.dims, type: F32, nbytes: v.data.length * 4 })),
    read: async (name) => {
      const v = values.get(name);
      check(v, "NOT_FOUND", `${label} has no tensor '${name}' under its GGUF name`);
      return new Uint8Array(v.data.slice().buffer);
    },
    close: async () => {},
    llama: () => ({ config: hfConfig(ck.config), tokenizer: model.tokenizer, label }),
  };
}

/** The Hugging Face module name of a linear ("model.layers.3.mlp.down_proj"). */
export const hfModule = (layer: number, n: LinearName): string => `model.layers.${layer}.${HF_NAMES[n]}`;
