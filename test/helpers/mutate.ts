/**
 * Seeded file mutations for the readers' fuzz tests: bit flips, boundary values (0xFF…, 2^31, 2^32 …)
 * written over bytes (GGUF's ARRAY and 64-bit type ids among them), random bytes, truncation, deletion and
 * insertion (which make every later offset lie).
 */
/** Values that break naive readers: zero, all ones, sign bits, just past 32 bits. */
const INTERESTING: number[][] = [
  [0x00], [0xff], [0x7f], [0x80], [0x01],
  [0xff, 0xff, 0xff, 0xff], [0x00, 0x00, 0x00, 0x80], [0xff, 0xff, 0xff, 0x7f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00],
  [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00], [0x05, 0x00, 0x00, 0x00], [0x0d, 0x00, 0x00, 0x00], [0x09, 0x00, 0x00, 0x00],
  // GGUF's UINT64 and INT64 type ids: a numeric array (a tokenizer's scores, token types) retyped to 64-bit items
  [0x0a, 0x00, 0x00, 0x00], [0x0b, 0x00, 0x00, 0x00],
];

/** One mutant of `src`; positions are drawn mostly from the first `hot` bytes (the header). */
export function mutate(src: Uint8Array, rand: () => number, hot: number): Uint8Array {
  const pos = () => Math.floor((rand() < 0.85 ? Math.min(hot, src.length) : src.length) * rand());
  const kind = Math.floor(rand() * 6);
  const out = src.slice();
  switch (kind) {
    case 0: { // bit flips
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) { const p = pos(); out[p]! ^= 1 << Math.floor(rand() * 8); }
      return out;
    }
    case 1: { // a boundary value written over the bytes at a position
      const v = INTERESTING[Math.floor(rand() * INTERESTING.length)]!;
      const p = pos();
      for (let i = 0; i < v.length && p + i < out.length; i++) out[p + i] = v[i]!;
      return out;
    }
    case 2: { // random bytes
      const p = pos();
      for (let i = 0; i < 1 + Math.floor(rand() * 8) && p + i < out.length; i++) out[p + i] = Math.floor(rand() * 256);
      return out;
    }
    case 3: // truncation
      return src.slice(0, pos());
    case 4: { // deletion: everything after shifts, so offsets and lengths all lie
      const n = Math.min(src.length, 1 + Math.floor(rand() * 16));
      const p = Math.min(pos(), src.length - n);
      const r = new Uint8Array(src.length - n);
      r.set(src.subarray(0, p));
      r.set(src.subarray(p + n), p);
      return r;
    }
    default: { // insertion of random bytes
      const p = pos(), n = 1 + Math.floor(rand() * 16);
      const r = new Uint8Array(src.length + n);
      r.set(src.subarray(0, p));
      for (let i = 0; i < n; i++) r[p + i] = Math.floor(rand() * 256);
      r.set(src.subarray(p), p + n);
      return r;
    }
  }
}

