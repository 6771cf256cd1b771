/**
 * The one shape of a group-wise quantized weight, shared by RTN, GPTQ, AWQ and the exporters: the
 * resolved spec (its granularity is the true grouping), integer codes, one scale and zero point per
 * group, which group each input column belongs to, the reconstruction and the error report. Each
 * method adds its own fields (GPTQ's permutation, AWQ's input scales); GGUF-encoded tensors are block
 * formats with their own bytes and keep their own shape.
 */
import type { ErrorReport } from "./metrics.js";
import { groupLength, type ResolvedSpec } from "./spec.js";

/** A rows × cols weight quantized group by group; x̂ = decode(spec, code, group's scale and zero point). */
export interface GroupQuantized {
  /** The resolved spec, with the granularity the groups really have. */
  spec: ResolvedSpec;
  rows: number;
  cols: number;
  /** One code per weight, rows × cols (unsigned for asymmetric and codebook grids, signed for symmetric integers). */
  codes: Int16Array;
  /** Per group, in group order (rows × groups-per-row for row-wise granularities). */
  scales: Float32Array;
  zeros: Float32Array;
  /**
   * The group (within its row) of each input column, where it is not simply ⌊column / group size⌋
   * (GPTQ's act-order); null when the groups are contiguous runs of the granularity.
   */
  gIdx: Int32Array | null;
  /** The reconstruction x̂, rows × cols, comparable with the original weight. */
  dequantized: Float32Array;
  report: ErrorReport;
}

/**
 * Whether every group is a contiguous run of `groupLength` columns (no act-order reshuffle), so a
 * block format that stores one scale per run of columns can hold the groups as they are.
 * @example
 * ```ts
 * contiguousGroups(rtn(W, { bits: 4, groupSize: 32 }))   // true
 * ```
 */
export function contiguousGroups(q: GroupQuantized): boolean {
  if (!q.gIdx) return true;
  const gs = groupLength(q.spec, q.rows, q.cols);
  for (let c = 0; c < q.cols; c++) if (q.gIdx[c] !== Math.floor(c / gs)) return false;
  return true;
}
