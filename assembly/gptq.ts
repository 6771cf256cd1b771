/**
 * GPTQ's column sweep over one lazy batch (block) in WebAssembly SIMD (compiled by `npm run build` to
 * dist/wasm/gptq.wasm), on the GEMM kernel's shared memory, so the block never leaves it: for each
 * column of the block, fit the group's parameters when a group starts, quantize the column, write its
 * scaled error, push the error onto the rest of its sub-block (rank-1), and at each sub-block's end push
 * the sub-block's errors onto the rest of the block with the GEMM kernel (gemmChunk). The caller then
 * runs the trailing update of the columns after the block on the pool (src/algorithms/gptq-sweep.ts).
 *
 * Layout: the weights are held transposed (Wt: cols × rows, one input column of W per row), so a column
 * is contiguous and every update is a contiguous run. `fit[i]` > 0 starts a group at processed column i
 * whose parameters come from the next fit[i] columns of Wt (as Wt stands at the block's start: the
 * reference reads W, not the block's working copy); `group[i]` names the (row, group) parameters column
 * i is quantized with, in the rows × ng arrays S and Z (float32, as GptqResult holds them). Groups not
 * fitted here (static groups, the range search) are written there by the caller beforehand.
 *
 * Arithmetic: the same as the JavaScript sweep's, operation for operation, so the codes are identical:
 * quantize/dequantize and the in-sub-block update in float64 rounded to float32 where JavaScript stores
 * into a Float32Array (f64x2 lanes for the update: a product of two float32 is exact in float64, so the
 * only roundings are the subtraction's and the store's, as in JavaScript); the sub-block product through
 * the same gemmChunk with identically packed operands.
 */
import { gemmChunk } from "./gemm";

/** Columns of C per gemmChunk call in the sub-block update: the scratch the caller provides fits 512. */
const NB: i32 = 512;

export function chunkCols(): i32 {
  return NB;
}

/** Parameters of group g for every row from `cnt` columns of Wt starting at `src` (paramsFromRange, "gptq" convention). */
function fitRows(src: usize, cnt: i32, rows: i32, qmax: f64, sym: bool, S: usize, Z: usize, ng: i32, g: i32): void {
  for (let r = 0; r < rows; r++) {
    let mn = Infinity as f32;
    let mx = -Infinity as f32;
    let p = src + (<usize>r << 2);
    const step = <usize>rows << 2;
    for (let k = 0; k < cnt; k++) {
      const v = load<f32>(p);
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      p += step;
    }
    let lo = min<f64>(<f64>mn, 0);
    let hi = max<f64>(<f64>mx, 0);
    if (sym) {
      hi = max<f64>(abs<f64>(lo), hi);
      if (lo < 0) lo = -hi;
    }
    if (lo == 0 && hi == 0) {
      lo = -1;
      hi = 1;
    }
    const scale = <f32>((hi - lo) / qmax);
    const zero: f64 = sym ? (qmax + 1) / 2 : nearest<f64>(-lo / <f64>scale) + 0;
    const o = <usize>(r * ng + g) << 2;
    store<f32>(S + o, scale);
    store<f32>(Z + o, <f32>zero);
  }
}

/** Rows' parameters of group g as float64 (cur: scales, then zeros). */
function gather(rows: i32, S: usize, Z: usize, ng: i32, g: i32, cur: usize): void {
  const zs = cur + (<usize>rows << 3);
  for (let r = 0; r < rows; r++) {
    const o = <usize>(r * ng + g) << 2;
    store<f64>(cur + (<usize>r << 3), <f64>load<f32>(S + o));
    store<f64>(zs + (<usize>r << 3), <f64>load<f32>(Z + o));
  }
}

