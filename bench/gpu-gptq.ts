/**
 * Prepared GPU check (issues 5, 20): GPTQ 4-bit g128 of 4096² and 8192² layers (tokens = in_features),
 * and AWQ + clip at 4096², on the `webgpu` backend (@tensorflow/tfjs-backend-webgpu over the `webgpu` npm package, Dawn → Vulkan), with
 * the same run on wasm at 4096² as the baseline measured in the same process. Needs only Node, the
 * installed packages and the Vulkan loader (libvulkan.so.1 + the NVIDIA ICD).
 * Run: `node --import tsx bench/gpu-gptq.ts` (QUANTLAB_GPU_SIZES=4096,8192 and QUANTLAB_GPU_BASELINE=0|1).
 * Exits 2 with one clear line when no adapter is found. On a bare NVIDIA machine Dawn also needs the
 * Vulkan loader and glvnd (Debian: libvulkan1, libglvnd0, libglx0, libegl1, libgl1) so that the ICD's
 * libGLX_nvidia.so.0 loads; VK_DRIVER_FILES can name the ICD's JSON.
 * Measured 2026-11-26 on one H100 (16 cores), before the sweep moved onto the device: webgpu 4096² 8.6 s vs
 * wasm 14.7 s in the same run (output error 0.0095 on both), webgpu 8192² 43.7 s. Since then the column
 * sweep on webgpu is tfjs operations on the device (sweepTf in src/algorithms/gptq-sweep.ts: nothing is
 * read back per column; its correctness is tested on the cpu backend); not yet measured on a GPU.
 * Targets (issue 20): 4096² ≤ 1 s, 8192² ≤ 5 s, output error equal to the CPU path's.
 *
 * FLOPs at n = in = out = tokens: Hessian n³ executed (symmetric half of 2n³), Hinv ≈ 2n³/3, lazy
 * updates ≈ n³: ≈ 2.67·n³ = 183 G at 4096, 1.47 T at 8192. The in-block sweep (quantize + rank-1 updates,
 * ≈ 128·n² flops) is a dozen small device operations per column.
 */
import { awq } from "../src/algorithms/awq.js";
import { gptq } from "../src/algorithms/gptq.js";
import { useBackend } from "../src/backend/index.js";
import type { Matrix } from "../src/numerics/matrix.js";
import { randn, randt } from "../test/helpers/random.js";

const sizes = (process.env.QUANTLAB_GPU_SIZES ?? "4096,8192").split(",").map(Number);
const baseline = process.env.QUANTLAB_GPU_BASELINE !== "0";

function problem(n: number): { W: Matrix; X: Matrix } {
  const W = { rows: n, cols: n, data: randt(n * n, 11, 5, 0.02) };
  const X = { rows: n, cols: n, data: randn(n * n, 12) };
  for (let c = 0; c < n; c += 100) for (let t = 0; t < n; t++) X.data[t * n + c]! *= 20;
  return { W, X };
}

try {
  await useBackend("webgpu");
} catch (e) {
  console.error(`gpu-gptq: no WebGPU adapter: ${(e as Error).message}. Needs a GPU with a Vulkan driver (libvulkan.so.1 and the vendor ICD, e.g. nvidia-vulkan-icd).`);
  process.exit(2);
}

const rows: string[][] = [];
async function time(backend: string, n: number): Promise<void> {
  await useBackend(backend);
  const { W, X } = problem(n);
  const t = performance.now();
  const g = await gptq(W, X, { bits: 4, groupSize: 128, skipOutputError: n > 4096 });
  const wall = (performance.now() - t) / 1000;
  const fl = (8 / 3) * n ** 3;
  rows.push([backend, `${n}²`, g.report.seconds.toFixed(2), (fl / g.report.seconds / 1e9).toFixed(1), g.report.outputError?.toFixed(4) ?? "–", wall.toFixed(2)]);
  console.error(`  ${backend} ${n}²: ${g.report.seconds.toFixed(2)} s`);
}

async function timeAwq(backend: string, n: number): Promise<void> {
  await useBackend(backend);
  const { W, X } = problem(n);
  const t = performance.now();
  const a = await awq(W, X, { bits: 4, groupSize: 128, clip: true });
  const wall = (performance.now() - t) / 1000;
  rows.push([`${backend} AWQ + clip`, `${n}²`, a.report.seconds.toFixed(2), "–", a.report.outputError?.toFixed(4) ?? "–", wall.toFixed(2)]);
  console.error(`  ${backend} AWQ + clip ${n}²: ${a.report.seconds.toFixed(2)} s`);
}

for (const n of sizes) await time("webgpu", n);
await timeAwq("webgpu", 4096);
if (baseline) {
  await time("wasm", 4096);
  await timeAwq("wasm", 4096);
}
const head = ["backend", "size", "method s", "GFLOP/s", "out err", "wall s (with report)"];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
console.log(head.map((h, i) => h.padEnd(width[i]!)).join("  "));
for (const r of rows) console.log(r.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  "));
console.log("GPTQ rows unless named; output error is ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖² (skipped past 4096²); targets: GPTQ 4096² ≤ 1 s, 8192² ≤ 5 s.");
