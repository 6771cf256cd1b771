import { test } from "node:test";
import assert from "node:assert/strict";
import { format, formats, castTo, blockQuantize, NF4_CODEBOOK } from "../../src/numerics/formats.js";
import { f16BitsToF32, f32ToF16Bits, bf16BitsToF32, f32ToBf16Bits } from "../../src/numerics/float-bits.js";

function refFp8(code: number, e: number, m: number, bias: number, fn: boolean): number {
  const s = code >> (e + m) ? -1 : 1;
  const ex = (code >> m) & ((1 << e) - 1);
  const man = code & ((1 << m) - 1);
  if (fn && ex === (1 << e) - 1 && man === (1 << m) - 1) return NaN;
  if (!fn && ex === (1 << e) - 1) return man ? NaN : s * Infinity;
  return ex === 0 ? s * man * 2 ** (1 - bias - m) : s * (1 + man / 2 ** m) * 2 ** (ex - bias);
}

test("all 256 FP8 codes of both variants decode per the OCP spec and re-encode to themselves", () => {
  for (const [name, e, m, bias, fn] of [["fp8-e4m3", 4, 3, 7, true], ["fp8-e5m2", 5, 2, 15, false]] as const) {
    const f = format(name);
    for (let c = 0; c < 256; c++) {
      const v = f.decode(c);
      const ref = refFp8(c, e, m, bias, fn);
      if (Number.isNaN(ref)) {
        assert.ok(Number.isNaN(v), `${name} ${c}`);
        continue;
      }
      assert.equal(v, ref, `${name} code ${c}`);
      assert.equal(f.encode(v), c, `${name} code ${c} (value ${v}) re-encodes`);
    }
  }
  assert.equal(format("fp8-e4m3").max, 448);
  assert.equal(format("fp8-e4m3").smallestNormal, 2 ** -6);
  assert.equal(format("fp8-e4m3").smallestPositive, 2 ** -9);
  assert.equal(format("fp8-e5m2").max, 57344);
  assert.equal(format("fp8-e5m2").smallestPositive, 2 ** -16);
});

test("FP8 ties round to even and overflow follows the policy", () => {
  const e4 = format("fp8-e4m3");
  assert.equal(e4.round(1 + 1 / 16), 1); // tie between 1 and 1.125 → even mantissa (1)
  assert.equal(e4.round(1 + 3 / 16), 1.25); // tie between 1.125 and 1.25 → 1.25
  assert.equal(e4.round(460), 448); // below the rounding midpoint: rounds to max
  assert.ok(Number.isNaN(e4.round(1000))); // non-saturating: no Inf in E4M3, so NaN
  assert.equal(e4.round(1000, "saturate"), 448);
  const e5 = format("fp8-e5m2");
  assert.equal(e5.round(1e6), Infinity);
  assert.equal(e5.round(-1e6, "saturate"), -57344);
});

test("all 65,536 FP16 and BF16 codes round-trip; ties to even; overflow policy", () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToF32(h);
    if (!Number.isNaN(v)) assert.equal(f32ToF16Bits(v), h);
    const b = bf16BitsToF32(h);
    if (!Number.isNaN(b)) assert.equal(f32ToBf16Bits(b), h);
  }
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds past max → Inf
  assert.equal(f32ToF16Bits(65520, "saturate"), 0x7bff);
  assert.equal(f32ToF16Bits(2 ** -25), 0); // tie between 0 and the smallest subnormal → 0
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
});

test("the format table reproduces the course's bytes per parameter", () => {
  const bytes = Object.fromEntries(formats().map((f) => [f.name, f.bytesPerParam]));
  assert.deepEqual(
    { fp32: bytes.fp32, fp16: bytes.fp16, bf16: bytes.bf16, fp8: bytes["fp8-e4m3"], int8: bytes.int8, int4: bytes.int4, nf4: bytes.nf4 },
    { fp32: 4, fp16: 2, bf16: 2, fp8: 1, int8: 1, int4: 0.5, nf4: 0.5 },
  );
  assert.equal(format("int4").levels, 16);
  assert.equal(format("uint8").max, 255);
  assert.equal(format("mxfp4").bytesPerParam * 8, 4.25);
  assert.equal(format("nvfp4").bytesPerParam * 8, 4.5);
});

test("NF4 codebook values are bitsandbytes' exactly; FP4 E2M1 has ±{0,0.5,1,1.5,2,3,4,6}", () => {
  assert.deepEqual(NF4_CODEBOOK.slice(0, 3), [-1.0, -0.6961928009986877, -0.5250730514526367]);
  assert.equal(NF4_CODEBOOK[7], 0);
  assert.equal(NF4_CODEBOOK[14], 0.7229568362236023);
  assert.equal(NF4_CODEBOOK.length, 16);
  const e2m1 = format("fp4-e2m1");
  assert.deepEqual(Array.from({ length: 8 }, (_, c) => e2m1.decode(c)), [0, 0.5, 1, 1.5, 2, 3, 4, 6]);
  assert.equal(e2m1.round(2.5), 2); // tie → even mantissa
  assert.equal(e2m1.round(100), 6); // no Inf: saturates
});

test("castTo shows where each float format loses precision or range", () => {
  const x = [1e-5, 0.1, 3.14159, 70000, 1e20];
  assert.deepEqual(Array.from(castTo("fp16", x)).slice(3), [Infinity, Infinity]);
  assert.equal(castTo("bf16", x)[4]! > 9e19, true);
  assert.equal(castTo("fp8-e4m3", x, "saturate")[3], 448);
  assert.equal(castTo("fp8-e4m3", x)[0], 0); // below half the smallest subnormal
  assert.throws(() => castTo("int4" as never, x), /needs a float format/);
});

test("MXFP4 uses power-of-two block scales; NVFP4 an E4M3 scale per 16", () => {
  const row = Array.from({ length: 32 }, (_, i) => (i - 16) / 8);
  const mx = blockQuantize("mxfp4", row);
  assert.equal(mx.scaleCodes.length, 1);
  assert.equal(2 ** (mx.scaleCodes[0]! - 127), 0.5); // amax 2 → 2^(1 - 2)
  assert.equal(mx.dequantized[0], -2);
  const nv = blockQuantize("nvfp4", row);
  assert.equal(nv.scaleCodes.length, 2);
  // E2M1's widest gap is 2 units (4 → 6), so the error is at most one unit of the block scale amax/6
  assert.ok(nv.dequantized.every((v, i) => Math.abs(v - row[i]!) <= 2 / 6 + 1e-6));
  assert.throws(() => blockQuantize("mxfp4", [1, 2, 3]), /blocks of 32/);
});
