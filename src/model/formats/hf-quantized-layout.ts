/**
 * The two integer layouts Hugging Face serving stacks load, as pure pack/unpack functions over typed
 * arrays. Both describe one linear y = x·Wᵀ with W (out × in) given per weight by an integer code, and per
 * (group, output) by a float16 scale and an integer zero point: w = scale · (code − zero).
 *
 * GPTQ, `checkpoint_format: "gptq"` (AutoGPTQ's v1, what transformers, vLLM and SGLang load):
 *   qweight int32 [in·bits/32, out] — codes packed along the input dimension, as one little-endian bit
 *           stream per output column (word k holds bits 32k … 32k+31), so 3-bit codes straddle words;
 *   qzeros  int32 [groups, out·bits/32] — zero points packed the same way along the output dimension,
 *           each stored as zero − 1 (the v1 convention: readers add 1 back, so zero 0 cannot be stored);
 *   scales  float16 [groups, out];  g_idx int32 [in] — the group of each input column (act-order).
 * AWQ, AutoAWQ's GEMM version (4-bit):
 *   qweight int32 [in, out/8] and qzeros int32 [groups, out/8] — eight 4-bit values per word along the
 *           output dimension, nibble i holding column 8·word + [0, 2, 4, 6, 1, 3, 5, 7][i];
 *   scales  float16 [groups, out]; zero points stored as they are; groups are contiguous runs of the input.
 */
import { check, QuantLabError } from "../../errors.js";

/** One linear in integer form, in Hugging Face orientation (rows = output features, half-split q/k rows). */
export interface HfIntLinear {
  bits: number;
  groupSize: number;
  out: number;
  in: number;
  /** out × in codes, 0 … 2^bits − 1. */
  codes: Uint8Array;
  /** groups × out zero points (the true zero, not GPTQ's stored zero − 1). */
  zeros: Int32Array;
  /** groups × out scales, each exactly a float16 value. */
  scales: Float32Array;
  /** The group of each input column; null for contiguous groups (AWQ). */
  gIdx: Int32Array | null;
}

export const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7] as const;

/** Groups of a linear: ⌈in / groupSize⌉. */
export const groupCount = (inF: number, groupSize: number): number => Math.ceil(inF / groupSize);

/**
 * Why an `out` × `inF` linear cannot be stored in GPTQ's layout at `bits` with `groupSize`, or null: codes
 * pack along the inputs and zero points along the outputs, both in whole words (3 bits: 32 values in 3).
 */
export function gptqUnpackable(out: number, inF: number, bits: number, groupSize: number): string | null {
  if (![2, 3, 4, 8].includes(bits)) return `GPTQ checkpoints hold 2, 3, 4 or 8 bits, not ${bits}`;
  const unit = bits === 3 ? 32 : 32 / bits;
  if (inF % unit !== 0) return `its ${inF} inputs do not pack into 32-bit words at ${bits} bits (a multiple of ${unit} is needed)`;
  if (out % unit !== 0) return `its ${out} outputs do not pack its zero points into 32-bit words at ${bits} bits (a multiple of ${unit} is needed)`;
  if (inF % groupSize !== 0) return `its ${inF} inputs are not a whole number of groups of ${groupSize}`;
  return null;
}

/** Why a linear of `out` × `inF` cannot be stored in AutoAWQ's GEMM layout with `groupSize`, or null. */
export function awqUnpackable(out: number, inF: number, bits: number, groupSize: number): string | null {
  if (bits !== 4) return `AutoAWQ's GEMM layout holds 4-bit codes, not ${bits}`;
  if (out % 8 !== 0) return `its ${out} outputs do not pack eight to a 32-bit word`;
  if (inF % groupSize !== 0) return `its ${inF} inputs are not a whole number of groups of ${groupSize}`;
  return null;
}

/**
 * Packs `n` values of each of `lanes` streams: value k of lane j is `value(k, j)`, and lands at bit k·bits
 * of that lane's stream; word w of lane j is out[w·lanes + j].
 */
