/**
 * The base model's next-token distributions, saved once and reused across a sweep of quantizations
 * (llama.cpp's `--kl-divergence-base` idea, stored more compactly). Per scored position the file keeps
 * the base's k most likely tokens with their log-probabilities, the probability mass of all the other
 * tokens, and −ln p(correct token); KLD against it treats the rest as one bucket:
 *   Σ_top p_b (ln p_b − ln p_q) + r_b (ln r_b − ln r_q),   r = mass outside the base's top k,
 * which by the log-sum inequality is never above the exact KLD and equals it as r_b → 0.
 *
 * Layout (little-endian): magic "QLKLDB01", then u32 vocab, k, window, bos, tokens, FNV-1a checksum of
 * everything after the 32-byte header; the scored text tokens (u32 each); per position f32 nll,
 * f32 rest mass, k × u32 token ids (descending probability), k × f32 log-probabilities.
 * Size: 32 + tokens · (12 + 8k) bytes — independent of the vocabulary (full float32 log-probabilities
 * would be 4 · vocab · tokens).
 */
import { readFileSync } from "node:fs";
import { check, QuantLabError } from "../../errors.js";
import { writeFileAtomic } from "../../io/atomic.js";

const MAGIC = "QLKLDB02";
const HEADER = 32;

/** A base model's saved next-token distributions on the scored tokens (kept tokens per position, the rest's mass, the correct token's −ln p). */
export interface BaseLogProbs {
  vocabSize: number;
  /** Window (positions including BOS) the base was evaluated with. */
  window: number;
  bos: number;
  /** The left-over mass below which no more tokens were kept. */
  restMass: number;
  /** The scored text tokens, in order (no BOS). */
  tokens: Int32Array;
  /** −ln p_base(correct token) per position. */
  nll: Float32Array;
  /** Probability mass outside the kept tokens, per position. */
  rest: Float32Array;
  /** Position t's kept entries are offsets[t] … offsets[t + 1] − 1 of ids/logp, most likely first. */
  offsets: Int32Array;
  ids: Int32Array;
  logp: Float32Array;
}

/**
 * Bytes of a saved base for `tokens` scored positions keeping `entries` (token, log-prob) pairs in all.
 * @example
 * ```ts
 * baseFileBytes(1000, 66000)   // 560032: stories260K keeps ≈ 66 of its 512 tokens per position
 * ```
 */
