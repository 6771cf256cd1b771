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
 * MXFP4/NVFP4 try 16 candidate levels per weight and TQ1_0/TQ2_0 round and pack trits: C does it one
 * weight at a time, QuantLab four weights per SIMD instruction.
 * Fairness: the two sides alternate rep by rep (QuantLab first on even reps, llama.cpp first on odd), so a
 * machine whose load changes during the run slows both alike; each side's time is the median of its reps.
 * Target: ≤ 1× llama.cpp's time. MB/s counts input bytes (FP32) per second.
 * GGUF_BENCH_N sets the matrix side (default 4096; a loaded machine may want 2048), GGUF_BENCH_TYPES a
 * comma-separated list of types to run.
 */
import { quantize } from "../src/gguf/quants.js";
import { GGUF_TYPES } from "../src/gguf/types.js";
import { loadOracle, oracleMissing } from "../test/gguf/oracle.js";
import { randn } from "../test/helpers/random.js";

const N = Number(process.env.GGUF_BENCH_N ?? 4096);
const only = process.env.GGUF_BENCH_TYPES?.split(",").map((t) => t.trim().toUpperCase());
const W = randn(N * N, 4096, 0.02);
const oracle = loadOracle();
if (!oracle) console.log(`(${oracleMissing}: showing QuantLab times only)`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const rows: string[][] = [["type", "QuantLab ms", "llama.cpp ms", "QuantLab MB/s", "llama.cpp MB/s", "ratio (QL/llama)", "target ≤ 1×", "bytes equal"]];
const mb = (N * N * 4) / 1e6;
console.log(`${N} × ${N} FP32, medians of interleaved reps`);
// every block type of the traits table, so a new type is measured the day it lands
for (const type of GGUF_TYPES.filter((t) => t.blockSize > 1 && (!only || only.includes(t.name))).map((t) => t.name)) {
  const reps = type.endsWith("_K") || type.startsWith("IQ") ? 3 : 5;
  quantize(type, W.subarray(0, 16 * N), N); // warm the JIT on a slice
  oracle?.quantize(type, W.subarray(0, 16 * N), N);
  let ours: Uint8Array = new Uint8Array();
  let theirs: Uint8Array | undefined;
  const tq: number[] = [];
  const to: number[] = [];
  for (let r = 0; r < reps; r++) {
    const runOurs = () => tq.push(time(() => { ours = quantize(type, W, N); }));
    const runTheirs = () => { if (oracle) to.push(time(() => { theirs = oracle.quantize(type, W, N); })); };
    if (r % 2 === 0) { runOurs(); runTheirs(); } else { runTheirs(); runOurs(); }
  }
  const q = median(tq);
  const o = oracle ? median(to) : NaN;
  const same = theirs ? Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) === 0 : undefined;
  rows.push([type, q.toFixed(0), oracle ? o.toFixed(0) : "—", (mb / (q / 1000)).toFixed(0),
    oracle ? (mb / (o / 1000)).toFixed(0) : "—", oracle ? (q / o).toFixed(2) : "—",
    oracle ? (q / o <= 1 ? "met" : "MISSED") : "—", same === undefined ? "—" : same ? "yes" : "NO"]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c]!)).join("  "));
