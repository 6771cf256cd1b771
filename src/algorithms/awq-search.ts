/**
 * AWQ's two grid searches (awq.ts) and the group quantizer they share, each search on two paths:
 * WebAssembly on the GEMM kernel's shared memory (assembly/awq.ts: a grid point's quantization error is
 * written where the loss product reads it, the products run in place on the pool), or JavaScript with
 * the backend's products (cpu, webgpu, a user's own quantization rules, the kernel not built). The two
 * give the same losses, bit for bit (test/algorithms/awq.test.ts).
 *
 *   quantizeGroups(rs, data, R, cols, gs, clip, full) → Q(data) per (row, group), optionally clamped first
 *   scaleLosses(rs, W, R, cols, gs, Xs, candidates)   → mean squared output error of Q(W·s)/s per s
 *   clipSearch(rs, Wsc, rows, cols, gs, Xc)          → per (row, group) clipping bound (llm-awq auto_clip)
 *
 * Each search picks its path; the paths are exported too (…Js, …Wasm: null where the kernel cannot run)
 * so the tests can hold them to the same numbers.
 */
import { checkpoint } from "../progress.js";
import type { Matrix } from "../numerics/matrix.js";
import { decode, encode, fitGroup } from "../numerics/affine.js";
import { rtnKernel } from "../numerics/rtn.js";
import type { ResolvedSpec } from "../numerics/spec.js";
import { withWorkspace, type Workspace } from "../backend/gemm.js";
import { awqKernel } from "../backend/shared-kernels.js";
import { ensureBackend, tf } from "../backend/index.js";
import { gram, matmul } from "./matmul.js";

/** Clip grid: max_val = amax·(1 − i/CLIP_STEP) for i < CLIP_POINTS (llm-awq's n_grid 20, max_shrink 0.5). */
const CLIP_STEP = 20;
const CLIP_POINTS = 10;

export interface Grouped {
  deq: Float32Array;
  codes?: Int16Array;
  scales?: Float32Array;
  zeros?: Float32Array;
}

/**
 * The same through the numeric core's RTN kernel (one pass, no per-weight calls; bit-identical to
 * fitGroup/encode/decode for built-in specs), or null where the spec needs the generic path.
 */
function quantizeGroupsFast(rs: ResolvedSpec, data: Float32Array, R: number, cols: number, gs: number, clip: Float32Array | null, full: boolean): Grouped | null {
  if (!rs.builtin || rs.grid) return null;
  let src = data;
  if (clip) {
    const ng = Math.ceil(cols / gs);
    src = new Float32Array(data.length);
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < cols; c++) {
        const m = clip[r * ng + Math.floor(c / gs)]!;
        const x = data[r * cols + c]!;
        src[r * cols + c] = x > m ? m : x < -m ? -m : x;
      }
    }
  }
  const k = rtnKernel({ rows: R, cols, data: src }, rs);
  if (!k) return null;
  return full ? { deq: k.dequantized, codes: k.codes, scales: k.scales, zeros: k.zeros } : { deq: k.dequantized };
}

/** Quantizes each (row, group) of a row-major R × cols array through the affine primitives, optionally clamped to ±clip first. */
export function quantizeGroups(rs: ResolvedSpec, data: Float32Array, R: number, cols: number, gs: number, clip: Float32Array | null, full: boolean): Grouped {
  const ng = Math.ceil(cols / gs);
  const fast = quantizeGroupsFast(rs, data, R, cols, gs, clip, full);
  if (fast) return fast;
  const deq = new Float32Array(R * cols);
  const out: Grouped = { deq };
  if (full) {
    out.codes = new Int16Array(R * cols);
    out.scales = new Float32Array(R * ng);
    out.zeros = new Float32Array(R * ng);
  }
  const buf = new Float32Array(gs);
  for (let r = 0; r < R; r++) {
    for (let g = 0; g < ng; g++) {
      const c0 = g * gs;
      const len = Math.min(gs, cols - c0);
      const off = r * cols + c0;
      const v = buf.subarray(0, len);
      const m = clip ? clip[r * ng + g]! : Infinity;
      for (let k = 0; k < len; k++) {
        const x = data[off + k]!;
        v[k] = x > m ? m : x < -m ? -m : x;
      }
      const p = fitGroup(rs, v);
      if (full) {
        out.scales![r * ng + g] = p.scale;
        out.zeros![r * ng + g] = p.zero;
      }
      for (let k = 0; k < len; k++) {
        const q = encode(rs, v[k]!, p);
        if (full) out.codes![off + k] = q;
        deq[off + k] = decode(rs, q, p);
      }
    }
  }
  return out;
}


/** Whether this spec and backend take the WebAssembly path: the kernel covers the built-in integer grids. */
async function kernelApplies(rs: ResolvedSpec): Promise<boolean> {
  if (!rs.builtin || rs.grid) return false;
  await ensureBackend();
  return tf.getBackend() === "wasm";
}

