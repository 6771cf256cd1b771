/**
 * SentencePiece-style BPE over a vocabulary of pieces with scores (what a Llama GGUF carries as
 * `tokenizer.ggml.tokens` / `tokenizer.ggml.scores`): start from single characters, repeatedly merge the
 * adjacent pair whose merged piece is in the vocabulary with the highest score (leftmost on ties), and
 * spell characters that are not pieces as their UTF-8 bytes `<0xNN>`. Spaces become "▁" and a space is
 * put in front of the text (SentencePiece's dummy prefix), as llama.cpp does for this tokenizer type.
 * A heap keeps it O(n log n), so a whole validation file tokenizes in one call.
 */
import { check } from "../../errors.js";
import type { GgufValue } from "../../gguf/file.js";

/** The byte fallback's and decode's UTF-8 encoder. */
const UTF8 = new TextEncoder();

export interface TokenizerSpec {
  pieces: string[];
  scores: Float32Array | number[];
  /** SentencePiece token types (1 normal, 2 unknown, 3 control, 6 byte); optional. */
  types?: ArrayLike<number>;
  bos: number;
  eos: number;
  unk?: number;
  addSpacePrefix?: boolean;
}

const SPACE = "\u2581";

export class Tokenizer {
  readonly pieces: string[];
  readonly scores: Float32Array;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly addSpacePrefix: boolean;
  private readonly ids = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly types: Int32Array;

  constructor(spec: TokenizerSpec) {
    check(spec.pieces.length > 0 && spec.pieces.length === spec.scores.length, "BAD_FILE",
      `tokenizer has ${spec.pieces.length} pieces but ${spec.scores.length} scores: the vocabulary is corrupt`);
    this.pieces = spec.pieces;
    this.scores = Float32Array.from(spec.scores);
    this.bos = spec.bos;
    this.eos = spec.eos;
    this.unk = spec.unk ?? 0;
    this.addSpacePrefix = spec.addSpacePrefix ?? true;
    this.types = spec.types ? Int32Array.from(spec.types) : new Int32Array(spec.pieces.length).fill(1);
    for (let i = 0; i < spec.pieces.length; i++) {
      const p = spec.pieces[i];
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
      if (m) this.byteIds[parseInt(m[1], 16)] = i;
      // Control tokens (<s>, </s>) must never be produced by merging ordinary text.
      if (this.types[i] === 3 || this.types[i] === 6) continue;
      if (!this.ids.has(p)) this.ids.set(p, i);
    }
  }

  /** SentencePiece token types per id (1 normal, 2 unknown, 3 control, 6 byte). */
  get tokenTypes(): Int32Array {
    return this.types;
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Token ids of `text`; `bos: true` puts the BOS id first. */
  encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const out: number[] = opts.bos ? [this.bos] : [];
    if (text.length === 0) return out;
    const norm = (this.addSpacePrefix ? " " + text : text).replaceAll(" ", SPACE);
    const syms = Array.from(norm); // code points
    const n = syms.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const text_ = syms; // each slot holds the current merged string of the symbol starting there
    // Max-heap of candidate merges: (score, left index, right index, combined length for staleness check).
    const heap: { score: number; left: number; right: number; str: string }[] = [];
    const less = (a: (typeof heap)[0], b: (typeof heap)[0]) => a.score < b.score || (a.score === b.score && a.left > b.left);
    const push = (e: (typeof heap)[0]) => {
      heap.push(e);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[p], heap[i])) break;
        [heap[p], heap[i]] = [heap[i], heap[p]];
        i = p;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[m], heap[l])) m = l;
          if (r < heap.length && less(heap[m], heap[r])) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i], heap[m]];
          i = m;
        }
      }
      return top;
    };
    const tryPair = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const s = text_[left] + text_[right];
      const id = this.ids.get(s);
      if (id === undefined) return;
      push({ score: this.scores[id], left, right, str: s });
    };
    for (let i = 0; i + 1 < n; i++) tryPair(i, i + 1);
    while (heap.length > 0) {
      const e = pop();
      const { left, right } = e;
      // Stale entries: one side was merged away or changed since this pair was queued.
      if (!alive[left] || !alive[right] || next[left] !== right || text_[left] + text_[right] !== e.str) continue;
      text_[left] = e.str;
      alive[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      tryPair(prev[left], left);
      tryPair(left, next[left]);
    }
    for (let i = 0; i >= 0 && i < n; i = next[i]) {
      const id = this.ids.get(text_[i]);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      const piece = text_[i]!;
      // an ASCII character is its own byte (a newline, every few words in real text): no encoder call
      const bytes = piece.length === 1 && piece.charCodeAt(0) < 0x80 ? [piece.charCodeAt(0)] : UTF8.encode(piece);
      for (const b of bytes) {
        const bid = this.byteIds[b]!;
        out.push(bid >= 0 ? bid : this.unk);
      }
    }
    return out;
  }

  /** Text of `ids`: byte pieces are reassembled as UTF-8, "▁" becomes a space, control tokens vanish. */
  decode(ids: ArrayLike<number>, opts: { stripLeadingSpace?: boolean } = {}): string {
    const bytes: number[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      check(Number.isInteger(id) && id >= 0 && id < this.pieces.length, "BAD_ARGUMENT",
        `token id ${id} is outside the vocabulary 0..${this.pieces.length - 1}`);
      if (id === this.bos || id === this.eos || this.types[id] === 3) continue;
      const p = this.pieces[id];
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
      if (m) bytes.push(parseInt(m[1], 16));
      else for (const b of UTF8.encode(p.replaceAll(SPACE, " "))) bytes.push(b);
    }
    let s = new TextDecoder().decode(Uint8Array.from(bytes));
    if ((opts.stripLeadingSpace ?? this.addSpacePrefix) && s.startsWith(" ")) s = s.slice(1);
    return s;
  }

  /** The `tokenizer.ggml.*` keys of this vocabulary, as llama.cpp's converter writes a SentencePiece one. */
  ggufMetadata(): Map<string, GgufValue> {
    const meta = new Map<string, GgufValue>();
    const u32 = (k: string, v: number) => meta.set(k, { type: "UINT32", value: v });
    meta.set("tokenizer.ggml.model", { type: "STRING", value: "llama" });
    meta.set("tokenizer.ggml.tokens", { type: "ARRAY", itemType: "STRING", value: this.pieces.slice() });
    meta.set("tokenizer.ggml.scores", { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from(this.scores) });
    meta.set("tokenizer.ggml.token_type", { type: "ARRAY", itemType: "INT32", value: Int32Array.from(this.tokenTypes) });
    u32("tokenizer.ggml.bos_token_id", this.bos);
    u32("tokenizer.ggml.eos_token_id", this.eos);
    u32("tokenizer.ggml.unknown_token_id", this.unk);
    meta.set("tokenizer.ggml.add_bos_token", { type: "BOOL", value: true });
    meta.set("tokenizer.ggml.add_space_prefix", { type: "BOOL", value: this.addSpacePrefix });
    return meta;
  }

  /** The text of one piece, for streaming output (bytes shown as their piece name). */
  piece(id: number): string {
    return this.pieces[id] ?? `<${id}>`;
  }
}
