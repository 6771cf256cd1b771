/**
 * The display protocol every QuantLab value speaks (the convention of Deno's Jupyter kernel): an object
 * with a method under `Symbol.for("Jupyter.display")` returns a mime bundle, and the kernel shows the
 * last expression of a cell through it. `text/plain` is always present, so a terminal or `nbconvert
 * --to markdown` still has something to show.
 */
export const DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

export type MimeBundle = { "text/plain": string } & Record<string, unknown>;

export interface Displayable {
  [DISPLAY](): MimeBundle;
}

export function isDisplayable(v: unknown): v is Displayable {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as never)[DISPLAY] === "function";
}
