/**
 * The ggml type traits: one record per type, like ggml's `type_traits` table — id, name, block size,
 * bytes per block, bits per weight and, for the types QuantLab encodes, the block code (quantize with and
 * without an importance matrix, dequantize) and llama-quantize's fallback; for the types it only decodes
 * (the IQ1/IQ2/IQ3 lattice i-quants), the decoder. Every list, size and "use one of …" message elsewhere
 * is derived from this table. Ids and layouts follow ggml's `ggml-common.h`.
 *
 * Adding a type QuantLab encodes is one entry in CODED (below) plus its block code in blocks/ (a
 * `BlockCode`: layout and functions); a type it only decodes is one entry in DECODE_ONLY plus its
 * `BlockDecode`.
 */
import { BF16, F16, F32 } from "./blocks/float.js";
import { Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 } from "./blocks/legacy.js";
import { Q2_K } from "./blocks/q2_k.js";
import { Q3_K } from "./blocks/q3_k.js";
import { Q4_K, Q5_K } from "./blocks/q4_k.js";
import { Q6_K } from "./blocks/q6_k.js";
import { IQ4_NL, IQ4_XS } from "./blocks/iq4.js";
import { MXFP4, NVFP4 } from "./blocks/fp4.js";
import { TQ1_0, TQ2_0 } from "./blocks/ternary.js";
import { IQ1_M, IQ1_S } from "./blocks/iq1.js";
import { IQ2_S, IQ2_XS, IQ2_XXS } from "./blocks/iq2.js";
import { IQ3_S, IQ3_XXS } from "./blocks/iq3.js";
import type { BlockCode, BlockDecode, BlockDequantize, BlockQuantize, RowQuantizeImatrix } from "./blocks/common.js";

/** What every ggml type has: the reader needs it to size, validate and list tensors it may not decode. */
export interface GgmlType {
  readonly name: string;
  readonly id: number;
  /** Weights per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** typeSize · 8 / blockSize, e.g. Q4_K → 4.5. */
  readonly bitsPerWeight: number;
}

/** A type QuantLab dequantizes bit-exact with llama.cpp: every encodable type, and the decode-only i-quants. */
export interface DecodableType extends GgmlType {
  readonly name: DecodableTypeName;
  /** dequantize_row_<type>. */
  readonly dequantize: BlockDequantize;
  /** False for the types QuantLab decodes but does not encode (DECODE_ONLY). */
  readonly encodable: boolean;
}

/** A type QuantLab quantizes and dequantizes, bit-exact with llama.cpp. */
export interface GgufType extends DecodableType {
  readonly name: GgufTypeName;
  readonly encodable: true;
  /** What ggml_quantize_chunk does without an importance matrix (quantize_row_<type>_ref for most types), over whole blocks. */
  readonly quantize: BlockQuantize;
  /** What it does with one (quantize_row_<type>_impl), one row at a time; absent where ggml ignores an imatrix. */
  readonly quantizeImatrix?: RowQuantizeImatrix;
  /** Whether an importance matrix changes this type's bytes (llama.cpp ignores it for the others). */
  readonly usesImatrix: boolean;
  /**
   * What llama-quantize encodes instead when a row is not a multiple of the block (llama_tensor_get_type's
   * "incompatible tensor" switch); F16 when this does not fit either (see mix.ts fallbackType).
   */
  readonly fallback?: GgufTypeName;
}

interface Coded { id: number; code: BlockCode; fallback?: string }