/** Float offsets of named regions in a workspace, each 64-byte aligned. */
function layout(sizes: Record<string, number>): { at: Record<string, number>; floats: number } {
  const at: Record<string, number> = {};
  let floats = 0;
  for (const [name, n] of Object.entries(sizes)) {
    at[name] = floats;
    floats += Math.ceil(n / 16) * 16;
  }
  return { at, floats };
}

/** The scale search's losses in JavaScript: per candidate s, D = Q(W·s)/s − W and mean((Xs·Dᵀ)²). */
export async function scaleLossesJs(rs: ResolvedSpec, W: Float32Array, R: number, cols: number, gs: number, Xs: Matrix, candidates: Float32Array[]): Promise<Float64Array> {
  const losses = new Float64Array(candidates.length);
  const scaled = new Float32Array(R * cols);
  for (let k = 0; k < candidates.length; k++) {
    await checkpoint("awq scale grid", k, candidates.length);
    const s = candidates[k]!;
    for (let r = 0; r < R; r++) for (let c = 0; c < cols; c++) scaled[r * cols + c] = W[r * cols + c]! * s[c]!;
    const { deq } = quantizeGroups(rs, scaled, R, cols, gs, null, false);
    // D = Q(W·s)/s − W row-major (reusing `scaled`), read transposed in place by the product
    for (let r = 0; r < R; r++) for (let c = 0; c < cols; c++) scaled[r * cols + c] = Math.fround(deq[r * cols + c]! / s[c]!) - W[r * cols + c]!;
    const Y = await matmul(Xs.data, Xs.rows, cols, scaled, R, undefined, { transB: true });
    let se = 0;
    for (let i = 0; i < Y.length; i++) se += Y[i]! * Y[i]!;
    losses[k] = se / Y.length;
  }
  await checkpoint("awq scale grid", candidates.length, candidates.length);
  return losses;
}

/** The same on the shared memory: one kernel call and one in-place pooled product per candidate. */
export async function scaleLossesWasm(rs: ResolvedSpec, W: Float32Array, R: number, cols: number, gs: number, Xs: Matrix, candidates: Float32Array[]): Promise<Float64Array | null> {
  const T = Xs.rows;
  const { at, floats } = layout({ W: R * cols, X: T * cols, D: R * cols, Y: T * R, s: cols });
  return withWorkspace(floats, async (ws) => {
    const k = awqKernel(ws.memory);
    if (!k) return null;
    const o = (name: string) => ws.base + at[name]!;
    const f = ws.f32;
    f.set(W.subarray(0, R * cols), o("W"));
    f.set(Xs.data.subarray(0, T * cols), o("X"));
    const losses = new Float64Array(candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      await checkpoint("awq scale grid", i, candidates.length);
      f.set(candidates[i]!, o("s"));
      k.groupError(o("W") * 4, R, cols, gs, o("s") * 4, 0, rs.qmin, rs.qmax, rs.scheme === "symmetric" ? 1 : 0, o("D") * 4);
      await ws.product({ at: o("X"), ld: cols }, T, cols, { at: o("D"), ld: cols }, R, { at: o("Y"), ld: R }, { transB: true });
      losses[i] = k.sumSquares(o("Y") * 4, T * R) / (T * R);
    }
    await checkpoint("awq scale grid", candidates.length, candidates.length);
    return losses;
  });
}

/**
 * Mean squared output error mean((Xs·(Q(W·s)/s − W)ᵀ)²) of every candidate input scaling s (W: R × cols
 * row-major, the block's linears stacked; Xs: the search tokens).
 */
export async function scaleLosses(rs: ResolvedSpec, W: Float32Array, R: number, cols: number, gs: number, Xs: Matrix, candidates: Float32Array[]): Promise<Float64Array> {
  return ((await kernelApplies(rs)) ? await scaleLossesWasm(rs, W, R, cols, gs, Xs, candidates) : null)
    ?? scaleLossesJs(rs, W, R, cols, gs, Xs, candidates);
}

/** Gram block of each group, G_g = X_gᵀ·X_g (gs × gs), zero-padded past the row's end. */
async function groupGrams(Xc: Matrix, gs: number): Promise<Float32Array[]> {
  const { rows: T, cols } = Xc;
  const Xg = new Float32Array(T * gs);
  const G: Float32Array[] = [];
  for (let c0 = 0; c0 < cols; c0 += gs) {
    const len = Math.min(gs, cols - c0);
    Xg.fill(0);
    for (let t = 0; t < T; t++) Xg.set(Xc.data.subarray(t * cols + c0, t * cols + c0 + len), t * gs);
    G.push(await gram(Xg, T, gs));
  }
  return G;
}

/** Per (row, group): absmax of the group, the best bound so far and its error, the bound under trial. */
function clipState(Wsc: Float32Array, rows: number, cols: number, gs: number) {
  const ng = Math.ceil(cols / gs);
  const amax = new Float32Array(rows * ng);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * ng + Math.floor(c / gs);
      const v = Math.abs(Wsc[r * cols + c]!);
      if (v > amax[i]!) amax[i] = v;
    }
  }
  return { amax, best: new Float32Array(rows * ng).fill(Infinity), bestErr: new Float64Array(rows * ng).fill(Infinity), mv: new Float32Array(rows * ng) };
}

