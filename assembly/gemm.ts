/**
 * Single-precision matrix products in WebAssembly SIMD (AssemblyScript, compiled by `npm run build` to
 * dist/wasm/gemm.wasm), on a memory shared by every thread: C[i0:i1, j0:j1] = β·C + α·A·B, one chunk
 * of C per call, so worker threads split a product by taking chunks from a shared counter
 * (src/backend/gemm.ts).
 *
 * The layout is the Goto/BLIS one. Per chunk of C (mb × nb): for each depth slice of KC, the slice of B
 * is packed into NR-wide column strips (the strip under work, KC × NR = 16 KiB, stays in Zen 3's 32 KiB
 * L1); for each MC rows of A the slice is packed into MR-tall row strips (the MC × KC block, 192 KiB,
 * stays in its 512 KiB L2); a 4 × 8 register tile (eight f32x4 accumulators: 4 rows × 2 vectors) then
 * runs down KC. KC = 512 rather than 256 halves the read-modify-write passes over C (≈ 4 % at 2048³).
 *
 * The tile is sized to V8's code generator, not to the ISA. TurboFan keeps a block's loads in program
 * order and places the arithmetic after them, so every value loaded in a loop turn is live at once: one
 * depth step of the 4 × 8 tile loads 6 vectors, which with the 8 accumulators and a product fills the
 * 15 allocatable xmm registers; 6 × 8 or 4 × 12 tiles, or a plain unroll by two, spill (24–27 GFLOP/s
 * per core where 4 × 8 ran at 34–44). The loop below still takes two depth steps per turn, with an
 * exit after each: the first step's sums are then live on the exit edge, so V8 must finish them before
 * the second step's loads — two blocks of 15 registers each, no spill, and the loop's integer overhead
 * (stack check, branch, index moves) paid once per two steps: +20–25 % over one step per turn (one
 * thread, CPU time, 2048³). There is no fused multiply-add in WebAssembly SIMD (relaxed SIMD's is not
 * deterministic across machines, and Node 20 has it only behind a flag), so each step is a multiply and
 * an add, each rounded: a core peaks at 2 multiplies + 2 adds of 4 lanes per cycle, half of AVX2 FMA's
 * rate. simdPeak measures that ceiling.
 *
 * Summation order: each C element is Σ over KC-slices of (Σ_p a·b in p order), added to C slice by
 * slice — a fixed order independent of the thread count and of which thread computed the chunk, so
 * results are reproducible run to run.
 *
 * Operands may be transposed in place (transA: A(i, p) = a[p·lda + i]; transB: B(p, j) = b[j·ldb + p]),
 * so neither XᵀX nor X·Wᵀ needs a transposed copy. `tri` = 1 computes only register tiles that touch
 * the diagonal or lie above it, 2 those that touch it or lie below (a symmetric product, SYRK: half the
 * work; the caller mirrors or reads only that triangle).
 */

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 512;
const MC: i32 = 96;

// Scratch per thread (`work`): packed A block (MC × KC), packed B slice (KC × nb), an edge tile.
export function workBytes(nb: i32): i32 {
  const nbPad = ((nb + NR - 1) / NR) * NR;
  return (MC * KC + KC * nbPad + MR * NR) * 4;
}
export function tileRows(): i32 {
  return MR;
}
export function tileCols(): i32 {
  return NR;
}
export function depthSlice(): i32 {
  return KC;
}

