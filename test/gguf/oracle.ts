/**
 * Test-only binding to llama.cpp's own quantizers: `libggml-base.so` from the devDependency
 * `@node-llama-cpp/linux-x64`, called through `koffi`. The product never imports this file.
 *
 * `loadOracle()` returns null (with `oracleMissing` saying why) only when the package or koffi is absent;
 * tests then skip — except under CI=true, where a missing oracle must fail the run (see `oracleOrSkip`).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DECODABLE_TYPES, decodableType, rowBytes, type DecodableTypeName } from "../../src/gguf/types.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The shipped library, or another llama.cpp build named by QUANTLAB_GGML_BASE (a path to libggml-base.so). */
export const ORACLE_PATH = process.env.QUANTLAB_GGML_BASE ??
  join(repoRoot, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so");

export interface Oracle {
  /**
   * ggml_quantize_chunk(type, src, dst, 0, nrows, nPerRow, imatrix ?? NULL), single-threaded; also for the
   * types QuantLab only decodes (ggml_quantize_init builds their lattice tables). ggml aborts the process
   * when a type that requires an importance matrix (IQ2_XXS, IQ2_XS, IQ1_S) gets none: this throws first.
   */
  quantize(type: DecodableTypeName, src: Float32Array, nPerRow: number, imatrix?: Float32Array): Uint8Array;
  /** dequantize_row_<type> (or the fp16/bf16 row converters) over n values. */
  dequantize(type: DecodableTypeName, bytes: Uint8Array, n: number): Float32Array;
}

export let oracleMissing = "";

type Fn = (...args: unknown[]) => unknown;
let cached: Oracle | null | undefined;

export function loadOracle(): Oracle | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (!existsSync(ORACLE_PATH)) {
    oracleMissing = `llama.cpp oracle not installed: ${ORACLE_PATH} is missing (devDependency @node-llama-cpp/linux-x64@3.21.1)`;
    return null;
  }
  let koffi: { load(path: string): { func(sig: string): Fn } };
  try {
    koffi = createRequire(import.meta.url)("koffi");
  } catch {
    oracleMissing = "koffi is not installed (devDependency koffi@3.3.4), needed to call llama.cpp's libggml-base.so";
    return null;
  }
  const lib = koffi.load(ORACLE_PATH);
  const init = lib.func("void ggml_quantize_init(int type)");
  const chunk = lib.func(
    "size_t ggml_quantize_chunk(int type, const float *src, _Out_ void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)");
  const requiresImatrix = lib.func("bool ggml_quantize_requires_imatrix(int type)");
  const deq = new Map<DecodableTypeName, Fn>();
  // every block type in the traits table has its dequantize_row_<type> in the library
  for (const t of DECODABLE_TYPES.filter((t) => t.blockSize > 1).map((t) => t.name)) {
    const c = t.toLowerCase().replace(/_k$/, "_K");
    deq.set(t, lib.func(`void dequantize_row_${c}(const void *x, _Out_ float *y, int64_t k)`));
  }
  deq.set("F16", lib.func("void ggml_fp16_to_fp32_row(const void *x, _Out_ float *y, int64_t k)"));
  deq.set("BF16", lib.func("void ggml_bf16_to_fp32_row(const void *x, _Out_ float *y, int64_t k)"));

  cached = {
    quantize(type, src, nPerRow, imatrix) {
      const t = decodableType(type)!;
      if (!imatrix && requiresImatrix(t.id)) throw new Error(`llama.cpp's ${type} quantizer requires an importance matrix (it aborts without one)`);
      const nrows = src.length / nPerRow;
      init(t.id);
      const dst = new Uint8Array(nrows * rowBytes(t, nPerRow));
      const wrote = chunk(t.id, src, dst, 0, nrows, nPerRow, imatrix ?? null) as number | bigint;
      if (Number(wrote) !== dst.length) throw new Error(`oracle wrote ${wrote} bytes, expected ${dst.length}`);
      return dst;
    },
    dequantize(type, bytes, n) {
      const out = new Float32Array(n);
      if (type === "F32") {
        out.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4)));
        return out;
      }
      const f = deq.get(type);
      if (!f) throw new Error(`no oracle dequantizer for ${type}`);
      f(bytes, out, n);
      return out;
    },
  };
  return cached;
}

/**
 * The oracle, or a skip reason for node:test. Under CI=true a missing oracle throws instead: CI must
 * prove bit-exactness, not quietly skip it.
 */
export function oracleOrSkip(): { oracle: Oracle | null; skip: string | false } {
  const oracle = loadOracle();
  if (oracle) return { oracle, skip: false };
  if (process.env.CI === "true") throw new Error(`${oracleMissing} — CI=true requires the oracle`);
  return { oracle: null, skip: oracleMissing };
}