function packStreams(n: number, lanes: number, bits: number, value: (k: number, j: number) => number): Int32Array {
  check((n * bits) % 32 === 0, "BAD_SHAPE", `${n} values of ${bits} bits do not fill whole 32-bit words`);
  const out = new Int32Array((n * bits / 32) * lanes);
  const mask = (1 << bits) - 1;
  for (let k = 0; k < n; k++) {
    const pos = k * bits, w = pos >>> 5, sh = pos & 31;
    for (let j = 0; j < lanes; j++) {
      const v = value(k, j);
      if (!(v >= 0 && v <= mask && Number.isInteger(v))) throw new QuantLabError("BAD_VALUE", `value ${v} does not fit ${bits} unsigned bits: codes and zero points must lie in 0 … ${mask}`);
      out[w * lanes + j] |= v << sh;
      if (sh + bits > 32) out[(w + 1) * lanes + j] |= v >>> (32 - sh);
    }
  }
  return out;
}

function unpackStream(words: Int32Array, lanes: number, bits: number, k: number, j: number): number {
  const pos = k * bits, w = pos >>> 5, sh = pos & 31, mask = (1 << bits) - 1;
  let v = words[w * lanes + j]! >>> sh;
  if (sh + bits > 32) v |= words[(w + 1) * lanes + j]! << (32 - sh);
  return v & mask;
}

export interface GptqTensors {
  qweight: Int32Array;
  qzeros: Int32Array;
  scales: Float32Array;
  gIdx: Int32Array;
}

/** The default g_idx: column i in group ⌊i / groupSize⌋. */
export function contiguousGIdx(inF: number, groupSize: number): Int32Array {
  return Int32Array.from({ length: inF }, (_, i) => Math.floor(i / groupSize));
}

export function packGptq(l: HfIntLinear): GptqTensors {
  const why = gptqUnpackable(l.out, l.in, l.bits, l.groupSize);
  check(why === null, "BAD_SHAPE", `cannot pack a ${l.out} × ${l.in} linear as GPTQ: ${why}`);
  const G = groupCount(l.in, l.groupSize);
  check(l.zeros.every((z) => z >= 1 && z <= 1 << l.bits), "BAD_VALUE",
    `a zero point is outside 1 … ${1 << l.bits}: GPTQ's v1 layout stores zero − 1 in ${l.bits} bits, so zero 0 has no encoding`);
  const qweight = packStreams(l.in, l.out, l.bits, (i, o) => l.codes[o * l.in + i]!);
  // one stream per group along the outputs, stored group-major: [groups, out·bits/32]
  const zw = packStreams(l.out, G, l.bits, (o, g) => l.zeros[g * l.out + o]! - 1), per = zw.length / G;
  const qzeros = new Int32Array(zw.length);
  for (let w = 0; w < per; w++) for (let g = 0; g < G; g++) qzeros[g * per + w] = zw[w * G + g]!;
  return { qweight, qzeros, scales: l.scales, gIdx: l.gIdx ?? contiguousGIdx(l.in, l.groupSize) };
}

export function unpackGptq(t: GptqTensors, out: number, inF: number, bits: number, groupSize: number): HfIntLinear {
  const G = t.scales.length / out;
  check(Number.isInteger(G) && t.qweight.length === (inF * bits / 32) * out && t.qzeros.length === G * (out * bits / 32) && t.gIdx.length === inF,
    "BAD_FILE", `GPTQ tensors of a ${out} × ${inF} linear at ${bits} bits have the wrong sizes (qweight ${t.qweight.length}, qzeros ${t.qzeros.length}, scales ${t.scales.length}, g_idx ${t.gIdx.length})`);
  const codes = new Uint8Array(out * inF);
  for (let i = 0; i < inF; i++) for (let o = 0; o < out; o++) codes[o * inF + i] = unpackStream(t.qweight, out, bits, i, o);
  const per = t.qzeros.length / G, zw = new Int32Array(t.qzeros.length);
  for (let w = 0; w < per; w++) for (let g = 0; g < G; g++) zw[w * G + g] = t.qzeros[g * per + w]!;
  const zeros = new Int32Array(G * out);
  for (let g = 0; g < G; g++) for (let o = 0; o < out; o++) zeros[g * out + o] = unpackStream(zw, G, bits, o, g) + 1;
  const bad = t.gIdx.find((g) => !(g >= 0 && g < G));
  check(bad === undefined, "BAD_FILE", () => `g_idx holds group ${bad}, the scales have ${G} groups: the checkpoint is corrupt`);
  return { bits, groupSize, out, in: inF, codes, zeros, scales: t.scales, gIdx: t.gIdx };
}