/** A[ic:ic+mc, pc:pc+kc] into MR-tall strips: strip s holds, for each p, MR consecutive rows (zero past mc). */
function packA(a: usize, lda: i32, transA: bool, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let s = 0; s < mc; s += MR) {
    const rows = min(MR, mc - s);
    const strip = dst + (<usize>(s * kc) << 2);
    if (transA) {
      // A(i, p) = a[p·lda + i]: each p reads `rows` consecutive values
      for (let p = 0; p < kc; p++) {
        const src = a + (<usize>((pc + p) * lda + ic + s) << 2);
        const out = strip + (<usize>(p * MR) << 2);
        if (rows == MR) {
          v128.store(out, v128.load(src));
        } else {
          for (let r = 0; r < MR; r++) store<f32>(out + (<usize>r << 2), r < rows ? load<f32>(src + (<usize>r << 2)) : 0);
        }
      }
    } else {
      for (let r = 0; r < MR; r++) {
        if (r < rows) {
          const src = a + (<usize>((ic + s + r) * lda + pc) << 2);
          for (let p = 0; p < kc; p++) store<f32>(strip + (<usize>(p * MR + r) << 2), load<f32>(src + (<usize>p << 2)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(strip + (<usize>(p * MR + r) << 2), 0);
        }
      }
    }
  }
}

/** B[pc:pc+kc, jc:jc+nc] into NR-wide strips: strip s holds, for each p, NR consecutive columns (zero past nc). */
function packB(b: usize, ldb: i32, transB: bool, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let s = 0; s < nc; s += NR) {
    const cols = min(NR, nc - s);
    const strip = dst + (<usize>(s * kc) << 2);
    if (!transB) {
      for (let p = 0; p < kc; p++) {
        const src = b + (<usize>((pc + p) * ldb + jc + s) << 2);
        const out = strip + (<usize>(p * NR) << 2);
        if (cols == NR) {
          v128.store(out, v128.load(src));
          v128.store(out + 16, v128.load(src + 16));
        } else {
          for (let c = 0; c < NR; c++) store<f32>(out + (<usize>c << 2), c < cols ? load<f32>(src + (<usize>c << 2)) : 0);
        }
      }
    } else {
      // B(p, j) = b[j·ldb + p]: each column reads consecutive p
      for (let c = 0; c < NR; c++) {
        if (c < cols) {
          const src = b + (<usize>((jc + s + c) * ldb + pc) << 2);
          for (let p = 0; p < kc; p++) store<f32>(strip + (<usize>(p * NR + c) << 2), load<f32>(src + (<usize>p << 2)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(strip + (<usize>(p * NR + c) << 2), 0);
        }
      }
    }
  }
}

@inline function put(p: usize, acc: v128, va: v128, add: bool): void {
  const v = f32x4.mul(acc, va);
  v128.store(p, add ? f32x4.add(v128.load(p), v) : v);
}

/**
 * The 4 × 8 register tile: out (row stride ldo floats) = (add ? out : 0) + α·Σ_p Ap[p]·Bp[p] over kc ≥ 1,
 * each accumulator summed in p order.
 */
function kernel(kc: i32, ap: usize, bp: usize, out: usize, ldo: i32, alpha: f32, add: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let b0: v128, b1: v128, a: v128;
  // the B row of the last step; the A strip's pointer steps itself (its splats keep offsets 0–12,
  // which V8 folds into hoisted base registers, where offsets 16–28 would cost an address add each)
  const last = bp + (<usize>(kc - 1) << 5);
  for (;;) {
    b0 = v128.load(bp, 0);
    b1 = v128.load(bp, 16);
    a = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += MR * 4;
    if (bp == last) break;
    b0 = v128.load(bp, 32);
    b1 = v128.load(bp, 48);
    a = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += MR * 4;
    if (bp + 32 == last) break;
    bp += 2 * NR * 4;
  }
  const va = f32x4.splat(alpha);
  const ld = <usize>ldo << 2;
  put(out, c00, va, add);
  put(out + 16, c01, va, add);
  out += ld;
  put(out, c10, va, add);
  put(out + 16, c11, va, add);
  out += ld;
  put(out, c20, va, add);
  put(out + 16, c21, va, add);
  out += ld;
  put(out, c30, va, add);
  put(out + 16, c31, va, add);
}

/**
 * C[i0:i1, j0:j1] = β·C + α·A·B with β ∈ {0, 1} (`accumulate`), A m × k and B k × n as described
 * above, C row-major with row stride ldc. With tri = 1, register tiles wholly below the diagonal
 * (every column index < every row index) are skipped and left as they were; with tri = 2 those wholly
 * above it. Only depths p0 ≤ p < p1
 * are summed: the caller narrows them where a triangular operand is zero (p0 a multiple of KC, so the
 * slices and hence every rounding stay those of the full sum).
 */
export function gemmChunk(
  k: i32,
  a: usize, lda: i32, transA: bool,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32,
  alpha: f32, accumulate: bool, tri: i32,
  i0: i32, i1: i32, j0: i32, j1: i32,
  p0: i32, p1: i32,
  work: usize,
): void {
  const nb = j1 - j0;
  const ap = work;
  const bp = work + (<usize>(MC * KC) << 2);
  const nbPad = ((nb + NR - 1) / NR) * NR;
  const edge = bp + (<usize>(KC * nbPad) << 2);
  p1 = min(p1, k);
  if (p1 <= p0) {
    if (!accumulate) for (let i = i0; i < i1; i++) memory.fill(c + (<usize>(i * ldc + j0) << 2), 0, <usize>nb << 2);
    return;
  }
  for (let pc = p0; pc < p1; pc += KC) {
    const kc = min(KC, p1 - pc);
    const add = accumulate || pc > p0;
    packB(b, ldb, transB, pc, kc, j0, nb, bp);
    for (let ic = i0; ic < i1; ic += MC) {
      const mc = min(MC, i1 - ic);
      // a block of rows whose every tile lies in the skipped triangle needs no packing
      if (tri == 1 && j1 - 1 < ic) continue;
      if (tri == 2 && ic + mc - 1 < j0) continue;
      packA(a, lda, transA, ic, mc, pc, kc, ap);
      for (let jr = 0; jr < nb; jr += NR) {
        const nr = min(NR, nb - jr);
        const bs = bp + (<usize>(jr * kc) << 2);
        for (let ir = 0; ir < mc; ir += MR) {
          const mr = min(MR, mc - ir);
          const gi = ic + ir;
          const gj = j0 + jr;
          if (tri == 1 && gj + nr - 1 < gi) continue;
          if (tri == 2 && gi + mr - 1 < gj) continue;
          const as = ap + (<usize>(ir * kc) << 2);
          const dst = c + (<usize>(gi * ldc + gj) << 2);
          if (mr == MR && nr == NR) {
            kernel(kc, as, bs, dst, ldc, alpha, add);
          } else {
            kernel(kc, as, bs, edge, NR, alpha, false);
            for (let r = 0; r < mr; r++) {
              for (let q = 0; q < nr; q++) {
                const o = dst + (<usize>(r * ldc + q) << 2);
                const v = load<f32>(edge + (<usize>(r * NR + q) << 2));
                store<f32>(o, add ? load<f32>(o) + v : v);
              }
            }
          }
        }
      }
    }
  }
}

/** Lower triangle of the n × n C (row stride ldc) from its upper triangle. */
export function mirrorUpper(c: usize, n: i32, ldc: i32, r0: i32, r1: i32): void {
  for (let i = r0; i < r1; i++) {
    for (let j = 0; j < i; j++) store<f32>(c + (<usize>(i * ldc + j) << 2), load<f32>(c + (<usize>(j * ldc + i) << 2)));
  }
}

/**
 * The practical ceiling of this kernel's arithmetic on this thread: `iters` turns of 6 independent
 * f32x4 multiplies and 6 independent f32x4 adds (48 FLOP per turn), registers only, operands loaded from
 * `src` (12 floats: the multiplier, the addend, the start) so V8 can neither fold them nor recompute
 * them inside the loop. Each chain is 6 deep per 3-cycle latency, so the loop is bound by the FP pipes'
 * throughput, as the GEMM tile is at best. Returns a lane of the result so nothing is dead.
 */
export function simdPeak(iters: i32, src: usize): f32 {
  const c = v128.load(src), d = v128.load(src, 16);
  let m0 = v128.load(src, 32), m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0;
  let s0 = m0, s1 = m0, s2 = m0, s3 = m0, s4 = m0, s5 = m0;
  for (let i = 0; i < iters; i++) {
    m0 = f32x4.mul(m0, c); s0 = f32x4.add(s0, d);
    m1 = f32x4.mul(m1, c); s1 = f32x4.add(s1, d);
    m2 = f32x4.mul(m2, c); s2 = f32x4.add(s2, d);
    m3 = f32x4.mul(m3, c); s3 = f32x4.add(s3, d);
    m4 = f32x4.mul(m4, c); s4 = f32x4.add(s4, d);
    m5 = f32x4.mul(m5, c); s5 = f32x4.add(s5, d);
  }
  const m = f32x4.add(f32x4.add(f32x4.add(m0, m1), f32x4.add(m2, m3)), f32x4.add(m4, m5));
  const t = f32x4.add(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)), f32x4.add(s4, s5));
  return f32x4.extract_lane(f32x4.add(m, t), 0);
}
/** FLOPs per simdPeak turn. */
export function simdPeakFlops(): i32 {
  return 48;
}
