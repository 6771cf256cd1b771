/**
 * Shows library progress (src/progress.ts) as one output line per cell, updated in place: the first
 * report of a job that has run for `afterMs` becomes a display_data with a display_id, later reports
 * update_display_data at most every `everyMs`, and the end of the outermost job writes the final line
 * ("… done in 12 s"). Short jobs show nothing. The line carries `metadata.quantlab.progress` so a
 * headless runner can print it as a plain line instead of storing it.
 */
import { randomUUID } from "node:crypto";
import { progressLine, type ProgressEvent, type ProgressSink } from "../progress.js";

export type Publish = (type: "display_data" | "update_display_data", content: Record<string, unknown>) => void;

export class ProgressDisplay {
  private id: string | null = null;
  private lastSent = 0;

  constructor(
    private readonly publish: Publish,
    private readonly afterMs = Number(process.env.QUANTLAB_PROGRESS_AFTER_MS ?? 1000),
    private readonly everyMs = 250,
  ) {}

  /** A new cell: the next job gets a new line. */
  reset(): void {
    this.id = null;
  }

  readonly sink: ProgressSink = (e: ProgressEvent) => {
    const outer = e.jobs[0];
    if (!outer) return;
    if (this.id === null) {
      if (e.finished || e.now - outer.startedAt < this.afterMs) return;
      this.id = randomUUID();
      this.send("display_data", e);
    } else if (e.finished) {
      this.send("update_display_data", e);
      this.id = null;
    } else if (e.now - this.lastSent >= this.everyMs) {
      this.send("update_display_data", e);
    }
  };

  private send(type: "display_data" | "update_display_data", e: ProgressEvent): void {
    this.lastSent = e.now;
    const text = progressLine(e);
    const html = `<div class="quantlab-progress" style="font-family:monospace">${text.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</div>`;
    this.publish(type, { data: { "text/plain": text, "text/html": html }, metadata: { quantlab: { progress: true, finished: e.finished } }, transient: { display_id: this.id } });
  }
}
