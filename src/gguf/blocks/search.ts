/**
 * llama.cpp's per-group scale searches, reproduced operation for operation in float32 (see common.ts):
 * make_qx_quants, make_qkx3_quants, make_qp_quants — the searches of the importance-matrix quantizers
 * (the reference quantizers' searches, make_qkx2_quants, make_q3_quants and make_qx_quants without
 * weights, are WebAssembly: assembly/gguf-blocks.ts). Each takes the group as (array, offset) so the
 * hot loops never allocate; the names follow ggml-quants.c.
 */
import * as common from "./common.js";

// Local aliases: read once here rather than through the module namespace in every call.
const f = Math.fround;
const nearestInt = common.nearestInt;
const GROUP_MAX_EPS = common.GROUP_MAX_EPS;

const F01 = f(0.1);

/**
 * Symmetric levels in [-nmax, nmax-1] (stored + nmax in L) with a weighted least-squares refinement over
 * 18 trial scales. rmseType 1 weights by x², or by qw when given. Returns the scale.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number,
  rmseType: number, qw: Float32Array | null, qwo: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    const ax = Math.abs(v);
    if (ax > amax) { amax = ax; max = v; }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(f(iscale * x[xo + i]!));
      L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return f(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) { rmseType = -rmseType; returnEarly = true; }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(f(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = weightOf(qw, qwo + i, xi, rmseType);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  if (returnEarly) return suml2 > 0 ? f(0.5 * f(scale + f(1 / iscale))) : f(1 / iscale);
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(F01 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(f(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = weightOf(qw, qwo + i, xi, rmseType);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(f(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

function weightOf(qw: Float32Array | null, i: number, x: number, rmseType: number): number {
  if (qw) return qw[i]!;
  switch (rmseType) {
    case 1: return f(x * x);
    case 2: return 1;
    case 3: return Math.abs(x);
    default: return f(Math.sqrt(Math.abs(x)));
  }
}

/** The min found by the last makeQkx3Quants call (C returns it through a pointer). */
export const qkx = { min: 0 };

/**
 * ggml's make_qkx3_quants (the imatrix variant of make_qkx2_quants): the same search with a `max <= min`
 * guard and a level computation that stays finite when the running min sits at the max. Kept literal:
 * only the imatrix paths use it.
 */
export function makeQkx3Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): number {
  let min = x[xo]!;
  let max = min;
  let sumW = weights[0]!;
  let sumX = f(sumW * min);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max <= min) {
    L.fill(0, lo, lo + n);
    qkx.min = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestMad = f(bestMad + f(weights[i]! * diff));
  }
  if (nstep < 1) {
    qkx.min = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    // min moves to the best fit so far, and C re-reads it here
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const v = f(iscale * f(xi - min));
      const l = v > 0 ? nearestInt(v < nmax ? v : nmax) : 0;
      Laux[i] = l;
      const w = weights[i]!;
      const wl = f(w * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        mad = f(mad + f(weights[i]! * diff));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  qkx.min = -min;
  return scale;
}

/**
 * Quantizes the (non-negative) sub-block scales or mins of an imatrix k-quant to [0, nmax] with weights
 * qw: 9 trial scales, then coordinate descent. L is a Uint8Array, as in C (a negative level wraps).
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i]! ? max : x[i]!;
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(f(iscale * x[i]!));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i]! - f(scale * L[i]!));
    bestMse = f(bestMse + f(f(qw[i]! * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(F01 * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(f(iscaleIs * x[i]!)));
      const diff = f(x[i]! - f(scaleIs * l));
      mse = f(mse + f(f(qw[i]! * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(f(iscale * x[i]!)));
    L[i] = l;
    const w = qw[i]!;
    sumlx = f(sumlx + f(f(w * x[i]!) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i]!;
      const xi = x[i]!;
      const Li = L[i]!;
      let slx = f(sumlx - f(f(w * xi) * Li));
      let sl2 = f(suml2 - f(f(w * Li) * Li));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(f(f(xi * sl2) / slx)));
        if (newL !== Li) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
