/**
 * The hot GGUF quantizers in WebAssembly (AssemblyScript, compiled by `npm run build` to
 * dist/wasm/gguf-blocks.wasm): Q4_0, Q8_0, the make_qkx2_quants family (Q2_K, Q4_K, Q5_K) and Q6_K
 * (make_qx_quants), each bit-exact with llama.cpp's reference quantizers (ggml-quants.c, no importance
 * matrix), IQ4_NL/IQ4_XS with and without one, and the FP4 (MXFP4, NVFP4) and ternary (TQ1_0, TQ2_0)
 * types (ggml ignores an importance matrix for those).
 *
 * Why WebAssembly: C's reference code is sequential float32 arithmetic. WebAssembly's f32 operations
 * are IEEE single precision with round-to-nearest and no fused multiply-add — exactly what the shipped
 * libggml-base.so does with SSE2 — so the C loops port operation for operation, without the per-op
 * Math.fround the JavaScript versions need. Speed comes from SIMD used without reassociating any sum:
 * Q4_0/Q8_0 are element-wise after the block max, and the scale searches run four sub-blocks at once,
 * one per lane, each lane adding its terms in C's order. C's branches become lane masks (bitselect),
 * keeping C's comparison semantics (NaN compares false).
 *
 * The caller (src/gguf/blocks/wasm.ts) copies input weights to `inputPtr()`, calls a quantizer for `k`
 * of them (a whole number of blocks, as ggml's quantize_row_*_ref takes k) and copies the bytes it says
 * it wrote from `outputPtr()`; CHUNK bounds the floats per call. Each quantizer knows its block layout,
 * as each C function knows its struct: the TypeScript side (the traits table in src/gguf/types.ts) has the
 * sizes from src/gguf/blocks/ and never repeats them here.
 */

const CHUNK: i32 = 16384; // floats per call: 64 KiB in, at most 64 KiB out
const IN = memory.data(CHUNK * 4, 16);
const OUT = memory.data(CHUNK * 4, 16);

// Scale-search scratch: up to 32 weights × 4 lanes, transposed so a v128 holds one weight index of
// four sub-blocks.
const XT = memory.data(32 * 16, 16);
const WT = memory.data(32 * 16, 16);
const LT = memory.data(32 * 16, 16); // best levels (as f32)
const LA = memory.data(32 * 16, 16); // this trial's levels (as f32)
const L = memory.data(256, 16); // levels of a super-block, natural order (u8)
const SCALES = memory.data(16 * 4, 16);
const MINS = memory.data(16 * 4, 16);

export function chunkFloats(): i32 {
  return CHUNK;
}
export function inputPtr(): usize {
  return IN;
}
export function outputPtr(): usize {
  return OUT;
}

// ---- scalar helpers, as ggml writes them

/** ggml's nearest_int: add 1.5·2^23 in float and read the low mantissa bits. */
@inline function nearestInt(x: f32): i32 {
  return (reinterpret<i32>(x + <f32>12582912.0) & 0x7fffff) - 0x400000;
}

@inline function nearestIntV(x: v128): v128 {
  const v = f32x4.add(x, f32x4.splat(12582912.0));
  return i32x4.sub(v128.and(v, i32x4.splat(0x7fffff)), i32x4.splat(0x400000));
}

/** C's float → int conversion (cvttss2si): NaN and out-of-range values become INT_MIN. */
@inline function truncC(v: v128): v128 {
  const inRange = f32x4.lt(f32x4.abs(v), f32x4.splat(2147483648.0));
  return v128.bitselect(i32x4.trunc_sat_f32x4_s(v), i32x4.splat(i32.MIN_VALUE), inRange);
}

/** FP32 → FP16 bits, round to nearest even, overflow to ±Inf (as numerics/float-bits.ts f32ToF16Bits). */
function toHalf(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >>> 16) & 0x8000;
  const u = b & 0x7fffffff;
  // the common case, a normal FP16 (exponent 113…142): rebase the exponent, round the 13 dropped bits
  // to nearest even by carry (a carry out of the top reaches 0x7c00, Inf, as the overflow rule says)
  if (u - 0x38800000 < 0x0f000000) return sign | ((u - 0x38000000 + 0xfff + ((u >>> 13) & 1)) >>> 13);
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp == 0xff) return mant != 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  let h: u32;
  if (exp >= 113) {
    h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
  } else {
    const shift = 126 - exp;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half: u32 = 1 << (shift - 1);
    if (rem > half || (rem == half && (h & 1) != 0)) h++;
  }
  if (h >= 0x7c00) return sign | 0x7c00;
  return sign | h;
}

/** FP16 bits → FP32 (exact; NaN keeps its payload as ggml's conversion does). */
function fromHalf(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0) {
    const v = <f32>m * <f32>5.9604644775390625e-8; // m · 2^-24, exact
    return sign != 0 ? -v : v;
  }
  if (e == 31) return reinterpret<f32>(sign | 0x7f800000 | (m << 13));
  return reinterpret<f32>(sign | ((e + 112) << 23) | (m << 13));
}

@inline function putHalf(p: usize, h: u32): void {
  store<u16>(p, <u16>h);
}

/** Four i32x4 vectors of values in [0, 255] → 16 bytes. */
@inline function bytesU(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d));
}

/** Four i32x4 vectors of values in [−128, 127] → 16 bytes. */
@inline function bytesS(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d));
}

const ABS_MASK: i32 = 0x7fffffff;

/** max over 32 floats of (bits & 0x7fffffff): |x|'s bits, or above 0x7f800000 when a NaN is present. */
@inline function maxAbsBits(p: usize): i32 {
  const absMask = i32x4.splat(ABS_MASK);
  let m = i32x4.splat(0);
  for (let k = 0; k < 8; k++) m = i32x4.max_s(m, v128.and(v128.load(p + (k << 4)), absMask));
  m = i32x4.max_s(m, v128.shuffle<i32>(m, m, 2, 3, 0, 1));
  m = i32x4.max_s(m, v128.shuffle<i32>(m, m, 1, 0, 3, 2));
  return i32x4.extract_lane(m, 0);
}

// ---- The legacy 32-weight blocks (quantize_row_q{4,5}_{0,1}_ref, quantize_row_q8_0_ref)

/** Q4_0/Q5_0's signed max: the first value of largest magnitude (C's `if (amax < fabsf(v))` loop). */
function signedMax(p: usize): f32 {
  const m = maxAbsBits(p);
  if (m > 0x7f800000) {
    // a NaN in the block: C's loop skips it
    let amax: f32 = 0;
    let mx: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(p + (j << 2));
      if (amax < abs(v)) {
        amax = abs(v);
        mx = v;
      }
    }
    return mx;
  }
  if (m == 0) return 0; // C's initial +0, even for a block of −0
  // the first j with |x_j| = max, from one 32-bit mask (no branch on where it is)
  const target = i32x4.splat(m);
  const absMask = i32x4.splat(ABS_MASK);
  let hits = 0;
  for (let k = 0; k < 8; k++) hits |= i32x4.bitmask(i32x4.eq(v128.and(v128.load(p + (k << 4)), absMask), target)) << (k << 2);
  return load<f32>(p + (ctz(hits) << 2));
}

let blockMin: f32 = 0;
let blockMax: f32 = 0;

/**
 * Q4_1/Q5_1's min and max from FLT_MAX/−FLT_MAX with `if (v < min)`, `if (v > max)`. Lanes give the
 * same values unless the block holds a NaN or the extreme is ±0 (C keeps the first zero's sign); then
 * the loop runs literally.
 */
