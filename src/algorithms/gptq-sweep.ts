/**
 * GPTQ's column sweep (REFERENCE §4): quantize the columns of W in lazy batches (blocks), each column's
 * scaled error pushed onto the columns after it — within the block column by column, onto the rest of
 * the layer once per block (the lazy trailing update). Two implementations of one arithmetic:
 *
 *   sweepWasm(s) → the sweep in WebAssembly SIMD on the GEMM kernel's shared memory (assembly/gptq.ts):
 *                  W, U and the errors stay there, the trailing update runs in place on the pool; null
 *                  when the kernel is not built or the spec needs JavaScript (a codebook or float grid, a
 *                  user's scale, zero-point or rounding rule)
 *   sweepJs(s)   → the same in JavaScript over the backend's products (cpu, webgpu, and the cases above)
 *
 * Both give identical codes, scales and loss on the same input: the kernel repeats JavaScript's float64
 * roundings and calls the same GEMM chunks on identically packed operands (test/algorithms/gptq.test.ts).
 */
import { checkpoint } from "../progress.js";
import { decode, encode, fitGroup, paramsFromRange, type GroupParams } from "../numerics/affine.js";
import type { ResolvedSpec } from "../numerics/spec.js";
import { withWorkspace } from "../backend/gemm.js";
import { gptqKernel } from "../backend/shared-kernels.js";
import { ensureBackend, tf } from "../backend/index.js";
import { matmul } from "./matmul.js";

/** What the sweep works on; `scales`, `zeros` (rows × ng) hold static groups' parameters on entry, all on return. */
export interface SweepInput {
  rows: number;
  cols: number;
  rs: ResolvedSpec;
  /** Group size (≥ cols: one group per row). */
  gs: number;
  ng: number;
  blockSize: number;
  mse: boolean;
  /** W transposed (cols × rows), columns in processing order (permuted under act-order); updated in place by sweepJs. */
  Wt: Float32Array;
  /** Upper Cholesky factor of H⁻¹ (cols × cols), in processing order. */
  U: Float32Array;
  perm: Int32Array | null;
  /** Static groups' parameters per group and row (empty unless static groups are on). */
  staticParams: GroupParams[][];
  scales: Float32Array;
  zeros: Float32Array;
  /** Out: the group of every input column (W's order). */
  gIdx: Int32Array;
  label: string;
}

export interface SweepOutput {
  /** Codes in processing order (cols × rows). */
  codesT: Int16Array;
  /** Dequantized values in processing order, or null: decode the codes with scales and zeros. */
  Qt: Float32Array | null;
  /** The reference's loss Σ (w − q)² / Hinv[i,i]² / 2. */
  loss: number;
}

/** Columns per inner sub-block of a lazy batch (see the sweeps). */
const SUB = 16;

/** Parameters of one group for each row; `src` holds `cnt` consecutive columns of Wᵀ (cnt × rows). */
function fitRows(rs: ResolvedSpec, src: Float32Array, cnt: number, rows: number, mse: boolean): GroupParams[] {
  const buf = new Float32Array(cnt);
  const out: GroupParams[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cnt; k++) buf[k] = src[k * rows + r]!;
    out[r] = mse && rs.builtin ? mseParams(rs, buf) : fitGroup(rs, buf);
  }
  return out;
}

/** The reference's optional range search: shrink the range by p = 1 − i/100 (i < 80), keep the lowest Σ|err|^2.4. */
function mseParams(rs: ResolvedSpec, x: Float32Array): GroupParams {
  let best = fitGroup(rs, x);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let bestErr = Infinity;
  for (let i = 0; i < 80; i++) {
    const p = 1 - i / 100;
    const cand = paramsFromRange(rs, p * Math.min(lo, 0), p * Math.max(hi, 0));
    let err = 0;
    for (const v of x) err += Math.abs(decode(rs, encode(rs, v, cand), cand) - v) ** 2.4;
    if (err < bestErr) {
      bestErr = err;
      best = { ...cand, min: lo, max: hi };
    }
  }
  return best;
}

/** The group each processed column i is quantized with, and gIdx (W's column order). */
function groupsOf(s: SweepInput, staticGroups: boolean): Int32Array {
  const { cols, gs, perm } = s;
  const group = new Int32Array(cols);
  for (let i = 0; i < cols; i++) {
    const col = perm ? perm[i]! : i;
    group[i] = gs >= cols ? 0 : Math.floor((staticGroups ? col : i) / gs);
    s.gIdx[col] = group[i]!;
  }
  return group;
}

