/**
 * Seeded rows for the bit-exactness tests: ordinary gaussians at many scales plus the rows that break
 * quantizers — zeros, constants, one huge outlier, values near FP16 overflow and underflow, alternating
 * signs, exact ties, sparse rows, heavy tails.
 */
import assert from "node:assert/strict";
import { gaussian, mulberry32 } from "../helpers/random.js";

export interface RowSet {
  name: string;
  nPerRow: number;
  data: Float32Array;
}

/** `count` rows of length n built by `fill(row, r, g, u)`. */
function rows(name: string, n: number, count: number, seed: number,
  fill: (row: Float32Array, r: number, g: () => number, u: () => number) => void): RowSet {
  const g = gaussian(seed);
  const u = mulberry32(seed ^ 0x9e3779b9);
  const data = new Float32Array(n * count);
  for (let r = 0; r < count; r++) fill(data.subarray(r * n, (r + 1) * n), r, g, u);
  return { name, nPerRow: n, data };
}

export function hardRowSets(seed: number): RowSet[] {
  return [
    rows("gaussian, scales 1e-3…1e3", 256, 1024, seed, (row, r, g) => {
      const s = 10 ** (((r % 13) - 6) / 2);
      for (let i = 0; i < row.length; i++) row[i] = g() * s;
    }),
    rows("uniform, shifted (asymmetric)", 256, 256, seed + 1, (row, r, _g, u) => {
      const off = (r % 5) - 2;
      for (let i = 0; i < row.length; i++) row[i] = u() * 2 + off;
    }),
    rows("all zeros, and signed zeros", 256, 6, seed + 2, (row, r) => {
      if (r >= 2) for (let i = 0; i < row.length; i++) row[i] = (i + r) % (r + 1) ? 0 : -0;
    }),
    rows("constant rows", 256, 8, seed + 3, (row, r) => row.fill([1, -1, 0.5, -3.25, 1e-3, 7, -1e4, 60000][r]!)),
    rows("one huge outlier", 256, 64, seed + 4, (row, r, g) => {
      for (let i = 0; i < row.length; i++) row[i] = g() * 0.02;
      row[(r * 37) % row.length] = (r % 2 ? -1 : 1) * 10 ** (2 + (r % 3));
    }),
    rows("near FP16 overflow", 256, 32, seed + 5, (row, r, g) => {
      const s = [30000, 60000, 65504, 70000, 1e5, 1e6, 3e4, 6.5e4][r % 8]!;
      for (let i = 0; i < row.length; i++) row[i] = Math.max(-1, Math.min(1, g() / 3)) * s;
    }),
    rows("beyond FP16 range (scales overflow to Inf)", 256, 48, seed + 13, (row, r, g, u) => {
      const s = [1e7, 1e8, 5e8, 1e9, 3e10, 1e12][r % 6]!;
      for (let i = 0; i < row.length; i++) row[i] = (r % 2 ? Math.tan(Math.PI * (u() - 0.5)) * 1e-3 : g()) * s;
    }),
    rows("near FP16 underflow", 256, 48, seed + 6, (row, r, g) => {
      const s = [1e-4, 6e-5, 1e-5, 1e-6, 6e-8, 1e-8, 1e-10, 1e-20][r % 8]!;
      for (let i = 0; i < row.length; i++) row[i] = g() * s;
    }),
    rows("FP32 subnormals (1/scale overflows to Inf)", 256, 24, seed + 14, (row, r, g) => {
      const s = [1e-38, 1e-39, 1e-41, 1e-43, 1e-44, 1e-45][r % 6]!;
      for (let i = 0; i < row.length; i++) row[i] = g() * s;
    }),
    rows("alternating signs", 256, 16, seed + 7, (row, r) => {
      for (let i = 0; i < row.length; i++) row[i] = (i % 2 ? -1 : 1) * (r % 2 ? 1 : 1 + (i % 7));
    }),
    rows("exact ties (small integers and halves)", 256, 32, seed + 8, (row, r, _g, u) => {
      for (let i = 0; i < row.length; i++) row[i] = (Math.floor(u() * 33) - 16) / (r % 2 ? 2 : 1);
    }),
    rows("sparse", 256, 64, seed + 9, (row, _r, g, u) => {
      for (let i = 0; i < row.length; i++) row[i] = u() < 0.9 ? 0 : g();
    }),
    rows("heavy tails (cauchy)", 256, 128, seed + 10, (row, _r, _g, u) => {
      for (let i = 0; i < row.length; i++) row[i] = Math.tan(Math.PI * (u() - 0.5)) * 0.1;
    }),
    rows("all positive / all negative", 256, 32, seed + 11, (row, r, g) => {
      for (let i = 0; i < row.length; i++) row[i] = (r % 2 ? -1 : 1) * (Math.abs(g()) + 0.5);
    }),
    rows("rows of 4096", 4096, 48, seed + 12, (row, r, g) => {
      for (let i = 0; i < row.length; i++) row[i] = g() * 0.05 * (1 + (r % 4));
      if (r % 3 === 0) row[(r * 101) % row.length] = 8;
    }),
  ];
}

/** Importance weights as llama.cpp's imatrix holds them: mean x², a few hot channels, some exact zeros. */
export function imatrixFor(n: number, seed: number, zeros = false): Float32Array {
  const u = mulberry32(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    w[i] = u() * u() * 2 + 1e-3;
    if (u() < 0.02) w[i]! *= 100;
    if (zeros && u() < 0.1) w[i] = 0;
  }
  return w;
}

/** Bit-identical floats (any NaN equals any NaN), naming the first value that differs from llama.cpp's. */
export function sameFloats(what: string, a: Float32Array, b: Float32Array): void {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) assert.fail(`${what}: value ${i} is ${a[i]}, llama.cpp gives ${b[i]}`);
  }
}