function minMax(p: usize): void {
  let mn = v128.load(p);
  let mx = mn;
  let nan = f32x4.ne(mn, mn);
  for (let k = 1; k < 8; k++) {
    const v = v128.load(p + (k << 4));
    mn = f32x4.pmin(mn, v);
    mx = f32x4.pmax(mx, v);
    nan = v128.or(nan, f32x4.ne(v, v));
  }
  // across lanes: the order does not matter once NaN and ±0 are ruled out below
  mn = f32x4.pmin(mn, v128.shuffle<f32>(mn, mn, 2, 3, 0, 1));
  mn = f32x4.pmin(mn, v128.shuffle<f32>(mn, mn, 1, 0, 3, 2));
  mx = f32x4.pmax(mx, v128.shuffle<f32>(mx, mx, 2, 3, 0, 1));
  mx = f32x4.pmax(mx, v128.shuffle<f32>(mx, mx, 1, 0, 3, 2));
  let lo = f32x4.extract_lane(mn, 0);
  let hi = f32x4.extract_lane(mx, 0);
  if (v128.any_true(nan) || lo == 0 || hi == 0) {
    lo = f32.MAX_VALUE;
    hi = -f32.MAX_VALUE;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(p + (j << 2));
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  blockMin = lo;
  blockMax = hi;
}

/** MIN(top, (int8_t)(v·id + add)): Qx_0 has v = x, add = 2^(bits−1) + 0.5; Qx_1 v = x − min, add = 0.5. */
@inline function legacyLevel(v: v128, id: v128, add: v128, topI: v128): v128 {
  const t = truncC(f32x4.add(f32x4.mul(v, id), add));
  return i32x4.min_s(i32x4.shr_s(i32x4.shl(t, 24), 24), topI);
}

/**
 * The 32 levels of the block at p, (x − sub)·id + add, as the bytes C stores in its uint8_t: weights 0–15
 * in `levelsLow`, 16–31 in `levelsHigh`.
 */
let levelsLow: v128 = i32x4.splat(0);
let levelsHigh: v128 = i32x4.splat(0);
function legacyLevels(p: usize, sub: f32, id: f32, add: f32, top: i32): void {
  const s = f32x4.splat(sub);
  const idv = f32x4.splat(id);
  const addv = f32x4.splat(add);
  const nmaxI = i32x4.splat(top);
  levelsLow = bytesS(legacyLevel(f32x4.sub(v128.load(p), s), idv, addv, nmaxI), legacyLevel(f32x4.sub(v128.load(p + 16), s), idv, addv, nmaxI),
    legacyLevel(f32x4.sub(v128.load(p + 32), s), idv, addv, nmaxI), legacyLevel(f32x4.sub(v128.load(p + 48), s), idv, addv, nmaxI));
  levelsHigh = bytesS(legacyLevel(f32x4.sub(v128.load(p + 64), s), idv, addv, nmaxI), legacyLevel(f32x4.sub(v128.load(p + 80), s), idv, addv, nmaxI),
    legacyLevel(f32x4.sub(v128.load(p + 96), s), idv, addv, nmaxI), legacyLevel(f32x4.sub(v128.load(p + 112), s), idv, addv, nmaxI));
}

/**
 * Packs levelsLow/High at q: 4-bit, qs[j] = q[j] | q[j + 16] << 4; 5-bit, a u32 of fifth bits (bit j of
 * weight j) then qs of low nibbles.
 */
function packLegacy(q: usize, five: bool): void {
  const high = i8x16.shl(levelsHigh, 4);
  if (!five) {
    v128.store(q, v128.or(levelsLow, high));
    return;
  }
  const fifth = i8x16.bitmask(i8x16.shl(levelsLow, 3)) | (i8x16.bitmask(i8x16.shl(levelsHigh, 3)) << 16);
  store<u32>(q, fifth);
  v128.store(q + 4, v128.or(v128.and(levelsLow, i8x16.splat(15)), high));
}

/** Q4_0 (bits 4, 18 bytes) and Q5_0 (bits 5, 22 bytes): d = max/−2^(bits−1), x = (q − 2^(bits−1))·d. */
export function quantizeQx_0(bits: i32, k: i32): i32 {
  const nb = k >> 5;
  const nmax = (1 << bits) - 1;
  const half = <f32>(1 << (bits - 1));
  const bs = bits == 4 ? 18 : 22;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 128, o += bs) {
    const d = signedMax(p) / -half;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0; // C truthiness: NaN counts as non-zero
    putHalf(o, toHalf(d));
    legacyLevels(p, 0, id, half + <f32>0.5, nmax); // x − 0 is x, bit for bit
    packLegacy(o + 2, bits == 5);
  }
  return nb * bs;
}

/** Q4_1 (bits 4, 20 bytes) and Q5_1 (bits 5, 24 bytes): d = (max − min)/nmax, m = min, x = q·d + m. */
export function quantizeQx_1(bits: i32, k: i32): i32 {
  const nb = k >> 5;
  const nmax = (1 << bits) - 1;
  const bs = bits == 4 ? 20 : 24;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 128, o += bs) {
    minMax(p);
    const d = (blockMax - blockMin) / <f32>nmax;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    putHalf(o, toHalf(d));
    putHalf(o + 2, toHalf(blockMin));
    // Q4_1 takes MIN(15, (int8_t)…); Q5_1 stores (uint8_t)(…) unclamped, the same low byte
    legacyLevels(p, blockMin, id, 0.5, bits == 4 ? 15 : 127);
    packLegacy(o + 4, bits == 5);
  }
  return nb * bs;
}

/** roundf (half away from zero) of x·id, as C's int8_t. */
@inline function q8_0Level(v: v128, id: v128): v128 {
  const x = f32x4.mul(v, id);
  const t = f32x4.trunc(x);
  const up = f32x4.ge(f32x4.abs(f32x4.sub(x, t)), f32x4.splat(0.5));
  const one = v128.or(f32x4.splat(1.0), v128.and(x, i32x4.splat(i32.MIN_VALUE)));
  const r = v128.bitselect(f32x4.add(t, one), t, up);
  return i32x4.shr_s(i32x4.shl(truncC(r), 24), 24);
}

export function quantizeQ8_0(k: i32): i32 {
  const nb = k >> 5;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 128, o += 34) {
    const m = maxAbsBits(p);
    let amax: f32;
    if (m <= 0x7f800000) {
      amax = reinterpret<f32>(m);
    } else {
      // a NaN in the block: follow MAX(amax, fabsf(v)) literally
      amax = 0;
      for (let j = 0; j < 32; j++) {
        const a = abs(load<f32>(p + (j << 2)));
        amax = amax > a ? amax : a;
      }
    }
    const d = amax / <f32>127.0;
    const id = f32x4.splat(d != 0 ? <f32>1.0 / d : 0);
    putHalf(o, toHalf(d));
    for (let h = 0; h < 2; h++) {
      const q = p + (h << 6);
      v128.store(o + 2 + (h << 4), bytesS(q8_0Level(v128.load(q), id), q8_0Level(v128.load(q + 16), id),
        q8_0Level(v128.load(q + 32), id), q8_0Level(v128.load(q + 48), id)));
    }
  }
  return nb * 34;
}

// ---- make_qkx2_quants, four sub-blocks at once

/** clamp(nearest_int(iscale·(x − min)), 0, nmax), as f32 lanes. */
@inline function level(iscale: v128, x: v128, min: v128, nmaxI: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.max_s(i32x4.splat(0), i32x4.min_s(nmaxI, nearestIntV(f32x4.mul(iscale, f32x4.sub(x, min))))));
}

/** Σ w·(scale·l + min − x)² (Σ w·|…| when useMad), summed in C's order, for the levels at `levels`. */
@inline function fitError(n: i32, scale: v128, min: v128, levels: usize, useMad: bool): v128 {
  let err = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    let diff = f32x4.sub(f32x4.add(f32x4.mul(scale, v128.load(levels + (i << 4))), min), v128.load(XT + (i << 4)));
    diff = useMad ? f32x4.abs(diff) : f32x4.mul(diff, diff);
    err = f32x4.add(err, f32x4.mul(v128.load(WT + (i << 4)), diff));
  }
  return err;
}

/**
 * make_qkx2_quants for sub-blocks first…first+3 of n weights, read transposed from XT (values) and WT
 * (weights). Writes each lane's scale to SCALES, −min to MINS and its levels to L (sub-block k at k·n).
 * Every lane follows C's code exactly, a flat sub-block (max == min) included, whose result is chosen
 * at the end as C's early return gives it.
 */
function qkx2x4(n: i32, nmax: i32, rmin: f32, rdelta: f32, nstep: i32, useMad: bool, first: i32): void {
  const zero = f32x4.splat(0);
  const nmaxI = i32x4.splat(nmax);
  const x0 = v128.load(XT);
  let min = x0;
  let max = x0;
  let sumW = v128.load(WT);
  let sumX = f32x4.mul(sumW, x0);
  for (let i = 1; i < n; i++) {
    const x = v128.load(XT + (i << 4));
    const w = v128.load(WT + (i << 4));
    min = f32x4.pmin(min, x); // x < min ? x : min
    max = f32x4.pmax(max, x); // x > max ? x : max
    sumW = f32x4.add(sumW, w);
    sumX = f32x4.add(sumX, f32x4.mul(w, x));
  }
  min = v128.bitselect(zero, min, f32x4.gt(min, zero));
  const flat = f32x4.eq(max, min);
  const flatMin = min;
  const range = f32x4.sub(max, min);
  let iscale = f32x4.div(f32x4.splat(<f32>nmax), range);
  let scale = f32x4.div(f32x4.splat(1.0), iscale);
  for (let i = 0; i < n; i++) v128.store(LT + (i << 4), level(iscale, v128.load(XT + (i << 4)), min, nmaxI));
  let best = fitError(n, scale, min, LT, useMad);
  if (nstep >= 1) {
    for (let is = 0; is <= nstep; is++) {
      iscale = f32x4.div(f32x4.splat(rmin + rdelta * <f32>is + <f32>nmax), f32x4.sub(max, min));
      let sumL = zero;
      let sumL2 = zero;
      let sumXL = zero;
      for (let i = 0; i < n; i++) {
        const x = v128.load(XT + (i << 4));
        const w = v128.load(WT + (i << 4));
        const l = level(iscale, x, min, nmaxI);
        v128.store(LA + (i << 4), l);
        const wl = f32x4.mul(w, l);
        sumL = f32x4.add(sumL, wl);
        sumL2 = f32x4.add(sumL2, f32x4.mul(wl, l));
        sumXL = f32x4.add(sumXL, f32x4.mul(wl, x));
      }
      const D = f32x4.sub(f32x4.mul(sumW, sumL2), f32x4.mul(sumL, sumL));
      const valid = f32x4.gt(D, zero);
      if (!v128.any_true(valid)) continue;
      let thisScale = f32x4.div(f32x4.sub(f32x4.mul(sumW, sumXL), f32x4.mul(sumX, sumL)), D);
      let thisMin = f32x4.div(f32x4.sub(f32x4.mul(sumL2, sumX), f32x4.mul(sumL, sumXL)), D);
      const positive = f32x4.gt(thisMin, zero);
      thisMin = v128.bitselect(zero, thisMin, positive);
      thisScale = v128.bitselect(f32x4.div(sumXL, sumL2), thisScale, positive);
      const cur = fitError(n, thisScale, thisMin, LA, useMad);
      const better = v128.and(valid, f32x4.lt(cur, best));
      if (!v128.any_true(better)) continue;
      for (let i = 0; i < n; i++) {
        v128.store(LT + (i << 4), v128.bitselect(v128.load(LA + (i << 4)), v128.load(LT + (i << 4)), better));
      }
      best = v128.bitselect(cur, best, better);
      scale = v128.bitselect(thisScale, scale, better);
      min = v128.bitselect(thisMin, min, better);
    }
  }
  // C returns early for a flat sub-block: levels 0, scale 0, the_min = −min
  scale = v128.bitselect(zero, scale, flat);
  const theMin = f32x4.neg(v128.bitselect(flatMin, min, flat));
  v128.store(SCALES + (first << 2), scale);
  v128.store(MINS + (first << 2), theMin);
  storeLevels(n, first, 0, flat);
}

