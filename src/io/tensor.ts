/**
 * A tensor as the file formats (safetensors, .npy) carry it. Float dtypes are decoded exactly into
 * Float32Array (F64 too, rounded); integer dtypes keep their own typed array.
 */
export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "U32" | "I16" | "U16" | "I8" | "U8" | "BOOL";

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array;

/**
 * A tensor as a file carries it: its dtype ("F32", "F16", "BF16", "I8" …), its shape, and the values as a
 * flat row-major typed array. Float dtypes are decoded into a Float32Array, so F16 and BF16 values are exact.
 */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isFloat(d: DType): boolean {
  return d === "F64" || d === "F32" || d === "F16" || d === "BF16";
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
