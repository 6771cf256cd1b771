/**
 * Charts and sweeps.
 * 1. Chart export: one chart to SVG + PNG through headless Chromium, first (browser launch + plotly.js
 *    load) and warm. Targets: ≤ 3 s first, ≤ 300 ms warm. No FLOP floor: the cost is the browser's
 *    layout and rasterisation (a 1440 × 880 PNG is 1.3 M pixels).
 * 2. The 7 × 3 RTN sweep (group sizes 16 … 256, channel, tensor × bits 3, 4, 8) over a 4096 × 4096 FP32
 *    matrix into a DataFrame, against the same sweep in NumPy in the same run. Floor: 21 passes over
 *    16.8 M weights (64 MiB) each reading the data twice (range, then round) ≈ 2.8 GB of memory traffic
 *    ≈ 0.3 s at ~10 GB/s; the arithmetic is a handful of flops per weight (≈ 2 GFLOP in all).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeBrowser, findChromium } from "../src/display/browser.js";
import { lineChart } from "../src/display/figure.js";
import { sweep } from "../src/dsl/sweep.js";
import { matrix } from "../src/numerics/matrix.js";
import { quantize } from "../src/numerics/rtn.js";
import { randn } from "../test/helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-bench-charts-"));
const rows: string[][] = [];
const ms = (t: number) => `${t.toFixed(0)} ms`;

if (findChromium()) {
  const data = [3, 4, 8].flatMap((bits) => [16, 32, 64, 128, 256].map((g) => ({ g, bits, mse: 2 ** (-2 * bits) * g })));
  const chart = (title: string) => lineChart(data, { x: "g", y: "mse", color: "bits", logX: true, logY: true, title });
  const once = (title: string) => {
    const t0 = performance.now();
    const c = chart(title);
    c.export(join(dir, "c.svg"));
    c.export(join(dir, "c.png"), { scale: 2 });
    return performance.now() - t0;
  };
  const first = once("first");
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) warm.push(once(`warm ${i}`));
  warm.sort((a, b) => a - b);
  rows.push(["chart SVG + PNG, first (launch + plotly.js)", ms(first), "≤ 3000 ms", first <= 3000 ? "met" : "missed"]);
  rows.push(["chart SVG + PNG, warm (median of 5)", ms(warm[2]!), "≤ 300 ms", warm[2]! <= 300 ? "met" : "missed"]);
  closeBrowser();
} else rows.push(["chart export", "skipped: no Chromium (set QUANTLAB_CHROMIUM)", "", ""]);

const N = 4096;
const W = matrix(N, N, randn(N * N, 42, 0.02));
const GROUPS = [16, 32, 64, 128, 256, "channel", "tensor"] as const;
const BITS = [3, 4, 8];
let t0 = performance.now();
const s = sweep({ groupSize: [...GROUPS], bits: BITS }, (p) => quantize(W, { bits: p.bits, groupSize: p.groupSize, scheme: "asymmetric" }).report, { progress: false });
const tSweep = performance.now() - t0;
t0 = performance.now();
const df = s.frame;
const tFrame = performance.now() - t0;
const shape = (df as { shape: number[] }).shape;

const PY = String.raw`
import sys, json, time, numpy as np
N = 4096
W = np.fromfile(sys.argv[1], dtype=np.float32).reshape(N, N)
def rtn(W, g, bits):
    if g == "tensor": G = W.reshape(1, -1)
    elif g == "channel": G = W
    else: G = W.reshape(-1, g)
    lo = G.min(axis=1, keepdims=True); hi = G.max(axis=1, keepdims=True)
    qmax = 2 ** bits - 1
    scale = (hi - lo) / qmax
    scale[scale == 0] = 1
    q = np.clip(np.rint((G - lo) / scale), 0, qmax)
    return (lo + q * scale).reshape(W.shape)
t = time.perf_counter(); out = []
for g in ["16", "32", "64", "128", "256", "channel", "tensor"]:
    for b in [3, 4, 8]:
        gg = int(g) if g.isdigit() else g
        d = W - rtn(W, gg, b)
        out.append({"groupSize": g, "bits": b, "mse": float(np.mean(d.astype(np.float64) ** 2))})
print(json.dumps({"seconds": time.perf_counter() - t, "rows": out, "numpy": np.__version__}))
`;
const py = [process.env.QUANTLAB_PYTHON, "/usr/bin/python3", "python3"].filter((p): p is string => !!p)
  .find((p) => spawnSync(p, ["-c", "import numpy"]).status === 0);
let npLine: string[] = ["NumPy sweep", "skipped: no python3 with numpy", "", ""];
let agree = "";
if (py) {
  const file = join(dir, "w.f32");
  writeFileSync(file, W.data);
  const r = spawnSync(py, ["-c", PY, file], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status === 0) {
    const res = JSON.parse(r.stdout) as { seconds: number; rows: { mse: number }[]; numpy: string };
    const ours = s.col("mse") as number[];
    const worst = Math.max(...res.rows.map((x, i) => Math.abs(x.mse - ours[i]!) / x.mse));
    agree = `largest relative MSE difference vs NumPy: ${worst.toExponential(2)}`;
    npLine = [`NumPy ${res.numpy} sweep (float32, same grid)`, ms(res.seconds * 1000), "peer", `QuantLab / NumPy = ${((tSweep + tFrame) / (res.seconds * 1000)).toFixed(2)}×`];
  } else npLine = ["NumPy sweep", `failed: ${r.stderr.trim().split("\n").pop()}`, "", ""];
}
rows.push([`RTN sweep 7 × 3 over ${N} × ${N} (QuantLab rtn)`, ms(tSweep), "", ""]);
rows.push([`  → danfo DataFrame ${shape.join(" × ")} (incl. loading danfojs-node)`, ms(tFrame), "", ""]);
rows.push(npLine);
rmSync(dir, { recursive: true, force: true });

const widths = [0, 1, 2, 3].map((j) => Math.max(...rows.map((r) => (r[j] ?? "").length), ["case", "time", "target", "result"][j]!.length));
const line = (r: string[]) => r.map((c, j) => (c ?? "").padEnd(widths[j]!)).join("  ");
console.log(line(["case", "time", "target", "result"]));
for (const r of rows) console.log(line(r));
if (agree) console.log(agree);
console.log(`(${process.version}, ${process.platform}; one run: rerun for variance)`);
