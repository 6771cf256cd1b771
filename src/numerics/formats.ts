/**
 * Number formats with exact bit-level encode and decode. Floats round to nearest, ties to even; a value
 * beyond the largest finite follows the overflow policy: "inf" (IEEE; E4M3 has no infinity, so NaN as in
 * the OCP spec's non-saturating mode) or "saturate" (the largest finite, what most FP8 engines do).
 * Sources: OCP 8-bit Floating Point spec v1.0, OCP MX v1.0, IEEE 754, bitsandbytes (NF4, FP4).
 */
import { check, QuantLabError } from "../errors.js";
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, type OverflowPolicy } from "./float-bits.js";
import { roundHalfEven } from "./round.js";

export type FloatFormatName = "fp32" | "fp16" | "bf16" | "fp8-e4m3" | "fp8-e5m2" | "fp4-e2m1";
export type IntFormatName = `int${2 | 3 | 4 | 5 | 6 | 7 | 8}` | `uint${2 | 3 | 4 | 5 | 6 | 7 | 8}`;
export type CodebookFormatName = "nf4" | "fp4-bnb";
export type BlockFormatName = "mxfp4" | "nvfp4";
/**
 * The name of every number format QuantLab knows, e.g. "fp16", "fp8-e4m3", "int4", "nf4", "mxfp4".
 * Floats (fp32 … fp4-e2m1) round directly; int, codebook (nf4, fp4-bnb) and block (mxfp4, nvfp4) formats
 * need a scale. `format(name)` also accepts aliases such as "fp8", "half" or "e2m1".
 */
export type FormatName = FloatFormatName | IntFormatName | CodebookFormatName | BlockFormatName;

/**
 * One number format as a learner inspects it: its bits, range, resolution and an exact encode/decode.
 * `max`, `smallestNormal` and `levels` answer "how far, how fine, how many"; `round(x)` shows what a
 * value becomes when stored in the format. Get one with `format(name)`.
 */
export interface NumberFormat {
  name: FormatName;
  kind: "float" | "int" | "codebook" | "block";
  /** Bits per element code (block formats: per element, without the shared scale). */
  bits: number;
  /** Storage per parameter including any mandatory shared scale (MXFP4 4.25 bits → 0.53125 B). */
  bytesPerParam: number;
  /** Largest finite value (for int: the largest code). */
  max: number;
  /** Smallest finite value (for int: the smallest code). */
  min: number;
  /** Smallest positive normal (floats), else the smallest positive step. */
  smallestNormal: number;
  /** Smallest positive value. */
  smallestPositive: number;
  /** Number of distinct finite values. */
  levels: number;
  /** Value → code (an integer bit pattern or index). */
  encode(x: number, overflow?: OverflowPolicy): number;
  /** Code → value. */
  decode(code: number): number;
  /** Value → nearest representable value (encode then decode). */
  round(x: number, overflow?: OverflowPolicy): number;
  description: string;
}

/** A small sign-magnitude float (FP8, FP4) as a sorted table of its non-negative finite values. */
interface MiniFloatSpec {
  exponentBits: number;
  mantissaBits: number;
  bias: number;
  /** "ieee": top exponent is Inf/NaN; "fn": only all-ones is NaN (E4M3); "none": no specials (E2M1). */
  specials: "ieee" | "fn" | "none";
}