function keep(j: number, v: number, bestErr: Float64Array, best: Float32Array, mv: Float32Array): void {
  if (v < bestErr[j]!) {
    bestErr[j] = v;
    best[j] = mv[j]!;
  }
}

/**
 * The clip search in JavaScript: per grid point all groups quantized at once, then per group one
 * product D_g·G_g (rows × gs by gs × gs, on the backend's GEMM) and a row-wise dot with D_g.
 */
export async function clipSearchJs(rs: ResolvedSpec, Wsc: Float32Array, rows: number, cols: number, gs: number, Xc: Matrix): Promise<Float32Array> {
  const ng = Math.ceil(cols / gs);
  const T = Xc.rows;
  const G = await groupGrams(Xc, gs);
  const { amax, best, bestErr, mv } = clipState(Wsc, rows, cols, gs);
  const D = new Float32Array(rows * gs);
  const P = new Float32Array(rows * gs);
  for (let i = 0; i < CLIP_POINTS; i++) {
    await checkpoint("awq clip grid", i, CLIP_POINTS);
    for (let j = 0; j < mv.length; j++) mv[j] = amax[j]! * (1 - i / CLIP_STEP);
    const { deq } = quantizeGroups(rs, Wsc, rows, cols, gs, mv, false);
    for (let g = 0; g < ng; g++) {
      const c0 = g * gs;
      const len = Math.min(gs, cols - c0);
      for (let r = 0; r < rows; r++) {
        const o = r * cols + c0;
        for (let k = 0; k < len; k++) D[r * gs + k] = deq[o + k]! - Wsc[o + k]!;
      }
      await matmul(D, rows, gs, G[g]!, gs, P);
      for (let r = 0; r < rows; r++) {
        let e = 0;
        for (let k = 0; k < len; k++) e += P[r * gs + k]! * D[r * gs + k]!;
        keep(r * ng + g, e / T, bestErr, best, mv);
      }
    }
  }
  await checkpoint("awq clip grid", CLIP_POINTS, CLIP_POINTS);
  return best;
}

/** The clip search on the shared memory: per grid point one kernel call, then per group one in-place product. */
export async function clipSearchWasm(rs: ResolvedSpec, Wsc: Float32Array, rows: number, cols: number, gs: number, Xc: Matrix): Promise<Float32Array | null> {
  const ng = Math.ceil(cols / gs);
  const T = Xc.rows;
  const G = await groupGrams(Xc, gs);
  const { amax, best, bestErr, mv } = clipState(Wsc, rows, cols, gs);
  const { at, floats } = layout({ W: rows * cols, D: rows * cols, G: ng * gs * gs, P: rows * gs, clip: rows * ng });
  return withWorkspace(floats, async (ws: Workspace) => {
    const k = awqKernel(ws.memory);
    if (!k) return null;
    const o = (name: string) => ws.base + at[name]!;
    const f = ws.f32;
    f.set(Wsc.subarray(0, rows * cols), o("W"));
    G.forEach((g, i) => f.set(g, o("G") + i * gs * gs));
    const D = o("D");
    const P = o("P");
    for (let i = 0; i < CLIP_POINTS; i++) {
      await checkpoint("awq clip grid", i, CLIP_POINTS);
      for (let j = 0; j < mv.length; j++) mv[j] = amax[j]! * (1 - i / CLIP_STEP);
      f.set(mv, o("clip"));
      k.groupError(o("W") * 4, rows, cols, gs, 0, o("clip") * 4, rs.qmin, rs.qmax, rs.scheme === "symmetric" ? 1 : 0, D * 4);
      for (let g = 0; g < ng; g++) {
        const c0 = g * gs;
        const len = Math.min(gs, cols - c0);
        // columns past a short last group are the next row's: the product reads only len of them (G is zero there)
        await ws.product({ at: D + c0, ld: cols }, rows, len, { at: o("G") + g * gs * gs, ld: gs }, gs, { at: P, ld: gs });
        for (let r = 0; r < rows; r++) {
          let e = 0;
          const pr = P + r * gs;
          const dr = D + r * cols + c0;
          for (let q = 0; q < len; q++) e += f[pr + q]! * f[dr + q]!;
          keep(r * ng + g, e / T, bestErr, best, mv);
        }
      }
    }
    await checkpoint("awq clip grid", CLIP_POINTS, CLIP_POINTS);
    return best;
  });
}

/**
 * Per (row, group) clipping bound minimising the group's partial-output error (llm-awq auto_clip):
 * max_val = amax·(1 − i/20), i < 10, the error dᵀ·G_g·d with the group's Gram block G_g of the clip
 * tokens Xc (which equals llm-awq's mean over tokens of (Σ_k x_k·(w_k − q_k))²).
 */
export async function clipSearch(rs: ResolvedSpec, Wsc: Float32Array, rows: number, cols: number, gs: number, Xc: Matrix): Promise<Float32Array> {
  return ((await kernelApplies(rs)) ? await clipSearchWasm(rs, Wsc, rows, cols, gs, Xc) : null)
    ?? clipSearchJs(rs, Wsc, rows, cols, gs, Xc);
}
