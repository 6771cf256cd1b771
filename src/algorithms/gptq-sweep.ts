/**
 * GPTQ's column sweep (REFERENCE §4): quantize the columns of W in lazy batches (blocks), each column's
 * scaled error pushed onto the columns after it — within the block column by column, onto the rest of
 * the layer once per block (the lazy trailing update). Two implementations of one arithmetic:
 *
 *   sweepWasm(s) → the sweep in WebAssembly SIMD on the GEMM kernel's shared memory (assembly/gptq.ts):
 *                  W, U and the errors stay there, the trailing update runs in place on the pool; null
 *                  when the kernel is not built or the spec needs JavaScript (a codebook or float grid, a
 *                  user's scale, zero-point or rounding rule)
 *   sweepTf(s)   → the same as tfjs operations on the backend's device (webgpu): no per-column read-back
 *   sweepJs(s)   → the same in JavaScript over the backend's products (cpu, and the cases above)
 *
 * sweepWasm and sweepJs give identical codes, scales and loss on the same input: the kernel repeats
 * JavaScript's float64 roundings and calls the same GEMM chunks on identically packed operands; sweepTf
 * computes in float32 (test/algorithms/gptq-sweep.test.ts holds all three to that).
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
/** GEMM scratch for the kernel's in-block products (workBytes(512) ≈ 1.2 MiB with the kernel's 512-deep slices). */
const WORK_FLOATS = 1 << 19;

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

/** Dekker's split of float32 values into 12-bit halves, hi + lo = a exactly. */
function split(a: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const c = tf.mul(a, 4097);
  const hi = tf.sub(c, tf.sub(c, a));
  return [hi, tf.sub(a, hi)];
}

/**
 * round(w / scale), ties to even, decided as the exact quotient decides them: a float32 quotient can
 * land exactly on k + ½ where the true one lies just off it (the symmetric grid's extreme value, −hi /
 * (2·hi/15), does so often), and JavaScript's float64 quotient, like the reference's, does not. Where the
 * float32 quotient t is a tie, the sign of the exact residual w − t·scale (Dekker's two-product) breaks it.
 */
function roundQuotient(w: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  const t = tf.div(w, scale);
  const r = tf.round(t);
  const tie = tf.equal(tf.abs(tf.sub(t, r)), 0.5);
  const p = tf.mul(t, scale);
  const [th, tl] = split(t);
  const [sh, sl] = split(scale);
  const err = tf.add(tf.add(tf.add(tf.sub(tf.mul(th, sh), p), tf.mul(th, sl)), tf.mul(tl, sh)), tf.mul(tl, sl));
  const resid = tf.sub(tf.sub(w, p), err); // w − p is exact (p is within a factor 2 of w)
  const exact = tf.where(tf.greater(resid, 0), tf.ceil(t), tf.where(tf.less(resid, 0), tf.floor(t), r));
  return tf.where(tie, exact, r);
}

/**
 * The sweep as tfjs operations on the active backend's device (for webgpu): W, U, the errors, codes and
 * group parameters stay tensors and nothing is read back until the end, so a GPU never waits on a
 * per-column round trip through JavaScript (each column still issues its dozen small operations). The
 * arithmetic is float32 on the device (JavaScript's is float64 for the quantize step; rounding ties are
 * decided exactly, see roundQuotient): on the same input ≥ 99.9 % of codes agree with sweepJs and the
 * loss to 1e-5 relative (test/algorithms/gptq-sweep.test.ts, on the cpu backend). null for what it does not cover: a user's rules, the range search.
 */
