/**
 * The notebook's names for the calibration-based methods (GPTQ, AWQ) and the tfjs backend they run on.
 */
import type { Matrix } from "../numerics/matrix.js";
import { gptq as gptqCore, type GptqCalibration, type GptqOptions, type GptqResult } from "../algorithms/gptq.js";
import { awq as awqCore, awqBlock as awqBlockCore, type AwqBlockResult, type AwqOptions, type AwqResult } from "../algorithms/awq.js";
import { hessian as hessianCore, outputError as outputErrorCore } from "../algorithms/hessian.js";
import { backendReport as report, useBackend } from "../backend/index.js";
import type { BackendReport } from "../backend/report.js";

export type { GptqOptions, GptqResult, GptqReport, GptqCalibration } from "../algorithms/gptq.js";
export type { AwqOptions, AwqResult, AwqReport, AwqBlockResult } from "../algorithms/awq.js";
export type { BackendReport } from "../backend/report.js";

/**
 * GPTQ-quantizes W (out × in) with calibration activations X (tokens × in) or a prepared Hessian `{ H }`.
 * @example
 * ```ts
 * const W = matrix(4, 8, Array.from({ length: 32 }, (_, i) => Math.sin(i) / 10));
 * const X = matrix(16, 8, Array.from({ length: 128 }, (_, i) => Math.cos(i * 1.7)));
 * const g = await gptq(W, X, { bits: 4, groupSize: 4, actOrder: true });
 * g.report.outputError
 * ```
 */
export function gptq(W: Matrix, X: GptqCalibration, opts?: GptqOptions): Promise<GptqResult> {
  return gptqCore(W, X, opts);
}

/**
 * AWQ-quantizes one linear layer W (out × in) with calibration inputs X (tokens × in); `inputScales` fold into the previous op.
 * @example
 * ```ts
 * const W = matrix(4, 8, Array.from({ length: 32 }, (_, i) => Math.sin(i) / 10));
 * const X = matrix(16, 8, Array.from({ length: 128 }, (_, i) => Math.cos(i * 1.7) * (i % 8 === 0 ? 20 : 1)));
 * const a = await awq(W, X, { bits: 4, groupSize: 4 });
 * a.report.ratio
 * ```
 */
export function awq(W: Matrix, X: Matrix, opts?: AwqOptions): Promise<AwqResult> {
  return awqCore(W, X, opts);
}

/**
 * AWQ for several linears that share one input (q/k/v, gate/up): one set of input scales for all.
 * @example
 * ```ts
 * const X = matrix(16, 8, Array.from({ length: 128 }, (_, i) => Math.cos(i * 1.7)));
 * const Wq = matrix(4, 8, Array.from({ length: 32 }, (_, i) => Math.sin(i) / 10));
 * const Wk = matrix(2, 8, Array.from({ length: 16 }, (_, i) => Math.cos(i) / 10));
 * const b = await awqBlock([Wq, Wk], X, { bits: 4, groupSize: 4, clip: false });
 * b.inputScales
 * ```
 */
export function awqBlock(Ws: Matrix[], X: Matrix, opts?: AwqOptions): Promise<AwqBlockResult> {
  return awqBlockCore(Ws, X, opts);
}

/**
 * GPTQ's Hessian 2/N·XᵀX of calibration inputs X (tokens × in), on the tfjs backend.
 * @example
 * ```ts
 * const H = await hessian(matrix(2, 2, [1, 0, 0, 1])); // [1, 0, 0, 1]
 * ```
 */
export function hessian(X: Matrix): Promise<Float32Array> {
  return hessianCore(X);
}

/**
 * Relative output error ‖X·Wᵀ − X·Qᵀ‖² / ‖X·Wᵀ‖² of a quantized weight Q, on the tfjs backend.
 * @example
 * ```ts
 * const W = matrix(2, 4, [0.1, -0.3, 0.7, -1, 0.5, 0.2, -0.1, 0.05]);
 * const X = matrix(3, 4, [1, 0, 2, 1, 0, 1, 1, 0, 2, 2, 0, 1]);
 * await outputError(X, W, rtn(W, { bits: 4, groupSize: "channel" }).dequantized)
 * ```
 */
export function outputError(X: Matrix, W: Matrix, Q: Float32Array): Promise<number> {
  return outputErrorCore(X, W, Q);
}

/**
 * Which tfjs backend computes GPTQ and AWQ, and why the others were not picked.
 * @example
 * ```ts
 * (await backendReport()).active   // "wasm" by default
 * ```
 */
export async function backendReport(): Promise<BackendReport> {
  if (!(await import("../backend/index.js")).tf.getBackend()) await useBackend();
  return report();
}

/**
 * Switches the tfjs backend ("wasm", "cpu", "webgpu", "tensorflow"); the kernel's `%backend NAME` calls this.
 * @example
 * ```ts
 * await setBackend("cpu");
 * await setBackend("wasm");
 * ```
 */
export function setBackend(name: string): Promise<BackendReport> {
  return useBackend(name);
}
