/**
 * Trains a SentencePiece-style BPE vocabulary (pieces + scores) that `Tokenizer` can use and a GGUF
 * file can carry: <unk>, <s>, </s>, the 256 byte pieces <0x00>…<0xFF>, the most frequent characters,
 * then merges in the order they were learned, scored −rank so the tokenizer replays them in order.
 * Words are the runs that start at "▁" (a space), as SentencePiece splits them; merges never cross a
 * word boundary.
 */
import { check } from "../../errors.js";
import { Tokenizer } from "./tokenizer.js";

const SPACE = "\u2581";

export interface BpeOptions {
  vocabSize: number;
  /** Characters kept as pieces (the rest are spelled as bytes); default 100. */
  maxChars?: number;
}

export function trainBpe(text: string, opts: BpeOptions): Tokenizer {
  const maxChars = opts.maxChars ?? 100;
  check(opts.vocabSize >= 259 + 1, "BAD_ARGUMENT", `vocabSize ${opts.vocabSize} is too small: it needs 259 fixed pieces plus at least one more`);
  const norm = (" " + text).replaceAll(" ", SPACE);
  const words = new Map<string, number>();
  for (const w of norm.split(/(?=\u2581)/u)) if (w) words.set(w, (words.get(w) ?? 0) + 1);
  const charCount = new Map<string, number>();
  for (const [w, n] of words) for (const ch of w) charCount.set(ch, (charCount.get(ch) ?? 0) + n);
  const chars = [...charCount.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, maxChars).map((e) => e[0]);
  const pieces = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const known = new Set(chars);
  for (const ch of chars) {
    pieces.push(ch);
    types.push(1);
  }
  // Words as arrays of symbols; characters outside the kept set stay unmergeable (they become bytes).
  const seqs = [...words.entries()].map(([w, n]) => ({ syms: Array.from(w), n }));
  const merges: string[] = [];
  const budget = opts.vocabSize - pieces.length;
  for (let guard = 0; merges.length < budget && guard < 4 * budget; guard++) {
    const counts = new Map<string, number>();
    for (const { syms, n } of seqs) {
      for (let i = 0; i + 1 < syms.length; i++) {
        if (!known.has(syms[i]) || !known.has(syms[i + 1])) continue;
        const k = syms[i] + "\u0000" + syms[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + n);
      }
    }
    let best = "", bestN = 1;
    for (const [k, n] of counts) if (n > bestN || (n === bestN && best !== "" && k < best)) { best = k; bestN = n; }
    if (best === "") break;
    const [a, b] = best.split("\u0000");
    const m = a + b;
    // The same string can arise from two different splits; it is one piece.
    if (!known.has(m)) merges.push(m);
    known.add(m);
    for (const s of seqs) {
      const out: string[] = [];
      for (let i = 0; i < s.syms.length; i++) {
        if (i + 1 < s.syms.length && s.syms[i] === a && s.syms[i + 1] === b) {
          out.push(m);
          i++;
        } else out.push(s.syms[i]);
      }
      s.syms = out;
    }
  }
  const scores = pieces.map(() => 0);
  chars.forEach((_, i) => (scores[259 + i] = -1e6 - i));
  for (let r = 0; r < merges.length; r++) {
    pieces.push(merges[r]);
    types.push(1);
    scores.push(-r);
  }
  return new Tokenizer({ pieces, scores, types, bos: 1, eos: 2, unk: 0 });
}
