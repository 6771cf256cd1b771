/**
 * The one error type of QuantLab. Every bad input gets a stable `code` (for tests and programs) and a
 * message that names the input and the fix, e.g.
 * `group size 100 does not divide the row length 4096: use a divisor of 4096 (32, 64, 128 …) or pad: true`.
 */
export type ErrorCode =
  | "BAD_VALUE" // NaN/Inf or otherwise invalid numbers in the data
  | "BAD_ARGUMENT" // an option out of range or of the wrong kind
  | "BAD_SHAPE" // shapes that do not fit together
  | "BAD_FILE" // a file that is truncated, corrupt or lies about its sizes
  | "UNSUPPORTED" // a valid request that this build cannot do (missing backend, browser…)
  | "NOT_FOUND" // a named tensor, model preset, file… that does not exist
  | "NUMERICAL" // an algorithm that failed numerically (not positive definite…)
  | "PROTOCOL" // a Jupyter message that is malformed or unsigned
  | "INTERRUPTED";

/**
 * The error every QuantLab function throws on bad input: a stable `code` (e.g. "BAD_ARGUMENT",
 * "BAD_SHAPE") and a message that names the input and the fix.
 * @example
 * ```ts
 * try {
 *   ruler({ bits: 9 });
 * } catch (e) {
 *   if (e instanceof QuantLabError) console.log(e.code, e.message);   // BAD_ARGUMENT bits must be an integer from 2 to 8 …
 * }
 * ```
 */
export class QuantLabError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QuantLabError";
    this.code = code;
  }
}

/** Throws a QuantLabError with `code` and `message` unless `condition` holds. */
export function check(condition: unknown, code: ErrorCode, message: string | (() => string)): asserts condition {
  if (!condition) throw new QuantLabError(code, typeof message === "function" ? message() : message);
}