export async function sweepTf(s: SweepInput): Promise<SweepOutput | null> {
  const { rows, cols, rs, gs, ng, mse, staticParams, scales, zeros, label } = s;
  if (rs.grid || !rs.builtin || mse) return null;
  const blockSize = Math.min(s.blockSize, cols);
  const staticGroups = staticParams.length > 0;
  const group = groupsOf(s, staticGroups);
  const sym = rs.scheme === "symmetric";
  const Ut = tf.tensor2d(s.U, [cols, cols]);
  let rest: tf.Tensor2D = tf.tensor2d(s.Wt, [cols, rows]); // rows i1… of Wt, as the trailing updates leave them
  const staticS = staticGroups ? tf.tidy(() => tf.transpose(tf.tensor2d(scales, [rows, ng]))) : null;
  const staticZ = staticGroups ? tf.tidy(() => tf.transpose(tf.tensor2d(zeros, [rows, ng]))) : null;
  /** paramsFromRange ("gptq") per row from cnt rows of `src` (cnt × rows). */
  const fit = (src: tf.Tensor2D): [tf.Tensor1D, tf.Tensor1D] => tf.tidy(() => {
    let lo = tf.minimum(tf.min(src, 0), 0);
    let hi = tf.maximum(tf.max(src, 0), 0);
    if (sym) {
      hi = tf.maximum(tf.abs(lo), hi);
      lo = tf.where(tf.less(lo, 0), tf.neg(hi), lo);
    }
    const flat = tf.logicalAnd(tf.equal(lo, 0), tf.equal(hi, 0));
    lo = tf.where(flat, tf.fill(lo.shape, -1), lo);
    hi = tf.where(flat, tf.fill(hi.shape, 1), hi);
    const scale = tf.div(tf.sub(hi, lo), rs.qmax) as tf.Tensor1D;
    const zero = (sym ? tf.fill(scale.shape, (rs.qmax + 1) / 2) : tf.round(tf.div(tf.neg(lo), scale))) as tf.Tensor1D;
    return [scale, zero];
  });
  const fitted: [number, tf.Tensor1D, tf.Tensor1D][] = [];
  let cur: [tf.Tensor1D, tf.Tensor1D] | null = null;
  let lossT: tf.Scalar = tf.scalar(0);
  const codeBlocks: tf.Tensor2D[] = [];
  try {
    for (let i1 = 0; i1 < cols; i1 += blockSize) {
      await checkpoint(label, i1, cols);
      const i2 = Math.min(cols, i1 + blockSize);
      const b = i2 - i1;
      let W1 = tf.slice(rest, [0, 0], [b, rows]);
      const Ub = tf.slice(Ut, [i1, i1], [b, b]);
      const errs: tf.Tensor1D[] = [];
      const codes: tf.Tensor1D[] = [];
      for (let j = 0; j < b; j++) {
        const i = i1 + j;
        if (!staticGroups && (gs >= cols ? i === 0 : i % gs === 0)) {
          // from W as it stands at the block's start (rest), not the block's working copy
          const cnt = Math.min(gs, cols - i);
          const src = tf.slice(rest, [j, 0], [cnt, rows]);
          const p = fit(src);
          src.dispose();
          fitted.push([group[i]!, p[0], p[1]]);
          cur = p;
        }
        const step = tf.tidy(() => {
          const [scale, zero] = staticGroups
            ? [tf.reshape(tf.slice(staticS!, [group[i]!, 0], [1, rows]), [rows]) as tf.Tensor1D, tf.reshape(tf.slice(staticZ!, [group[i]!, 0], [1, rows]), [rows]) as tf.Tensor1D]
            : cur!;
          const w = tf.reshape(tf.slice(W1, [j, 0], [1, rows]), [rows]);
          const d = tf.reshape(tf.slice(Ub, [j, j], [1, 1]), []);
          const q = tf.clipByValue(tf.add(roundQuotient(w, scale), zero), rs.qmin, rs.qmax);
          const diff = tf.sub(w, tf.mul(tf.sub(q, zero), scale));
          const e = tf.div(diff, d) as tf.Tensor1D;
          const loss = tf.add(lossT, tf.div(tf.sum(tf.square(e)), 2)) as tf.Scalar;
          // W1 −= U[i, block] ⊗ e: columns before j get 0 (U is upper), column j itself is done
          const next = tf.sub(W1, tf.mul(tf.reshape(tf.slice(Ub, [j, 0], [1, b]), [b, 1]), tf.reshape(e, [1, rows]))) as tf.Tensor2D;
          return { q: q as tf.Tensor1D, e, loss, next };
        });
        W1.dispose();
        lossT.dispose();
        W1 = step.next;
        lossT = step.loss;
        errs.push(step.e);
        codes.push(step.q);
      }
      W1.dispose();
      Ub.dispose();
      codeBlocks.push(tf.stack(codes) as tf.Tensor2D);
      const E = tf.stack(errs) as tf.Tensor2D;
      tf.dispose([...codes, ...errs]);
      // W[:, i2:] −= Err·Hinv[block, i2:], in the transposed form rest[b:] −= Hinv[block, i2:]ᵀ·Errᵀ
      const next = i2 < cols
        ? tf.tidy(() => tf.sub(tf.slice(rest, [b, 0], [cols - i2, rows]), tf.matMul(tf.slice(Ut, [i1, i2], [b, cols - i2]), E, true, false)) as tf.Tensor2D)
        : null;
      E.dispose();
      rest.dispose();
      if (!next) break;
      rest = next;
    }
    await checkpoint(label, cols, cols);
    const codesT = Int16Array.from((await tf.concat(codeBlocks).data()) as Float32Array);
    for (const [g, sc, z] of fitted) {
      const sv = (await sc.data()) as Float32Array;
      const zv = (await z.data()) as Float32Array;
      for (let r = 0; r < rows; r++) { scales[r * ng + g] = sv[r]!; zeros[r * ng + g] = zv[r]!; }
    }
    return { codesT, Qt: null, loss: (await lossT.data())[0]! };
  } finally {
    tf.dispose([Ut, lossT, ...codeBlocks, ...fitted.flatMap(([, a, b]) => [a, b])]);
    if (!rest.isDisposed) rest.dispose();
    if (staticS) tf.dispose([staticS, staticZ!]);
  }
}
