/**
 * Seeded, bounded mutation fuzzing of the safetensors reader: every mutant of a valid file (bit flips,
 * boundary integers over the header length and JSON, truncations, insertions, deletions, copied ranges)
 * either parses or throws QuantLabError — never a RangeError, SyntaxError or TypeError, never a hang.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { QuantLabError } from "../../src/errors.js";
import { encodeSafetensors, parseSafetensors } from "../../src/io/safetensors.js";
import { mulberry32, randn } from "../helpers/random.js";

const INTERESTING = [0n, 1n, 2n, 31n, 32n, 255n, 0x7fffn, 0xffffn, 0x7fffffffn, 0xffffffffn, 1n << 32n, 1n << 53n, 1n << 62n, (1n << 63n) - 1n, (1n << 64n) - 1n];

/** One random mutation of `src` (a new array; `src` is untouched). */
function mutate(src: Uint8Array, rand: () => number, focus: number): Uint8Array {
  const at = (n = focus) => Math.floor(rand() * Math.max(1, Math.min(n, src.length)));
  const kind = Math.floor(rand() * 7);
  const out = src.slice();
  switch (kind) {
    case 0: { const i = at(); out[i]! ^= 1 << Math.floor(rand() * 8); return out; }
    case 1: { const i = at(); out[i] = Math.floor(rand() * 256); return out; }
    case 2: { // an interesting little-endian integer, 4 or 8 bytes wide
      const v = INTERESTING[Math.floor(rand() * INTERESTING.length)]!;
      const w = rand() < 0.5 ? 4 : 8;
      const i = at();
      for (let k = 0; k < w && i + k < out.length; k++) out[i + k] = Number((v >> BigInt(8 * k)) & 0xffn);
      return out;
    }
    case 3: return src.slice(0, at(src.length));
    case 4: { const i = at(); const n = 1 + Math.floor(rand() * 16); return Uint8Array.from([...src.subarray(0, i), ...src.subarray(i + n)]); }
    case 5: { const i = at(); const ins = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)); return Uint8Array.from([...src.subarray(0, i), ...ins, ...src.subarray(i)]); }
    default: { const i = at(); const j = at(); const n = 1 + Math.floor(rand() * 12); out.copyWithin(i, j, j + n); return out; }
  }
}

function expectParsesOrQuantLabError(label: string, fn: () => void): "ok" | "rejected" {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof QuantLabError) return "rejected";
    assert.fail(`${label}: threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
}

test("2000 mutants of a safetensors file: each parses or throws QuantLabError", { timeout: 60_000 }, () => {
  const src = encodeSafetensors({
    w: { dtype: "F16", shape: [4, 8], data: randn(32, 5) },
    b: { dtype: "BF16", shape: [8], data: randn(8, 6) },
    ids: { dtype: "I64", shape: [3], data: BigInt64Array.from([1n, -2n, 3n]) },
    m: { dtype: "U8", shape: [2, 2], data: Uint8Array.from([1, 2, 3, 4]) },
  }, { format: "pt" });
  const rand = mulberry32(0x5afe);
  const tally = { ok: 0, rejected: 0 };
  for (let i = 0; i < 2000; i++) {
    const m = mutate(src, rand, src.length);
    tally[expectParsesOrQuantLabError(`safetensors mutant #${i}`, () => parseSafetensors(m))]++;
  }
  assert.ok(tally.ok > 100 && tally.rejected > 100, JSON.stringify(tally));
});
