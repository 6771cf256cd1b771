import { test } from "node:test";
import assert from "node:assert/strict";
import { sweepJs, sweepTf, sweepWasm, type SweepInput } from "../../src/algorithms/gptq-sweep.js";
import { upperCholeskyOfInverse } from "../../src/algorithms/linalg.js";
import { gram, transpose } from "../../src/algorithms/matmul.js";
import { useBackend } from "../../src/backend/index.js";
import { fitGroup, type GroupParams } from "../../src/numerics/affine.js";
import { layerSpec, type LayerQuantOptions } from "../../src/algorithms/layer-spec.js";
import { inputs, weights } from "./helpers.js";

await useBackend("wasm");

interface Case { rows: number; cols: number; gs: number; blockSize: number; spec: LayerQuantOptions; actOrder?: boolean; staticGroups?: boolean; mse?: boolean }

/** The sweep's input as gptq() builds it: damped H, its U, W transposed (and permuted under act-order). */
async function prepare(c: Case, seed: number): Promise<SweepInput> {
  const { rows, cols, gs } = c;
  const W = weights(rows, cols, seed);
  const X = inputs(3 * cols, cols, seed + 1, { mix: 0.5, every: 17 });
  let H = await gram(X.data, X.rows, cols);
  let perm: Int32Array | null = null;
  if (c.actOrder) {
    perm = Int32Array.from(Array.from({ length: cols }, (_, i) => i).sort((a, b) => H[b * cols + b]! - H[a * cols + a]! || a - b));
    const Hp = new Float32Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) Hp[i * cols + j] = H[perm[i]! * cols + perm[j]!]!;
    H = Hp;
  }
  let mean = 0;
  for (let i = 0; i < cols; i++) mean += H[i * cols + i]!;
  for (let i = 0; i < cols; i++) H[i * cols + i]! += (0.01 * mean) / cols;
  const U = await upperCholeskyOfInverse(H, cols);
  const WtNat = transpose(W.data, rows, cols);
  const Wt = perm ? new Float32Array(cols * rows) : WtNat;
  if (perm) for (let i = 0; i < cols; i++) Wt.set(WtNat.subarray(perm[i]! * rows, (perm[i]! + 1) * rows), i * rows);
  const ng = Math.ceil(cols / gs);
  const { rs } = layerSpec(cols, { ...c.spec, groupSize: gs }, "gptq");
  const scales = new Float32Array(rows * ng);
  const zeros = new Float32Array(rows * ng);
  const staticParams: GroupParams[][] = [];
  if (c.staticGroups) {
    for (let g = 0; g < ng; g++) {
      staticParams.push(Array.from({ length: rows }, (_, r) => {
        const p = fitGroup(rs, W.data.subarray(r * cols + g * gs, r * cols + Math.min(cols, (g + 1) * gs)));
        scales[r * ng + g] = p.scale;
        zeros[r * ng + g] = p.zero;
        return p;
      }));
    }
  }
  return { rows, cols, rs, gs, ng, blockSize: c.blockSize, mse: !!c.mse, Wt, U, perm, staticParams, scales, zeros, gIdx: new Int32Array(cols), label: "sweep test" };
}

function copy(s: SweepInput): SweepInput {
  return { ...s, Wt: s.Wt.slice(), scales: s.scales.slice(), zeros: s.zeros.slice(), gIdx: new Int32Array(s.cols) };
}

