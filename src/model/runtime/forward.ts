/**
 * The Llama forward pass on tfjs: token embedding → n × (RMSNorm → attention with interleaved-pair
 * RoPE, grouped-query heads and a causal mask → residual → RMSNorm → SwiGLU → residual) → RMSNorm →
 * output projection (tied to the embedding when the model has no `output.weight`).
 *
 * Exposed block by block (`embed`, `block`, `head`) so the quantization workflow can run the model one
 * layer at a time, and with hooks that see every linear layer's input and every layer's keys/values
 * (capture for calibration, fake-quantization of the KV cache). A `KvCache` makes decoding incremental.
 */
import { check } from "../../errors.js";
import type { Matrix } from "../../numerics/matrix.js";
import type { ModelSource } from "../llama.js";
import { headDim, LINEAR_NAMES, type LinearName, type LlamaConfig, type LlamaLayer, type LlamaModel } from "../llama.js";
import { ready, tf } from "./tf.js";

export interface BlockHooks {
  /** Sees the input of each linear layer (q/k/v share one, gate/up share one) as [T, in]. */
  onLinearInput?(layer: number, names: readonly LinearName[], x: tf.Tensor2D): void;
  /** Replaces this layer's new keys/values ([T, kvHeads, headDim], keys after RoPE) before use and caching. */
  kv?(layer: number, k: tf.Tensor3D, v: tf.Tensor3D): { k: tf.Tensor3D; v: tf.Tensor3D };
  /**
   * Replaces the input of each linear layer (after `onLinearInput` saw it): simulated activation
   * quantization, an online rotation.
   */
  linearInput?(layer: number, names: readonly LinearName[], x: tf.Tensor2D): tf.Tensor2D;
  /** Replaces the output projection's input (after the final RMSNorm), as `linearInput` does inside the blocks. */
  headInput?(x: tf.Tensor2D): tf.Tensor2D;
  /**
   * Replaces this layer's attention (refused with a cache): q [T, heads, headDim] and k [T, kvHeads, headDim]
   * before RoPE, v [T, kvHeads, headDim]; `rope` rotates either; returns [T, dim]. A cache that
   * differs per query position (a full-precision window of recent tokens) or keys quantized before
   * RoPE need the whole attention.
   */
  attention?(layer: number, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, rope: (x: tf.Tensor3D) => tf.Tensor3D): tf.Tensor2D;
}

/** Keys and values of past positions per layer, [kvHeads, T, headDim]. */
export class KvCache {
  k: (tf.Tensor3D | null)[];
  v: (tf.Tensor3D | null)[];
  length = 0;
  constructor(nLayers: number) {
    this.k = new Array(nLayers).fill(null);
    this.v = new Array(nLayers).fill(null);
  }
  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(null);
    this.v.fill(null);
    this.length = 0;
  }
}

export interface RuntimeWeights {
  tokenEmbedding: tf.Tensor2D;
  layers: LayerTensors[];
  outputNorm: tf.Tensor1D;
  /** null when tied to the embedding. */
  output: tf.Tensor2D | null;
}

export interface LayerTensors {
  attnNorm: tf.Tensor1D;
  ffnNorm: tf.Tensor1D;
  w: Record<LinearName, tf.Tensor2D>;
  /** Biases of the linears that have one (Qwen2's q/k/v). */
  b?: Partial<Record<LinearName, tf.Tensor1D>>;
}

export const QKV: readonly LinearName[] = ["attn_q", "attn_k", "attn_v"];
export const GATE_UP: readonly LinearName[] = ["ffn_gate", "ffn_up"];

/** A model's weights uploaded to the tfjs backend. Call `dispose()` when done. */
export class LlamaRuntime {
  readonly config: LlamaConfig;
  /** null in a layer-major runtime (`streamed`), whose caller embeds tokens itself. */
  private readonly emb: tf.Tensor2D | null;
  private readonly tiedOutput: boolean;
  /** Whether `outW` is a tensor of its own (to dispose), not the embedding. */
  private ownsOutput: boolean;
  private differentiableEmbedding = false;
  /** A layer-major runtime holds one layer at a time: the others are null. */
  private layers: (LayerTensors | null)[];
  private outNorm: tf.Tensor1D | null;
  private outW: tf.Tensor2D | null;
  /** `outW` stored [dim, vocab] (a transposed copy, also when tied) rather than [vocab, dim]. */
  private outTransposed = false;
  /**
   * Linear weights stored [in, out] (transposed once at upload) rather than [out, in]: tfjs-wasm
   * multiplies x·W an order of magnitude faster than x·Wᵀ with the transpose flag. `fromTensors`
   * keeps the caller's [out, in] tensors (gradients flow through them).
   */
  private transposed = false;
  private invFreq: Float32Array;