/** dst[r] = fround(dst[r] − e[r]·c) for r < rows, in float64 lanes. */
@inline function axpy(dst: usize, e: usize, c: f64, rows: i32): void {
  const vc = f64x2.splat(c);
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const o = <usize>r << 2;
    const w = v128.load(dst + o);
    const ev = v128.load(e + o);
    const lo = f64x2.sub(f64x2.promote_low_f32x4(w), f64x2.mul(f64x2.promote_low_f32x4(ev), vc));
    const hi = f64x2.sub(
      f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 0, 1)),
      f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(ev, ev, 2, 3, 0, 1)), vc),
    );
    v128.store(dst + o, v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
  }
  for (; r < rows; r++) {
    const o = <usize>r << 2;
    store<f32>(dst + o, <f32>(<f64>load<f32>(dst + o) - <f64>load<f32>(e + o) * c));
  }
}

/**
 * Columns i1 … i1 + b − 1 of the sweep. wt: Wt (cols × rows); w1, e: the block's working copy and its
 * scaled errors (b × rows); u: U (cols × cols, row stride ldu); codes: int16 (cols × rows, processing
 * order); S, Z: rows × ng; group, fit: int32 per processed column; cur: 2·rows float64; work: gemmChunk
 * scratch for NB columns. Returns `loss` plus the block's Σ (w − q)² / d² / 2, added in the
 * JavaScript sweep's order.
 */
export function sweepBlock(
  rows: i32, b: i32, i1: i32, sub: i32,
  wt: usize, w1: usize, e: usize, u: usize, ldu: i32, codes: usize,
  S: usize, Z: usize, ng: i32, group: usize, fit: usize,
  qmin: f64, qmax: f64, sym: bool, cur: usize, work: usize, loss: f64,
): f64 {
  const colBytes = <usize>rows << 2;
  memory.copy(w1, wt + <usize>i1 * colBytes, <usize>b * colBytes);
  const zs = cur + (<usize>rows << 3);
  let lastG: i32 = -1;
  for (let j = 0; j < b; j++) {
    const i = i1 + j;
    const g = load<i32>(group + (<usize>i << 2));
    const cnt = load<i32>(fit + (<usize>i << 2));
    if (cnt > 0) fitRows(wt + <usize>i * colBytes, cnt, rows, qmax, sym, S, Z, ng, g);
    if (cnt > 0 || g != lastG) {
      gather(rows, S, Z, ng, g, cur);
      lastG = g;
    }
    const d = <f64>load<f32>(u + (<usize>(i * ldu + i) << 2));
    const w = w1 + <usize>j * colBytes;
    const ej = e + <usize>j * colBytes;
    const cj = codes + (<usize>i * <usize>rows << 1);
    for (let r = 0; r < rows; r++) {
      const x = <f64>load<f32>(w + (<usize>r << 2));
      const s = load<f64>(cur + (<usize>r << 3));
      const z = load<f64>(zs + (<usize>r << 3));
      let q = nearest<f64>(x / s) + z;
      q = q < qmin ? qmin : q > qmax ? qmax : q;
      const diff = x - (q - z) * s;
      loss += (diff * diff) / (d * d) / 2;
      store<i16>(cj + (<usize>r << 1), <i16>(<i32>q));
      store<f32>(ej + (<usize>r << 2), <f32>(diff / d));
    }
    // rank-1 update of the rest of this sub-block
    const subEnd = min(b, (j / sub + 1) * sub);
    const urow = u + (<usize>(i * ldu + i1) << 2);
    for (let jj = j + 1; jj < subEnd; jj++) axpy(w1 + <usize>jj * colBytes, ej, <f64>load<f32>(urow + (<usize>jj << 2)), rows);
    if (j == subEnd - 1 && subEnd < b) {
      // W1[subEnd:] −= U[sub-block, subEnd:]ᵀ · E[sub-block], A read transposed in place from U
      const s0 = subEnd - sub;
      const a = u + (<usize>((i1 + s0) * ldu + i1 + subEnd) << 2);
      const restb = b - subEnd;
      for (let j0 = 0; j0 < rows; j0 += NB) {
        gemmChunk(sub, a, ldu, true, e + <usize>s0 * colBytes, rows, false, w1 + <usize>subEnd * colBytes, rows,
          -1, true, 0, 0, restb, j0, min(rows, j0 + NB), 0, sub, work);
      }
    }
  }
  return loss;
}