const cases: [string, Case][] = [
  ["group 32 in blocks of 64, asymmetric", { rows: 24, cols: 256, gs: 32, blockSize: 64, spec: { bits: 4 } }],
  ["group 128 = block, symmetric, 13 rows (a SIMD tail)", { rows: 13, cols: 256, gs: 128, blockSize: 128, spec: { bits: 4, scheme: "symmetric" } }],
  ["group 128 across blocks of 48 (a partial last block)", { rows: 16, cols: 256, gs: 128, blockSize: 48, spec: { bits: 3 } }],
  ["per channel, 3-bit", { rows: 20, cols: 192, gs: 192, blockSize: 128, spec: { bits: 3 } }],
  ["act-order, group 64", { rows: 12, cols: 256, gs: 64, blockSize: 128, spec: { bits: 4 }, actOrder: true }],
  ["act-order with static groups", { rows: 12, cols: 256, gs: 64, blockSize: 128, spec: { bits: 4 }, actOrder: true, staticGroups: true }],
  ["range search (mse), group 64", { rows: 8, cols: 128, gs: 64, blockSize: 32, spec: { bits: 4 }, mse: true }],
  ["range search per channel", { rows: 8, cols: 128, gs: 128, blockSize: 64, spec: { bits: 2 }, mse: true }],
];

cases.forEach(([name, c], k) => {
  test(`the WebAssembly sweep gives the JavaScript sweep's codes, parameters and loss exactly: ${name}`, async () => {
    const s = await prepare(c, 40 + k);
    const a = copy(s);
    const b = copy(s);
    const w = await sweepWasm(a);
    assert.ok(w, "the kernel ran (dist/wasm/gptq.wasm built)");
    const j = await sweepJs(b);
    assert.deepEqual(w.codesT, j.codesT);
    assert.deepEqual(a.scales, b.scales);
    assert.deepEqual(a.zeros, b.zeros);
    assert.deepEqual(a.gIdx, b.gIdx);
    assert.equal(w.loss, j.loss);
    // the kernel leaves decoding to gptq(): (q − zero)·scale rounded to float32 is JavaScript's Qt
    for (let i = 0; i < c.cols; i++) {
      const col = s.perm ? s.perm[i]! : i;
      for (let r = 0; r < c.rows; r++) {
        const p = r * s.ng + a.gIdx[col]!;
        const q: number = w.codesT[i * c.rows + r]!;
        assert.equal(Math.fround((q - a.zeros[p]!) * a.scales[p]!), j.Qt![i * c.rows + r]);
      }
    }
  });
});

test("a user's rounding or scale rule is left to the JavaScript sweep", async () => {
  const s = await prepare({ rows: 4, cols: 64, gs: 32, blockSize: 32, spec: { bits: 4 } }, 7);
  assert.equal(await sweepWasm({ ...copy(s), rs: layerSpec(64, { groupSize: 32, round: Math.floor }, "gptq").rs }), null);
  assert.equal(await sweepWasm({ ...copy(s), rs: layerSpec(64, { groupSize: 32, scale: () => 0.01 }, "gptq").rs }), null);
});

const tfCases = cases.filter(([, c]) => !c.mse);
tfCases.forEach(([name, c], k) => {
  test(`the device sweep (tfjs operations, cpu backend) agrees with the JavaScript sweep: ${name}`, async () => {
    const s = await prepare(c, 80 + k);
    await useBackend("cpu");
    try {
      const a = copy(s);
      const b = copy(s);
      const t = await sweepTf(a);
      assert.ok(t);
      const j = await sweepJs(b);
      // float32 on the device against float64 in JavaScript: a rare code may sit on a rounding tie
      let same = 0;
      for (let i = 0; i < j.codesT.length; i++) if (t.codesT[i] === j.codesT[i]) same++;
      assert.ok(same / j.codesT.length >= 0.999, `${same} of ${j.codesT.length} codes agree`);
      assert.deepEqual(a.gIdx, b.gIdx);
      assert.ok(Math.abs(t.loss - j.loss) / j.loss < 1e-5, `loss ${t.loss} vs ${j.loss}`);
      for (let i = 0; i < a.scales.length; i++) assert.ok(Math.abs(a.scales[i]! - b.scales[i]!) <= 1e-6 * b.scales[i]!, `scale ${i}`);
    } finally {
      await useBackend("wasm");
    }
  });
});
