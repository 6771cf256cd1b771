/**
 * The interrupt flag that long library loops poll between steps (columns, blocks, layers, grid points,
 * windows). The kernel arms it; the library only reads it, so nothing below the kernel imports the
 * kernel. It lives in a SharedArrayBuffer so the kernel's control thread can raise it while the main
 * thread is busy in a synchronous loop (a SIGINT listener only runs when that loop yields), and on
 * globalThis so every copy of this module (dist/ and sources loaded side by side) sees one flag.
 */
import { QuantLabError } from "./errors.js";

const KEY = Symbol.for("quantlab.interrupt");

function flag(): Int32Array {
  const g = globalThis as Record<symbol, Int32Array | undefined>;
  return (g[KEY] ??= new Int32Array(new SharedArrayBuffer(4)));
}

/** The shared memory behind the flag, for a thread that must raise it (the kernel's control thread). */
export function interruptBuffer(): SharedArrayBuffer {
  return flag().buffer as SharedArrayBuffer;
}

/** Raises the flag: the next `throwIfInterrupted()` throws. */
export function requestInterrupt(): void {
  Atomics.store(flag(), 0, 1);
}

/** Lowers the flag (the kernel does this before each cell). */
export function clearInterrupt(): void {
  Atomics.store(flag(), 0, 0);
}

export function interruptRequested(): boolean {
  return Atomics.load(flag(), 0) !== 0;
}

/** The error an interrupted computation ends with; the kernel shows it as KeyboardInterrupt. */
export function interruptedError(where?: string): QuantLabError {
  return new QuantLabError(
    "INTERRUPTED",
    `interrupted (KeyboardInterrupt)${where ? ` during ${where}` : ""}: the computation stopped between steps and returned nothing; variables from earlier cells are unchanged`,
  );
}

/** Throws the INTERRUPTED error when an interrupt was requested; a flag read otherwise. */
export function throwIfInterrupted(where?: string): void {
  if (Atomics.load(flag(), 0) !== 0) throw interruptedError(where);
}
