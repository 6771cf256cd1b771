/**
 * Activation quantization in the forward pass: off is bit-identical to the plain runtime, FP8 rounding
 * is the numeric core's cast, per-token scales follow each row, static scales clip beyond calibration,
 * and a spec string parses or is refused with the fix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LlamaRuntime } from "../../src/model/runtime/forward.js";
import {
  activationHooks, activationMagnitudes, calibrateActivations, composeHooks, fakeQuantActivations, parseActivationSpec,
} from "../../src/model/runtime/activations.js";
import { elementFormat } from "../../src/model/runtime/kv-formats.js";
import { castTo } from "../../src/numerics/formats.js";
import { QuantLabError } from "../../src/errors.js";
import { randomModel, TINY } from "./helpers.js";

const TOKENS = [1, 5, 9, 2, 7, 3, 11, 4];

test("with no activation hooks (and composed empty hooks) the logits are bit-identical to the plain forward", async () => {
  const rt = await LlamaRuntime.create(randomModel(TINY, 3));
  const a = rt.forward(TOKENS).dataSync();
  const b = rt.forward(TOKENS, composeHooks({}, {})).dataSync();
  const c = rt.forward(TOKENS, { linearInput: (_l, _n, x) => x }).dataSync();
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
  rt.dispose();
});

test("FP8 E4M3 and E5M2 activation rounding is the numeric core's cast (scale 1: absmax = the format's max)", () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * 3 * (i % 5 === 0 ? 40 : 1));
  for (const [name, core] of [["fp8-e4m3", "fp8-e4m3"], ["fp8-e5m2", "fp8-e5m2"]] as const) {
    const fmt = elementFormat(name);
    const q = fakeQuantActivations(x, 8, 8, fmt, "tensor", fmt.maxValue);
    assert.deepEqual(q, castTo(core, x, "saturate"), name);
    // A dynamic scale s = absmax / max: x̂ = cast(x / s) · s.
    const amax = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const s = amax / fmt.maxValue;
    const cast = castTo(core, Array.from(x, (v) => v / s), "saturate");
    const dyn = fakeQuantActivations(x, 8, 8, fmt, "tensor");
    dyn.forEach((v, i) => assert.equal(v, Math.fround(cast[i] * s)));
  }
});

test("per-token INT8 scales each row by its own absmax; per tensor one outlier row coarsens every row", () => {
  const rows = 4, cols = 16;
  const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i) * (i < cols ? 100 : 1));
  const fmt = elementFormat("int8");
  const err = (q: Float32Array, r: number) => { let e = 0; for (let c = 0; c < cols; c++) e += (q[r * cols + c] - x[r * cols + c]) ** 2; return e; };
  const tok = fakeQuantActivations(x, rows, cols, fmt, "token"), ten = fakeQuantActivations(x, rows, cols, fmt, "tensor");
  for (let r = 1; r < rows; r++) assert.ok(err(tok, r) < err(ten, r) / 100, `row ${r}`);
  // Every row's max is a code: ±127 · s is exact.
  for (let r = 0; r < rows; r++) {
    let m = 0; for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(x[r * cols + c]));
    let mq = 0; for (let c = 0; c < cols; c++) mq = Math.max(mq, Math.abs(tok[r * cols + c]));
    assert.ok(Math.abs(mq - m) <= 1e-6 * m);
  }
  // A static scale below the data clips at ±absmax.
  const clipped = fakeQuantActivations(x, rows, cols, fmt, "tensor", 1);
  assert.ok(clipped.every((v) => Math.abs(v) <= 1 + 1e-7));
});

test("W8A8 static/dynamic change the logits a little, INT4 per tensor more; static scales come from calibration", async () => {
  const rt = await LlamaRuntime.create(randomModel(TINY, 3));
  const base = rt.forward(TOKENS).dataSync() as Float32Array;
  const dev = (h: ReturnType<typeof activationHooks>) => {
    const l = rt.forward(TOKENS, h).dataSync() as Float32Array;
    let e = 0, n = 0; l.forEach((v, i) => { e += (v - base[i]) ** 2; n += base[i] ** 2; });
    return e / n;
  };
  const scales = calibrateActivations(rt, [TOKENS]);
  assert.equal(scales.size, TINY.nLayers * 4);
  const p999 = calibrateActivations(rt, [TOKENS], 50);
  for (const [k, v] of p999) assert.ok(v <= scales.get(k)!, k);
  const s8 = dev(activationHooks(parseActivationSpec("int8:tensor:static"), scales));
  const d8 = dev(activationHooks(parseActivationSpec("int8:token:dynamic")));
  const i4 = dev(activationHooks(parseActivationSpec("int4:tensor:dynamic")));
  assert.ok(s8 > 0 && d8 > 0 && s8 < 1e-2 && d8 < 1e-2, `${s8} ${d8}`);
  assert.ok(i4 > s8 && i4 > d8, `${i4}`);
  // Limited to layer 1, layer 0's inputs pass untouched: a smaller change than every layer's.
  const only1 = dev(activationHooks({ ...parseActivationSpec("int4:tensor:dynamic"), layers: [1] }));
  assert.ok(only1 > 0 && only1 < i4, `${only1} vs ${i4}`);
  const seen: number[] = [];
  rt.forward(TOKENS, composeHooks(activationHooks({ format: "int8", granularity: "token", layers: [1] }), {
    linearInput: (l, _n, x) => { seen.push(l); return x; },
  })).dispose();
  assert.deepEqual([...new Set(seen)], [0, 1]);
  const mags = activationMagnitudes(rt, TOKENS, 1, ["ffn_down"]);
  assert.equal(mags.channels, TINY.hiddenDim);
  assert.equal(mags.tokens, TOKENS.length);
  rt.dispose();
});

test("activation specs parse, and wrong ones name the fix", () => {
  assert.deepEqual(parseActivationSpec("fp8-e4m3:tensor:static"), { format: "fp8-e4m3", granularity: "tensor", scaling: "static" });
  assert.deepEqual(parseActivationSpec("int8:token"), { format: "int8", granularity: "token", scaling: "dynamic" });
  for (const bad of ["int8:token:static", "int8:row", "int9:token", "int8", "int8:tensor:static:x"])
    assert.throws(() => parseActivationSpec(bad), (e: unknown) => e instanceof QuantLabError && e.code === "BAD_ARGUMENT", bad);
  assert.throws(() => activationHooks(parseActivationSpec("int8:tensor:static")), /calibrat/);
});
