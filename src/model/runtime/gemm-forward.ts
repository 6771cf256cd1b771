/**
 * The layer-major decoder block and head on QuantLab's pooled WebAssembly GEMM (src/backend/gemm.ts)
 * instead of tfjs, for real sizes: a layer's weights are written once into the GEMM's shared memory
 * (q/k/v fused into one [dim + 2·kv, dim] matrix, gate/up into one [2·hidden, dim]) and every window's
 * positions go through each linear in one product, M = all windows' tokens, the residual added by the
 * product itself (accumulate). RMSNorm, RoPE, the causal softmax and SwiGLU run in JavaScript on the
 * same floats; attention's two products per head run on the kernel over strided views of the q/k/v
 * rows, so nothing is transposed or copied. tfjs spent ≈ 6–12 GFLOP/s on these products, the kernel
 * 35–74 on two cores.
 *
 * Hooks see what they see on tfjs: each window's [T, in] input of a linear group (`linearInput`, so
 * per-tensor activation scales stay per window), its keys after RoPE and values (`kv`), the head's input
 * (`headInput`). `onLinearInput` (calibration captures) and `attention` keep the tfjs path.
 *
 * `GemmStages` runs the same arithmetic one stage at a time over every calibration window, for the
 * quantization workflow, which quantizes a linear group between two stages.
 */
import { withWorkspace, type Region, type Workspace } from "../../backend/gemm.js";
import { check } from "../../errors.js";
import type { Matrix } from "../../numerics/matrix.js";
import { headDim, type LinearName, type LlamaConfig, type LlamaLayer } from "../llama.js";
import { GATE_UP, QKV, type BlockHooks } from "./forward.js";
import { tf } from "./tf.js";

/** Whether the GEMM block reproduces these hooks (the rest need the tfjs block). */
export function gemmSupports(hooks: BlockHooks): boolean {
  return !hooks.attention && !hooks.onLinearInput;
}

const align16 = (x: number) => Math.ceil(x / 16) * 16;

/** Rows [r0, r0 + T) of `cols` values at `at` (row stride `ld`) through a tensor hook, written back in place. */
function throughHook(f32: Float32Array, at: number, ld: number, T: number, cols: number, hook: (x: tf.Tensor2D) => tf.Tensor2D): void {
  const buf = new Float32Array(T * cols);
  for (let t = 0; t < T; t++) buf.set(f32.subarray(at + t * ld, at + t * ld + cols), t * cols);
  const x = tf.tensor2d(buf, [T, cols]);
  const y = hook(x);
  const out = y.dataSync() as Float32Array;
  if (y !== x) y.dispose();
  x.dispose();
  for (let t = 0; t < T; t++) f32.set(out.subarray(t * cols, (t + 1) * cols), at + t * ld);
}

/** y = RMSNorm(x)·w over M rows of `dim` (x and y may be the same region). */
function rmsNorm(f32: Float32Array, x: number, y: number, M: number, dim: number, w: Float32Array, eps: number): void {
  for (let r = 0; r < M; r++) {
    const xo = x + r * dim, yo = y + r * dim;
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += f32[xo + j]! * f32[xo + j]!;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) f32[yo + j] = f32[xo + j]! * inv * w[j]!;
  }
}

function addBias(f32: Float32Array, at: number, ld: number, M: number, b: Float32Array): void {
  for (let r = 0; r < M; r++) for (let j = 0; j < b.length; j++) f32[at + r * ld + j] += b[j]!;
}