/** The levels in LT (+ offset; 0 in the lanes of `zeroed`) to L, sub-block first + k at (first + k)·n. */
function storeLevels(n: i32, first: i32, offset: i32, zeroed: v128): void {
  for (let i = 0; i < n; i++) {
    const l = v128.andnot(i32x4.add(i32x4.trunc_sat_f32x4_s(v128.load(LT + (i << 4))), i32x4.splat(offset)), zeroed);
    store<u8>(L + first * n + i, <u8>i32x4.extract_lane(l, 0));
    store<u8>(L + (first + 1) * n + i, <u8>i32x4.extract_lane(l, 1));
    store<u8>(L + (first + 2) * n + i, <u8>i32x4.extract_lane(l, 2));
    store<u8>(L + (first + 3) * n + i, <u8>i32x4.extract_lane(l, 3));
  }
}

/** Copies sub-blocks first…first+3 (n values each, from p) into XT, transposed. */
function transpose4(p: usize, n: i32, first: i32): void {
  for (let k = 0; k < 4; k++) {
    const src = p + (((first + k) * n) << 2);
    for (let i = 0; i < n; i++) store<f32>(XT + (i << 4) + (k << 2), load<f32>(src + (i << 2)));
  }
}

/**
 * ggml's final pass: levels clamp(nearest_int((x + dm)/d), lowest, highest) + offset for 16 values at p,
 * as bytes at L + lo (C skips a sub-block whose d is 0, keeping the search's levels). Q6_K's
 * nearest_int(x/d) is dm = 0: x + 0 differs from x only for −0, which rounds to level 0 either way.
 */
function requantize16(p: usize, lo: usize, d: f32, dm: f32, lowest: i32, highest: i32, offset: i32): void {
  const dv = f32x4.splat(d);
  const dmv = f32x4.splat(dm);
  const lowI = i32x4.splat(lowest);
  const highI = i32x4.splat(highest);
  const offI = i32x4.splat(offset);
  v128.store(L + lo, bytesU(requantize4(v128.load(p), dv, dmv, lowI, highI, offI),
    requantize4(v128.load(p + 16), dv, dmv, lowI, highI, offI), requantize4(v128.load(p + 32), dv, dmv, lowI, highI, offI),
    requantize4(v128.load(p + 48), dv, dmv, lowI, highI, offI)));
}

@inline function requantize4(x: v128, dv: v128, dmv: v128, lowI: v128, highI: v128, offI: v128): v128 {
  return i32x4.add(i32x4.max_s(lowI, i32x4.min_s(highI, nearestIntV(f32x4.div(f32x4.add(x, dmv), dv)))), offI);
}

let maxScaleFound: f32 = 0;
let maxMinFound: f32 = 0;

/** The largest of the first `count` SCALES and of MINS, from 0 up (C's `if (s > max_scale)` loop). */
function scaleMinMax(count: i32): void {
  let maxScale: f32 = 0;
  let maxMin: f32 = 0;
  for (let j = 0; j < count; j++) {
    const s = load<f32>(SCALES + (j << 2));
    const m = load<f32>(MINS + (j << 2));
    if (s > maxScale) maxScale = s;
    if (m > maxMin) maxMin = m;
  }
  maxScaleFound = maxScale;
  maxMinFound = maxMin;
}

// ---- Q4_K and Q5_K (quantize_row_q4_K_ref, quantize_row_q5_K_ref)

/** get_scale_min_k4: scale in the low byte, min in the high byte. */
@inline function scaleMinK4(s: usize, j: i32): i32 {
  // read as i32: AssemblyScript keeps u8 arithmetic in 8 bits
  const a = <i32>load<u8>(s + j);
  const b = <i32>load<u8>(s + j + 4);
  if (j < 4) return (a & 63) | ((b & 63) << 8);
  const c = <i32>load<u8>(s + j - 4);
  return ((b & 15) | ((c >> 6) << 4)) | (((b >> 4) | ((a >> 6) << 4)) << 8);
}

function putScaleMin(s: usize, j: i32, ls: i32, lm: i32): void {
  if (j < 4) {
    store<u8>(s + j, <u8>ls);
    store<u8>(s + j + 4, <u8>lm);
  } else {
    store<u8>(s + j + 4, <u8>((ls & 15) | ((lm & 15) << 4)));
    store<u8>(s + j - 4, load<u8>(s + j - 4) | <u8>((ls >> 4) << 6));
    store<u8>(s + j, load<u8>(s + j) | <u8>((lm >> 4) << 6));
  }
}

export function quantizeQ45_K(bits: i32, k: i32): i32 {
  const nb = k >> 8;
  const nmax = bits == 4 ? 15 : 31;
  const rmin: f32 = bits == 4 ? -1.0 : -0.5;
  const nstep = bits == 4 ? 20 : 15;
  const bs = bits == 4 ? 144 : 176;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 1024, o += bs) {
    for (let g = 0; g < 8; g += 4) {
      transpose4(p, 32, g);
      // weights: av_x + |x| with av_x = sqrtf(Σx²/32), per sub-block
      let sumx2 = f32x4.splat(0);
      for (let l = 0; l < 32; l++) {
        const x = v128.load(XT + (l << 4));
        sumx2 = f32x4.add(sumx2, f32x4.mul(x, x));
      }
      const avx = f32x4.sqrt(f32x4.div(sumx2, f32x4.splat(32.0)));
      for (let l = 0; l < 32; l++) v128.store(WT + (l << 4), f32x4.add(avx, f32x4.abs(v128.load(XT + (l << 4)))));
      qkx2x4(32, nmax, rmin, 0.1, nstep, false, g);
    }
    scaleMinMax(8);
    const maxScale = maxScaleFound;
    const maxMin = maxMinFound;
    const invScale: f32 = maxScale > 0 ? <f32>63.0 / maxScale : 0;
    const invMin: f32 = maxMin > 0 ? <f32>63.0 / maxMin : 0;
    for (let j = 0; j < 8; j++) {
      const ls = min(63, nearestInt(invScale * load<f32>(SCALES + (j << 2))) & 0xff);
      const lm = min(63, nearestInt(invMin * load<f32>(MINS + (j << 2))) & 0xff);
      putScaleMin(o + 4, j, ls, lm);
    }
    const dh = toHalf(maxScale / <f32>63.0);
    const mh = toHalf(maxMin / <f32>63.0);
    putHalf(o, dh);
    putHalf(o + 2, mh);
    const dAll = fromHalf(dh);
    const mAll = fromHalf(mh);
    for (let j = 0; j < 8; j++) {
      const sm = scaleMinK4(o + 4, j);
      const d = dAll * <f32>(sm & 0xff);
      if (d == 0) continue; // C: `if (!d)` is false for NaN
      const dm = mAll * <f32>(sm >> 8);
      requantize16(p + (j << 7), j << 5, d, dm, 0, nmax, 0);
      requantize16(p + (j << 7) + 64, (j << 5) + 16, d, dm, 0, nmax, 0);
    }
    if (bits == 4) {
      // 64 weights → 32 bytes: low nibble from the first 32, high nibble from the next 32
      for (let j = 0; j < 256; j += 64) {
        const q = o + 16 + (j >> 1);
        v128.store(q, v128.or(v128.load(L + j), i8x16.shl(v128.load(L + j + 32), 4)));
        v128.store(q + 16, v128.or(v128.load(L + j + 16), i8x16.shl(v128.load(L + j + 48), 4)));
      }
    } else {
      const qh = o + 16;
      let ql = o + 48;
      memory.fill(qh, 0, 32);
      let m1: u8 = 1;
      let m2: u8 = 2;
      for (let n = 0; n < 256; n += 64, ql += 32) {
        for (let j = 0; j < 32; j++) {
          let l1 = load<u8>(L + n + j);
          if (l1 > 15) {
            l1 -= 16;
            store<u8>(qh + j, load<u8>(qh + j) | m1);
          }
          let l2 = load<u8>(L + n + j + 32);
          if (l2 > 15) {
            l2 -= 16;
            store<u8>(qh + j, load<u8>(qh + j) | m2);
          }
          store<u8>(ql + j, l1 | (l2 << 4));
        }
        m1 <<= 2;
        m2 <<= 2;
      }
    }
  }
  return nb * bs;
}

