/**
 * ggml's make_qkx2_quants — the scale/min search of Q2_K, Q4_K and Q5_K without an imatrix, and the
 * hot loop of the K-quants — bit-exact with C but skipping most of its float work (see makeQkx2Quants).
 */
import * as common from "./common.js";
import * as search from "./search.js";

// Local aliases: read once here rather than through the module namespace in every call.
const f = Math.fround;
const nearestInt = common.nearestInt;
const qkx = search.qkx;

const xm = new Float64Array(256);
const wd = new Float64Array(256);
const wxd = new Float64Array(256);
const U = 2 ** -24;

/**
 * A rigorous lower bound on the float32 value C's loop `Σ w·(s·l + m − x)²` would produce, from moments
 * accumulated in double (Σwl², Σwl, Σw, Σwlx, Σwx, Σwx²). The closed form gives the real-number error
 * E; each float diff is within Δ = 3u·(|s|·nmax + |m| + max|x|) of the real one, so the sum of squares
 * moves by at most 2Δ·√(Σw·E) + Δ²·Σw (Cauchy–Schwarz), and n+2 roundings of non-negative terms scale
 * it by at most (1 ± (n+2)u). Margins are doubled. A trial whose bound exceeds the best error is one C
 * would reject, so its float loop can be skipped. (Non-negative weights only.)
 */
function errorLowerBound(n: number, nmax: number, s: number, m: number, l2: number, l1: number, w: number,
  xl: number, xlAbs: number, wx: number, wxAbs: number, wx2: number, xAbsMax: number): number {
  const t1 = s * s * l2;
  const t2 = 2 * s * m * l1;
  const t3 = m * m * w;
  const t4 = 2 * s * xl;
  const t5 = 2 * m * wx;
  const e = t1 + t2 + t3 - t4 - t5 + wx2;
  // the double moments carry errors relative to their absolute sums (Σ|wlx|, Σ|wx|), not to themselves
  const eRound = 1e-10 * (t1 + Math.abs(t2) + t3 + 2 * Math.abs(s) * xlAbs + 2 * Math.abs(m) * wxAbs + wx2);
  return shrink(n, e, eRound, 6 * U * (Math.abs(s) * nmax + Math.abs(m) + xAbsMax), w);
}

/** From a real error E (± eRound) to a lower bound on C's float sum, given the per-diff error Δ. */
function shrink(n: number, e: number, eRound: number, delta: number, w: number): number {
  const eLo = e - eRound;
  if (!(eLo > 0) || eLo < delta * delta * w) return -Infinity; // bound not monotone there: no verdict
  const lower = eLo - 2 * delta * Math.sqrt(w * (e + eRound)) - delta * delta * w;
  return lower * (1 - 2 * (n + 3) * U);
}

/**
 * A lower bound on the float error of *any* fit of these levels, without computing C's fit: the real
 * least-squares residual min over (s, m) of Σ w·(s·l + m − x)² bounds E(s, m) from below for every s, m,
 * and the float fit's |s|, |m| are bounded from absolute moments (D is well conditioned here, so the
 * float D is within 1% of the real one). Returns −Infinity when it cannot decide.
 */
function lsLowerBound(n: number, nmax: number, A: number, B: number, P: number, Pabs: number, C: number, Q: number,
  Qabs: number, R: number, xAbsMax: number): number {
  const Dd = A * C - B * B;
  if (!(Dd > 1e-3 * A * C)) return -Infinity;
  const s = (C * P - Q * B) / Dd;
  const m = (A * Q - B * P) / Dd;
  const e = R - s * P - m * Q;
  const eRound = 1e-10 * (R + s * s * A + Math.abs(2 * s * m * B) + m * m * C + 2 * Math.abs(s) * Pabs + 2 * Math.abs(m) * Qabs);
  const sBound = Math.max((C * Pabs + B * Qabs) / (0.99 * Dd), Pabs / (0.999 * A)) * 1.001;
  const mBound = ((A * Qabs + B * Pabs) / (0.99 * Dd)) * 1.001;
  return shrink(n, e, eRound, 6 * U * (sBound * nmax + mBound + xAbsMax), C);
}

const thr = new Float64Array(256);

/** C's clamp(nearest_int(fl32(iscale·xm)), 0, nmax), via the exact double product when that is safe. */
function levelOf(iscale: number, xmi: number, nmax: number): number {
  // The double product is exact; rounding it to float can only matter within 2^-18 of a half-integer
  // (|p| < 64), where we take C's path literally.
  const p = iscale * xmi;
  const r = Math.floor(p + 0.5);
  const e = p + 0.5 - r;
  const l = e > 1e-5 && e < 0.99999 && p < 64 && p > -64 ? r : nearestInt(f(p));
  return l < 0 ? 0 : l > nmax ? nmax : l;
}

/**
 * The smallest iscale (slightly under, never over) at which the level of a weight at distance xmi above
 * the min can rise past l: fl32(iscale·xmi) must reach l + 0.5. Infinity when it cannot rise.
 */
function nextThreshold(l: number, xmi: number, nmax: number): number {
  if (l >= nmax || !(xmi > 0)) return Infinity;
  return ((l + 0.5) / xmi) * (1 - 1e-6);
}

const fit = { scale: 0, min: 0 };

/**
 * One trial of make_qkx2_quants for the levels in Laux, in C's float arithmetic: the weighted least-
 * squares scale and min (into `fit`) and the weighted error — or Infinity once the trial provably cannot
 * beat bestError (the caller then rejects it exactly as C would).
 */
