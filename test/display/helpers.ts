/** Checks on exported chart files shared by the display and DSL tests. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** Width and height from a PNG's IHDR chunk, after checking the 8-byte signature. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  assert.deepEqual(Array.from(bytes.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(String.fromCharCode(...bytes.subarray(12, 16)), "IHDR");
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

/** Number of plotly traces drawn in an SVG (each is a <g class="trace …">). */
export function svgTraces(svg: string): number {
  return (svg.match(/<g class="trace /g) ?? []).length;
}

/** The axis titles' text in a plotly SVG. */
export function svgAxisTitles(svg: string): { x: string; y: string } {
  const found: Record<string, string> = {};
  for (const m of svg.matchAll(/<text class="([xy])title"[^>]*>([^<]*)/g)) found[m[1]!] = m[2]!.replace(/&amp;/g, "&");
  return { x: found.x ?? "", y: found.y ?? "" };
}

/** The first line of plotly.js's own banner (`plotly.js (cartesian - minified) v3.7.0`). */
export const PLOTLY_BANNER = /\* plotly\.js[^\n]* v3\./;

/** A standalone page: plotly.js inline (≥ 1 MB of script) and no script loaded over http(s). */
export function assertOfflineHtml(path: string): void {
  const html = readFileSync(path, "utf8");
  assert.ok(html.length > 1_000_000, "plotly.js is inlined");
  // assert.ok, not match: a failing match would print the whole page
  assert.ok(PLOTLY_BANNER.test(html), "plotly.js's banner is in the page");
  assert.ok(!/<script[^>]+src\s*=\s*["']?https?:/i.test(html), "no script is loaded over the network");
  assert.ok(/Plotly\.newPlot\("chart"/.test(html), "the page draws the chart");
}