// ---- Q2_K (quantize_row_q2_K_ref)

/** The 2-bit levels in L as 64 bytes at q: per 128 weights, byte l holds weights l, l+32, l+64, l+96. */
function pack2Bits(q: usize): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l += 16) {
      const b = L + j + l;
      const packed = v128.or(v128.or(v128.load(b), i8x16.shl(v128.load(b + 32), 2)),
        v128.or(i8x16.shl(v128.load(b + 64), 4), i8x16.shl(v128.load(b + 96), 6)));
      v128.store(q + (j >> 2) + l, packed);
    }
  }
}

export function quantizeQ2_K(k: i32): i32 {
  const nb = k >> 8;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 1024, o += 84) {
    for (let g = 0; g < 16; g += 4) {
      transpose4(p, 16, g);
      for (let l = 0; l < 16; l++) v128.store(WT + (l << 4), f32x4.abs(v128.load(XT + (l << 4))));
      qkx2x4(16, 3, -0.5, 0.1, 15, true, g);
    }
    scaleMinMax(16);
    const maxScale = maxScaleFound;
    const maxMin = maxMinFound;
    if (maxScale > 0) {
      const iscale = <f32>15.0 / maxScale;
      for (let j = 0; j < 16; j++) store<u8>(o + j, <u8>nearestInt(iscale * load<f32>(SCALES + (j << 2))));
      putHalf(o + 80, toHalf(maxScale / <f32>15.0));
    } else {
      memory.fill(o, 0, 16);
      putHalf(o + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = <f32>15.0 / maxMin;
      for (let j = 0; j < 16; j++) store<u8>(o + j, load<u8>(o + j) | <u8>(nearestInt(iscale * load<f32>(MINS + (j << 2))) << 4));
      putHalf(o + 82, toHalf(maxMin / <f32>15.0));
    } else {
      putHalf(o + 82, 0);
    }
    const dAll = fromHalf(load<u16>(o + 80));
    const mAll = fromHalf(load<u16>(o + 82));
    for (let j = 0; j < 16; j++) {
      const sc = load<u8>(o + j);
      const d = dAll * <f32>(sc & 15);
      if (d == 0) continue; // C: `if (!d)` is false for NaN
      requantize16(p + (j << 6), j << 4, d, mAll * <f32>(sc >> 4), 0, 3, 0);
    }
    pack2Bits(o + 16);
  }
  return nb * 84;
}

// ---- Q6_K (quantize_row_q6_K_ref: make_qx_quants with rmse_type 1, four sub-blocks at once)

const GROUP_MAX_EPS: f32 = 1e-15;

/** Per lane, the first of XT's 16 values of largest magnitude (C's `if (ax > amax) { amax = ax; max = x; }`). */
function signedMax16(): v128 {
  let amax = f32x4.splat(0);
  let mx = amax;
  for (let i = 0; i < 16; i++) {
    const x = v128.load(XT + (i << 4));
    const bigger = f32x4.gt(f32x4.abs(x), amax);
    amax = v128.bitselect(f32x4.abs(x), amax, bigger);
    mx = v128.bitselect(x, mx, bigger);
  }
  return mx;
}

/** The first of the 16 SCALES of largest magnitude, with its sign (the same loop over the scales). */
function signedMaxScale(): f32 {
  let amax: f32 = 0;
  let mx: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const s = load<f32>(SCALES + (j << 2));
    if (abs(s) > amax) {
      amax = abs(s);
      mx = s;
    }
  }
  return mx;
}

/** clamp(nearest_int(iscale·x), −32, 31), as f32 lanes. */
@inline function qxLevel(iscale: v128, x: v128): v128 {
  const l = i32x4.max_s(i32x4.splat(-32), i32x4.min_s(i32x4.splat(31), nearestIntV(f32x4.mul(iscale, x))));
  return f32x4.convert_i32x4_s(l);
}

/**
 * make_qx_quants(16, 32, x, L, 1, NULL) for sub-blocks first…first+3 (transposed in XT): symmetric
 * levels, x² weights, 18 trial scales around −32/max. Scales to SCALES, levels + 32 to L.
 */
function qx4(first: i32): void {
  const zero = f32x4.splat(0);
  const mx = signedMax16();
  const tiny = f32x4.lt(f32x4.abs(mx), f32x4.splat(GROUP_MAX_EPS));
  let scale = zero;
  let best = zero;
  // C's first pass at −32/max (kept unconditionally), then trials is = −9…9 without 0; the first pass
  // is the is = 0 trial's arithmetic: −(32 + 0.1·0)/max
  for (let k = 0; k < 19; k++) {
    const is = k == 0 ? 0 : k <= 9 ? k - 10 : k - 9;
    const iscale = f32x4.div(f32x4.splat(-(<f32>32.0 + <f32>0.1 * <f32>is)), mx);
    let sumlx = zero;
    let suml2 = zero;
    for (let i = 0; i < 16; i++) {
      const x = v128.load(XT + (i << 4));
      const l = qxLevel(iscale, x);
      v128.store(LA + (i << 4), l);
      const w = f32x4.mul(x, x);
      sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, x), l));
      suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
    }
    let s = f32x4.div(sumlx, suml2);
    let better: v128;
    if (k == 0) {
      better = i32x4.splat(-1);
      s = v128.andnot(s, f32x4.eq(suml2, zero)); // `suml2 ? sumlx/suml2 : 0` (NaN counts as non-zero)
    } else {
      better = v128.and(f32x4.gt(suml2, zero), f32x4.gt(f32x4.mul(sumlx, sumlx), f32x4.mul(best, suml2)));
      if (!v128.any_true(better)) continue;
    }
    for (let i = 0; i < 16; i++) {
      v128.store(LT + (i << 4), v128.bitselect(v128.load(LA + (i << 4)), v128.load(LT + (i << 4)), better));
    }
    scale = v128.bitselect(s, scale, better);
    best = v128.bitselect(f32x4.mul(s, sumlx), best, better);
  }
  // C returns early for a tiny sub-block: levels 0, scale 0
  v128.store(SCALES + (first << 2), v128.andnot(scale, tiny));
  storeLevels(16, first, 32, tiny);
}

export function quantizeQ6_K(k: i32): i32 {
  const nb = k >> 8;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 1024, o += 210) {
    for (let g = 0; g < 16; g += 4) {
      transpose4(p, 16, g);
      qx4(g);
    }
    const maxScale = signedMaxScale();
    if (abs(maxScale) < GROUP_MAX_EPS) {
      memory.fill(o, 0, 210);
      continue;
    }
    const iscale = <f32>-128.0 / maxScale;
    const dh = toHalf(<f32>1.0 / iscale);
    putHalf(o + 208, dh);
    for (let ib = 0; ib < 16; ib++) store<u8>(o + 192 + ib, <u8>min(127, nearestInt(iscale * load<f32>(SCALES + (ib << 2)))));
    const dAll = fromHalf(dh);
    for (let j = 0; j < 16; j++) {
      const d = dAll * <f32>load<i8>(o + 192 + j);
      if (d == 0) continue; // C: `if (!d)` is false for NaN
      requantize16(p + (j << 6), j << 4, d, 0, -32, 31, 32);
    }
    // 128 weights → 64 bytes of low nibbles (weights l and l+64, l+32 and l+96) and 32 bytes of high 2 bits
    const low = i8x16.splat(15);
    for (let j = 0; j < 256; j += 128) {
      const ql = o + (j >> 1);
      const qh = o + 128 + (j >> 2);
      for (let l = 0; l < 32; l += 16) {
        const a = v128.load(L + j + l);
        const b = v128.load(L + j + l + 32);
        const c = v128.load(L + j + l + 64);
        const e = v128.load(L + j + l + 96);
        v128.store(ql + l, v128.or(v128.and(a, low), i8x16.shl(c, 4)));
        v128.store(ql + l + 32, v128.or(v128.and(b, low), i8x16.shl(e, 4)));
        v128.store(qh + l, v128.or(v128.or(i8x16.shr_u(a, 4), i8x16.shl(i8x16.shr_u(b, 4), 2)),
          v128.or(i8x16.shl(i8x16.shr_u(c, 4), 4), i8x16.shl(i8x16.shr_u(e, 4), 6))));
      }
    }
  }
  return nb * 210;
}