/** The types QuantLab encodes: name → ggml id, block code, llama-quantize's fallback. */
const CODED = {
  F32: { id: 0, code: F32 },
  F16: { id: 1, code: F16 },
  Q4_0: { id: 2, code: Q4_0 },
  Q4_1: { id: 3, code: Q4_1 },
  Q5_0: { id: 6, code: Q5_0 },
  Q5_1: { id: 7, code: Q5_1 },
  Q8_0: { id: 8, code: Q8_0 },
  Q2_K: { id: 10, code: Q2_K, fallback: "Q4_0" },
  Q3_K: { id: 11, code: Q3_K, fallback: "Q4_0" },
  Q4_K: { id: 12, code: Q4_K, fallback: "Q5_0" },
  Q5_K: { id: 13, code: Q5_K, fallback: "Q5_1" },
  Q6_K: { id: 14, code: Q6_K, fallback: "Q8_0" },
  IQ4_NL: { id: 20, code: IQ4_NL },
  IQ4_XS: { id: 23, code: IQ4_XS, fallback: "IQ4_NL" },
  BF16: { id: 30, code: BF16 },
  TQ1_0: { id: 34, code: TQ1_0, fallback: "Q4_0" },
  TQ2_0: { id: 35, code: TQ2_0, fallback: "Q4_0" },
  MXFP4: { id: 39, code: MXFP4 },
  NVFP4: { id: 40, code: NVFP4 },
} satisfies Record<string, Coded>;

export type GgufTypeName = Extract<keyof typeof CODED, string>;

/**
 * The types QuantLab decodes but does not encode: the IQ1/IQ2/IQ3 lattice i-quants. Decoding needs only
 * ggml's grid tables (derived from ggml's own decoder into blocks/iq-grids.ts); llama.cpp's quantizers
 * for them search those lattices with neighbour maps built at init and importance weights, a search
 * QuantLab does not implement — so quantizing to them is refused (see decodeOnlyReason).
 */
const DECODE_ONLY = {
  IQ2_XXS: { id: 16, code: IQ2_XXS },
  IQ2_XS: { id: 17, code: IQ2_XS },
  IQ3_XXS: { id: 18, code: IQ3_XXS },
  IQ1_S: { id: 19, code: IQ1_S },
  IQ3_S: { id: 21, code: IQ3_S },
  IQ2_S: { id: 22, code: IQ2_S },
  IQ1_M: { id: 29, code: IQ1_M },
} satisfies Record<string, { id: number; code: BlockDecode }>;

export type DecodeOnlyTypeName = Extract<keyof typeof DECODE_ONLY, string>;
/** Every type QuantLab dequantizes. */
export type DecodableTypeName = GgufTypeName | DecodeOnlyTypeName;

/**
 * The types a GGUF file may hold that QuantLab neither encodes nor decodes (yet): the reader still needs
 * their layouts to validate offsets and to inspect such files. Ids whose types ggml removed (4, 5, 31–33,
 * 36–38) are absent, so a file naming them is rejected as corrupt.
 */
const LAYOUT_ONLY: readonly [name: string, id: number, blockSize: number, typeSize: number][] = [
  ["Q8_1", 9, 32, 36],
  ["Q8_K", 15, 256, 292],
  ["I8", 24, 1, 1],
  ["I16", 25, 1, 2],
  ["I32", 26, 1, 4],
  ["I64", 27, 1, 8],
  ["F64", 28, 1, 8],
  ["Q1_0", 41, 128, 18],
];

const bpw = (blockSize: number, typeSize: number): number => (typeSize * 8) / blockSize;

/** The types QuantLab encodes, in ggml id order. */
export const GGUF_TYPES: readonly GgufType[] = Object.entries(CODED as Record<GgufTypeName, Coded>)
  .map(([name, { id, code, fallback }]): GgufType => ({
    name: name as GgufTypeName, id, blockSize: code.blockSize, typeSize: code.typeSize,
    bitsPerWeight: bpw(code.blockSize, code.typeSize), encodable: true,
    quantize: code.quantize, dequantize: code.dequantize,
    ...(code.quantizeImatrix ? { quantizeImatrix: code.quantizeImatrix } : {}),
    usesImatrix: code.quantizeImatrix !== undefined,
    ...(fallback ? { fallback: fallback as GgufTypeName } : {}),
  }))
  .sort((a, b) => a.id - b.id);

