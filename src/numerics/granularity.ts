/**
 * Granularity: which weights share one scale (and zero point). A small closed set, as in torchao:
 * the whole tensor, one output channel (a row of W), a group of n consecutive weights along a row, or a
 * block of r × c. Groups run along rows because a row is one output's dot product: GPTQ, AWQ and
 * llama.cpp all group that way.
 */
import { check, QuantLabError } from "../errors.js";

/**
 * Which weights share one scale: the whole tensor, one output channel (a row of W), a group of `size`
 * consecutive weights along a row, or a `rows × cols` block. Finer granularity means smaller error but
 * more scales to store. Make one with perTensor(), perChannel(), perGroup(n) or perBlock(r, c).
 */
export type Granularity =
  | { kind: "tensor" }
  | { kind: "channel" }
  | { kind: "group"; size: number }
  | { kind: "block"; rows: number; cols: number };

/** The shorthand every option named `groupSize` accepts: a group length, "channel" or "tensor". */
export type GroupSize = number | "channel" | "tensor";

/** One scale for the whole tensor. @example perTensor() */
export const perTensor = (): Granularity => ({ kind: "tensor" });
/** One scale per output channel (row of W). @example perChannel() */
export const perChannel = (): Granularity => ({ kind: "channel" });
/** One scale per `size` consecutive weights of a row. @example perGroup(128) */
export const perGroup = (size: number): Granularity => ({ kind: "group", size });
/** One scale per `rows × cols` tile. @example perBlock(64, 64) */
export const perBlock = (rows: number, cols: number): Granularity => ({ kind: "block", rows, cols });

/** Normalises a Granularity or the `groupSize` shorthand. */
export function granularity(g: Granularity | GroupSize | undefined, fallback: Granularity = { kind: "tensor" }): Granularity {
  if (g === undefined) return fallback;
  if (g === "tensor") return { kind: "tensor" };
  if (g === "channel") return { kind: "channel" };
  if (typeof g === "number") {
    check(Number.isInteger(g) && g > 0, "BAD_ARGUMENT", `group size must be a positive integer, "channel" or "tensor", got ${g}`);
    return { kind: "group", size: g };
  }
  if (typeof g === "object" && g && "kind" in g) return g;
  throw new QuantLabError("BAD_ARGUMENT", `unknown granularity ${JSON.stringify(g)}: use a group size, "channel", "tensor" or perBlock(r, c)`);
}

export function describeGranularity(g: Granularity): string {
  switch (g.kind) {
    case "tensor": return "per tensor";
    case "channel": return "per channel";
    case "group": return `per group of ${g.size}`;
    case "block": return `per block of ${g.rows}×${g.cols}`;
  }
}

/**
 * The groups of a rows × cols matrix as runs of consecutive flat indices: group g is the runs
 * `runs[starts[g]] … runs[starts[g+1]-1]`, each run a pair (offset, length) in `runs`.
 */
export interface GroupLayout {
  count: number;
  /** Groups per row for row-wise granularities (tensor: 0, block: 0). */
  perRow: number;
  /** Nominal weights per group (the last group of a padded row may be shorter). */
  size: number;
  runStart: Int32Array;
  runs: Int32Array;
}

export function groupLayout(rows: number, cols: number, g: Granularity, pad = false): GroupLayout {
  if (g.kind === "tensor") {
    return { count: 1, perRow: 0, size: rows * cols, runStart: Int32Array.of(0, 1), runs: Int32Array.of(0, rows * cols) };
  }
  if (g.kind === "channel" || g.kind === "group") {
    const size = g.kind === "channel" ? cols : g.size;
    check(Number.isInteger(size) && size > 0, "BAD_ARGUMENT", `group size must be a positive integer, got ${size}`);
    if (cols % size !== 0 && !pad) {
      const divisors = [32, 64, 128, 256].filter((d) => cols % d === 0);
      throw new QuantLabError("BAD_SHAPE",
        `group size ${size} does not divide the row length ${cols}: use a divisor of ${cols}` +
        (divisors.length ? ` (${divisors.join(", ")} …)` : "") + ", or pad: true for a shorter last group");
    }
    const perRow = Math.ceil(cols / size);
    const count = rows * perRow;
    const runStart = new Int32Array(count + 1);
    const runs = new Int32Array(count * 2);
    for (let r = 0, k = 0; r < rows; r++) {
      for (let j = 0; j < perRow; j++, k++) {
        runStart[k + 1] = k + 1;
        runs[2 * k] = r * cols + j * size;
        runs[2 * k + 1] = Math.min(size, cols - j * size);
      }
    }
    return { count, perRow, size, runStart, runs };
  }
  const { rows: R, cols: C } = g;
  check(Number.isInteger(R) && R > 0 && Number.isInteger(C) && C > 0, "BAD_ARGUMENT", `block shape must be positive integers, got ${R}×${C}`);
  if ((rows % R !== 0 || cols % C !== 0) && !pad) {
    throw new QuantLabError("BAD_SHAPE", `block ${R}×${C} does not tile the ${rows}×${cols} matrix: choose divisors of both sides, or pad: true`);
  }
  const br = Math.ceil(rows / R);
  const bc = Math.ceil(cols / C);
  const count = br * bc;
  const runStart = new Int32Array(count + 1);
  const runList: number[] = [];
  for (let i = 0, k = 0; i < br; i++) {
    for (let j = 0; j < bc; j++, k++) {
      for (let r = i * R; r < Math.min(rows, (i + 1) * R); r++) runList.push(r * cols + j * C, Math.min(C, cols - j * C));
      runStart[k + 1] = runList.length / 2;
    }
  }
  return { count, perRow: 0, size: R * C, runStart, runs: Int32Array.from(runList) };
}