export function baseFileBytes(tokens: number, entries: number): number {
  return HEADER + tokens * 16 + entries * 8;
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function encodeBaseLogProbs(b: BaseLogProbs): Uint8Array {
  const n = b.tokens.length;
  const out = new Uint8Array(baseFileBytes(n, b.offsets[n]));
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  [b.vocabSize, b.window, b.bos, n].forEach((v, i) => dv.setUint32(8 + 4 * i, v, true));
  dv.setFloat32(24, b.restMass, true);
  let o = HEADER;
  for (let t = 0; t < n; t++, o += 4) dv.setUint32(o, b.tokens[t], true);
  for (let t = 0; t < n; t++) {
    const s = b.offsets[t], k = b.offsets[t + 1] - s;
    dv.setFloat32(o, b.nll[t], true);
    dv.setFloat32(o + 4, b.rest[t], true);
    dv.setUint32(o + 8, k, true);
    o += 12;
    for (let j = 0; j < k; j++, o += 4) dv.setUint32(o, b.ids[s + j], true);
    for (let j = 0; j < k; j++, o += 4) dv.setFloat32(o, b.logp[s + j], true);
  }
  dv.setUint32(28, fnv1a(out.subarray(HEADER)), true);
  return out;
}

export function decodeBaseLogProbs(bytes: Uint8Array, name = "the base log-probabilities"): BaseLogProbs {
  const bad = (why: string) => new QuantLabError("BAD_FILE", `${name} ${why}: recompute it with --save-base (or saveBaseLogProbs)`);
  if (bytes.length < HEADER || String.fromCharCode(...bytes.subarray(0, 8)) !== MAGIC) throw bad("is not a QuantLab base log-probabilities file");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [vocabSize, window, bos, n] = [0, 1, 2, 3].map((i) => dv.getUint32(8 + 4 * i, true));
  if (vocabSize < 1 || n < 1 || bytes.length < baseFileBytes(n, 0)) throw bad(`has an impossible header or is truncated (vocabulary ${vocabSize}, ${n} tokens, ${bytes.length} bytes)`);
  if (fnv1a(bytes.subarray(HEADER)) !== dv.getUint32(28, true)) throw bad("fails its checksum (corrupt or truncated)");
  const tokens = new Int32Array(n), nll = new Float32Array(n), rest = new Float32Array(n), offsets = new Int32Array(n + 1);
  let o = HEADER + 4 * n;
  for (let t = 0; t < n; t++) {
    if (o + 12 > bytes.length) throw bad("is truncated");
    const k = dv.getUint32(o + 8, true);
    if (k < 1 || k > vocabSize) throw bad(`keeps ${k} entries at position ${t}, outside 1…${vocabSize}`);
    offsets[t + 1] = offsets[t] + k;
    o += 12 + 8 * k;
  }
  if (o !== bytes.length) throw bad(`is ${bytes.length} bytes where its entries take ${o} (truncated or corrupt)`);
  const ids = new Int32Array(offsets[n]), logp = new Float32Array(offsets[n]);
  o = HEADER;
  for (let t = 0; t < n; t++, o += 4) tokens[t] = dv.getUint32(o, true);
  for (let t = 0; t < n; t++) {
    const s = offsets[t], k = offsets[t + 1] - s;
    nll[t] = dv.getFloat32(o, true);
    rest[t] = dv.getFloat32(o + 4, true);
    o += 12;
    for (let j = 0; j < k; j++, o += 4) ids[s + j] = dv.getUint32(o, true);
    for (let j = 0; j < k; j++, o += 4) logp[s + j] = dv.getFloat32(o, true);
  }
  for (let i = 0; i < ids.length; i++) if (ids[i] >= vocabSize) throw bad(`names token ${ids[i]} outside its vocabulary of ${vocabSize}`);
  return { vocabSize, window, bos, restMass: dv.getFloat32(24, true), tokens, nll, rest, offsets, ids, logp };
}

/**
 * Writes base log-probabilities (from `baseLogProbsOf`) to a file, atomically.
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * await saveBaseLogProbs("base.qlkld", await baseLogProbsOf(m, courseText(m, 0, 600), { maxTokens: 32 }))
 * ```
 */
export async function saveBaseLogProbs(path: string, b: BaseLogProbs): Promise<void> {
  await writeFileAtomic(path, encodeBaseLogProbs(b));
}

/**
 * Reads a file written by `saveBaseLogProbs` (or `quantlab eval --save-base`), checking its checksum and sizes.
 * @example
 * ```ts
 * const m = await loadModel(projectModelPath());
 * await saveBaseLogProbs("base.qlkld", await baseLogProbsOf(m, courseText(m, 0, 600), { maxTokens: 32 }));
 * loadBaseLogProbs("base.qlkld").tokens.length   // 32
 * ```
 */
export function loadBaseLogProbs(path: string): BaseLogProbs {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new QuantLabError("NOT_FOUND", `cannot read the base log-probabilities ${path}: ${(e as Error).message}; create it with --save-base`, { cause: e });
  }
  return decodeBaseLogProbs(bytes, path);
}

/** Checks that a saved base fits the quantized model and the tokens about to be scored. */
export function checkBaseFits(b: BaseLogProbs, vocabSize: number, window: number, tokens: ArrayLike<number>, name = "the base log-probabilities"): void {
  check(b.vocabSize === vocabSize, "BAD_ARGUMENT",
    `${name} were computed with a vocabulary of ${b.vocabSize} tokens, the quantized model has ${vocabSize}: use a base of the same model family`);
  let same = b.tokens.length === tokens.length && b.window === window;
  for (let t = 0; same && t < tokens.length; t++) same = b.tokens[t] === tokens[t];
  check(same, "BAD_ARGUMENT",
    `${name} were computed on other tokens (${b.tokens.length} tokens, window ${b.window}; now ${tokens.length} tokens, window ${window}): use the same --text, --max-tokens and --window, or save the base again`);
}
