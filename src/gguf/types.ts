/**
 * The ggml tensor types QuantLab reads and writes: one table (id, block size, bytes per block) drives
 * sizes, validation and bits per weight everywhere. Ids and layouts follow ggml's `ggml-common.h`.
 */
export type GgufTypeName =
  | "F32" | "F16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0"
  | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K" | "BF16";

export interface GgufType {
  name: GgufTypeName;
  id: number;
  /** Weights per block. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const T = (name: GgufTypeName, id: number, blockSize: number, typeSize: number): GgufType => ({ name, id, blockSize, typeSize });

export const GGUF_TYPES: readonly GgufType[] = [
  T("F32", 0, 1, 4),
  T("F16", 1, 1, 2),
  T("Q4_0", 2, 32, 18),
  T("Q4_1", 3, 32, 20),
  T("Q5_0", 6, 32, 22),
  T("Q5_1", 7, 32, 24),
  T("Q8_0", 8, 32, 34),
  T("Q2_K", 10, 256, 84),
  T("Q3_K", 11, 256, 110),
  T("Q4_K", 12, 256, 144),
  T("Q5_K", 13, 256, 176),
  T("Q6_K", 14, 256, 210),
  T("BF16", 30, 1, 2),
];

const BY_ID = new Map(GGUF_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGUF_TYPES.map((t) => [t.name, t]));

export function ggufTypeById(id: number): GgufType | undefined {
  return BY_ID.get(id);
}

export function ggufType(name: GgufTypeName | string): GgufType | undefined {
  return BY_NAME.get(name.toUpperCase() as GgufTypeName);
}

/** Bits per weight of a type, e.g. Q4_K → 4.5. */
export function bitsPerWeight(t: GgufType): number {
  return (t.typeSize * 8) / t.blockSize;
}

/** Bytes of a row of `n` weights (n must be a multiple of the block size). */
export function rowBytes(t: GgufType, n: number): number {
  return (n / t.blockSize) * t.typeSize;
}

/**
 * Every ggml tensor type a GGUF file may hold, with its block layout: the reader needs sizes for types
 * QuantLab cannot decode (IQ*, TQ*, integers…) to validate offsets and to inspect such files. Ids whose
 * types ggml removed (4, 5, 31–33, 36–38) are absent, so a file naming them is rejected as corrupt.
 */
export interface GgmlType {
  name: string;
  id: number;
  blockSize: number;
  typeSize: number;
}

const G = (name: string, id: number, blockSize: number, typeSize: number): GgmlType => ({ name, id, blockSize, typeSize });

export const GGML_TYPES: readonly GgmlType[] = [
  ...GGUF_TYPES,
  G("Q8_1", 9, 32, 36),
  G("Q8_K", 15, 256, 292),
  G("IQ2_XXS", 16, 256, 66),
  G("IQ2_XS", 17, 256, 74),
  G("IQ3_XXS", 18, 256, 98),
  G("IQ1_S", 19, 256, 50),
  G("IQ4_NL", 20, 32, 18),
  G("IQ3_S", 21, 256, 110),
  G("IQ2_S", 22, 256, 82),
  G("IQ4_XS", 23, 256, 136),
  G("I8", 24, 1, 1),
  G("I16", 25, 1, 2),
  G("I32", 26, 1, 4),
  G("I64", 27, 1, 8),
  G("F64", 28, 1, 8),
  G("IQ1_M", 29, 256, 56),
  G("TQ1_0", 34, 256, 54),
  G("TQ2_0", 35, 256, 66),
  G("MXFP4", 39, 32, 17),
].sort((a, b) => a.id - b.id);

const GGML_BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const GGML_BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

export function ggmlTypeById(id: number): GgmlType | undefined {
  return GGML_BY_ID.get(id);
}

export function ggmlType(name: string): GgmlType | undefined {
  return GGML_BY_NAME.get(name.toUpperCase());
}
