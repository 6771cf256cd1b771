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


/**
 * .npy headers whose only change is the text of one field: shapes and literals at the edge of NumPy's
 * grammar (a Python dict literal read by ast.literal_eval, then checked). Each is [label, header text];
 * npy-numpy.test.ts asks NumPy itself which it accepts, the fuzz test checks QuantLab never accepts
 * more (so a shape NumPy refuses cannot reach the allocator).
 */
export const NPY_HEADER_VARIANTS: [string, string][] = [
  ...["()", "(4,)", "(2, 2)", "(2, 2,)", "( 4 , )", "(1, 1, 4)", "(,)", "(0x4,)", "(4.0,)", "(1e3,)", "(4)", "(-4,)",
    "(4,,)", "(, 4)", "(2 2)", "[4]", "4", "(4L,)", "(0o4,)", "(04,)", "(True,)", "(4, None)", "('4',)"].map((s): [string, string] =>
    [`shape ${s}`, `{'descr': '|u1', 'fortran_order': False, 'shape': ${s}, }`]),
  ["keys in another order", "{'shape': (4,), 'fortran_order': False, 'descr': '|u1'}"],
  ["double-quoted strings", `{"descr": "|u1", "fortran_order": False, "shape": (4,)}`],
  ["a missing key", "{'descr': '|u1', 'shape': (4,), }"],
  ["an extra key", "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), 'x': 1}"],
  ["fortran_order 0", "{'descr': '|u1', 'fortran_order': 0, 'shape': (4,), }"],
  ["fortran_order false", "{'descr': '|u1', 'fortran_order': false, 'shape': (4,), }"],
  ["not a dict", "('|u1', False, (4,))"],
  ["text after the dict", "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), } x"],
];

/** A version 1.0 .npy file with `header` (padded as NumPy pads it) and four data bytes. */
export function npyWithHeader(header: string): Uint8Array {
  let h = header;
  h += " ".repeat((64 - ((10 + h.length + 1) % 64)) % 64) + "\n";
  const body = new TextEncoder().encode(h);
  const out = new Uint8Array(10 + body.length + 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, body.length, true);
  out.set(body, 10);
  out.set([1, 2, 3, 4], 10 + body.length);
  return out;
}