/** The in-block update W1[jj] −= err·U[i, i1 + jj] for jj in [j0, b): a small function of its own so V8 optimises it as a plain loop. */
function propagate(W1: Float32Array, rows: number, j0: number, b: number, E: Float32Array, eOff: number, U: Float32Array, uOff: number): void {
  let jj = j0;
  // four target columns per pass over the error row: ≈ 2× faster than one (measured, V8, Node 20)
  for (; jj + 3 < b; jj += 4) {
    const c0 = U[uOff + jj]!, c1 = U[uOff + jj + 1]!, c2 = U[uOff + jj + 2]!, c3 = U[uOff + jj + 3]!;
    const b0 = jj * rows, b1 = b0 + rows, b2 = b1 + rows, b3 = b2 + rows;
    for (let r = 0; r < rows; r++) {
      const e = E[eOff + r]!;
      W1[b0 + r]! -= e * c0;
      W1[b1 + r]! -= e * c1;
      W1[b2 + r]! -= e * c2;
      W1[b3 + r]! -= e * c3;
    }
  }
  for (; jj < b; jj++) {
    const c = U[uOff + jj]!;
    const base = jj * rows;
    for (let r = 0; r < rows; r++) W1[base + r]! -= E[eOff + r]! * c;
  }
}

/** The sweep in JavaScript, every product on the active backend. */
export async function sweepJs(s: SweepInput): Promise<SweepOutput> {
  const { rows, cols, rs, gs, ng, blockSize, mse, Wt, U, perm, staticParams, scales, zeros, label } = s;
  const staticGroups = staticParams.length > 0;
  groupsOf(s, staticGroups);
  const Qt = new Float32Array(cols * rows);
  const codesT = new Int16Array(cols * rows);
  let loss = 0;
  let cur: GroupParams[] = [];
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    await checkpoint(label, i1, cols);
    const i2 = Math.min(cols, i1 + blockSize);
    const b = i2 - i1;
    const W1 = Wt.slice(i1 * rows, i2 * rows);
    const E = new Float32Array(b * rows);
    for (let j = 0; j < b; j++) {
      const i = i1 + j;
      const col = perm ? perm[i]! : i;
      if (gs >= cols) {
        if (i === 0) {
          // per channel: the reference fits once on the whole (dead-zeroed) W
          cur = fitRows(rs, Wt, cols, rows, mse);
          for (let r = 0; r < rows; r++) { scales[r] = cur[r]!.scale; zeros[r] = cur[r]!.zero; }
        }
      } else if (staticGroups) {
        cur = staticParams[Math.floor(col / gs)]!;
      } else if (i % gs === 0) {
        // parameters from W as it stands at this block's start (the reference reads W, not its working copy)
        const g = Math.floor(i / gs);
        const cnt = Math.min(gs, cols - i);
        cur = fitRows(rs, Wt.subarray(i * rows, (i + cnt) * rows), cnt, rows, mse);
        for (let r = 0; r < rows; r++) { scales[r * ng + g] = cur[r]!.scale; zeros[r * ng + g] = cur[r]!.zero; }
      }
      const d = U[i * cols + i]!;
      const w = W1.subarray(j * rows, (j + 1) * rows);
      const e = E.subarray(j * rows, (j + 1) * rows);
      const qo = i * rows;
      for (let r = 0; r < rows; r++) {
        const p = cur[r]!;
        const q = encode(rs, w[r]!, p);
        const v = decode(rs, q, p);
        codesT[qo + r] = q;
        Qt[qo + r] = v;
        const diff = w[r]! - v;
        loss += (diff * diff) / (d * d) / 2;
        e[r] = diff / d;
      }
      // two-level lazy batch: scalar updates only inside a sub-block of SUB columns, the rest of the
      // block gets the sub-block's errors as one product (JS runs ≈ 0.3 GFLOP/s, the backend ≥ 10)
      const subEnd = Math.min(b, (Math.floor(j / SUB) + 1) * SUB);
      propagate(W1, rows, j + 1, subEnd, E, j * rows, U, i * cols + i1);
      if (j === subEnd - 1 && subEnd < b) {
        const s0 = subEnd - SUB;
        const restb = b - subEnd;
        const UT = new Float32Array(restb * SUB);
        for (let k = 0; k < SUB; k++) {
          const uo = (i1 + s0 + k) * cols + i1;
          for (let jj = subEnd; jj < b; jj++) UT[(jj - subEnd) * SUB + k] = U[uo + jj]!;
        }
        await matmul(UT, restb, SUB, E.subarray(s0 * rows, subEnd * rows), rows, W1.subarray(subEnd * rows), { accumulate: true, alpha: -1 });
      }
    }
    if (i2 < cols) {
      // W[:, i2:] −= Err·Hinv[block, i2:], in the transposed form Wtᵀ[i2:] −= Hinv[block, i2:]ᵀ·Errᵀ
      const rest = cols - i2;
      const Ub = new Float32Array(b * rest);
      for (let j = 0; j < b; j++) Ub.set(U.subarray((i1 + j) * cols + i2, (i1 + j + 1) * cols), j * rest);
      await matmul(Ub, rest, b, E, rows, Wt.subarray(i2 * rows), { accumulate: true, alpha: -1, transA: true });
    }
  }
  await checkpoint(label, cols, cols);
  return { codesT, Qt, loss };
}

