/**
 * How numeric results render in a notebook. The display protocol itself (the symbol, the bundle type,
 * escaping, the basic tables) is src/display-protocol.ts, a dependency-free module every layer may
 * import; it is re-exported here under the names numerics, algorithms and gguf code uses. What is
 * numerics' own is how a number is written in a table (`fmt`).
 */
export { DISPLAY, escapeHtml, keyValueBundle, tableBundle, withDisplay, type Bundle } from "../display-protocol.js";

/** Formats a number for a table: 4 significant digits, exponent form for tiny or huge values. */
export function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return Number(v.toPrecision(4)).toString();
  return v.toExponential(2).replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e");
}
