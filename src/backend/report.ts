/**
 * The names of the tfjs backends and the report of which one runs: types with no tfjs in them, so the
 * DSL's declarations (which every notebook cell is checked against) do not pull in tfjs-core's ~350
 * declaration files.
 */
export type BackendName = "wasm" | "cpu" | "tensorflow" | "webgpu";
export const BACKENDS: readonly BackendName[] = ["wasm", "cpu", "tensorflow", "webgpu"];

/** Which tfjs backend runs, how it was chosen, and why each other candidate was or was not picked. */
export interface BackendReport {
  /** The backend tfjs computes on now. */
  active: string;
  /** How it was chosen: "option", "QUANTLAB_BACKEND" or "default". */
  chosenBy: string;
  /** Per candidate: "active", "available" or why it cannot run here. */
  candidates: Record<BackendName, string>;
  /** wasm only: SIMD and thread facts as tfjs detected them. */
  wasm?: { simd: boolean; threads: number; note: string; poolWorkers: number; gemm: string };
}
