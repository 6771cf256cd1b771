/**
 * AWQ's grid points in WebAssembly (compiled by `npm run build` to dist/wasm/awq.wasm), on the GEMM
 * kernel's shared memory, so the error a grid point produces is already where the loss product reads it:
 *
 *   groupError(src, R, cols, gs, colScale, clip, out): for every (row, group) of the R × cols `src`,
 *     x = src·colScale[c] (colScale 0: x = src), clamped to ±clip[row·ng + group] (clip 0: not clamped),
 *     quantized per group under the "awq" convention, and out = x̂/colScale[c] − src.
 *
 * The scale search calls it with its scales (out = Q(W·s)/s − W), the clip search with its bounds (out =
 * Q(clamp(W·s)) − W·s). The arithmetic is the numeric core's RTN kernel's (src/numerics/rtn.ts) and
 * awq.ts's, operation for operation: float32 where JavaScript stores into a Float32Array (a float32
 * operation is correctly rounded, and so is a float64 one rounded to float32: +, −, ×, ÷ of float32
 * operands agree), the code in float64 (q = round(x / scale) + zero, ties to even), so the results are
 * bit-identical to the JavaScript path's.
 */

export function groupError(
  src: usize, R: i32, cols: i32, gs: i32, colScale: usize, clip: usize,
  qmin: f64, qmax: f64, sym: bool, out: usize,
): void {
  const ng = (cols + gs - 1) / gs;
  for (let r = 0; r < R; r++) {
    const row = src + (<usize>r * <usize>cols << 2);
    const orow = out + (<usize>r * <usize>cols << 2);
    for (let g = 0; g < ng; g++) {
      const c0 = g * gs;
      const c1 = min(cols, c0 + gs);
      const m: f32 = clip ? load<f32>(clip + (<usize>(r * ng + g) << 2)) : Infinity;
      // x into out (the group's values), with its range
      let lo: f32 = Infinity;
      let hi: f32 = -Infinity;
      for (let c = c0; c < c1; c++) {
        let x = load<f32>(row + (<usize>c << 2));
        if (colScale) x *= load<f32>(colScale + (<usize>c << 2));
        x = x > m ? m : x < -m ? -m : x;
        store<f32>(orow + (<usize>c << 2), x);
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      // paramsFromRange, "awq" convention
      let scale: f64;
      let zero: f64 = 0;
      if (sym) {
        const amax = max<f64>(max<f64>(abs<f64>(<f64>lo), abs<f64>(<f64>hi)), 1e-5);
        scale = <f64><f32>(amax / qmax);
      } else {
        scale = <f64><f32>(max<f64>(<f64>hi - <f64>lo, 1e-5) / qmax);
        zero = min<f64>(max<f64>(-nearest<f64>(<f64>lo / scale) + 0, 0), qmax);
      }
      for (let c = c0; c < c1; c++) {
        const o = orow + (<usize>c << 2);
        const x = <f64>load<f32>(o);
        let q = nearest<f64>(x / scale) + zero;
        q = q < qmin ? qmin : q > qmax ? qmax : q;
        let d = <f32>((q - zero) * scale);
        if (colScale) d /= load<f32>(colScale + (<usize>c << 2));
        store<f32>(o, d - load<f32>(row + (<usize>c << 2)));
      }
    }
  }
}

/** Σ y² over n floats, in index order, in float64 (the loss of a grid point). */
export function sumSquares(y: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(y + (<usize>i << 2));
    s += v * v;
  }
  return s;
}