// ---- Q3_K (quantize_row_q3_K_ref: make_q3_quants with do_rmse, four sub-blocks at once)

/**
 * make_q3_quants(16, 4, x, L, true) for sub-blocks first…first+3 (transposed in XT): levels in [−4, 3]
 * from −4/max, then up to five coordinate-descent passes, each re-rounding one weight at a time and
 * keeping the change when it raises sumlx²/suml2. A lane whose pass changes nothing would change nothing
 * again (its state is the same), so running on until no lane changes is C's per-sub-block `break`.
 * Scales to SCALES, levels + 4 to L.
 */
function q3x4(first: i32): void {
  const zero = f32x4.splat(0);
  const mx = signedMax16();
  const tiny = f32x4.lt(f32x4.abs(mx), f32x4.splat(GROUP_MAX_EPS));
  const lowI = i32x4.splat(-4);
  const highI = i32x4.splat(3);
  const iscale = f32x4.div(f32x4.splat(-4.0), mx);
  let sumlx = zero;
  let suml2 = zero;
  for (let i = 0; i < 16; i++) {
    const x = v128.load(XT + (i << 4));
    const l = f32x4.convert_i32x4_s(i32x4.max_s(lowI, i32x4.min_s(highI, nearestIntV(f32x4.mul(iscale, x)))));
    v128.store(LT + (i << 4), l);
    const w = f32x4.mul(x, x);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, x), l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = i32x4.splat(0);
    for (let i = 0; i < 16; i++) {
      const x = v128.load(XT + (i << 4));
      const w = f32x4.mul(x, x);
      const li = v128.load(LT + (i << 4));
      const slxOut = f32x4.sub(sumlx, f32x4.mul(f32x4.mul(w, x), li));
      const sl2Out = f32x4.sub(suml2, f32x4.mul(f32x4.mul(w, li), li));
      const nl = f32x4.convert_i32x4_s(i32x4.max_s(lowI, i32x4.min_s(highI, nearestIntV(f32x4.div(f32x4.mul(x, sl2Out), slxOut)))));
      const slx = f32x4.add(slxOut, f32x4.mul(f32x4.mul(w, x), nl));
      const sl2 = f32x4.add(sl2Out, f32x4.mul(f32x4.mul(w, nl), nl));
      // C: `if (slx > 0)`, `if (new_l != L[i])`, `if (sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2)`
      const keep = v128.and(v128.and(f32x4.gt(slxOut, zero), f32x4.ne(nl, li)),
        v128.and(f32x4.gt(sl2, zero), f32x4.gt(f32x4.mul(f32x4.mul(slx, slx), suml2), f32x4.mul(f32x4.mul(sumlx, sumlx), sl2))));
      v128.store(LT + (i << 4), v128.bitselect(nl, li, keep));
      sumlx = v128.bitselect(slx, sumlx, keep);
      suml2 = v128.bitselect(sl2, suml2, keep);
      changed = v128.or(changed, keep);
    }
    if (!v128.any_true(changed)) break;
  }
  // `suml2 > 0 ? sumlx/suml2 : 0`; a tiny sub-block returns 0 with levels 0
  const scale = v128.and(f32x4.div(sumlx, suml2), f32x4.gt(suml2, zero));
  v128.store(SCALES + (first << 2), v128.andnot(scale, tiny));
  storeLevels(16, first, 4, tiny);
}

export function quantizeQ3_K(k: i32): i32 {
  const nb = k >> 8;
  let p = IN;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 1024, o += 110) {
    for (let g = 0; g < 16; g += 4) {
      transpose4(p, 16, g);
      q3x4(g);
    }
    const maxScale = signedMaxScale();
    // scales[12]: low nibbles of the 16 six-bit scales in bytes 0–7 (j and j − 8), high 2 bits in 8–11
    const sc = o + 96;
    memory.fill(sc, 0, 12);
    if (maxScale != 0) { // C truthiness: NaN counts as non-zero
      const iscale = <f32>-32.0 / maxScale;
      for (let j = 0; j < 16; j++) {
        const l8 = (nearestInt(iscale * load<f32>(SCALES + (j << 2))) << 24) >> 24; // stored in an int8_t first
        const l = max(-32, min(31, l8)) + 32;
        if (j < 8) store<u8>(sc + j, <u8>(l & 15));
        else store<u8>(sc + j - 8, load<u8>(sc + j - 8) | <u8>((l & 15) << 4));
        store<u8>(sc + 8 + (j & 3), load<u8>(sc + 8 + (j & 3)) | <u8>((l >> 4) << (2 * (j >> 2))));
      }
      putHalf(o + 108, toHalf(<f32>1.0 / iscale));
    } else {
      putHalf(o + 108, 0);
    }
    const dAll = fromHalf(load<u16>(o + 108));
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? <i32>load<u8>(sc + j) & 15 : <i32>load<u8>(sc + j - 8) >> 4;
      const s = (low | (((<i32>load<u8>(sc + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const d = dAll * <f32>s;
      if (d == 0) continue; // C: `if (!d)` is false for NaN
      requantize16(p + (j << 6), j << 4, d, 0, -4, 3, 4);
    }
    // hmask[32]: bit k of byte m is the third bit of weight 32k + m; qs keeps the low 2 bits
    let h0 = i8x16.splat(0);
    let h1 = i8x16.splat(0);
    const three = i8x16.splat(3);
    for (let k = 0; k < 8; k++) {
      const bit = i32x4.splat(0x01010101 << k); // 1 << k in every byte
      const a = v128.load(L + (k << 5));
      const b = v128.load(L + (k << 5) + 16);
      h0 = v128.or(h0, v128.and(i8x16.gt_u(a, three), bit));
      h1 = v128.or(h1, v128.and(i8x16.gt_u(b, three), bit));
      v128.store(L + (k << 5), v128.and(a, three));
      v128.store(L + (k << 5) + 16, v128.and(b, three));
    }
    v128.store(o, h0);
    v128.store(o + 16, h1);
    pack2Bits(o + 32);
  }
  return nb * 110;
}

// ---- IQ4_NL and IQ4_XS (quantize_row_iq4_nl_impl as ggml_quantize_chunk runs it: ntry = 7, with or
// without importance weights). Scalar f32, in C's order: the trial loop's sums are sequential.

const KVF = memory.data<f32>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
const IQ_SCALES = memory.data(8 * 4, 16);
const QW = memory.data(CHUNK * 4, 16); // importance weights, aligned with IN
const IQ_NTRY: i32 = 7;

export function weightsPtr(): usize {
  return QW;
}

@inline function kvf(i: i32): f32 {
  return load<f32>(KVF + (<usize>i << 2));
}

/** best_index_int8 over kvalues_iq4nl: the nearest level, the lower on a tie (15 for NaN). */
function bestIndexNl(x: f32): i32 {
  if (x <= <f32>-127.0) return 0;
  if (x >= <f32>113.0) return 15;
  let ml = 0;
  let mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < kvf(mav)) mu = mav;
    else ml = mav;
  }
  return x - kvf(mu - 1) < kvf(mu) - x ? mu - 1 : mu;
}

const IQ_SIGMA2 = memory.data(16, 16); // σ² of each lane's sub-block
const IQ_MAX = memory.data(16, 16);
const IQ_D = memory.data(16, 16);
const IQ_BEST = memory.data(16, 16);
const IQ_ZERO = memory.data(16, 16); // lanes whose sub-block is all zero (−1), as i32
const IQ_OUT = memory.data(16, 16); // the four scales

/**
 * The level of kvalues_iq4nl nearest to each lane (best_index_int8's result, as a value): the lanes'
 * interval v[i] ≤ x < v[i+1] by compare-and-select over the increasing table (the interval C's binary
 * search ends in), then C's tie rule x − v[i] < v[i+1] − x; NaN lanes get the last level, as C's
 * comparisons give.
 */
@inline function nearestLevelV(x: v128): v128 {
  let low = f32x4.splat(kvf(0));
  let high = f32x4.splat(kvf(1));
  for (let i = 1; i < 15; i++) {
    const m = f32x4.ge(x, f32x4.splat(kvf(i)));
    low = v128.bitselect(f32x4.splat(kvf(i)), low, m);
    high = v128.bitselect(f32x4.splat(kvf(i + 1)), high, m);
  }
  const q = v128.bitselect(low, high, f32x4.lt(f32x4.sub(x, low), f32x4.sub(high, x)));
  return v128.bitselect(f32x4.splat(kvf(15)), q, f32x4.ne(x, x));
}

/**
 * The scale searches of `lanes` (1…4) sub-blocks of 32 weights at p + 128·k, importance weights at
 * qw + 128·k (qw = 0: no imatrix, weights x²), σ² of lane k at IQ_SIGMA2: per lane a first guess from the
 * largest magnitude (its levels to L + lo + 32·k), then 2·7 + 1 trial scales refined by weighted least
 * squares, the four lanes at once, each lane's sums in C's order. llama.cpp guards the first division
 * (sumq2 is 0 with all-zero weights, NaN with a NaN in the block). The scales go to IQ_OUT, 0 for an
 * all-zero sub-block.
 */
function iq4Search4(p: usize, qw: usize, lo: usize, lanes: i32): void {
  for (let k = 0; k < 4; k++) {
    const lk = <usize>k << 2;
    store<i32>(IQ_ZERO + lk, -1);
    store<f32>(IQ_MAX + lk, 1);
    store<f32>(IQ_D + lk, 0);
    store<f32>(IQ_BEST + lk, 0);
    if (k >= lanes) continue;
    const pk = p + 128 * k;
    const sigma2 = load<f32>(IQ_SIGMA2 + lk);
    let amax: f32 = 0;
    let max: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(pk + (<usize>j << 2));
      const w: f32 = qw != 0 ? load<f32>(qw + 128 * k + (<usize>j << 2)) * Mathf.sqrt(sigma2 + v * v) : v * v;
      store<f32>(WT + (<usize>j << 4) + lk, w);
      store<f32>(XT + (<usize>j << 4) + lk, v);
      const ax = abs<f32>(v);
      if (ax > amax) {
        amax = ax;
        max = v;
      }
    }
    if (amax < GROUP_MAX_EPS) continue;
    const id: f32 = <f32>1.0 / (-max / kvf(0));
    let sumqx: f32 = 0;
    let sumq2: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(pk + (<usize>j << 2));
      const l = bestIndexNl(id * v);
      store<u8>(L + lo + 32 * k + j, <u8>l);
      const wq = load<f32>(WT + (<usize>j << 4) + lk) * kvf(l);
      sumqx += wq * v;
      sumq2 += wq * kvf(l);
    }
    const d: f32 = sumq2 > 0 ? sumqx / sumq2 : 0;
    store<i32>(IQ_ZERO + lk, 0);
    store<f32>(IQ_MAX + lk, max);
    store<f32>(IQ_D + lk, d);
    store<f32>(IQ_BEST + lk, d * sumqx);
  }
  const maxV = v128.load(IQ_MAX);
  let dV = v128.load(IQ_D);
  let bestV = v128.load(IQ_BEST);
  const zero = f32x4.splat(0);
  for (let itry = -IQ_NTRY; itry <= IQ_NTRY; itry++) {
    const idV = f32x4.div(f32x4.splat(<f32>(itry + <i32>kvf(0))), maxV);
    let sumqx = zero;
    let sumq2 = zero;
    for (let j = 0; j < 32; j++) {
      const x = v128.load(XT + (<usize>j << 4));
      const q = nearestLevelV(f32x4.mul(idV, x));
      const wq = f32x4.mul(v128.load(WT + (<usize>j << 4)), q);
      sumqx = f32x4.add(sumqx, f32x4.mul(wq, x));
      sumq2 = f32x4.add(sumq2, f32x4.mul(wq, q));
    }
    const better = v128.and(f32x4.gt(sumq2, zero), f32x4.gt(f32x4.mul(sumqx, sumqx), f32x4.mul(bestV, sumq2)));
    const d = f32x4.div(sumqx, sumq2);
    dV = v128.bitselect(d, dV, better);
    bestV = v128.bitselect(f32x4.mul(d, sumqx), bestV, better);
  }
  v128.store(IQ_OUT, v128.andnot(dV, v128.load(IQ_ZERO)));
}

