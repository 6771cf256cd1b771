/**
 * plotly.js from the local npm package, as HTML: a standalone page with the library inlined (opens with
 * no network), and the notebook snippet that sends the library once per kernel session.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { escapeHtml } from "./table.js";
import type { Figure } from "./plotly-figure.js";

const require = createRequire(import.meta.url);
let source: string | null = null;

/**
 * plotly.js's cartesian bundle (scatter, bar, histogram, heatmap, box, contour, pie…: every trace a
 * QuantLab chart makes) at 1.4 MB, not the full 4.8 MB one: the first chart of a session carries it,
 * and the chart browser loads it on every start.
 */
const PLOTLY_PACKAGE = "plotly.js-cartesian-dist-min";

export function plotlyPath(): string {
  return require.resolve(`${PLOTLY_PACKAGE}/plotly-cartesian.min.js`);
}

/** The installed plotly.js version (it names the library in caches). */
export function plotlyVersion(): string {
  return (require(`${PLOTLY_PACKAGE}/package.json`) as { version: string }).version;
}

/**
 * The library, wrapped so it always lands on `window.Plotly`: `module`/`exports` are shadowed so a page
 * that has them (a CommonJS shim) cannot capture it, and `</script` is split so it cannot end the tag.
 */
export function plotlySource(): string {
  source ??= `(function(module, exports, define){\n${readFileSync(plotlyPath(), "utf8").replace(/<\/script/gi, "<\\/script")}\n}).call(window);`;
  return source;
}

/** JSON for a <script> body: `<` escaped so no string in the figure can close the tag. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export const PLOT_CONFIG = { displaylogo: false, responsive: false, toImageButtonOptions: { format: "svg" } };

/** A complete HTML page drawing the figure with plotly.js inlined: no network needed to open it. */
export function standaloneHtml(fig: Figure, title: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<script>${plotlySource()}</script>
</head><body style="margin:0;background:white">
<div id="chart"></div>
<script>Plotly.newPlot("chart", ${scriptJson(fig.data)}, ${scriptJson(fig.layout)}, ${scriptJson(PLOT_CONFIG)});</script>
</body></html>
`;
}

let sentThisSession = false;
let counter = 0;

/** Forget that plotly.js was sent (tests; a kernel restart is a new process anyway). */
export function resetPlotlySession(): void {
  sentThisSession = false;
}

/**
 * The notebook's live HTML. The static image (when given) is shown first and stays if scripts do not run
 * (untrusted notebook, nbconvert, GitHub); once `window.Plotly` exists it is replaced by the live plot.
 * plotly.js itself travels in the first chart of the session only; later charts wait for it (up to 10 s),
 * so re-running cells in any order still draws them.
 */
export function liveHtml(fig: Figure, fallback: string | null, includeLibrary = !sentThisSession): string {
  const id = `quantlab-chart-${Date.now().toString(36)}-${(counter++).toString(36)}`;
  const lib = includeLibrary ? `<script>if(!window.Plotly){${plotlySource()}}</script>\n` : "";
  if (includeLibrary) sentThisSession = true;
  const still = fallback ?? `<p style="color:#666">(live chart: needs JavaScript; use setChartMode("both") for a static image)</p>`;
  return `${lib}<div id="${id}" class="quantlab-chart">${still}</div>
<script>(function(){var n=0;function draw(){var el=document.getElementById(${JSON.stringify(id)});if(!el)return;
if(!window.Plotly){if(n++<100)setTimeout(draw,100);return;}
el.innerHTML="";window.Plotly.newPlot(el,${scriptJson(fig.data)},${scriptJson(fig.layout)},${scriptJson(PLOT_CONFIG)});}draw();})();</script>`;
}
