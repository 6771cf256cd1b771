/**
 * Running a model the way llama.cpp's CPU backend rounds it, for comparisons with llama.cpp that
 * agree to the last digit that matters. ggml multiplies a weight by an activation only after
 * converting the activation row to the weight type's `vec_dot_type` (ggml-cpu's type traits): Q8_0
 * blocks for Q4_0, Q5_0, Q8_0, IQ4_NL and the FP4 types, Q8_1 for Q4_1/Q5_1 (the same rounding as Q8_0),
 * Q8_K for the K-quants, IQ4_XS and the ternary types, F16 for F16, BF16 for BF16, nothing for F32. Its
 * KV cache is F16, and attention rounds the queries (to meet F16 keys) and the softmax weights (to
 * meet F16 values) to F16 as well.
 *
 * At 8 bits this rounding is as large as the weights' own error (stories260K Q8_0: KLD 0.00038 in
 * float32 against 0.00075 in llama.cpp), so a KLD table meant to match llama.cpp's needs it; at 4 bits
 * and below it is noise. QuantLab's own numbers stay float32 unless this is asked for.
 *
 * The Q8_0 rounding follows ggml-cpu's x86 `quantize_row_q8_0` (scale amax/127 stored as FP16, codes
 * round(x · 127/amax) to nearest even); Q8_K follows `quantize_row_q8_K_ref`, which x86 uses (a float32
 * scale from the signed extreme). Both are checked against the library in test/model/like-llama-cpp.test.ts.
 */
import { f16BitsToF32, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits } from "../../numerics/float-bits.js";
import { ggmlType } from "../../gguf/types.js";
import type { LinearName, LlamaModel } from "../llama.js";
import type { BlockHooks } from "./forward.js";
import { tf } from "./tf.js";

/** How ggml rounds an activation row before its dot product with a weight of a given type. */
export type ActivationRounding = "Q8_0" | "Q8_K" | "F16" | "BF16" | "F32";

/**
 * ggml-cpu's `vec_dot_type` for each weight type (Q8_1 listed as Q8_0: its codes and scale are Q8_0's,
 * it only adds the block sum). Types missing here (F32, the integer types) multiply in float32.
 */
const VEC_DOT: Readonly<Record<string, ActivationRounding>> = {
  F16: "F16", BF16: "BF16",
  Q4_0: "Q8_0", Q4_1: "Q8_0", Q5_0: "Q8_0", Q5_1: "Q8_0", Q8_0: "Q8_0", IQ4_NL: "Q8_0", MXFP4: "Q8_0", NVFP4: "Q8_0",
  Q2_K: "Q8_K", Q3_K: "Q8_K", Q4_K: "Q8_K", Q5_K: "Q8_K", Q6_K: "Q8_K", IQ4_XS: "Q8_K", TQ1_0: "Q8_K", TQ2_0: "Q8_K",
  IQ2_XXS: "Q8_K", IQ2_XS: "Q8_K", IQ2_S: "Q8_K", IQ3_XXS: "Q8_K", IQ3_S: "Q8_K", IQ1_S: "Q8_K", IQ1_M: "Q8_K",
};

/** The activation rounding ggml applies before multiplying by a weight stored as `type`. */
export function activationRounding(type: string): ActivationRounding {
  const t = ggmlType(type);
  return (t && VEC_DOT[t.name]) ?? "F32";
}

const f16 = (x: number) => f16BitsToF32(f32ToF16Bits(x));

/** Rounds x in place the way ggml converts it to `r`, row by row (`cols` per row), keeping float32 values. */
export function roundActivations(x: Float32Array, cols: number, r: ActivationRounding): Float32Array {
  if (r === "F32") return x;
  if (r === "F16") {
    for (let i = 0; i < x.length; i++) x[i] = f16(x[i]);
    return x;
  }
  if (r === "BF16") {
    for (let i = 0; i < x.length; i++) x[i] = bf16BitsToF32(f32ToBf16Bits(x[i]));
    return x;
  }
  const block = r === "Q8_0" ? 32 : 256;
  // a row that is no multiple of the block cannot meet such a weight: llama-quantize falls back first
  const whole = cols % block === 0;
  for (let row = 0; row < x.length; row += cols) {
    if (!whole) continue;
    for (let b = row; b < row + cols; b += block) (r === "Q8_0" ? q8_0 : q8_K)(x, b, block);
  }
  return x;
}

const fr = Math.fround;

/** Round half to even, as x86's _mm256_round_ps(·, nearest) does. */
function rint(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

function q8_0(x: Float32Array, o: number, n: number): void {
  let amax = 0;
  for (let i = o; i < o + n; i++) amax = Math.max(amax, Math.abs(x[i]));
  const d = f16(fr(amax / 127));
  const id = amax !== 0 ? fr(127 / amax) : 0;
  for (let i = o; i < o + n; i++) x[i] = fr(d * rint(fr(x[i] * id)));
}

function q8_K(x: Float32Array, o: number, n: number): void {
  let max = 0, amax = 0;
  for (let i = o; i < o + n; i++) {
    const a = Math.abs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (amax === 0) {
    x.fill(0, o, o + n);
    return;
  }
  const iscale = fr(-127 / max);
  const d = fr(1 / iscale);
  // ggml's nearest_int rounds half to even (the float magic-number trick)
  for (let i = o; i < o + n; i++) x[i] = fr(d * Math.min(127, rint(fr(iscale * x[i]))));
}

/** Rounds a tensor's values to F16 (ggml's KV cache and attention operands). */
function toF16(t: tf.Tensor): tf.Tensor {
  const v = t.dataSync() as Float32Array;
  return tf.tensor(roundActivations(Float32Array.from(v), v.length, "F16"), t.shape);
}

/**
 * Hooks that make `model`'s forward pass round as llama.cpp's CPU backend does: each linear's input to
 * its weight's `vec_dot_type` (from the types the file stores, `model.storedTypes`; a model built in
 * memory counts as F32), and the KV cache to F16. Attention is otherwise left in float32: ggml also
 * rounds the queries and the softmax weights to F16, which is not reproduced (without it the parity
 * test's KLDs are already within 0.6 % of llama.cpp's).
 */
export function llamaCppHooks(model: Pick<LlamaModel, "storedTypes">): BlockHooks {
  const typeOf = (tensor: string) => model.storedTypes?.get(tensor);
  const rounding = (layer: number, names: readonly LinearName[]): ActivationRounding => {
    const rs = new Set(names.map((n) => activationRounding(typeOf(`blk.${layer}.${n}.weight`) ?? "F32")));
    // linears that share an input share a type in every mix llama-quantize makes except when one fell
    // back; the finer rounding is then the one that matters least, so take the coarsest
    for (const r of ["Q8_K", "Q8_0", "BF16", "F16"] as const) if (rs.has(r)) return r;
    return "F32";
  };
  const round = (x: tf.Tensor2D, r: ActivationRounding): tf.Tensor2D => {
    if (r === "F32") return x;
    const [rows, cols] = x.shape;
    return tf.tensor2d(roundActivations(Float32Array.from(x.dataSync() as Float32Array), cols, r), [rows, cols]);
  };
  const head = activationRounding(typeOf("output.weight") ?? typeOf("token_embd.weight") ?? "F32");
  return {
    linearInput: (layer, names, x) => round(x, rounding(layer, names)),
    headInput: (x) => round(x, head),
    kv: (_layer, k, v) => ({ k: toF16(k) as tf.Tensor3D, v: toF16(v) as tf.Tensor3D }),
  };
}