function miniFloat(name: FloatFormatName, spec: MiniFloatSpec, description: string): NumberFormat {
  const { exponentBits: E, mantissaBits: M, bias, specials } = spec;
  const bits = 1 + E + M;
  const signBit = 1 << (E + M);
  const topExp = (1 << E) - 1;
  const decodeMag = (c: number): number => {
    const e = c >> M;
    const m = c & ((1 << M) - 1);
    if (specials === "ieee" && e === topExp) return m ? NaN : Infinity;
    if (specials === "fn" && e === topExp && m === (1 << M) - 1) return NaN;
    return e === 0 ? m * 2 ** (1 - bias - M) : (1 + m / (1 << M)) * 2 ** (e - bias);
  };
  // Finite non-negative values; their index is their code, since magnitude codes increase with value.
  const finite: number[] = [];
  for (let c = 0; c < signBit; c++) {
    const v = decodeMag(c);
    if (!Number.isFinite(v)) break;
    finite.push(v);
  }
  const maxCode = finite.length - 1;
  const max = finite[maxCode]!;
  // Where IEEE rounding would overflow: half an ulp above max (the midpoint to the next binade step).
  const overflowAt = max + (max - finite[maxCode - 1]!) / 2;
  const nanCode = specials === "ieee" ? (topExp << M) | (1 << (M - 1)) : specials === "fn" ? signBit - 1 : -1;
  const infCode = specials === "ieee" ? topExp << M : -1;

  const encode = (x: number, overflow: OverflowPolicy = "inf"): number => {
    if (Number.isNaN(x)) {
      if (nanCode < 0) throw new QuantLabError("BAD_VALUE", `${name} has no NaN: cannot encode NaN`);
      return nanCode;
    }
    const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
    const a = Math.abs(x);
    if (a > max) {
      // the midpoint itself is a tie: it stays at max when max's code is even (E4M3: 464 → 448, as torch and
      // ml_dtypes do) and overflows when it is odd (E5M2: 61440 → Inf, like FP16's 65520)
      const beyond = a > overflowAt || (a === overflowAt && (maxCode & 1) === 1);
      if (overflow === "saturate" || !beyond) return sign | maxCode;
      if (infCode >= 0) return sign | infCode;
      if (nanCode >= 0) return sign | nanCode;
      return sign | maxCode; // a format with neither Inf nor NaN (E2M1) can only saturate
    }
    // binary search for the largest finite value ≤ a
    let lo = 0;
    let hi = maxCode;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (finite[mid]! <= a) lo = mid;
      else hi = mid - 1;
    }
    let c = lo;
    if (c < maxCode) {
      const below = a - finite[c]!;
      const above = finite[c + 1]! - a;
      if (above < below || (above === below && (c & 1) === 1)) c++;
    }
    return sign | c;
  };
  const decode = (code: number): number => {
    const v = decodeMag(code & (signBit - 1));
    return code & signBit ? -v : v;
  };
  const smallestNormal = 2 ** (1 - bias);
  return {
    name, kind: "float", bits, bytesPerParam: bits / 8, max, min: -max, smallestNormal,
    smallestPositive: finite[1]!, levels: 2 * finite.length - 1, encode, decode,
    round: (x, overflow) => decode(encode(x, overflow)), description,
  };
}

