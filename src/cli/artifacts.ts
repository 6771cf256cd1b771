/**
 * What `npm start` hands a learner besides the executed notebook: every chart of the notebook as SVG and
 * PNG (standalone HTML when no browser is available) and every table as CSV, taken from the cells'
 * outputs, so the files match exactly what the notebook showed.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { browserAvailable } from "../display/browser.js";
import { Chart } from "../display/chart.js";
import type { Figure } from "../display/figure.js";
import { writeFileAtomicSync } from "../display/write.js";
import type { Notebook } from "../runner/notebook.js";

export interface Artifacts {
  charts: string[];
  tables: string[];
  /** Why images are missing (no browser), if they are. */
  note?: string;
}

function slug(s: string, fallback: string): string {
  const x = s.toLowerCase().replace(/<[^>]*>/g, "").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  return x || fallback;
}

const text = (v: unknown) => (Array.isArray(v) ? v.join("") : typeof v === "string" ? v : "");

export function exportArtifacts(nb: Notebook, outDir: string): Artifacts {
  const chartsDir = join(outDir, "charts");
  const tablesDir = join(outDir, "tables");
  const result: Artifacts = { charts: [], tables: [] };
  const images = browserAvailable();
  if (!images) result.note = "no Chromium found (install Debian's chromium or set QUANTLAB_CHROMIUM): charts exported as standalone HTML";
  let charts = 0;
  let tables = 0;
  nb.cells.forEach((cell, index) => {
    for (const out of cell.outputs ?? []) {
      const data = (out as { data?: Record<string, unknown> }).data;
      if (!data) continue;
      const plotly = data["application/vnd.plotly.v1+json"] as Figure | undefined;
      if (plotly) {
        const title = text((plotly.layout?.title as { text?: string } | undefined)?.text ?? "");
        const base = `${String(++charts).padStart(2, "0")}-${slug(title, `cell-${index}`)}`;
        mkdirSync(chartsDir, { recursive: true });
        const chart = new Chart({ data: plotly.data, layout: plotly.layout }, title || base);
        for (const ext of images ? [".svg", ".png"] : [".html"]) {
          result.charts.push(chart.export(join(chartsDir, base + ext)).path);
        }
      }
      const csv = data["text/csv"];
      if (typeof csv === "string" || Array.isArray(csv)) {
        const title = text(data["text/plain"]).split("\n")[0] ?? "";
        const base = `${String(++tables).padStart(2, "0")}-${slug(title, `cell-${index}`)}`;
        mkdirSync(tablesDir, { recursive: true });
        result.tables.push(writeFileAtomicSync(join(tablesDir, `${base}.csv`), text(csv)).path);
      }
    }
  });
  return result;
}
