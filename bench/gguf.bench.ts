/**
 * GGUF quantizers: QuantLab versus llama.cpp's own libggml-base.so (single-threaded ggml_quantize_chunk)
 * on a seeded 4096 × 4096 FP32 matrix, measured in the same run, with a check that the bytes agree.
 *
 * Floor: the input is 64 MiB of FP32 read once (≈ 10 ms at memory speed); QuantLab also copies it into
 * WebAssembly memory 64 KiB at a time (cache-resident, so the kernel's read is cheap). Q4_0 and Q8_0 do a
 * handful of float ops per weight (≈ 0.1 GFLOP): C runs them scalar, QuantLab's WebAssembly 4 lanes wide.
 * Q4_K runs make_qkx2_quants' 21 trial scales × 32 weights × ~27 float ops per sub-block ≈ 9.5 GFLOP of
 * float32 work whose sums C adds one term at a time (≈ 1 s, latency-bound); QuantLab keeps each sum's
 * order but runs four sub-blocks at once, one per SIMD lane (assembly/gguf-blocks.ts).
 * The issue's target names Q4_0, Q8_0 and Q4_K; the other block types of the traits table follow.
 * MB/s counts input bytes (FP32) per second.
 */
import { quantize } from "../src/gguf/quants.js";
import { GGUF_TYPES } from "../src/gguf/types.js";
import { loadOracle, oracleMissing } from "../test/gguf/oracle.js";
import { randn } from "../test/helpers/random.js";

const N = 4096;
const W = randn(N * N, 4096, 0.02);
const oracle = loadOracle();
if (!oracle) console.log(`(${oracleMissing}: showing QuantLab times only)`);

function best(fn: () => void, reps: number): number {
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

const rows: string[][] = [["type", "QuantLab ms", "llama.cpp ms", "QuantLab MB/s", "llama.cpp MB/s", "ratio (QL/llama)", "target ≤ 2×", "bytes equal"]];
const mb = (N * N * 4) / 1e6;
// every block type of the traits table, so a new type is measured the day it lands
for (const type of GGUF_TYPES.filter((t) => t.blockSize > 1).map((t) => t.name)) {
  const reps = type.endsWith("_K") || type.startsWith("IQ") ? 2 : 5;
  quantize(type, W.subarray(0, 16 * N), N); // warm the JIT on a slice
  let ours: Uint8Array = new Uint8Array();
  const tq = best(() => { ours = quantize(type, W, N); }, reps);
  let theirs: Uint8Array | undefined;
  const to = oracle ? best(() => { theirs = oracle.quantize(type, W, N); }, reps) : NaN;
  const same = theirs ? Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) === 0 : undefined;
  rows.push([type, tq.toFixed(0), oracle ? to.toFixed(0) : "—", (mb / (tq / 1000)).toFixed(0),
    oracle ? (mb / (to / 1000)).toFixed(0) : "—", oracle ? (tq / to).toFixed(2) : "—",
    oracle ? (tq / to <= 2 ? "met" : "MISSED") : "—", same === undefined ? "—" : same ? "yes" : "NO"]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c]!)).join("  "));