  private constructor(config: LlamaConfig, w: Nullable<RuntimeWeights>) {
    this.config = config;
    this.emb = w.tokenEmbedding;
    this.layers = w.layers;
    this.outNorm = w.outputNorm;
    this.outW = w.output ?? w.tokenEmbedding;
    this.tiedOutput = w.output === null && w.tokenEmbedding !== null;
    this.ownsOutput = w.output !== null;
    const hd = headDim(this.config);
    this.invFreq = new Float32Array(hd / 2);
    const factors = this.config.ropeFreqFactors;
    for (let i = 0; i < hd / 2; i++) this.invFreq[i] = Math.pow(this.config.ropeTheta, (-2 * i) / hd) / (factors ? factors[i]! : 1);
  }

  /** Uploads a model's weights. */
  static async create(model: LlamaModel, backend?: string): Promise<LlamaRuntime> {
    await ready(backend);
    const up = (m: Matrix) => tf.tensor2d(m.data, [m.rows, m.cols]);
    const rt = new LlamaRuntime(model.config, {
      tokenEmbedding: up(model.tokenEmbedding),
      layers: model.layers.map(uploadLayer),
      outputNorm: tf.tensor1d(model.outputNorm),
      output: null,
    });
    rt.transposed = true;
    // a tied head gets its own transposed copy while that copy is small next to the wasm heap's 4 GiB
    const head = model.output ?? model.tokenEmbedding;
    if (model.output || head.data.length <= TIED_COPY_LIMIT) {
      rt.outW = upT(head);
      rt.outTransposed = true;
      rt.ownsOutput = true;
    }
    return rt;
  }

