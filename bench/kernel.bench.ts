/**
 * Kernel latency, QuantLab against tslab and ipykernel measured in the same run through the project's
 * own Jupyter client: start-to-ready (spawn until kernel_info is answered and its status reached
 * iopub), then the median round trip (execute_request until reply and idle) of a trivial cell and of
 * a cell that calls the DSL, 30 runs each after 5 warm-up runs.
 *
 * Floor: a round trip is two zeromq hops plus HMAC over < 1 kB (tens of µs); what remains is the
 * kernel's own work — for the TypeScript kernels, type-checking the cell against the earlier ones.
 * Targets: ready ≤ 1.0 s, trivial cell ≤ 8 ms, DSL cell ≤ 30 ms.
 *
 * Rapid cells: RAPID (500) execute_requests of new cell texts sent in a row without waiting, time to
 * the last reply divided by RAPID, against ipykernel in the same run; target ≤ 2× ipykernel's. tslab
 * is left out there: with a few hundred requests queued it stops answering (100 still pass).
 *
 * First result: spawn until the reply to the first cell (`1 + 1`), each kernel against ipykernel;
 * target ≤ ipykernel's. First chart: the round trip of the session's first chart cell (a DSL line
 * chart, static SVG from headless Chromium + live plotly), right after the first result; target
 * ≤ 1.5 s (no matplotlib here to measure ipykernel's first figure against).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KernelClient, type StartOptions } from "../src/runner/client.js";

const ROOT = join(fileURLToPath(import.meta.url), "..", "..");
const RUNS = 30;
const RAPID = Number(process.env.QUANTLAB_BENCH_RAPID ?? 500);
const WARMUP = 5;

interface Peer {
  name: string;
  start: StartOptions;
  trivial: string;
  dsl: string | null;
  /** A loop mutating a top-level `let` (tslab's rewrite made it 25–50× slower than in a block). */
  loop: string | null;
  /** The session's first chart, or null. */
  chart?: string;
  /** Whether RAPID requests in a row are sent to it (tslab hangs on them). */
  rapid: boolean;
}

const LOOP = "let acc = 0;\nfor (let i = 0; i < 1e6; i++) acc += i;\nacc";

const dslCell = "mse([0.1, -0.3, 0.7, -1.0, 0.5], [0.1, -0.3, 0.7, -1.0, 0.49])";
const peers: Peer[] = [
  {
    name: "quantlab",
    start: { env: existsSync(join(ROOT, "dist", "kernel", "kernel.js")) ? process.env : { ...process.env, QUANTLAB_FROM_SOURCE: "1" } },
    trivial: "1 + 1",
    dsl: dslCell,
    loop: LOOP,
    chart: 'lineChart([{ g: 32, mse: 1e-4 }, { g: 64, mse: 2e-4 }, { g: 128, mse: 4e-4 }], { x: "g", y: "mse", title: "first chart" })',
    rapid: true,
  },
  { name: "tslab", start: { argv: [join(ROOT, "node_modules", ".bin", "tslab"), "kernel", "--config-path", "{connection_file}"] }, trivial: "1 + 1", dsl: null, loop: LOOP, rapid: false },
  { name: "ipykernel", start: { argv: ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"] }, trivial: "1 + 1", dsl: null, loop: null, rapid: true },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Cell = string | ((i: number) => string);

/**
 * Median round trips of `cell` on every kernel, interleaved run by run so that a change in machine
 * load (other processes on a shared 2-core box) hits all kernels alike and the ratios stay fair.
 */
async function interleaved(kernels: KernelClient[], cells: (Cell | null)[], runs = RUNS): Promise<(number | null)[]> {
  const text = (c: Cell, i: number) => (typeof c === "string" ? c : c(i));
  const times: number[][] = kernels.map(() => []);
  for (let i = -WARMUP; i < runs; i++) {
    for (const [j, k] of kernels.entries()) {
      const c = cells[j];
      if (c === null) continue;
      const t0 = performance.now();
      const r = await k.execute(text(c, i));
      if (i >= 0) times[j].push(performance.now() - t0);
      if (r.reply.content.status !== "ok") throw new Error(`${text(c, i)}: ${r.reply.content.ename}: ${r.reply.content.evalue}`);
    }
  }
  return times.map((t) => (t.length ? median(t) : null));
}

const started: { peer: Peer; k: KernelClient; ready: number; first: number; chart: number | null }[] = [];
for (const peer of peers) {
  const t0 = performance.now();
  try {
    const k = await KernelClient.start({ ...peer.start, readyTimeoutMs: 30_000 });
    const ready = performance.now() - t0;
    // the TypeScript kernels load their compiler on the first cell
    const r = await k.execute(peer.trivial);
    const first = performance.now() - t0;
    if (r.reply.content.status !== "ok") throw new Error(`first cell: ${r.reply.content.evalue}`);
    let chart: number | null = null;
    if (peer.chart) {
      const t1 = performance.now();
      const c = await k.execute(peer.chart);
      chart = performance.now() - t1;
      if (c.reply.content.status !== "ok") throw new Error(`first chart: ${c.reply.content.evalue}`);
      if (!c.outputs.some((m) => m.header.msg_type === "execute_result" && m.content.data["image/svg+xml"])) console.log(`${peer.name}: the first chart came without its static SVG (no Chromium?)`);
    }
    started.push({ peer, k, ready, first, chart });
  } catch (e) {
    console.log(`${peer.name}: not measured (${(e as Error).message})`);
  }
}
const ks = started.map((s) => s.k);
let trivial: (number | null)[], fresh: (number | null)[], dsl: (number | null)[], loop: (number | null)[];
const rapid: number[] = [];
try {
  // new texts each time (the TypeScript kernels check every new text), all sent before the first reply
  for (const [j, k] of ks.entries()) {
    if (!started[j]!.peer.rapid) {
      rapid.push(NaN);
      continue;
    }
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: RAPID }, (_, i) => k.execute(`${i + 7000 * (j + 1)} + 1`)));
    rapid.push((performance.now() - t0) / RAPID);
    const bad = results.find((r) => r.reply.content.status !== "ok");
    if (bad) throw new Error(`rapid cells on ${started[j]!.peer.name}: ${bad.reply.content.evalue}`);
  }
  trivial = await interleaved(ks, started.map((s) => s.peer.trivial));
  // the TypeScript kernels re-check a cell whose text changed; the same text again is nearly free
  fresh = await interleaved(ks, started.map(() => (i: number) => `${i + 1000} + 1`));
  dsl = await interleaved(ks, started.map((s) => s.peer.dsl));
  loop = await interleaved(ks, started.map((s) => s.peer.loop), 5);
} finally {
  for (const k of ks) await k.shutdown();
}
const rows = started.map((s, j) => ({ name: s.peer.name, ready: s.ready, trivial: trivial[j]!, fresh: fresh[j]!, dsl: dsl[j], loop: loop[j] }));

