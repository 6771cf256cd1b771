/**
 * What the IQ1/IQ2/IQ3 decoders share: ggml's lattice grids (a point is 8 or 4 small values the block
 * names by index) unpacked from their compact form in iq-grids.ts, and the sign bytes of IQ2_XXS,
 * IQ2_XS and IQ3_XXS.
 */

/**
 * One lattice grid as iq-grids.ts stores it: a grid's values come from a tiny set (3 for the IQ2 and IQ1
 * grids, 8 for the IQ3 ones), so each value is its index into `values`, ⌈log2 |values|⌉ bits, packed
 * least significant bit first into bytes and written as base64.
 */
export interface PackedGrid {
  /** The value set, ascending, as the decoder reads a point's bytes (uint8 for IQ2/IQ3, int8 for IQ1). */
  readonly values: readonly number[];
  /** Values per grid point: 8 (IQ2, IQ1) or 4 (IQ3). */
  readonly width: number;
  /** Grid points. */
  readonly points: number;
  /** The value indices, point by point, LSB first; base64. */
  readonly packed: string;
}

/** Bits per value index for a set of `size` values. */
export function indexBits(size: number): number {
  return Math.max(1, Math.ceil(Math.log2(size)));
}

/** The grid as a flat table: point p's value j at [p · width + j]. */
export function unpackGrid(g: PackedGrid): Float32Array {
  const bytes = Uint8Array.from(atob(g.packed), (c) => c.charCodeAt(0));
  const bits = indexBits(g.values.length);
  const n = g.points * g.width;
  if (bytes.length !== Math.ceil((n * bits) / 8)) throw new Error(`a packed grid of ${g.points}×${g.width} holds ${bytes.length} bytes, not ${Math.ceil((n * bits) / 8)}: regenerate iq-grids.ts`);
  const out = new Float32Array(n);
  for (let i = 0, bit = 0; i < n; i++, bit += bits) {
    let v = 0;
    for (let k = 0; k < bits; k++) v |= ((bytes[(bit + k) >> 3]! >> ((bit + k) & 7)) & 1) << k;
    out[i] = g.values[v]!;
  }
  return out;
}

/** The inverse of unpackGrid's bit reading: value indices → base64 (what the generator writes). */
export function packIndices(indices: ArrayLike<number>, bits: number): string {
  const bytes = new Uint8Array(Math.ceil((indices.length * bits) / 8));
  for (let i = 0, bit = 0; i < indices.length; i++, bit += bits) {
    for (let k = 0; k < bits; k++) if ((indices[i]! >> k) & 1) bytes[(bit + k) >> 3]! |= 1 << ((bit + k) & 7);
  }
  return btoa(String.fromCharCode(...bytes));
}

/**
 * ksigns_iq2xs: 7 stored sign bits of a group of 8, the 8th being their parity (the quantizer flips one
 * weight's sign to keep the count of negatives even, so it need not be stored). Bit j set: weight j negative.
 */
export const KSIGNS = Uint8Array.from({ length: 128 }, (_, i) => {
  let p = 0;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  return i | (p << 7);
});

/** unpackGrid on first use: importing the traits table stays cheap, and a stale iq-grids.ts cannot stop its own regeneration. */
export function lazyGrid(g: PackedGrid): () => Float32Array {
  let table: Float32Array | undefined;
  return () => (table ??= unpackGrid(g));
}