/** Packs an out-major grid of `rows` × `cols` 4-bit values in AWQ's interleaved word order. */
function packAwqRows(rows: number, cols: number, value: (r: number, c: number) => number): Int32Array {
  const words = cols / 8, out = new Int32Array(rows * words);
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < words; w++) {
      let x = 0;
      for (let i = 0; i < 8; i++) {
        const v = value(r, w * 8 + AWQ_ORDER[i]!);
        if (!(v >= 0 && v <= 15 && Number.isInteger(v))) throw new QuantLabError("BAD_VALUE", `value ${v} does not fit 4 unsigned bits: AWQ codes and zero points must lie in 0 … 15`);
        x |= v << (4 * i);
      }
      out[r * words + w] = x;
    }
  }
  return out;
}

function unpackAwqRows(words: Int32Array, rows: number, cols: number, put: (r: number, c: number, v: number) => void): void {
  const per = cols / 8;
  for (let r = 0; r < rows; r++) {
    for (let w = 0; w < per; w++) {
      const x = words[r * per + w]!;
      for (let i = 0; i < 8; i++) put(r, w * 8 + AWQ_ORDER[i]!, (x >>> (4 * i)) & 15);
    }
  }
}

export interface AwqTensors {
  qweight: Int32Array;
  qzeros: Int32Array;
  scales: Float32Array;
}

export function packAwq(l: HfIntLinear): AwqTensors {
  const why = awqUnpackable(l.out, l.in, l.bits, l.groupSize);
  check(why === null, "BAD_SHAPE", `cannot pack a ${l.out} × ${l.in} linear as AWQ GEMM: ${why}`);
  check(l.gIdx === null, "UNSUPPORTED", "AutoAWQ's GEMM layout has no g_idx: its groups are contiguous runs of the input");
  const G = groupCount(l.in, l.groupSize);
  return {
    qweight: packAwqRows(l.in, l.out, (i, o) => l.codes[o * l.in + i]!),
    qzeros: packAwqRows(G, l.out, (g, o) => l.zeros[g * l.out + o]!),
    scales: l.scales,
  };
}

export function unpackAwq(t: AwqTensors, out: number, inF: number, groupSize: number): HfIntLinear {
  const G = groupCount(inF, groupSize);
  check(t.qweight.length === inF * out / 8 && t.qzeros.length === G * out / 8 && t.scales.length === G * out, "BAD_FILE",
    `AWQ tensors of a ${out} × ${inF} linear with groups of ${groupSize} have the wrong sizes (qweight ${t.qweight.length}, qzeros ${t.qzeros.length}, scales ${t.scales.length})`);
  const codes = new Uint8Array(out * inF), zeros = new Int32Array(G * out);
  unpackAwqRows(t.qweight, inF, out, (i, o, v) => { codes[o * inF + i] = v; });
  unpackAwqRows(t.qzeros, G, out, (g, o, v) => { zeros[g * out + o] = v; });
  return { bits: 4, groupSize, out, in: inF, codes, zeros, scales: t.scales, gIdx: null };
}

/** w[o, i] = scale · (code − zero) of the column's group: the out × in float weight the layouts describe. */
export function dequantizeHfInt(l: HfIntLinear): Float32Array {
  const w = new Float32Array(l.out * l.in);
  for (let o = 0; o < l.out; o++) {
    for (let i = 0; i < l.in; i++) {
      const g = l.gIdx ? l.gIdx[i]! : Math.floor(i / l.groupSize);
      w[o * l.in + i] = l.scales[g * l.out + o]! * (l.codes[o * l.in + i]! - l.zeros[g * l.out + o]!);
    }
  }
  return w;
}
