/**
 * Stores a (codes, scale, zero point) grid in llama.cpp's Q4_1 blocks without re-quantizing: a block of
 * 32 weights is `x = q·d + m`, so a group grid `x = (q − z)·s` maps to d = s, m = −z·s — exact up to
 * FP16 rounding of d and m. Any code width up to 4 bits fits (3-bit codes use 0…7), and any group size
 * that is a multiple of 32 (each 32-block repeats its group's scale). This is how GPTQ/AWQ results
 * reach a GGUF file that llama.cpp runs.
 */
import { check } from "../../errors.js";
import { f32ToF16Bits } from "../../numerics/float-bits.js";

export function packQ4_1(
  codes: ArrayLike<number>, scales: ArrayLike<number>, zeros: ArrayLike<number>, rows: number, cols: number, groupSize: number,
): Uint8Array {
  check(cols % 32 === 0 && groupSize % 32 === 0, "BAD_SHAPE",
    `Q4_1 packs blocks of 32: row length ${cols} and group size ${groupSize} must be multiples of 32`);
  check(cols % groupSize === 0, "BAD_SHAPE", `group size ${groupSize} does not divide the row length ${cols}`);
  const gpr = cols / groupSize;
  check(codes.length === rows * cols && scales.length === rows * gpr && zeros.length === rows * gpr, "BAD_SHAPE",
    `codes/scales/zeros have ${codes.length}/${scales.length}/${zeros.length} values, ${rows} × ${cols} with groups of ${groupSize} needs ${rows * cols}/${rows * gpr}/${rows * gpr}`);
  const nb = cols / 32;
  const out = new Uint8Array(rows * nb * 20);
  const dv = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const g = r * gpr + Math.floor((b * 32) / groupSize);
      const o = (r * nb + b) * 20;
      dv.setUint16(o, f32ToF16Bits(scales[g]), true);
      dv.setUint16(o + 2, f32ToF16Bits(-zeros[g] * scales[g]), true);
      const base = r * cols + b * 32;
      for (let j = 0; j < 16; j++) {
        const lo = codes[base + j], hi = codes[base + j + 16];
        check(lo >= 0 && lo <= 15 && hi >= 0 && hi <= 15 && Number.isInteger(lo) && Number.isInteger(hi), "BAD_VALUE",
          `code ${lo >= 0 && lo <= 15 ? hi : lo} at row ${r} does not fit 4 bits: Q4_1 holds codes 0 … 15`);
        out[o + 4 + j] = lo | (hi << 4);
      }
    }
  }
  return out;
}