@inline function sumSquaresAt(p: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(p + (<usize>j << 2));
    s += v * v;
  }
  return s;
}

/** Nibbles of L: byte j of each 16 holds level j (low) and j + 16 (high) of its 32. */
@inline function packIq4(q: usize, n32: i32): void {
  for (let i = 0; i < n32; i++) {
    for (let j = 0; j < 16; j++) {
      const a = <u32>load<u8>(L + 32 * i + j);
      const b = <u32>load<u8>(L + 32 * i + 16 + j);
      store<u8>(q + 16 * i + j, <u8>(a | (b << 4)));
    }
  }
}

/** IQ4_NL (18 bytes per 32): k weights from IN (importance weights from QW when `weighted`), 4 blocks a search. */
export function quantizeIQ4_NL(k: i32, weighted: i32): i32 {
  const nb = k >> 5;
  for (let i0 = 0; i0 < nb; i0 += 4) {
    const lanes = nb - i0 < 4 ? nb - i0 : 4;
    const p = IN + 128 * i0;
    for (let l = 0; l < lanes; l++) store<f32>(IQ_SIGMA2 + (<usize>l << 2), sumSquaresAt(p + 128 * l, 32) * (<f32>2.0 / <f32>32.0));
    iq4Search4(p, weighted != 0 ? QW + 128 * i0 : 0, 0, lanes);
    for (let l = 0; l < lanes; l++) {
      const d = load<f32>(IQ_OUT + (<usize>l << 2));
      const o = OUT + 18 * (i0 + l);
      const pb = p + 128 * l;
      putHalf(o, toHalf(d));
      // one sub-block per block: the levels are re-chosen for the final scale (C truthiness: NaN is non-zero)
      const id: f32 = d != 0 ? <f32>1.0 / d : 0;
      for (let j = 0; j < 32; j++) store<u8>(L + j, <u8>bestIndexNl(id * load<f32>(pb + (<usize>j << 2))));
      packIq4(o + 2, 1);
    }
  }
  return nb * 18;
}

/** IQ4_XS (136 bytes per 256): k weights from IN (importance weights from QW when `weighted`). */
export function quantizeIQ4_XS(k: i32, weighted: i32): i32 {
  const nb = k >> 8;
  let p = IN;
  let w = QW;
  let o = OUT;
  for (let i = 0; i < nb; i++, p += 1024, w += 1024, o += 136) {
    const sigma2 = sumSquaresAt(p, 256) * (<f32>2.0 / <f32>256.0);
    let maxScale: f32 = 0;
    let amaxScale: f32 = 0;
    v128.store(IQ_SIGMA2, f32x4.splat(sigma2));
    for (let g = 0; g < 8; g += 4) {
      iq4Search4(p + 128 * g, weighted != 0 ? w + 128 * g : 0, 32 * g, 4);
      v128.store(IQ_SCALES + (<usize>g << 2), v128.load(IQ_OUT));
    }
    for (let ib = 0; ib < 8; ib++) {
      const d = load<f32>(IQ_SCALES + (<usize>ib << 2));
      const ad = abs<f32>(d);
      if (ad > amaxScale) {
        amaxScale = ad;
        maxScale = d;
      }
    }
    const d: f32 = -maxScale / <f32>32.0;
    putHalf(o, toHalf(d));
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    let scalesH: u32 = 0;
    for (let ib = 0; ib < 8; ib++) {
      let l = nearestInt(id * load<f32>(IQ_SCALES + (<usize>ib << 2)));
      l = l < -32 ? -32 : l > 31 ? 31 : l;
      const dl: f32 = d * <f32>l;
      const idl: f32 = dl != 0 ? <f32>1.0 / dl : 0;
      const pb = p + 128 * ib;
      for (let j = 0; j < 32; j++) store<u8>(L + 32 * ib + j, <u8>bestIndexNl(idl * load<f32>(pb + (<usize>j << 2))));
      l += 32;
      const s = o + 4 + (ib >> 1);
      if ((ib & 1) == 0) store<u8>(s, <u8>(l & 0xf));
      else store<u8>(s, load<u8>(s) | <u8>((l & 0xf) << 4));
      scalesH |= <u32>(l >> 4) << (2 * ib);
    }
    store<u16>(o + 2, <u16>scalesH);
    packIq4(o + 8, 8);
  }
  return nb * 136;
}

// ---- MXFP4 and NVFP4 (quantize_row_mxfp4_ref, quantize_row_nvfp4_ref)

const FP4_LEVELS = memory.data(8 * 16, 16); // kvalues_mxfp4[i]·d for the codes 0…7, splatted

/** kvalues_mxfp4 of codes 0…7 (codes 8…15 are their negatives). */
const KVALUES_FP4 = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12]);

/** The candidates kvalues[i]·d of the block, each the float product C computes. */
@inline function setFp4Scale(d: f32): void {
  for (let i = 0; i < 8; i++) v128.store(FP4_LEVELS + (<usize>i << 4), f32x4.splat(<f32>load<i8>(KVALUES_FP4 + i) * d));
}

/**
 * best_index_mxfp4 for four weights, without C's 16 trials: a negative code's error at x equals the
 * positive code's at |x| (fl(−v − x) = −fl(v − |x|)), and a code of the wrong sign never does strictly
 * better than code 0, so the search runs over the 8 levels at |x| and the sign picks code j or 8 + j
 * (code 0 stays 0: it comes first). The errors |fl(v_i − |x|)| over increasing v_i fall then rise, so
 * C's first index of least error is the last i whose error is strictly below its predecessor's. NaN
 * compares false everywhere and gives 0, as in C.
 */