const align16 = (x: number) => Math.ceil(x / 16) * 16;
/** GEMM scratch for the kernel's in-block products (workBytes(512) ≈ 0.6 MiB). */
const WORK_FLOATS = 1 << 18;

/**
 * The sweep in WebAssembly on the GEMM kernel's shared memory: per block one kernel call (fits, quantize,
 * in-block updates) and one in-place pooled product (the trailing update); nothing is copied per block.
 */
export async function sweepWasm(s: SweepInput): Promise<SweepOutput | null> {
  const { rows, cols, rs, gs, ng, mse, perm, staticParams, scales, zeros, label } = s;
  if (rs.grid || !rs.builtin) return null;
  await ensureBackend();
  if (tf.getBackend() !== "wasm") return null;
  const blockSize = Math.min(s.blockSize, cols);
  const staticGroups = staticParams.length > 0;
  const group = groupsOf(s, staticGroups);
  // where the kernel fits a group: at its first column, from the columns it spans (not under the range search)
  const fit = new Int32Array(cols);
  if (!mse && !staticGroups) {
    if (gs >= cols) fit[0] = cols;
    else for (let i = 0; i < cols; i += gs) fit[i] = Math.min(gs, cols - i);
  }
  // the workspace: U, Wt, the block's copy and errors, codes, S and Z, group and fit, cur, GEMM scratch
  const at: Record<string, number> = {};
  let floats = 0;
  const region = (name: string, n: number) => { at[name] = floats; floats += align16(n); };
  region("U", cols * cols);
  region("Wt", cols * rows);
  region("W1", blockSize * rows);
  region("E", blockSize * rows);
  region("codes", Math.ceil((cols * rows) / 2));
  region("S", rows * ng);
  region("Z", rows * ng);
  region("group", cols);
  region("fit", cols);
  region("cur", 4 * rows);
  region("work", WORK_FLOATS);
  return withWorkspace(floats, async (ws) => {
    const k = gptqKernel(ws.memory);
    if (!k || ws.workBytes(k.chunkCols()) > WORK_FLOATS * 4) return null;
    const f = ws.f32;
    const o = (name: string) => ws.base + at[name]!; // float index in f
    const B = (name: string) => o(name) * 4; // byte offset
    f.set(s.U, o("U"));
    f.set(s.Wt, o("Wt"));
    f.set(scales, o("S"));
    f.set(zeros, o("Z"));
    new Int32Array(f.buffer, B("group"), cols).set(group);
    new Int32Array(f.buffer, B("fit"), cols).set(fit);
    const wtView = f.subarray(o("Wt"), o("Wt") + cols * rows);
    const writeParams = (g: number, p: GroupParams[]) => {
      for (let r = 0; r < rows; r++) { f[o("S") + r * ng + g] = p[r]!.scale; f[o("Z") + r * ng + g] = p[r]!.zero; }
    };
    let loss = 0;
    for (let i1 = 0; i1 < cols; i1 += blockSize) {
      await checkpoint(label, i1, cols);
      const i2 = Math.min(cols, i1 + blockSize);
      const b = i2 - i1;
      if (mse && !staticGroups) {
        // the range search stays in JavaScript: fit this block's groups from Wt as it stands now
        if (gs >= cols) {
          if (i1 === 0) writeParams(0, fitRows(rs, wtView, cols, rows, true));
        } else {
          for (let i = Math.ceil(i1 / gs) * gs; i < i2; i += gs) {
            const cnt = Math.min(gs, cols - i);
            writeParams(i / gs, fitRows(rs, wtView.subarray(i * rows, (i + cnt) * rows), cnt, rows, true));
          }
        }
      }
      loss = k.sweepBlock(rows, b, i1, SUB, B("Wt"), B("W1"), B("E"), B("U"), cols, B("codes"),
        B("S"), B("Z"), ng, B("group"), B("fit"), rs.qmin, rs.qmax, rs.scheme === "symmetric" ? 1 : 0,
        B("cur"), B("work"), loss);
      if (i2 < cols) {
        // W[:, i2:] −= Err·Hinv[block, i2:], in place: Wtᵀ[i2:] −= Hinv[block, i2:]ᵀ·Errᵀ, A read transposed from U
        await ws.product({ at: o("U") + i1 * cols + i2, ld: cols }, cols - i2, b, { at: o("E"), ld: rows }, rows,
          { at: o("Wt") + i2 * rows, ld: rows }, { transA: true, accumulate: true, alpha: -1 });
      }
    }
    await checkpoint(label, cols, cols);
    scales.set(f.subarray(o("S"), o("S") + rows * ng));
    zeros.set(f.subarray(o("Z"), o("Z") + rows * ng));
    return { codesT: new Int16Array(f.buffer, B("codes"), cols * rows).slice(), Qt: null, loss };
  });
}