function ieee16(name: "fp16" | "bf16", description: string): NumberFormat {
  const fp16 = name === "fp16";
  const encode = (x: number, overflow: OverflowPolicy = "inf") => (fp16 ? f32ToF16Bits(x, overflow) : f32ToBf16Bits(x, overflow));
  const decode = fp16 ? f16BitsToF32 : bf16BitsToF32;
  return {
    name, kind: "float", bits: 16, bytesPerParam: 2,
    max: fp16 ? 65504 : bf16BitsToF32(0x7f7f), min: fp16 ? -65504 : -bf16BitsToF32(0x7f7f),
    smallestNormal: fp16 ? 2 ** -14 : 2 ** -126, smallestPositive: fp16 ? 2 ** -24 : 2 ** -133,
    levels: fp16 ? 2 * (0x7c00 - 1) + 1 : 2 * (0x7f80 - 1) + 1,
    encode, decode, round: (x, o) => decode(encode(x, o)), description,
  };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const FP32: NumberFormat = {
  name: "fp32", kind: "float", bits: 32, bytesPerParam: 4, max: 3.4028234663852886e38, min: -3.4028234663852886e38,
  smallestNormal: 2 ** -126, smallestPositive: 2 ** -149, levels: 2 * (0x7f800000 - 1) + 1,
  encode: (x, overflow = "inf") => {
    f32[0] = x;
    if (overflow === "saturate" && !Number.isFinite(f32[0]) && !Number.isNaN(x)) f32[0] = Math.sign(x) * 3.4028234663852886e38;
    return u32[0]!;
  },
  decode: (code) => {
    u32[0] = code >>> 0;
    return f32[0]!;
  },
  round: (x, overflow = "inf") => {
    const r = Math.fround(x);
    return overflow === "saturate" && !Number.isFinite(r) && !Number.isNaN(x) ? Math.sign(x) * 3.4028234663852886e38 : r;
  },
  description: "IEEE single precision: the training and reference format",
};

function integer(bits: number, signed: boolean): NumberFormat {
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const encode = (x: number): number => {
    if (Number.isNaN(x)) throw new QuantLabError("BAD_VALUE", `int${bits} has no NaN: cannot encode NaN`);
    const q = roundHalfEven(x);
    return q < lo ? lo : q > hi ? hi : q; // integers always saturate
  };
  return {
    name: `${signed ? "int" : "uint"}${bits}` as IntFormatName, kind: "int", bits, bytesPerParam: bits / 8,
    max: hi, min: lo, smallestNormal: 1, smallestPositive: 1, levels: 2 ** bits,
    encode, decode: (c) => c, round: (x) => encode(x),
    description: `${signed ? "signed" : "unsigned"} ${bits}-bit integer codes ${lo} … ${hi}; the real value is code × scale (+ zero point)`,
  };
}

/**
 * NF4: the 16 quantiles of N(0,1) scaled to [-1, 1], exactly as bitsandbytes stores them (float32).
 * Levels sit closer together near 0, where most weights are; there is an exact 0 and an exact ±1.
 * @example
 * ```ts
 * NF4_CODEBOOK.length                 // 16 levels: 4 bits
 * NF4_CODEBOOK[7]                     // 0: zero is exact
 * NF4_CODEBOOK[8] - NF4_CODEBOOK[7]   // 0.0796: the finest step, near zero
 * ```
 */
export const NF4_CODEBOOK: readonly number[] = Object.freeze([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/**
 * bitsandbytes' FP4 values by code (bit 3 is the sign): 0, 0.0625, 8, 12, 4, 6, 2, 3 over 12.
 * Compare with OCP FP4 E2M1 (`format("fp4-e2m1")`): same 4 bits, a different grid.
 * @example
 * ```ts
 * FP4_BNB_CODEBOOK.map((v) => v * 12).slice(0, 8)   // [0, 0.0625, 8, 12, 4, 6, 2, 3]
 * FP4_BNB_CODEBOOK[3]                               // 1: the largest value, code 3
 * ```
 */
export const FP4_BNB_CODEBOOK: readonly number[] = Object.freeze(
  [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) => v / 12),
);

/** Nearest codebook entry; ties go to the lower index (bitsandbytes compares against midpoints). */
export function nearestIndex(codebook: ArrayLike<number>, x: number): number {
  let best = 0;
  let bestErr = Infinity;
  for (let i = 0; i < codebook.length; i++) {
    const e = Math.abs(codebook[i]! - x);
    if (e < bestErr) {
      bestErr = e;
      best = i;
    }
  }
  return best;
}

function codebook(name: CodebookFormatName, values: readonly number[], description: string): NumberFormat {
  const finite = values.filter(Number.isFinite);
  const positive = finite.filter((v) => v > 0);
  return {
    name, kind: "codebook", bits: 4, bytesPerParam: 0.5, max: Math.max(...finite), min: Math.min(...finite),
    smallestNormal: Math.min(...positive), smallestPositive: Math.min(...positive),
    levels: new Set(finite.map((v) => (v === 0 ? 0 : v))).size,
    encode: (x) => nearestIndex(values, x), decode: (c) => values[c]!, round: (x) => values[nearestIndex(values, x)]!, description,
  };
}

const E4M3 = miniFloat("fp8-e4m3", { exponentBits: 4, mantissaBits: 3, bias: 7, specials: "fn" },
  "OCP FP8 E4M3 (fn): range ±448, no infinity; the forward-pass FP8 of H100-class hardware");
const E5M2 = miniFloat("fp8-e5m2", { exponentBits: 5, mantissaBits: 2, bias: 15, specials: "ieee" },
  "OCP FP8 E5M2: range ±57344 with IEEE Inf/NaN; more range, less precision (gradients)");
const E2M1 = miniFloat("fp4-e2m1", { exponentBits: 2, mantissaBits: 1, bias: 1, specials: "none" },
  "OCP FP4 E2M1: values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}; the element type of MXFP4 and NVFP4");

/** Block formats carry their own shared scale; their element codec is FP4 E2M1. */
function blockFormat(name: BlockFormatName, bitsPerParam: number, description: string): NumberFormat {
  return { ...E2M1, name, kind: "block", bytesPerParam: bitsPerParam / 8, description };
}

const TABLE: NumberFormat[] = [
  FP32,
  ieee16("fp16", "IEEE half: 5 exponent bits, range ±65504; overflows where BF16 does not"),
  ieee16("bf16", "bfloat16: FP32's 8-bit exponent with 7 mantissa bits; FP32's range, coarse precision"),
  E4M3,
  E5M2,
  ...[8, 7, 6, 5, 4, 3, 2].map((b) => integer(b, true)),
  ...[8, 7, 6, 5, 4, 3, 2].map((b) => integer(b, false)),
  codebook("nf4", NF4_CODEBOOK, "NormalFloat 4 (QLoRA): 16 quantiles of a normal distribution, blockwise absmax scaled"),
  codebook("fp4-bnb", FP4_BNB_CODEBOOK, "bitsandbytes FP4: its own 16-value float grid, blockwise absmax scaled"),
  E2M1,
  blockFormat("mxfp4", 4.25, "OCP MXFP4: 32 E2M1 elements share one E8M0 power-of-two scale (4.25 bits/weight)"),
  blockFormat("nvfp4", 4.5, "NVFP4: 16 E2M1 elements share an E4M3 scale, plus one FP32 scale per tensor (4.5 bits/weight)"),
];
const BY_NAME = new Map<string, NumberFormat>(TABLE.map((f) => [f.name, f]));
const ALIASES: Record<string, FormatName> = {
  float32: "fp32", f32: "fp32", float16: "fp16", f16: "fp16", half: "fp16", bfloat16: "bf16",
  e4m3: "fp8-e4m3", fp8: "fp8-e4m3", e5m2: "fp8-e5m2", fp4: "fp4-e2m1", e2m1: "fp4-e2m1",
};

/**
 * Looks a number format up by name: `format("fp8-e4m3").max === 448`, `format("int4").min === -8`.
 * Aliases: fp8 → fp8-e4m3, half → fp16, fp4 → fp4-e2m1 …
 * @example
 * ```ts
 * format("fp8-e4m3").max        // 448: the largest finite FP8 E4M3 value
 * format("fp16").round(1.0001)  // 1: FP16 has about 3 decimal digits
 * format("int4").levels         // 16 codes, -8 … 7
 * ```
 */
export function format(name: FormatName | string): NumberFormat {
  const key = name.toLowerCase();
  const f = BY_NAME.get(key) ?? BY_NAME.get(ALIASES[key] ?? "");
  if (!f) {
    throw new QuantLabError("NOT_FOUND", `unknown format '${name}': use one of ${TABLE.map((t) => t.name).join(", ")}`);
  }
  return f;
}

/**
 * Every format QuantLab knows, in the order of the course's table.
 * @example
 * ```ts
 * formats().map((f) => `${f.name}: ${f.bytesPerParam} B`)   // fp32: 4 B … mxfp4: 0.53125 B
 * ```
 */
export function formats(): readonly NumberFormat[] {
  return TABLE;
}

/**
 * Rounds every element to the nearest value of a float format (FP8, FP16, BF16, FP4), no scaling.
 * Beyond the format's range the overflow policy decides: "inf" (NaN for E4M3) or "saturate" (the max).
 * @example
 * ```ts
 * castTo("fp8-e4m3", [0.1, 300])             // [0.1015625, 288]: 3 mantissa bits
 * castTo("fp8-e4m3", [1000])                 // [NaN]: beyond ±448, E4M3 has no infinity
 * castTo("fp8-e4m3", [1000], "saturate")     // [448]
 * ```
 */
export function castTo(name: FloatFormatName, x: ArrayLike<number>, overflow: OverflowPolicy = "inf"): Float32Array {
  const f = format(name);
  check(f.kind === "float", "BAD_ARGUMENT", `castTo needs a float format, got ${name}: integer and codebook formats need a scale (use ruler)`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f.round(x[i]!, overflow);
  return out;
}

/** E8M0: the power-of-two scale of MX formats, an 8-bit exponent with bias 127 (255 is NaN). */
export function e8m0Decode(code: number): number {
  return code === 255 ? NaN : 2 ** (code - 127);
}

export interface BlockScaled {
  /** Element codes (FP4 E2M1 bit patterns), one per input value. */
  codes: Uint8Array;
  /** One scale per block: E8M0 codes (MXFP4) or E4M3 codes (NVFP4). */
  scaleCodes: Uint8Array;
  /** The per-tensor FP32 scale (NVFP4; 1 for MXFP4). */
  tensorScale: number;
  dequantized: Float32Array;
}

/**
 * Quantizes a row to a block format (MXFP4 or NVFP4): FP4 E2M1 elements that share one scale per block.
 * MXFP4 (block 32): scale = 2^(floor(log2(amax)) − 2), 2 being E2M1's largest exponent; elements
 * x / scale to E2M1 with saturation. NVFP4 (block 16): a per-tensor FP32 scale amax / (6 · 448), then
 * per block an E4M3 scale of amax_block / 6 relative to it.
 * @example
 * ```ts
 * const row = randn(1, 64, { seed: 1 }).data;
 * const mx = blockQuantize("mxfp4", row);   // 2 blocks of 32
 * mx.scaleCodes                             // one E8M0 code per block: the scale is 2^(code − 127)
 * mse(row, mx.dequantized)
 * ```
 */
export function blockQuantize(name: BlockFormatName, x: ArrayLike<number>): BlockScaled {
  const block = name === "mxfp4" ? 32 : 16;
  check(x.length % block === 0, "BAD_SHAPE", `${name} works on blocks of ${block}: ${x.length} values is not a multiple; pad the row to ${Math.ceil(x.length / block) * block}`);
  const n = x.length;
  const codes = new Uint8Array(n);
  const scaleCodes = new Uint8Array(n / block);
  const dequantized = new Float32Array(n);
  let tensorScale = 1;
  if (name === "nvfp4") {
    let amax = 0;
    for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(x[i]!));
    tensorScale = amax > 0 ? Math.fround(amax / (6 * 448)) : 1;
  }
  for (let b = 0; b < n / block; b++) {
    let amax = 0;
    for (let i = b * block; i < (b + 1) * block; i++) amax = Math.max(amax, Math.abs(x[i]!));
    let scale: number;
    if (name === "mxfp4") {
      const e = amax > 0 ? Math.max(-127, Math.min(127, Math.floor(Math.log2(amax)) - 2)) : -127;
      scaleCodes[b] = e + 127;
      scale = 2 ** e;
    } else {
      const code = E4M3.encode(amax / 6 / tensorScale, "saturate");
      scaleCodes[b] = code;
      scale = E4M3.decode(code) * tensorScale;
    }
    for (let i = b * block; i < (b + 1) * block; i++) {
      const c = scale > 0 ? E2M1.encode(x[i]! / scale, "saturate") : 0;
      codes[i] = c;
      dequantized[i] = E2M1.decode(c) * scale;
    }
  }
  return { codes, scaleCodes, tensorScale, dequantized };
}