const base = rows.find((r) => r.name === "quantlab");
const fmt = (x: number | null, unit: string, digits = 1) => (x === null ? "—" : `${x.toFixed(digits)} ${unit}`);
console.log(`kernel       ready      trivial cell   new trivial cell   DSL cell    let-loop 1e6   (medians of ${RUNS} after ${WARMUP} warm-up; loop: 5)`);
for (const r of rows) {
  const ratio = base && r !== base ? `   quantlab/${r.name}: ready ×${(base.ready / r.ready).toFixed(2)}, trivial ×${(base.trivial / r.trivial).toFixed(2)}, new trivial ×${(base.fresh / r.fresh).toFixed(2)}${base.loop && r.loop ? `, let-loop ×${(base.loop / r.loop).toFixed(2)}` : ""}` : "";
  console.log(`${r.name.padEnd(12)} ${fmt(r.ready / 1000, "s", 2).padEnd(10)} ${fmt(r.trivial, "ms").padEnd(14)} ${fmt(r.fresh, "ms").padEnd(18)} ${fmt(r.dsl, "ms").padEnd(11)} ${fmt(r.loop, "ms").padEnd(14)}${ratio}`);
}
const rapidBase = started.findIndex((s) => s.peer.name === "quantlab");
const rapidPy = started.findIndex((s) => s.peer.name === "ipykernel");
console.log(`rapid cells (${RAPID} new texts in a row, per cell): ${started.flatMap((s, j) => (s.peer.rapid ? [`${s.peer.name} ${rapid[j]!.toFixed(1)} ms`] : [])).join(", ")}` +
  (rapidBase >= 0 && rapidPy >= 0 ? `; quantlab/ipykernel ×${(rapid[rapidBase]! / rapid[rapidPy]!).toFixed(2)} (target ≤ 2: ${rapid[rapidBase]! <= 2 * rapid[rapidPy]! ? "met" : "missed"})` : ""));
if (base) console.log(`targets: ready ≤ 1.00 s (${base.ready <= 1000 ? "met" : "missed"}), trivial ≤ 8 ms (${base.trivial <= 8 ? "met" : "missed"}), DSL ≤ 30 ms (${base.dsl !== null && base.dsl <= 30 ? "met" : "missed"})`);
const py = started.find((s) => s.peer.name === "ipykernel");
console.log(`start → first result (${peers[0]!.trivial}): ${started.map((s) => `${s.peer.name} ${(s.first / 1000).toFixed(2)} s${py && s !== py ? ` (×${(s.first / py.first).toFixed(2)} ipykernel)` : ""}`).join(", ")}` +
  (py && started[rapidBase] ? ` (target ≤ ipykernel's: ${started[rapidBase]!.first <= py.first ? "met" : "missed"})` : ""));
for (const s of started.filter((s) => s.chart !== null)) console.log(`first chart of the session (${s.peer.name}, after the first result): ${(s.chart! / 1000).toFixed(2)} s, ×${(s.chart! / 1500).toFixed(2)} the 1.5 s target (${s.chart! <= 1500 ? "met" : "missed"})`);