/** cos and sin of position t's pair i at [t·half + i], as the tfjs rope makes them (float32). */
function ropeTables(invFreq: Float32Array, T: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = t * invFreq[i]!;
      cos[t * half + i] = Math.cos(a);
      sin[t * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** Rotates interleaved pairs of `heads` heads of `hd` at row `at` (stride ld) for positions 0 … T-1. */
function rope(f32: Float32Array, at: number, ld: number, T: number, heads: number, hd: number, tab: { cos: Float32Array; sin: Float32Array }): void {
  const half = hd / 2;
  const fr = Math.fround;
  for (let t = 0; t < T; t++) {
    const row = at + t * ld;
    for (let h = 0; h < heads; h++) {
      const o = row + h * hd;
      for (let i = 0; i < half; i++) {
        const c = tab.cos[t * half + i]!, s = tab.sin[t * half + i]!;
        const x0 = f32[o + 2 * i]!, x1 = f32[o + 2 * i + 1]!;
        f32[o + 2 * i] = fr(x0 * c) - fr(x1 * s);
        f32[o + 2 * i + 1] = fr(x0 * s) + fr(x1 * c);
      }
    }
  }
}

/** Causal softmax in place over the lower triangle of a T × T block (row stride T); the upper one becomes 0. */
function causalSoftmax(f32: Float32Array, at: number, T: number): void {
  for (let t = 0; t < T; t++) {
    const o = at + t * T;
    let m = -Infinity;
    for (let s = 0; s <= t; s++) if (f32[o + s]! > m) m = f32[o + s]!;
    let sum = 0;
    for (let s = 0; s <= t; s++) {
      const e = Math.exp(f32[o + s]! - m);
      f32[o + s] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let s = 0; s <= t; s++) f32[o + s] *= inv;
    f32.fill(0, o + t + 1, o + T);
  }
}

/** The inverse rotary frequencies of a config (as forward.ts computes them). */
export function inverseFrequencies(c: LlamaConfig): Float32Array {
  const hd = headDim(c);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = Math.pow(c.ropeTheta, (-2 * i) / hd) / (c.ropeFreqFactors ? c.ropeFreqFactors[i]! : 1);
  return inv;
}

/**
 * Runs every window (hidden[w]: T_w × dim) through decoder layer `i` with weights `l` on the GEMM; the
 * new hidden states, or null when the kernel is not built or its memory cannot hold the layer (the
 * caller then runs the tfjs block).
 */
export async function gemmBlock(c: LlamaConfig, i: number, l: LlamaLayer, hidden: readonly Float32Array[], hooks: BlockHooks): Promise<Float32Array[] | null> {
  const { dim, hiddenDim: hid } = c;
  const nq = dim + 2 * headDim(c) * c.nKvHeads;
  const lens = hidden.map((h) => h.length / dim);
  const M = lens.reduce((s, t) => s + t, 0), Tmax = Math.max(...lens);
  // float offsets from the workspace's base: weights, then activations
  let o = 0;
  const take = (n: number) => { const at = o; o = align16(o + n); return at; };
  const Wqkv = take(nq * dim), Wo = take(dim * dim), Wgu = take(2 * hid * dim), Wd = take(dim * hid);
  const X = take(M * dim), H = take(M * dim), Y = take(M * nq), GU = take(M * 2 * hid), S = take(Tmax * Tmax);
  return withWorkspace(o, async (ws) => {
    const f = ws.f32, b = ws.base;
    const put = (at: number, ...ms: Float32Array[]) => { let p = b + at; for (const m of ms) (f.set(m, p), (p += m.length)); };
    put(Wqkv, l.attn_q.data, l.attn_k.data, l.attn_v.data);
    put(Wo, l.attn_output.data);
    put(Wgu, l.ffn_gate.data, l.ffn_up.data);
    put(Wd, l.ffn_down.data);
    put(X, ...hidden);
    const R = (at: number, ld: number): Region => ({ at: b + at, ld });
    const starts = lens.map((_, w) => lens.slice(0, w).reduce((s, t) => s + t, 0));
    const hook = (names: readonly LinearName[], at: number, ld: number, cols: number) => {
      const h = hooks.linearInput;
      if (!h) return;
      lens.forEach((T, w) => throughHook(f, b + at + starts[w]! * ld, ld, T, cols, (x) => h(i, names, x)));
    };
    const bias = (n: LinearName, at: number, ld: number) => { const v = l.bias?.[n]; if (v) addBias(f, b + at, ld, M, v); };

    rmsNorm(f, b + X, b + H, M, dim, l.attnNorm, c.rmsEps);
    hook(QKV, H, dim, dim);
    await qkvProjection(ws, c, l, M, H, Wqkv, Y);
    await attention(ws, c, lens, starts, Y, S, H, hooks.kv && ((k, v) => hooks.kv!(i, k, v)));
    hook(["attn_output"], H, dim, dim);
    await ws.product(R(H, dim), M, dim, R(Wo, dim), dim, R(X, dim), { transB: true, accumulate: true });
    bias("attn_output", X, dim);

    rmsNorm(f, b + X, b + H, M, dim, l.ffnNorm, c.rmsEps);
    hook(GATE_UP, H, dim, dim);
    await ws.product(R(H, dim), M, dim, R(Wgu, dim), 2 * hid, R(GU, 2 * hid), { transB: true });
    bias("ffn_gate", GU, 2 * hid);
    if (l.bias?.ffn_up) addBias(f, b + GU + hid, 2 * hid, M, l.bias.ffn_up);
    swiGLU(f, b + GU, M, hid);
    hook(["ffn_down"], GU, 2 * hid, hid);
    await ws.product(R(GU, 2 * hid), M, hid, R(Wd, hid), dim, R(X, dim), { transB: true, accumulate: true });
    bias("ffn_down", X, dim);
    return lens.map((T, w) => f.slice(b + X + starts[w]! * dim, b + X + (starts[w]! + T) * dim));
  });
}

/** Y = H·Wqkvᵀ + the q/k/v biases: M rows of q | k | v (stride nq) from M normed rows at H. */
async function qkvProjection(ws: Workspace, c: LlamaConfig, l: LlamaLayer, M: number, H: number, Wqkv: number, Y: number): Promise<void> {
  const f = ws.f32, b = ws.base, dim = c.dim, kv = headDim(c) * c.nKvHeads, nq = dim + 2 * kv;
  await ws.product({ at: b + H, ld: dim }, M, dim, { at: b + Wqkv, ld: dim }, nq, { at: b + Y, ld: nq }, { transB: true });
  if (l.bias?.attn_q) addBias(f, b + Y, nq, M, l.bias.attn_q);
  if (l.bias?.attn_k) addBias(f, b + Y + dim, nq, M, l.bias.attn_k);
  if (l.bias?.attn_v) addBias(f, b + Y + dim + kv, nq, M, l.bias.attn_v);
}

/** SwiGLU of M rows of gate | up (2·hid each, at `at`) into the gate's columns, which then are ffn_down's input. */
function swiGLU(f: Float32Array, at: number, M: number, hid: number): void {
  for (let r = 0; r < M; r++) {
    const g0 = at + r * 2 * hid;
    for (let j = 0; j < hid; j++) {
      const g = f[g0 + j]!;
      f[g0 + j] = Math.fround(g / (1 + Math.exp(-g))) * f[g0 + hid + j]!;
    }
  }
}

/**
 * RoPE on the q and k columns of Y (M rows of q | k | v, stride nq, from H·Wqkvᵀ with biases) and each
 * window's causal attention, head by head on the kernel over strided views: the result into O (M × dim).
 */
async function attention(ws: Workspace, c: LlamaConfig, lens: readonly number[], starts: readonly number[], Y: number, S: number, O: number,
  kvHook?: (k: tf.Tensor3D, v: tf.Tensor3D) => { k: tf.Tensor3D; v: tf.Tensor3D }): Promise<void> {
  const f = ws.f32, b = ws.base, dim = c.dim;
  const hd = headDim(c), kv = hd * c.nKvHeads, nq = dim + 2 * kv, group = c.nHeads / c.nKvHeads;
  const R = (at: number, ld: number): Region => ({ at: b + at, ld });
  const tab = ropeTables(inverseFrequencies(c), Math.max(...lens));
  const scale = 1 / Math.sqrt(hd);
  for (let w = 0; w < lens.length; w++) {
    const T = lens[w]!, r0 = Y + starts[w]! * nq;
    rope(f, b + r0, nq, T, c.nHeads, hd, tab);
    rope(f, b + r0 + dim, nq, T, c.nKvHeads, hd, tab);
    if (kvHook) kvThroughHook(f, b + r0 + dim, nq, T, c.nKvHeads, hd, kvHook);
    for (let h = 0; h < c.nHeads; h++) {
      const g = Math.floor(h / group);
      // scores' lower triangle only: the causal mask drops the rest
      await ws.product(R(r0 + h * hd, nq), T, hd, R(r0 + dim + g * hd, nq), T, R(S, T), { transB: true, alpha: scale, tri: 2 });
      causalSoftmax(f, b + S, T);
      await ws.product(R(S, T), T, T, R(r0 + dim + kv + g * hd, nq), hd, R(O + starts[w]! * dim + h * hd, dim));
    }
  }
}

/**
 * Rows per block of windows in `GemmStages`: 4096 rows of gate | up are 185 MB of GEMM memory (which
 * keeps the size of its largest product), and products of 4096 rows run at the kernel's full rate.
 */
const STAGE_ROWS = 4096;

/**
 * A decoder layer's stages one at a time on the GEMM, for the quantization workflow (workflow.ts), which
 * quantizes a linear group between two of them. Each works on every calibration window's rows
 * concatenated (tokens × cols), a block of whole windows at a time, so the kernel's memory holds one
 * block, not 128 × 512 tokens of activations; attention and the residuals work in place and the others
 * write where they are told, so the workflow keeps its two activation buffers for the whole run. The
 * arithmetic is gemmBlock's; the layer's weights are read at each call, so a stage sees the linears the
 * workflow has already quantized.
 */
export class GemmStages {
  private readonly blocks: { w0: number; w1: number; r0: number; rows: number }[] = [];
  /** `lens`: each window's positions, in the order of the rows; `blockRows`: rows per block (whole windows, at least one). */
  constructor(readonly config: LlamaConfig, readonly lens: readonly number[], blockRows = STAGE_ROWS) {
    for (let w = 0, r = 0; w < lens.length;) {
      const b = { w0: w, w1: w, r0: r, rows: 0 };
      while (b.w1 < lens.length && (b.rows === 0 || b.rows + lens[b.w1]! <= blockRows)) b.rows += lens[b.w1++]!;
      this.blocks.push(b);
      w = b.w1;
      r += b.rows;
    }
  }

  /** RMSNorm(x)·w of every row into `out` (the input of q/k/v with attnNorm, of gate/up with ffnNorm). */
  norm(x: Float32Array, w: Float32Array, out: Float32Array = new Float32Array(x.length)): Float32Array {
    out.set(x);
    rmsNorm(out, 0, 0, x.length / this.config.dim, this.config.dim, w, this.config.rmsEps);
    return out;
  }

  /** q/k/v projections of the normed rows h, RoPE and causal attention, in place: h becomes attn_output's input. */
  async attend(l: LlamaLayer, h: Float32Array): Promise<Float32Array> {
    const c = this.config, dim = c.dim, nq = dim + 2 * headDim(c) * c.nKvHeads;
    const most = this.mostRows(), Tmax = Math.max(...this.lens);
    const Wqkv = 0, H = align16(nq * dim), Y = align16(H + most * dim), S = align16(Y + most * nq);
    fits(await withWorkspace(S + Tmax * Tmax, async (ws) => {
      const f = ws.f32, b = ws.base;
      let p = b + Wqkv;
      for (const m of [l.attn_q.data, l.attn_k.data, l.attn_v.data]) (f.set(m, p), (p += m.length));
      for (const blk of this.blocks) {
        const lens = this.lens.slice(blk.w0, blk.w1);
        const starts = lens.map((_, w) => lens.slice(0, w).reduce((s, t) => s + t, 0));
        f.set(h.subarray(blk.r0 * dim, (blk.r0 + blk.rows) * dim), b + H);
        await qkvProjection(ws, c, l, blk.rows, H, Wqkv, Y);
        await attention(ws, c, lens, starts, Y, S, H);
        h.set(f.subarray(b + H, b + H + blk.rows * dim), blk.r0 * dim);
      }
      return true;
    }));
    return h;
  }

  /** x += a·Wᵀ (+ bias), in place: the residual after attn_output (a = the attention) or after ffn_down (a = the SwiGLU). */
  async residual(x: Float32Array, a: Float32Array, W: Matrix, bias?: Float32Array): Promise<Float32Array> {
    const n = W.rows, k = W.cols, most = this.mostRows();
    const Wt = 0, A = align16(n * k), C = align16(A + most * k);
    fits(await withWorkspace(C + most * n, async (ws) => {
      const f = ws.f32, b = ws.base;
      f.set(W.data, b + Wt);
      for (const blk of this.blocks) {
        const rows = x.subarray(blk.r0 * n, (blk.r0 + blk.rows) * n);
        f.set(a.subarray(blk.r0 * k, (blk.r0 + blk.rows) * k), b + A);
        f.set(rows, b + C);
        await ws.product({ at: b + A, ld: k }, blk.rows, k, { at: b + Wt, ld: k }, n, { at: b + C, ld: n }, { transB: true, accumulate: true });
        if (bias) addBias(f, b + C, n, blk.rows, bias);
        rows.set(f.subarray(b + C, b + C + blk.rows * n));
      }
      return true;
    }));
    return x;
  }

  /**
   * SwiGLU silu(h2·W_gateᵀ) ⊙ (h2·W_upᵀ) with h2 = RMSNorm(x1)·normW, normed here a block at a time, into
   * `out` (tokens × hiddenDim): the input of ffn_down. `out` may hold the full-size h2 the workflow
   * quantized gate/up with; x1 is only read.
   */
  async ffnAct(l: LlamaLayer, x1: Float32Array, normW: Float32Array, out: Float32Array = new Float32Array((x1.length / this.config.dim) * this.config.hiddenDim)): Promise<Float32Array> {
    const { dim, hiddenDim: hid, rmsEps } = this.config;
    const most = this.mostRows();
    // everything in the GEMM's own memory, so a block makes no JavaScript copies (4096 rows of gate | up
    // are 185 MB, and garbage of that size would count against the run's peak until collected)
    const Wgu = 0, H = align16(2 * hid * dim), GU = align16(H + most * dim);
    fits(await withWorkspace(GU + most * 2 * hid, async (ws) => {
      const f = ws.f32, b = ws.base;
      f.set(l.ffn_gate.data, b + Wgu);
      f.set(l.ffn_up.data, b + Wgu + hid * dim);
      for (const blk of this.blocks) {
        f.set(x1.subarray(blk.r0 * dim, (blk.r0 + blk.rows) * dim), b + H);
        rmsNorm(f, b + H, b + H, blk.rows, dim, normW, rmsEps);
        await ws.product({ at: b + H, ld: dim }, blk.rows, dim, { at: b + Wgu, ld: dim }, 2 * hid, { at: b + GU, ld: 2 * hid }, { transB: true });
        if (l.bias?.ffn_gate) addBias(f, b + GU, 2 * hid, blk.rows, l.bias.ffn_gate);
        if (l.bias?.ffn_up) addBias(f, b + GU + hid, 2 * hid, blk.rows, l.bias.ffn_up);
        swiGLU(f, b + GU, blk.rows, hid);
        for (let r = 0; r < blk.rows; r++) out.set(f.subarray(b + GU + r * 2 * hid, b + GU + r * 2 * hid + hid), (blk.r0 + r) * hid);
      }
      return true;
    }));
    return out;
  }

  /** Rows of the largest block: each stage's workspace holds the layer's weights once and one block. */
  private mostRows(): number {
    return Math.max(...this.blocks.map((b) => b.rows));
  }
}

/** A stage's workspace was granted (withWorkspace gives null past what wasm32 addresses). */
function fits(done: boolean | null): void {
  check(done, "UNSUPPORTED", "the GEMM's memory cannot hold one block of calibration windows: use shorter --calib-length");
}

/** Keys (after RoPE) and values of T rows through the `kv` hook, written back. */
function kvThroughHook(f32: Float32Array, at: number, ld: number, T: number, heads: number, hd: number,
  hook: (k: tf.Tensor3D, v: tf.Tensor3D) => { k: tf.Tensor3D; v: tf.Tensor3D }): void {
  const kv = heads * hd;
  const kb = new Float32Array(T * kv), vb = new Float32Array(T * kv);
  for (let t = 0; t < T; t++) {
    kb.set(f32.subarray(at + t * ld, at + t * ld + kv), t * kv);
    vb.set(f32.subarray(at + t * ld + kv, at + t * ld + 2 * kv), t * kv);
  }
  const k = tf.tensor3d(kb, [T, heads, hd]), v = tf.tensor3d(vb, [T, heads, hd]);
  const r = hook(k, v);
  const ko = r.k.dataSync() as Float32Array, vo = r.v.dataSync() as Float32Array;
  for (const t of new Set([k, v, r.k, r.v])) t.dispose();
  for (let t = 0; t < T; t++) {
    f32.set(ko.subarray(t * kv, (t + 1) * kv), at + t * ld);
    f32.set(vo.subarray(t * kv, (t + 1) * kv), at + t * ld + kv);
  }
}

/** The output projection read in row chunks: `rows(r0, r1, out, at)` decodes rows r0 … r1-1 (dim each) into out at `at`. */
export interface HeadRows {
  outputNorm: Float32Array;
  vocab: number;
  rows(r0: number, r1: number, out: Float32Array, at: number): void;
}

/** Vocabulary rows per head chunk: 4096 rows of an 8B's 4096 columns are 64 MiB. */
const HEAD_CHUNK = 4096;

/**
 * Sum and count of every window's next-token negative log-likelihoods (as `windowNll` scores them) from
 * the final hidden states, the head multiplied chunk by chunk of the vocabulary with a running
 * log-sum-exp per position: no FP32 copy of the whole head, no [T, vocab] logits. null when the kernel
 * is not built or its memory cannot hold a chunk.
 */
export async function gemmHeadNll(c: LlamaConfig, hidden: readonly Float32Array[], windows: readonly (readonly number[])[], head: HeadRows,
  hooks: BlockHooks): Promise<{ sum: number; count: number } | null> {
  const { dim } = c;
  const lens = hidden.map((h) => h.length / dim);
  const M = lens.reduce((s, t) => s + t, 0);
  const V = head.vocab, chunk = Math.min(V, HEAD_CHUNK);
  let o = 0;
  const take = (n: number) => { const at = o; o = align16(o + n); return at; };
  // two chunks of rows: the next is decoded here while the workers multiply the current one
  const H = take(M * dim), W = [take(chunk * dim), take(chunk * dim)], L = take(M * chunk);
  return withWorkspace(o, async (ws: Workspace) => {
    const f = ws.f32, b = ws.base;
    let p = b + H;
    for (const h of hidden) (f.set(h, p), (p += h.length));
    rmsNorm(f, b + H, b + H, M, dim, head.outputNorm, c.rmsEps);
    const target = new Int32Array(M).fill(-1);
    let r = 0;
    for (const [w, T] of lens.entries()) {
      if (hooks.headInput) throughHook(f, b + H + r * dim, dim, T, dim, hooks.headInput);
      for (let t = 0; t + 1 < T; t++) target[r + t] = windows[w]![t + 1]!;
      r += T;
    }
    const max = new Float64Array(M).fill(-Infinity), sum = new Float64Array(M), hit = new Float64Array(M);
    head.rows(0, chunk, f, b + W[0]!);
    for (let v0 = 0, c = 0; v0 < V; v0 += chunk, c ^= 1) {
      const n = Math.min(chunk, V - v0);
      const product = ws.product({ at: b + H, ld: dim }, M, dim, { at: b + W[c]!, ld: dim }, n, { at: b + L, ld: n }, { transB: true });
      // let the product reach the workers before this thread turns to decoding
      await new Promise((r) => setImmediate(r));
      if (v0 + chunk < V) head.rows(v0 + chunk, Math.min(V, v0 + 2 * chunk), f, b + W[c ^ 1]!);
      await product;
      for (let row = 0; row < M; row++) {
        if (target[row]! < 0) continue;
        const lo = b + L + row * n;
        let m = -Infinity;
        for (let j = 0; j < n; j++) if (f[lo + j]! > m) m = f[lo + j]!;
        let s = 0;
        for (let j = 0; j < n; j++) s += Math.exp(f[lo + j]! - m);
        if (m > max[row]!) {
          sum[row] = sum[row]! * Math.exp(max[row]! - m) + s;
          max[row] = m;
        } else sum[row] += s * Math.exp(m - max[row]!);
        const tg = target[row]! - v0;
        if (tg >= 0 && tg < n) hit[row] = f[lo + tg]!;
      }
    }
    let total = 0, count = 0;
    for (let row = 0; row < M; row++) {
      if (target[row]! < 0) continue;
      total += max[row]! + Math.log(sum[row]!) - hit[row]!;
      count++;
    }
    return { sum: total, count };
  });
}
