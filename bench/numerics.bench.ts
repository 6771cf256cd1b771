/**
 * RTN quantize → dequantize → MSE of a seeded 4096 × 4096 FP32 matrix, QuantLab against NumPy on the
 * same bytes in the same run (issue 2's target: ratio ≤ 1.0), plus the 7-group-size × 3-bit sweep.
 *
 * Both sides compute the zero-point form (scale = (max − min)/qmax, zero = clamp(round(−min/scale)),
 * q = clamp(round(x/scale) + zero), x̂ = (q − zero)·scale, round half to even) and print their MSE, so a
 * mismatch in the arithmetic shows up next to the timing.
 *
 * Floor: per weight, one 4-byte read (the range pass re-reads the group from L1), a 2-byte code write, a
 * 4-byte dequantized write and one division: 160 MiB of memory traffic for 16 M weights. The table
 * reports input GB/s next to a plain copy of the same 64 MiB (alloc + copy, what any output costs).
 * Run: `npm run bench -- numerics`.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { matrix } from "../src/numerics/matrix.js";
import { quantize } from "../src/numerics/rtn.js";
import type { QuantSpec } from "../src/numerics/spec.js";
import { randn } from "../test/helpers/random.js";

const N = 4096;
const REPEATS = 5;
const W = matrix(N, N, randn(N * N, 2024));
const BYTES = W.data.byteLength;

type Case = { name: string; bits: number; group: number | "channel" | "tensor" };
const HEAD: Case[] = [
  { name: "INT4 g128", bits: 4, group: 128 },
  { name: "INT8 per channel", bits: 8, group: "channel" },
];
const SWEEP_GROUPS: (number | "channel" | "tensor")[] = [16, 32, 64, 128, 256, "channel", "tensor"];
const SWEEP_BITS = [3, 4, 8];
const SWEEP: Case[] = SWEEP_GROUPS.flatMap((group) => SWEEP_BITS.map((bits) => ({ name: `INT${bits} ${group}`, bits, group })));

interface Timing { seconds: number; cpu: number; mse: number }

/** Best wall time and best CPU time (user + system) of n runs: CPU time is the steadier of the two on a busy machine. */
const best = (f: () => void, n = REPEATS): { seconds: number; cpu: number } => {
  let t = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e3);
  }
  return { seconds: t / 1000, cpu: cpu / 1000 };
};

// QuantLab computes every x̂ inside the error pass but builds the x̂ array only when it is read;
// `materialise` reads it too, so it costs what NumPy's stored deq costs: the headline rows (like for like)
// build it, the "x̂ not built" rows show what a caller that never reads x̂ pays.
function quantlab(c: Case, materialise = false): Timing {
  const spec: QuantSpec = { bits: c.bits, groupSize: c.group, convention: "zero-point" };
  let mse = 0;
  const t = best(() => {
    const q = quantize(W, spec);
    mse = q.report.mse;
    if (materialise && q.dequantized.length !== W.data.length) throw new Error("x̂ has the wrong length");
  });
  return { ...t, mse };
}

const PY = String.raw`
import json, sys, time
import numpy as np
n = ${N}
W = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, n)
cases = json.loads(sys.argv[2])
def rtn(W, bits, group):
    G = W.reshape(1, -1) if group == "tensor" else W.reshape(-1, n if group == "channel" else group)
    qmax = np.float32(2 ** bits - 1)
    lo = G.min(axis=1, keepdims=True)
    hi = G.max(axis=1, keepdims=True)
    scale = np.where(hi > lo, (hi - lo) / qmax, np.float32(1)).astype(np.float32)
    zero = np.clip(np.round(-lo / scale), 0, qmax)
    q = np.clip(np.round(G / scale) + zero, 0, qmax)
    deq = (q - zero) * scale
    return float(np.mean(np.square(G - deq, dtype=np.float64)))
def best(f, k=${REPEATS}):
    t = cpu = float("inf")
    for _ in range(k):
        c0 = time.process_time(); t0 = time.perf_counter(); f()
        t = min(t, time.perf_counter() - t0); cpu = min(cpu, time.process_time() - c0)
    return t, cpu
out = []
for c in cases:
    r = {}
    r["seconds"], r["cpu"] = best(lambda: r.__setitem__("mse", rtn(W, c["bits"], c["group"])))
    out.append(r)
copy = best(lambda: W.copy())[0]
print(json.dumps({"cases": out, "copy": copy, "numpy": np.__version__}))
`;