@inline function bestIndexFp4(x: v128): v128 {
  const a = f32x4.abs(x);
  let best = i32x4.splat(0);
  let prev = f32x4.abs(f32x4.sub(v128.load(FP4_LEVELS), a));
  for (let i = 1; i < 8; i++) {
    const err = f32x4.abs(f32x4.sub(v128.load(FP4_LEVELS + (<usize>i << 4)), a));
    best = v128.bitselect(i32x4.splat(i), best, f32x4.lt(err, prev));
    prev = err;
  }
  const negative = v128.andnot(f32x4.lt(x, f32x4.splat(0)), i32x4.eq(best, i32x4.splat(0)));
  return i32x4.add(best, v128.and(negative, i32x4.splat(8)));
}

/** C's `if (amax < fabsf(v)) amax = fabsf(v)` over n floats (a multiple of 4): pmax keeps it per lane, NaN skipped. */
@inline function absMaxSkipNaN(p: usize, n: i32): f32 {
  let m = f32x4.splat(0);
  for (let j = 0; j < n; j += 4) m = f32x4.pmax(m, f32x4.abs(v128.load(p + (<usize>j << 2))));
  m = f32x4.pmax(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
  m = f32x4.pmax(m, v128.shuffle<f32>(m, m, 1, 0, 3, 2));
  return f32x4.extract_lane(m, 0);
}

/**
 * MXFP4's shared exponent (uint8_t)(floorf(log2f(amax)) − 2 + 127): log2 rounded to float (a value just
 * below a power of two counts as that power), then C's truncating conversion, low byte kept.
 */
@inline function mxfp4Exponent(amax: f32): u32 {
  if (!(amax > 0)) return 0;
  const v = Mathf.floor(<f32>Math.log2(<f64>amax)) - <f32>2.0 + <f32>127.0;
  return isFinite<f32>(v) ? <u32>(<i32>v) & 0xff : 0;
}

/** GGML_E8M0_TO_FP32_HALF: 2^(e − 128), the two smallest as subnormals. */
@inline function e8m0Half(e: u32): f32 {
  return reinterpret<f32>(e >= 2 ? (e - 1) << 23 : e == 1 ? 0x00400000 : 0x00200000);
}

/** MXFP4 (17 bytes per 32): k weights from IN. */
export function quantizeMXFP4(k: i32): i32 {
  const nb = k >> 5;
  for (let i = 0; i < nb; i++) {
    const p = IN + 128 * i;
    const o = OUT + 17 * i;
    const e = mxfp4Exponent(absMaxSkipNaN(p, 32));
    store<u8>(o, <u8>e);
    setFp4Scale(e8m0Half(e));
    // byte j: weight j (low nibble) and j + 16 (high)
    const q0 = v128.or(bestIndexFp4(v128.load(p)), i32x4.shl(bestIndexFp4(v128.load(p + 64)), 4));
    const q1 = v128.or(bestIndexFp4(v128.load(p + 16)), i32x4.shl(bestIndexFp4(v128.load(p + 80)), 4));
    const q2 = v128.or(bestIndexFp4(v128.load(p + 32)), i32x4.shl(bestIndexFp4(v128.load(p + 96)), 4));
    const q3 = v128.or(bestIndexFp4(v128.load(p + 48)), i32x4.shl(bestIndexFp4(v128.load(p + 112)), 4));
    v128.store(o + 1, bytesU(q0, q1, q2, q3));
  }
  return nb * 17;
}

/** ggml_fp32_to_ue4m3 of a non-negative scale (saturating at 448, ties away, subnormals m·2^−9). */
function toUe4m3(x: f32): u32 {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const b = reinterpret<u32>(x);
  let ue = <i32>((b >>> 23) & 0xff) - 127 + 7;
  if (ue <= 0) {
    const man = <i32>(x * <f32>512.0 + <f32>0.5);
    if (man < 1) return 0;
    return man > 7 ? 7 : <u32>man;
  }
  if (ue >= 15) return 0x7e;
  let man = ((b >>> 20) & 7) + ((b >>> 19) & 1);
  if (man > 7) {
    man = 0;
    ue += 1;
    if (ue >= 15) return 0x7e;
  }
  return (<u32>ue << 3) | man;
}

/** ggml_ue4m3_to_fp32 (already halved, as ggml's is); 0 and 0x7F (NaN) decode to 0. */
function fromUe4m3(w: u32): f32 {
  if (w == 0 || w == 0x7f) return 0;
  const exp = (w >>> 3) & 0xf;
  const man = w & 7;
  // both forms are exact in float: man·2^−10, or (8 + man)·2^(exp − 11)
  return exp == 0 ? <f32>man * <f32>0.0009765625 : <f32>(<u32>8 + man) * reinterpret<f32>((exp - 11 + 127) << 23);
}

/** NVFP4 (36 bytes per 64): k weights from IN; four UE4M3 sub-block scales, then 8 code bytes per 16 weights. */
export function quantizeNVFP4(k: i32): i32 {
  const nb = k >> 6;
  for (let i = 0; i < nb; i++) {
    const o = OUT + 36 * i;
    for (let s = 0; s < 4; s++) {
      const p = IN + 256 * i + 64 * s;
      const ue = toUe4m3(absMaxSkipNaN(p, 16) / <f32>6.0);
      store<u8>(o + s, <u8>ue);
      setFp4Scale(fromUe4m3(ue));
      const a = v128.or(bestIndexFp4(v128.load(p)), i32x4.shl(bestIndexFp4(v128.load(p + 32)), 4));
      const b = v128.or(bestIndexFp4(v128.load(p + 16)), i32x4.shl(bestIndexFp4(v128.load(p + 48)), 4));
      const bytes = bytesU(a, b, a, b);
      store<u64>(o + 4 + 8 * s, i64x2.extract_lane(bytes, 0));
    }
  }
  return nb * 36;
}

// ---- TQ1_0 and TQ2_0 (quantize_row_tq1_0_ref, quantize_row_tq2_0_ref)

/**
 * The ternary block's d: C's `amax = MAX(amax, fabsf(x))`, where a NaN survives only until the next
 * value. Without NaNs that is the plain maximum (any order gives it); with one, the literal loop.
 */
let ternaryNaN = false;

function ternaryAmax(p: usize): f32 {
  let m = f32x4.splat(0);
  let nan = i32x4.splat(0);
  for (let j = 0; j < 256; j += 4) {
    const a = f32x4.abs(v128.load(p + (<usize>j << 2)));
    nan = v128.or(nan, f32x4.ne(a, a));
    m = f32x4.pmax(m, a);
  }
  ternaryNaN = v128.any_true(nan);
  if (!ternaryNaN) {
    m = f32x4.pmax(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    m = f32x4.pmax(m, v128.shuffle<f32>(m, m, 1, 0, 3, 2));
    return f32x4.extract_lane(m, 0);
  }
  let amax: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const a = abs<f32>(load<f32>(p + (<usize>j << 2)));
    amax = amax > a ? amax : a;
  }
  return amax;
}

/**
 * lroundf(v) + 1 as C's int, any v: half away from zero; NaN, ±Inf and |v| ≥ 2^32 give 1 (x86's LONG_MIN,
 * or an integer whose low 32 bits are 0, plus 1).
 */
function tritAny(v: f32): i32 {
  if (!(abs<f32>(v) < <f32>4294967296.0)) return 1;
  const a = <f64>abs<f32>(v);
  let t = Math.trunc(a);
  if (a - t >= 0.5) t += 1;
  return <i32>(<i64>(v < 0 ? -t : t)) + 1;
}

/** lroundf(x·id) + 1 of four weights whose |x·id| ≤ 1 (the fast path: 0, 1 or 2). */
@inline function trit4(x: v128, id: v128): v128 {
  const v = f32x4.mul(x, id);
  return i32x4.add(i32x4.sub(i32x4.splat(1), f32x4.ge(v, f32x4.splat(0.5))), f32x4.le(v, f32x4.splat(-0.5)));
}

/**
 * Whether every |x·id| of the block stays within about 1, so trit4 holds: no NaN in the block (d is then
 * the true maximum) and a finite d and 1/d (an Inf or a NaN product takes the literal path).
 */
@inline function ternaryFast(d: f32, id: f32): bool {
  return !ternaryNaN && isFinite<f32>(d) && isFinite<f32>(id);
}

/** TQ1_0's ⌈q·256/243⌉ of four base-3 numbers q < 243 (exact in float: the remainder is ≥ 1/243 away). */
@inline function scale243(q: v128): v128 {
  const n = i32x4.add(i32x4.mul(q, i32x4.splat(256)), i32x4.splat(242));
  return i32x4.trunc_sat_f32x4_s(f32x4.div(f32x4.convert_i32x4_s(n), f32x4.splat(243.0)));
}

/** Five trits x[p], x[p + stride] … (4 lanes) as base-3 numbers, scaled to bytes. */
@inline function pack5(p: usize, stride: usize, id: v128): v128 {
  let q = i32x4.splat(0);
  for (let k: usize = 0; k < 5; k++) q = i32x4.add(i32x4.mul(q, i32x4.splat(3)), trit4(v128.load(p + k * stride), id));
  return scale243(q);
}

/** The literal C loop of one TQ1_0 byte (any inputs): trits packed with C's uint8_t wrap-around. */
function pack3Any(p: usize, stride: usize, count: i32, id: f32): u8 {
  let q: i32 = 0;
  for (let k = 0; k < count; k++) q = (q * 3 + tritAny(load<f32>(p + <usize>k * stride) * id)) & 0xff;
  if (count == 4) q = (q * 3) & 0xff;
  return <u8>((q * 256 + 242) / 243);
}

/** TQ1_0 (54 bytes per 256): k weights from IN. */
export function quantizeTQ1_0(k: i32): i32 {
  const nb = k >> 8;
  for (let i = 0; i < nb; i++) {
    const p = IN + 1024 * i;
    const o = OUT + 54 * i;
    const d = ternaryAmax(p);
    putHalf(o + 52, toHalf(d));
    const idS: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (ternaryFast(d, idS)) {
      const id = f32x4.splat(idS);
      // bytes 0–31: weights m + 32k (k < 5); 32–47: 160 + m + 16k; 48–51: 240 + j + 4k (k < 4, then ×3)
      for (let m = 0; m < 32; m += 16) {
        v128.store(o + m, bytesU(pack5(p + 4 * m, 128, id), pack5(p + 4 * m + 16, 128, id), pack5(p + 4 * m + 32, 128, id), pack5(p + 4 * m + 48, 128, id)));
      }
      const h = p + 640;
      v128.store(o + 32, bytesU(pack5(h, 64, id), pack5(h + 16, 64, id), pack5(h + 32, 64, id), pack5(h + 48, 64, id)));
      let q = i32x4.splat(0);
      for (let kk: usize = 0; kk < 4; kk++) q = i32x4.add(i32x4.mul(q, i32x4.splat(3)), trit4(v128.load(p + 960 + 16 * kk), id));
      const last = scale243(i32x4.mul(q, i32x4.splat(3)));
      store<u32>(o + 48, i32x4.extract_lane(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(last, last), i16x8.narrow_i32x4_u(last, last)), 0));
    } else {
      for (let m = 0; m < 32; m++) store<u8>(o + m, pack3Any(p + 4 * m, 128, 5, idS));
      for (let m = 0; m < 16; m++) store<u8>(o + 32 + m, pack3Any(p + 640 + 4 * m, 64, 5, idS));
      for (let j = 0; j < 4; j++) store<u8>(o + 48 + j, pack3Any(p + 960 + 4 * j, 16, 4, idS));
    }
  }
  return nb * 54;
}