  /**
   * Uploads a model tensor by tensor from `read` (GGUF names, FP32 values, row-major with rows = outputs),
   * so only one tensor is ever held outside the tfjs heap: a checkpoint opened as a source runs without
   * its FP32 copy in JavaScript. Tensors absent from `names` are optional ones (biases, output.weight).
   */
  static async load(config: LlamaConfig, names: ReadonlySet<string>, read: (name: string) => Promise<Float32Array>, backend?: string): Promise<LlamaRuntime> {
    await ready(backend);
    const kv = headDim(config) * config.nKvHeads;
    const rows: Record<LinearName, number> = {
      attn_q: config.dim, attn_k: kv, attn_v: kv, attn_output: config.dim, ffn_gate: config.hiddenDim, ffn_up: config.hiddenDim, ffn_down: config.dim,
    };
    const made: tf.Tensor[] = [];
    const keep = <T extends tf.Tensor>(t: T) => (made.push(t), t);
    const get = async (name: string, length: number) => {
      check(names.has(name), "BAD_FILE", `the model has no tensor '${name}' (a Llama model with ${config.nLayers} layers needs it)`);
      const x = await read(name);
      check(x.length === length, "BAD_FILE", `tensor '${name}' holds ${x.length} values, the config needs ${length}`);
      return x;
    };
    try {
      const emb = await get("token_embd.weight", config.vocabSize * config.dim);
      const embedding = keep(tf.tensor2d(emb, [config.vocabSize, config.dim]));
      const layers: LayerTensors[] = [];
      for (let i = 0; i < config.nLayers; i++) {
        const b = `blk.${i}.`;
        const l: LayerTensors = {
          attnNorm: keep(tf.tensor1d(await get(b + "attn_norm.weight", config.dim))),
          ffnNorm: keep(tf.tensor1d(await get(b + "ffn_norm.weight", config.dim))),
          w: {} as Record<LinearName, tf.Tensor2D>,
        };
        for (const n of LINEAR_NAMES) {
          const cols = n === "ffn_down" ? config.hiddenDim : config.dim;
          l.w[n] = keep(upT({ rows: rows[n], cols, data: await get(`${b}${n}.weight`, rows[n] * cols) }));
          if (names.has(`${b}${n}.bias`)) (l.b ??= {})[n] = keep(tf.tensor1d(await get(`${b}${n}.bias`, rows[n])));
        }
        layers.push(l);
      }
      const outputNorm = keep(tf.tensor1d(await get("output_norm.weight", config.dim)));
      const rt = new LlamaRuntime(config, { tokenEmbedding: embedding, layers, outputNorm, output: null });
      rt.transposed = true;
      const tied = !names.has("output.weight");
      if (!tied || emb.length <= TIED_COPY_LIMIT) {
        rt.outW = keep(upT({ rows: config.vocabSize, cols: config.dim, data: tied ? emb : await get("output.weight", config.vocabSize * config.dim) }));
        rt.outTransposed = true;
        rt.ownsOutput = true;
      }
      return rt;
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
  }

  /**
   * A runtime with no weights yet, for layer-major passes (src/model/runtime/layer-major.ts): the caller
   * embeds tokens itself, uploads one layer at a time (`loadLayer` … `unloadLayer`) and the head last
   * (`loadHead`), so the tfjs heap holds one layer, not the model.
   */
  static async streamed(config: LlamaConfig, backend?: string): Promise<LlamaRuntime> {
    await ready(backend);
    const rt = new LlamaRuntime(config, { tokenEmbedding: null, layers: new Array(config.nLayers).fill(null), outputNorm: null, output: null });
    rt.transposed = true;
    rt.ownsOutput = true;
    rt.outTransposed = true;
    return rt;
  }

  /** Uploads layer i's weights (FP32, rows = outputs), replacing what was there. */
  loadLayer(i: number, l: LlamaLayer): void {
    this.unloadLayer(i);
    this.layers[i] = uploadLayer(l);
  }

  /** Frees layer i's tensors (a no-op when it is not loaded). */
  unloadLayer(i: number): void {
    const l = this.layers[i];
    if (!l) return;
    disposeLayer(l);
    this.layers[i] = null;
  }

  /** Uploads the final norm and the output projection (vocab × dim; the embedding when tied), transposed once. */
  loadHead(outputNorm: Float32Array, output: Matrix): void {
    check(this.emb === null, "BAD_ARGUMENT", "loadHead is for a streamed runtime: this one holds its head already");
    this.outNorm?.dispose();
    this.outW?.dispose();
    this.outNorm = tf.tensor1d(outputNorm);
    this.outW = upT(output);
  }

  /** Wraps tensors the caller owns (e.g. tf.Variables while training); gradients flow through every op. */
  static fromTensors(config: LlamaConfig, weights: RuntimeWeights, opts: { differentiableEmbedding?: boolean } = {}): LlamaRuntime {
    const rt = new LlamaRuntime(config, weights);
    rt.differentiableEmbedding = opts.differentiableEmbedding ?? false;
    return rt;
  }

  /** The weights as tensors (in training, the variables). */
  get weights(): RuntimeWeights {
    check(this.emb && this.outNorm && this.layers.every((l) => l), "BAD_ARGUMENT", "a streamed runtime holds one layer at a time: read weights from a runtime made by create or load");
    return { tokenEmbedding: this.emb, layers: this.layers as LayerTensors[], outputNorm: this.outNorm, output: this.tiedOutput || this.outTransposed ? null : this.outW };
  }

  /** How `weights` stores linear layers: "in-out" ([in, out], uploaded by `create`) or "out-in" (`fromTensors`). */
  get weightLayout(): "in-out" | "out-in" {
    return this.transposed ? "in-out" : "out-in";
  }

  /** Replaces one linear weight (e.g. by its quantized-dequantized version). */
  setLinear(layer: number, name: LinearName, w: Matrix): void {
    const L = this.layer(layer);
    const old = L.w[name];
    const [rows, cols] = this.transposed ? [old.shape[1], old.shape[0]] : old.shape;
    check(w.rows === rows && w.cols === cols, "BAD_SHAPE",
      `blk.${layer}.${name} is ${rows} × ${cols}, the replacement is ${w.rows} × ${w.cols}`);
    L.w[name] = this.transposed ? upT(w) : tf.tensor2d(w.data, [w.rows, w.cols]);
    old.dispose();
  }

  dispose(): void {
    for (const l of this.layers) if (l) disposeLayer(l);
    this.outNorm?.dispose();
    this.emb?.dispose();
    if (this.ownsOutput) this.outW?.dispose();
  }

  private layer(i: number): LayerTensors {
    const l = this.layers[i];
    check(l, "BAD_ARGUMENT", `layer ${i} is not loaded in this streamed runtime: call loadLayer(${i}, …) first`);
    return l;
  }

  /** [T, dim] embeddings of `tokens`. */
  embed(tokens: ArrayLike<number>): tf.Tensor2D {
    const { vocabSize } = this.config;
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t];
      check(Number.isInteger(id) && id >= 0 && id < vocabSize, "BAD_ARGUMENT", `token id ${id} is outside the vocabulary 0..${vocabSize - 1}`);
    }
    const emb = this.emb;
    check(emb, "BAD_ARGUMENT", "a streamed runtime has no embedding: embed tokens with the layer source (layer-major.ts)");
    return tf.tidy(() => {
      const ids = tf.tensor1d(Array.from(tokens), "int32");
      // gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks: a one-hot product
      // has the same value and a gradient everywhere (used when training, where vocabularies are small).
      return this.differentiableEmbedding
        ? tf.matMul(tf.oneHot(ids, vocabSize), emb)
        : tf.gather(emb, ids);
    });
  }

  private rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const ms = tf.mean(tf.square(x), -1, true);
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, this.config.rmsEps))), w) as tf.Tensor2D;
    });
  }

  /** Rotary embedding on interleaved pairs; x is [T, heads, headDim], positions start at `pos0`. */
  private rope(x: tf.Tensor3D, pos0: number): tf.Tensor3D {
    const [T, H, hd] = x.shape;
    const half = hd / 2;
    const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < half; i++) {
        const a = (pos0 + t) * this.invFreq[i];
        cos[t * half + i] = Math.cos(a);
        sin[t * half + i] = Math.sin(a);
      }
    }
    return tf.tidy(() => {
      const c = tf.tensor3d(cos, [T, 1, half]), s = tf.tensor3d(sin, [T, 1, half]);
      const pairs = tf.reshape(x, [T, H, half, 2]);
      const [x0, x1] = tf.split(pairs, 2, 3).map((p) => tf.reshape(p, [T, H, half]));
      const y0 = tf.sub(tf.mul(x0, c), tf.mul(x1, s));
      const y1 = tf.add(tf.mul(x0, s), tf.mul(x1, c));
      return tf.reshape(tf.stack([y0, y1], 3), [T, H, hd]) as tf.Tensor3D;
    });
  }

  private linear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D, transposed = this.transposed): tf.Tensor2D {
    const y: tf.Tensor2D = transposed ? tf.matMul(x, w) : tf.matMul(x, w, false, true);
    return b ? (tf.add(y, b) as tf.Tensor2D) : y;
  }

  /**
   * One transformer block on hidden states x ([T, dim]) at positions cache.length … (0 without a cache).
   * Returns the new hidden states; x is not disposed. It runs the stages below in order; the
   * quantization workflow runs them one at a time, quantizing one linear group between two of them.
   */
  block(i: number, x: tf.Tensor2D, hooks: BlockHooks = {}, cache?: KvCache): tf.Tensor2D {
    const input = (names: readonly LinearName[], t: tf.Tensor2D): tf.Tensor2D => {
      hooks.onLinearInput?.(i, names, t);
      return hooks.linearInput ? hooks.linearInput(i, names, t) : t;
    };
    return tf.tidy(() => {
      const h = input(QKV, this.attnInput(i, x));
      const x1 = this.attnResidual(i, x, input(["attn_output"], this.attend(i, h, hooks, cache)));
      const h2 = input(GATE_UP, this.ffnInput(i, x1));
      return this.ffnResidual(i, x1, input(["ffn_down"], this.ffnAct(i, h2)));
    });
  }

  /** Stage 1 of block i: RMSNorm(x), the input of q, k and v. */
  attnInput(i: number, x: tf.Tensor2D): tf.Tensor2D {
    return this.rmsNorm(x, this.layer(i).attnNorm);
  }

  /**
   * Stage 2 of block i: attention of the normed input h ([T, dim]) — q/k/v projections, RoPE, causal
   * softmax over the cache's past and these positions — as [T, dim], the input of attn_output.
   */
  attend(i: number, h: tf.Tensor2D, hooks: BlockHooks = {}, cache?: KvCache): tf.Tensor2D {
    const c = this.config;
    const L = this.layer(i);
    const T = h.shape[0];
    const hd = headDim(c);
    const group = c.nHeads / c.nKvHeads;
    const past = cache ? cache.length : 0;
    return tf.tidy(() => {
      if (hooks.attention) {
        check(!cache, "BAD_ARGUMENT", "an attention hook (a KV spec with a window or pre-RoPE keys) scores whole windows: run it without an incremental cache");
        return hooks.attention(i, tf.reshape(this.linear(h, L.w.attn_q, L.b?.attn_q), [T, c.nHeads, hd]),
          tf.reshape(this.linear(h, L.w.attn_k, L.b?.attn_k), [T, c.nKvHeads, hd]),
          tf.reshape(this.linear(h, L.w.attn_v, L.b?.attn_v), [T, c.nKvHeads, hd]), (t) => this.rope(t, 0));
      }
      const q = this.rope(tf.reshape(this.linear(h, L.w.attn_q, L.b?.attn_q), [T, c.nHeads, hd]), past);
      let k = this.rope(tf.reshape(this.linear(h, L.w.attn_k, L.b?.attn_k), [T, c.nKvHeads, hd]), past);
      let v = tf.reshape(this.linear(h, L.w.attn_v, L.b?.attn_v), [T, c.nKvHeads, hd]) as tf.Tensor3D;
      if (hooks.kv) ({ k, v } = hooks.kv(i, k, v));
      // [kvHeads, T, hd], appended to the cache's past positions.
      let kt = tf.transpose(k, [1, 0, 2]) as tf.Tensor3D;
      let vt = tf.transpose(v, [1, 0, 2]) as tf.Tensor3D;
      if (cache) {
        const pk = cache.k[i], pv = cache.v[i];
        if (pk && pv) {
          kt = tf.concat([pk, kt], 1);
          vt = tf.concat([pv, vt], 1);
        }
        const nk = tf.keep(kt), nv = tf.keep(vt);
        pk?.dispose();
        pv?.dispose();
        cache.k[i] = nk;
        cache.v[i] = nv;
      }
      const S = past + T;
      // Query head h reads KV head floor(h / group), as llama.cpp does.
      const expand = (t: tf.Tensor3D) =>
        group === 1 ? t : tf.reshape(tf.tile(tf.expandDims(t, 1), [1, group, 1, 1]), [c.nHeads, S, hd]);
      const K = expand(kt), V = expand(vt);
      const Q = tf.transpose(q, [1, 0, 2]);
      let scores = tf.mul(tf.matMul(Q, K, false, true), 1 / Math.sqrt(hd));
      scores = tf.add(scores, causalMask(T, past));
      const att = tf.matMul(tf.softmax(scores), V); // [H, T, hd]
      return tf.reshape(tf.transpose(att, [1, 0, 2]), [T, c.dim]) as tf.Tensor2D;
    });
  }

  /** Stage 3 of block i: x + o·W_o, the residual stream after attention. */
  attnResidual(i: number, x: tf.Tensor2D, o: tf.Tensor2D): tf.Tensor2D {
    const L = this.layer(i);
    return tf.tidy(() => tf.add(x, this.linear(o, L.w.attn_output, L.b?.attn_output)) as tf.Tensor2D);
  }

  /** Stage 4 of block i: RMSNorm(x1), the input of gate and up. */
  ffnInput(i: number, x1: tf.Tensor2D): tf.Tensor2D {
    return this.rmsNorm(x1, this.layer(i).ffnNorm);
  }

  /** Stage 5 of block i: SwiGLU silu(h2·W_gate) ⊙ (h2·W_up), the input of ffn_down. */
  ffnAct(i: number, h2: tf.Tensor2D): tf.Tensor2D {
    const L = this.layer(i);
    return tf.tidy(() => {
      const g = this.linear(h2, L.w.ffn_gate, L.b?.ffn_gate);
      const u = this.linear(h2, L.w.ffn_up, L.b?.ffn_up);
      return tf.mul(tf.mul(g, tf.sigmoid(g)), u) as tf.Tensor2D;
    });
  }

  /** Stage 6 of block i: x1 + a·W_down, the block's output. */
  ffnResidual(i: number, x1: tf.Tensor2D, a: tf.Tensor2D): tf.Tensor2D {
    const L = this.layer(i);
    return tf.tidy(() => tf.add(x1, this.linear(a, L.w.ffn_down, L.b?.ffn_down)) as tf.Tensor2D);
  }

  /** [T, vocab] logits from final hidden states. */
  head(x: tf.Tensor2D, hooks: BlockHooks = {}): tf.Tensor2D {
    const norm = this.outNorm, w = this.outW;
    check(norm && w, "BAD_ARGUMENT", "this streamed runtime has no head yet: call loadHead first");
    return tf.tidy(() => {
      const h = this.rmsNorm(x, norm);
      return this.linear(hooks.headInput ? hooks.headInput(h) : h, w, undefined, this.outTransposed);
    });
  }

  /** Logits [T, vocab] of `tokens` (appended after the cache's positions when a cache is given). */
  forward(tokens: ArrayLike<number>, hooks: BlockHooks = {}, cache?: KvCache): tf.Tensor2D {
    check(tokens.length > 0, "BAD_ARGUMENT", "forward needs at least one token");
    const past = cache ? cache.length : 0;
    check(past + tokens.length <= this.config.contextLength, "BAD_ARGUMENT",
      `${past + tokens.length} positions exceed the model's context of ${this.config.contextLength}: use shorter windows`);
    let x = this.embed(tokens);
    for (let i = 0; i < this.layers.length; i++) {
      const y = this.block(i, x, hooks, cache);
      x.dispose();
      x = y;
    }
    if (cache) cache.length += tokens.length;
    const logits = this.head(x, hooks);
    x.dispose();
    return logits;
  }
}

