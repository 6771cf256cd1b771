/**
 * A chart: a plotly figure that shows itself in Jupyter and exports to files.
 *
 * Display modes (`setChartMode`, the kernel's `%charts static|live|both`):
 * - "both" (default): the plotly JSON (JupyterLab's plotly renderer), live HTML whose placeholder is the
 *   static SVG, and `image/svg+xml`. nbconvert's HTML and Markdown exporters pick `text/html`, which
 *   carries the image, so the picture survives export, untrusted notebooks and viewers without JavaScript.
 * - "static": only `image/svg+xml` (small notebooks, plain Markdown images after nbconvert).
 * - "live": plotly JSON and live HTML, no browser needed in the kernel.
 * The static SVG is rendered synchronously in the display call (see browser.ts), ≈ 3 s for the first
 * chart of a session (browser launch) and tens of milliseconds after.
 */
import { extname } from "node:path";
import { check } from "../errors.js";
import { browserAvailable, noBrowserError, renderFigureSync, type ImageFormat } from "./browser.js";
import type { Figure } from "./plotly-figure.js";
import { DISPLAY, type MimeBundle } from "./mime.js";
import { liveHtml, PLOT_CONFIG, standaloneHtml } from "./plotly.js";
import { writeFileAtomicSync, type Written } from "./write.js";

/** How charts display: "static" (SVG only), "live" (plotly) or "both". */
export type ChartMode = "static" | "live" | "both";

let current: ChartMode = (["static", "live", "both"] as const).find((m) => m === process.env.QUANTLAB_CHARTS) ?? "both";

/**
 * Chooses how charts display in the notebook: "static" (SVG only), "live" (plotly) or "both" (default).
 * @example
 * ```ts
 * setChartMode("live")   // interactive only, no browser needed in the kernel
 * setChartMode("both")
 * setChartMode()         // reports the mode: "charts: both (…)"
 * ```
 */
export function setChartMode(mode?: ChartMode): { mode: ChartMode; [DISPLAY](): MimeBundle } {
  // `%charts` with no argument arrives as "" or undefined: report the mode instead of changing it
  const m = ((mode ?? "") as string).trim() || current;
  check(m === "static" || m === "live" || m === "both", "BAD_ARGUMENT",
    `chart mode must be "static", "live" or "both", got ${JSON.stringify(m)}`);
  current = m as ChartMode;
  const note = { static: "SVG images only", live: "interactive plotly, no static image", both: "interactive plotly with a static SVG for exports" }[m];
  const chosen = current;
  return { mode: chosen, [DISPLAY]: () => ({ "text/plain": `charts: ${chosen} (${note})` }) };
}

/**
 * The current chart display mode.
 * @example
 * ```ts
 * chartMode()   // "both"
 * ```
 */
export function chartMode(): ChartMode {
  return current;
}

/** Size and pixel density of an exported chart image. */
export interface ExportOptions {
  /** Pixels (default: the figure's width/height, 720 × 440). */
  width?: number;
  height?: number;
  /** PNG pixel density (default 2: sharp on high-DPI screens and in print). */
  scale?: number;
}

const EXPORTS = [".svg", ".png", ".pdf", ".html", ".json"];

/**
 * A chart: a plotly figure that shows in the notebook and exports to SVG, PNG, PDF or standalone HTML.
 * @example
 * ```ts
 * const c = lineChart({ g: [32, 64, 128], mse: [2e-5, 3e-5, 4e-5] }, { x: "g", y: "mse" });
 * c.series                        // 1
 * c.export("notes/mse.html")      // opens offline; .svg/.png/.pdf need Chromium
 * ```
 */
export class Chart {
  private svgCache: string | null = null;
  private renderError: string | null = null;

  constructor(readonly figure: Figure, readonly title: string) {}

  /** Number of traces (series) in the figure. */
  get series(): number {
    return this.figure.data.length;
  }

  /** The static SVG, rendered once (blocks; throws when no browser is available). */
  svg(): string {
    if (this.svgCache === null) this.svgCache = renderFigureSync(this.figure, { format: "svg" }) as string;
    return this.svgCache;
  }

  /** PNG bytes (blocks). */
  png(scale = 2): Uint8Array {
    return renderFigureSync(this.figure, { format: "png", scale }, this.svg()) as Uint8Array;
  }

  private staticSvg(): string | null {
    if (this.renderError !== null) return null;
    if (!browserAvailable()) {
      this.renderError = "no Chromium found (set QUANTLAB_CHROMIUM)";
      return null;
    }
    try {
      return this.svg();
    } catch (e) {
      this.renderError = (e as Error).message;
      return null;
    }
  }

  toString(): string {
    const names = this.figure.data.map((t) => t.name).filter(Boolean);
    return `chart "${this.title}": ${this.series} series${names.length ? ` (${names.join(", ")})` : ""}`;
  }

  [DISPLAY](): MimeBundle {
    const plain = this.toString();
    const plotly = { data: this.figure.data, layout: this.figure.layout, config: PLOT_CONFIG };
    const mode = current;
    const image = mode === "live" ? null : this.staticSvg();
    const note = mode !== "live" && image === null ? `\n(static image unavailable: ${this.renderError}; showing the live chart)` : "";
    const bundle: MimeBundle = { "text/plain": plain + note };
    if (mode === "static" && image !== null) {
      bundle["image/svg+xml"] = image;
      return bundle;
    }
    bundle["application/vnd.plotly.v1+json"] = plotly;
    const fallback = image === null ? null : `<img alt="${escapeAttr(this.title)}" src="data:image/svg+xml;base64,${Buffer.from(image, "utf8").toString("base64")}">`;
    bundle["text/html"] = liveHtml(this.figure, fallback);
    if (image !== null) bundle["image/svg+xml"] = image;
    return bundle;
  }

  /**
   * Writes the chart for your notes: .svg, .png (scale, default 2), .pdf, .html (standalone, plotly.js
   * inlined, opens offline) or .json (the plotly figure). Synchronous; the file is replaced atomically.
   */
  export(path: string, o: ExportOptions = {}): Written {
    const ext = extname(path).toLowerCase();
    check(EXPORTS.includes(ext), "BAD_ARGUMENT", `cannot export a chart as '${ext || path}': name the file with one of ${EXPORTS.join(", ")}`);
    if (ext === ".html") return writeFileAtomicSync(path, standaloneHtml(this.figure, this.title));
    if (ext === ".json") return writeFileAtomicSync(path, JSON.stringify({ data: this.figure.data, layout: this.figure.layout }, null, 1));
    if (!browserAvailable()) throw noBrowserError(`exporting ${path}`);
    const format = ext.slice(1) as ImageFormat;
    const scale = format === "png" ? o.scale ?? 2 : 1;
    check(scale > 0 && scale <= 10, "BAD_ARGUMENT", `scale must be in (0, 10], got ${scale}`);
    const defaultSize = o.width === undefined && o.height === undefined;
    let data: string | Uint8Array;
    if (format === "svg" && defaultSize) data = this.svg();
    else data = renderFigureSync(this.figure, { format, scale, width: o.width, height: o.height }, defaultSize ? this.svg() : undefined);
    return writeFileAtomicSync(path, data);
  }

  /** A copy with layout changes merged in (title, axis ranges …): `chart.with({ title: { text: "…" } })`. */
  with(layout: Record<string, unknown>): Chart {
    return new Chart({ data: this.figure.data, layout: { ...this.figure.layout, ...layout } }, this.title);
  }
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

export function isChart(v: unknown): v is Chart {
  return v instanceof Chart;
}