/** Four TQ2_0 bytes: weights at b, b + 32, b + 64, b + 96 (floats) in bits 0, 2, 4, 6. */
@inline function tq2Bytes(b: usize, id: v128): v128 {
  let q = trit4(v128.load(b), id);
  q = v128.or(q, i32x4.shl(trit4(v128.load(b + 128), id), 2));
  q = v128.or(q, i32x4.shl(trit4(v128.load(b + 256), id), 4));
  return v128.or(q, i32x4.shl(trit4(v128.load(b + 384), id), 6));
}

/** TQ2_0 (66 bytes per 256): k weights from IN; byte j·32 + m holds weights 128j + m + 32l in bits 2l. */
export function quantizeTQ2_0(k: i32): i32 {
  const nb = k >> 8;
  for (let i = 0; i < nb; i++) {
    const p = IN + 1024 * i;
    const o = OUT + 66 * i;
    const d = ternaryAmax(p);
    putHalf(o + 64, toHalf(d));
    const idS: f32 = d != 0 ? <f32>1.0 / d : 0;
    if (ternaryFast(d, idS)) {
      const id = f32x4.splat(idS);
      for (let j = 0; j < 2; j++) {
        for (let m = 0; m < 32; m += 16) {
          const b = p + 512 * j + 4 * m;
          v128.store(o + 32 * j + m, bytesU(tq2Bytes(b, id), tq2Bytes(b + 16, id), tq2Bytes(b + 32, id), tq2Bytes(b + 48, id)));
        }
      }
    } else {
      for (let j = 0; j < 2; j++) {
        for (let m = 0; m < 32; m++) {
          let q: i32 = 0;
          for (let l = 0; l < 4; l++) q += (tritAny(load<f32>(p + 512 * j + 4 * (m + 32 * l)) * idS) & 3) << (2 * l);
          store<u8>(o + 32 * j + m, <u8>q);
        }
      }
    }
  }
  return nb * 66;
}

// ---- F16 → F32, for the model runtime's decoding (not a quantizer: it reads OUT and writes IN)

/**
 * Decodes `k` IEEE half-precision values (2·k little-endian bytes at OUT) into float32 at IN, exactly:
 * sign, exponent and mantissa moved into place; the magnitude's bits read as a float and scaled by 2¹¹²
 * (exact, for normal and subnormal halves alike); Inf and NaN given the float's all-ones exponent.
 */
export function decodeF16(k: i32): void {
  let i = 0;
  for (; i + 8 <= k; i += 8) {
    const h = v128.load(OUT + (<usize>i << 1));
    v128.store(IN + (<usize>i << 2), halfToFloat(i32x4.extend_low_i16x8_u(h)));
    v128.store(IN + (<usize>i << 2), halfToFloat(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < k; i++) store<f32>(IN + (<usize>i << 2), fromHalf(<u32>load<u16>(OUT + (<usize>i << 1))));
}

/** fromHalf on four lanes (halves zero-extended to i32), with no branch. */
@inline function halfToFloat(h: v128): v128 {
  const bits = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  const finite = f32x4.mul(bits, f32x4.splat(5.192296858534828e33)); // 2^112
  const special = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
  const mag = v128.bitselect(v128.or(bits, i32x4.splat(0x7f800000)), finite, special);
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// ---- Q4_K and Q6_K → F32 (dequantize_row_q4_K / _q6_K), for the model runtime's decoding: blocks at
// OUT, floats to IN, the same f32 operations in the same order as ggml's reference (no FMA)

/** ggml's get_scale_min_k4: scale in the low byte, min in the next. */
@inline function scaleMinK4At(s: usize, j: i32): i32 {
  if (j < 4) return (<i32>load<u8>(s + j) & 63) | ((<i32>load<u8>(s + j + 4) & 63) << 8);
  const sc = (<i32>load<u8>(s + j + 4) & 15) | ((<i32>load<u8>(s + j - 4) >> 6) << 4);
  const m = (<i32>load<u8>(s + j + 4) >> 4) | ((<i32>load<u8>(s + j) >> 6) << 4);
  return sc | (m << 8);
}

/** 16 quants (bytes) → d·q − m as 16 floats at y. */
@inline function affine16(y: usize, q: v128, d: v128, m: v128): void {
  const w0 = i16x8.extend_low_i8x16_u(q), w1 = i16x8.extend_high_i8x16_u(q);
  v128.store(y, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(w0))), m));
  v128.store(y, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(w0))), m), 16);
  v128.store(y, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(w1))), m), 32);
  v128.store(y, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(w1))), m), 48);
}

export function decodeQ4_K(k: i32): void {
  const low = i8x16.splat(15);
  for (let blk = 0; blk < k / 256; blk++) {
    const p = OUT + <usize>blk * 144;
    const d = fromHalf(<u32>load<u16>(p)), dmin = fromHalf(<u32>load<u16>(p, 2));
    let q = p + 16;
    let y = IN + <usize>blk * 1024;
    for (let j = 0; j < 4; j++, q += 32, y += 256) {
      const sm1 = scaleMinK4At(p + 4, 2 * j), sm2 = scaleMinK4At(p + 4, 2 * j + 1);
      const d1 = f32x4.splat(d * <f32>(sm1 & 0xff)), m1 = f32x4.splat(dmin * <f32>(sm1 >> 8));
      const d2 = f32x4.splat(d * <f32>(sm2 & 0xff)), m2 = f32x4.splat(dmin * <f32>(sm2 >> 8));
      for (let h = 0; h < 2; h++) {
        const v = v128.load(q + h * 16);
        affine16(y + h * 64, v128.and(v, low), d1, m1);
        affine16(y + 128 + h * 64, i8x16.shr_u(v, 4), d2, m2);
      }
    }
  }
}

export function decodeQ6_K(k: i32): void {
  for (let blk = 0; blk < k / 256; blk++) {
    const p = OUT + <usize>blk * 210;
    const d = fromHalf(<u32>load<u16>(p, 208));
    let ql = p, qh = p + 128, sc = p + 192;
    let y = IN + <usize>blk * 1024;
    for (let half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 512) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = <i32>load<u8>(qh + l), a = <i32>load<u8>(ql + l), c = <i32>load<u8>(ql + l + 32);
        const q1 = ((a & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((c & 15) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32;
        const yl = y + (<usize>l << 2);
        store<f32>(yl, (d * <f32>load<i8>(sc + is)) * <f32>q1);
        store<f32>(yl, (d * <f32>load<i8>(sc + is + 2)) * <f32>q2, 128);
        store<f32>(yl, (d * <f32>load<i8>(sc + is + 4)) * <f32>q3, 256);
        store<f32>(yl, (d * <f32>load<i8>(sc + is + 6)) * <f32>q4, 384);
      }
    }
  }
}