type Nullable<T> = { [K in keyof T]: T[K] | null } & { layers: (LayerTensors | null)[] };

/** One layer's weights on the tfjs heap, linears transposed to [in, out]. */
function uploadLayer(l: LlamaLayer): LayerTensors {
  return {
    attnNorm: tf.tensor1d(l.attnNorm),
    ffnNorm: tf.tensor1d(l.ffnNorm),
    w: Object.fromEntries(LINEAR_NAMES.map((n) => [n, upT(l[n])])) as Record<LinearName, tf.Tensor2D>,
    ...(l.bias ? { b: Object.fromEntries(Object.entries(l.bias).map(([n, b]) => [n, tf.tensor1d(b)])) } : {}),
  };
}

function disposeLayer(l: LayerTensors): void {
  l.attnNorm.dispose();
  l.ffnNorm.dispose();
  for (const n of LINEAR_NAMES) l.w[n].dispose();
  for (const b of Object.values(l.b ?? {})) b.dispose();
}

/** Elements of a tied embedding below which the head gets a transposed copy (64 M floats = 256 MB). */
const TIED_COPY_LIMIT = 64 * 1024 * 1024;

/** Uploads W [out, in] as [in, out], transposed here so the tfjs heap holds one copy. */
function upT(m: Matrix): tf.Tensor2D {
  const t = new Float32Array(m.data.length);
  const { rows, cols, data } = m;
  // blocked so both sides stay in cache
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B), c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) t[c * rows + r] = data[r * cols + c]!;
    }
  }
  return tf.tensor2d(t, [cols, rows]);
}

const maskCache = new Map<string, Float32Array>();

/** [T, past + T] additive mask: position past+t may see keys 0 … past+t. */
function causalMask(T: number, past: number): tf.Tensor2D {
  const key = `${T}:${past}`;
  let m = maskCache.get(key);
  if (!m) {
    const S = past + T;
    m = new Float32Array(T * S);
    for (let t = 0; t < T; t++) for (let s = past + t + 1; s < S; s++) m[t * S + s] = -1e9;
    if (maskCache.size > 64) maskCache.clear();
    maskCache.set(key, m);
  }
  return tf.tensor2d(m, [T, past + T]);
}

/**
 * The runtime of a source's Llama model, uploaded tensor by tensor: the FP32 weights exist only on the
 * tfjs heap (half of what loading the model and then uploading it holds). Same numbers as
 * `LlamaRuntime.create(await modelFromSource(source))`.
 */
export async function runtimeFromSource(source: ModelSource, backend?: string): Promise<LlamaRuntime> {
  // loaded here, not at the top: a runtime built from a model in memory never needs the format readers
  const { llamaTensorReader } = await import("./layer-source.js");
  const { config, names, read } = await llamaTensorReader(source);
  return LlamaRuntime.load(config, names, read, backend);
}