function fitTrial(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, Laux: Uint8Array,
  sumW: number, sumX: number, bestError: number, nonNegative: boolean, useMad: boolean, useBounds: boolean,
  A: number, B: number, P: number, Pabs: number, wD: number, wxD: number, wxAbsD: number, wx2D: number,
  xAbsMax: number): number {
  let sumL = 0;
  let sumL2 = 0;
  let sumXL = 0;
  for (let i = 0; i < n; i++) {
    const l = Laux[i]!;
    const wl = f(weights[i]! * l);
    sumL = f(sumL + wl);
    sumL2 = f(sumL2 + f(wl * l));
    sumXL = f(sumXL + f(wl * x[xo + i]!));
  }
  const D = f(f(sumW * sumL2) - f(sumL * sumL));
  if (!(D > 0)) return Infinity;
  let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
  let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
  if (thisMin > 0) {
    thisMin = 0;
    thisScale = f(sumXL / sumL2);
  }
  if (useBounds && errorLowerBound(n, nmax, thisScale, thisMin, A, B, wD, P, Pabs, wxD, wxAbsD, wx2D, xAbsMax) > bestError) return Infinity;
  let curError = 0;
  if (useMad) {
    for (let i = 0; i < n; i++) {
      const diff = Math.abs(f(f(f(thisScale * Laux[i]!) + thisMin) - x[xo + i]!));
      curError = f(curError + f(weights[i]! * diff));
      if (curError >= bestError && nonNegative) return Infinity;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
      curError = f(curError + f(weights[i]! * f(diff * diff)));
      if (curError >= bestError && nonNegative) return Infinity;
    }
  }
  fit.scale = thisScale;
  fit.min = thisMin;
  return curError;
}

/**
 * Asymmetric levels in [0, nmax] with a min: tries nstep+1 scales around nmax/(max−min) and keeps the
 * weighted least-squares fit of lowest error (abs error when useMad). Returns the scale, sets qkx.min.
 *
 * Exact shortcuts skip most of the float work C does (every trial C would reject is still rejected,
 * every trial it accepts is computed in float exactly as C does):
 * - levels come from the double product iscale·(x − min), falling back to C's float path only when the
 *   product sits within float rounding of a half-integer;
 * - a trial whose levels equal the previous trial's has the same sums, fit and error (none of them
 *   depends on the running min), so it cannot beat the best;
 * - with non-negative weights, a trial whose error is provably above the best (lsLowerBound, then
 *   errorLowerBound) is rejected without its float loops, and the float error loop stops as soon as
 *   its partial sum reaches the best (terms are non-negative, so C would reject it at the end).
 */
export function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): number {
  let min = x[xo]!;
  let max = min;
  let sumW = weights[0]!;
  let sumX = f(sumW * min);
  let nonNegative = sumW >= 0;
  // with double-precision moments for the bounds
  let wD = sumW;
  let wxD = sumW * min;
  let wxAbsD = Math.abs(wxD);
  let wx2D = wxD * min;
  let xAbsMax = Math.abs(min);
  wd[0] = sumW;
  wxd[0] = wxD;
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    if (!(w >= 0)) nonNegative = false;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
    const wx = w * xi;
    wd[i] = w;
    wxd[i] = wx;
    wD += w;
    wxD += wx;
    wxAbsD += Math.abs(wx);
    wx2D += wx * xi;
    xAbsMax = Math.max(xAbsMax, Math.abs(xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    qkx.min = -min;
    return 0;
  }
  const useBounds = nonNegative && !useMad;
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const d = f(xi - min);
    xm[i] = d;
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * d))));
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i]! * diff));
  }
  if (nstep < 1) {
    qkx.min = -min;
    return scale;
  }
  // Levels only rise as iscale grows (for a fixed min), so after one full pass each trial re-rounds just
  // the weights whose next rounding threshold it has crossed, and updates the double moments in place.
  let fresh = true;
  let A = 0;
  let B = 0;
  let P = 0;
  let Pabs = 0;
  for (let is = 0; is <= nstep; is++) {
    // min moves to the best fit so far, and C re-reads it here
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let changed = 0;
    if (fresh) {
      fresh = false;
      changed = 1;
      A = B = P = Pabs = 0;
      for (let i = 0; i < n; i++) {
        const l = levelOf(iscale, xm[i]!, nmax);
        Laux[i] = l;
        thr[i] = nextThreshold(l, xm[i]!, nmax);
        const wl = wd[i]! * l;
        B += wl;
        A += wl * l;
        P += wxd[i]! * l;
        Pabs += Math.abs(wxd[i]!) * l;
      }
    } else {
      for (let i = 0; i < n; i++) {
        if (iscale < thr[i]!) continue;
        const old = Laux[i]!;
        const l = levelOf(iscale, xm[i]!, nmax);
        thr[i] = nextThreshold(l, xm[i]!, nmax);
        if (l === old) continue;
        changed = 1;
        Laux[i] = l;
        const dl = l - old;
        B += wd[i]! * dl;
        A += wd[i]! * (l * l - old * old);
        P += wxd[i]! * dl;
        Pabs += Math.abs(wxd[i]!) * dl;
      }
    }
    if (!changed) continue;
    if (useBounds && lsLowerBound(n, nmax, A, B, P, Pabs, wD, wxD, wxAbsD, wx2D, xAbsMax) > bestError) continue;
    const err = fitTrial(n, nmax, x, xo, weights, Laux, sumW, sumX, bestError, nonNegative, useMad, useBounds,
      A, B, P, Pabs, wD, wxD, wxAbsD, wx2D, xAbsMax);
    if (err < bestError) {
      for (let k = 0; k < n; k++) L[lo + k] = Laux[k]!;
      bestError = err;
      scale = fit.scale;
      if (fit.min !== min) {
        min = fit.min;
        for (let k = 0; k < n; k++) xm[k] = f(x[xo + k]! - min);
        fresh = true;
      }
    }
  }
  qkx.min = -min;
  return scale;
}