/** The types QuantLab dequantizes (the encodable ones and the decode-only i-quants), in ggml id order. */
export const DECODABLE_TYPES: readonly DecodableType[] = [
  ...GGUF_TYPES,
  ...Object.entries(DECODE_ONLY as Record<DecodeOnlyTypeName, { id: number; code: BlockDecode }>).map(([name, { id, code }]): DecodableType => ({
    name: name as DecodeOnlyTypeName, id, blockSize: code.blockSize, typeSize: code.typeSize,
    bitsPerWeight: bpw(code.blockSize, code.typeSize), encodable: false, dequantize: code.dequantize,
  })),
].sort((a, b) => a.id - b.id);

/** Every ggml tensor type a GGUF file may hold, with its block layout, in id order. */
export const GGML_TYPES: readonly GgmlType[] = [
  ...DECODABLE_TYPES,
  ...LAYOUT_ONLY.map(([name, id, blockSize, typeSize]) => ({ name, id, blockSize, typeSize, bitsPerWeight: bpw(blockSize, typeSize) })),
].sort((a, b) => a.id - b.id);

/** The names of the types QuantLab encodes, for "use one of …" messages. */
export const GGUF_TYPE_NAMES: readonly GgufTypeName[] = GGUF_TYPES.map((t) => t.name);

/** The types whose quantizer takes an importance matrix (the others ignore one, as llama.cpp does). */
export const IMATRIX_TYPES: readonly GgufTypeName[] = GGUF_TYPES.filter((t) => t.usesImatrix).map((t) => t.name);

const BY_ID = new Map(GGUF_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map<string, GgufType>(GGUF_TYPES.map((t) => [t.name, t]));
const DECODABLE_BY_NAME = new Map<string, DecodableType>(DECODABLE_TYPES.map((t) => [t.name, t]));
const GGML_BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const GGML_BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

export function ggufTypeById(id: number): GgufType | undefined {
  return BY_ID.get(id);
}

/** The encodable type named `name` (any case), or undefined. */
export function ggufType(name: GgufTypeName | string): GgufType | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** The type named `name` (any case) if QuantLab dequantizes it (encodable or decode-only), or undefined. */
export function decodableType(name: DecodableTypeName | string): DecodableType | undefined {
  return DECODABLE_BY_NAME.get(name.toUpperCase());
}

/**
 * Why QuantLab cannot quantize to `name` when it is one of the decode-only i-quants (null for any other
 * name): the clause every "cannot encode" message adds.
 */
export function decodeOnlyReason(name: string): string | null {
  const t = decodableType(name);
  if (!t || t.encodable) return null;
  return `${t.name} is decode-only in QuantLab: llama.cpp's quantizer for it searches lattice codebooks (with neighbour tables and importance weights) that QuantLab does not implement`;
}

export function ggmlTypeById(id: number): GgmlType | undefined {
  return GGML_BY_ID.get(id);
}

export function ggmlType(name: string): GgmlType | undefined {
  return GGML_BY_NAME.get(name.toUpperCase());
}

/** Bits per weight of a type, e.g. Q4_K → 4.5. */
export function bitsPerWeight(t: Pick<GgmlType, "blockSize" | "typeSize">): number {
  return bpw(t.blockSize, t.typeSize);
}

/** Bytes of a row of `n` weights (n must be a multiple of the block size). */
export function rowBytes(t: Pick<GgmlType, "blockSize" | "typeSize">, n: number): number {
  return (n / t.blockSize) * t.typeSize;
}

/** "F32, F16, Q4_0 … BF16": the encodable types, for error messages that say what to use. */
export function ggufTypeList(): string {
  return GGUF_TYPE_NAMES.join(", ");
}

/** The types QuantLab dequantizes, for "it decodes …" messages. */
export function decodableTypeList(): string {
  return DECODABLE_TYPES.map((t) => t.name).join(", ");
}