function numpy(cases: Case[]): { cases: Timing[]; copy: number; numpy: string } | null {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-bench-"));
  try {
    const file = join(dir, "W.f32");
    writeFileSync(file, new Uint8Array(W.data.buffer, W.data.byteOffset, W.data.byteLength));
    const r = spawnSync("python3", ["-c", PY, file, JSON.stringify(cases)], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      console.log(`NumPy baseline unavailable (python3 with numpy needed): ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`);
      return null;
    }
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const gbps = (s: number, times = 1) => (BYTES * times / s / 1e9).toFixed(2);
const ms = (s: number) => (s * 1000).toFixed(1).padStart(8);

// warm-up: the first calls run the loops through on-stack replacement; later calls get the optimised function
for (let i = 0; i < 4; i++) quantize(W, { bits: 4, groupSize: 128, convention: "zero-point" });
const jsCopy = best(() => W.data.slice()).seconds;
const head = HEAD.map((c) => quantlab(c));
const headStored = HEAD.map((c) => quantlab(c, true));
const sweep = SWEEP.map((c) => quantlab(c, true));
const py = numpy([...HEAD, ...SWEEP]);

console.log(`RTN quantize → dequantize → MSE, ${N}×${N} FP32 (${(BYTES / 2 ** 20).toFixed(0)} MiB), best of ${REPEATS}` +
  (py ? `, NumPy ${py.numpy}` : ""));
console.log("case                         QuantLab ms  NumPy ms  ratio | CPU ms QL  NumPy  ratio | QL GB/s | MSE QuantLab / NumPy");
const ratio = (a: number, b?: number) => (b ? (a / b).toFixed(2) : "-").padStart(5);
const row = (name: string, q: Timing, p?: Timing, times = 1) =>
  console.log(`${name.padEnd(28)} ${ms(q.seconds)}  ${p ? ms(p.seconds) : "       -"}  ${ratio(q.seconds, p?.seconds)} |` +
    ` ${ms(q.cpu)} ${p ? ms(p.cpu) : "       -"}  ${ratio(q.cpu, p?.cpu)} | ${gbps(q.seconds, times).padStart(7)} |` +
    ` ${Number.isNaN(q.mse) ? "" : `${q.mse.toExponential(4)} / ${p ? p.mse.toExponential(4) : "-"}`}`);
HEAD.forEach((c, i) => row(`${c.name} + x̂ array`, headStored[i]!, py?.cases[i]));
HEAD.forEach((c, i) => row(`${c.name}, x̂ not built`, head[i]!, py?.cases[i]));
const total = (xs: Timing[]): Timing => ({ seconds: xs.reduce((a, b) => a + b.seconds, 0), cpu: xs.reduce((a, b) => a + b.cpu, 0), mse: NaN });
const pySweep = py?.cases.slice(HEAD.length);
row(`sweep 7 × 3 + x̂ (total)`, total(sweep), pySweep ? total(pySweep) : undefined, SWEEP.length);
console.log(`copy of the same bytes: JS ${ms(jsCopy)} ms (${gbps(jsCopy)} GB/s)` + (py ? `, NumPy ${ms(py.copy)} ms (${gbps(py.copy)} GB/s)` : ""));
if (process.argv.includes("--verbose")) SWEEP.forEach((c, i) => row(c.name, sweep[i]!, pySweep?.[i]));
