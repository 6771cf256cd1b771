/**
 * Progress of long library jobs: the pure line format and nesting (src/progress.ts), and through a
 * real kernel a gptq cell's line shown with a display_id, updated in place and finalised.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KernelClient } from "../../src/runner/client.js";
import { KernelClient as Client } from "../../src/runner/client.js";
import { progress, progressLine, resetProgress, setProgressSink, type ProgressEvent } from "../../src/progress.js";
import { clearInterrupt, requestInterrupt, throwIfInterrupted } from "../../src/interrupt.js";
import { kernelEnv, outputsOf } from "./helpers.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runNotebook } from "../../src/runner/notebook.js";

describe("progress reports", () => {
  it("nest, refine the ETA by the inner job, and finish with the outer job", () => {
    const seen: ProgressEvent[] = [];
    const old = setProgressSink((e) => seen.push(e));
    try {
      resetProgress();
      progress("study", 0, 4);
      progress("gptq", 0, 2);
      progress("gptq", 1, 2);
      progress("gptq", 2, 2);
      progress("study", 1, 4);
      progress("study", 4, 4);
    } finally {
      setProgressSink(old);
    }
    assert.deepEqual(seen.map((e) => e.jobs.map((j) => `${j.label} ${j.done}/${j.total}`).join(" > ")), [
      "study 0/4", "study 0/4 > gptq 0/2", "study 0/4 > gptq 1/2", "study 0/4 > gptq 2/2", "study 1/4", "study 4/4",
    ]);
    assert.deepEqual(seen.map((e) => e.finished), [false, false, false, false, false, true]);
    const t = seen[2]!.jobs[0]!.startedAt;
    // one eighth done after 1 s (half of the first of four steps): 7 s left
    assert.equal(progressLine({ ...seen[2]!, now: t + 1000 }), "study: 0/4 (0 %) · 1.0 s elapsed · ETA 7.0 s · gptq 1/2");
    assert.equal(progressLine({ ...seen[5]!, now: t + 90_000 }), "study: 4/4 done in 1 min 30 s");
  });

  it("throwIfInterrupted throws INTERRUPTED only while the flag is raised", () => {
    clearInterrupt();
    throwIfInterrupted("x");
    requestInterrupt();
    assert.throws(() => throwIfInterrupted("the test loop"), (e: any) => e.code === "INTERRUPTED" && /KeyboardInterrupt.*the test loop/.test(e.message));
    clearInterrupt();
    throwIfInterrupted("x");
  });
});

describe("the kernel's progress line", () => {
  let k: KernelClient;
  before(async () => {
    k = await Client.start({ env: { ...kernelEnv(), QUANTLAB_PROGRESS_AFTER_MS: "0" }, stderr: process.env.QUANTLAB_KERNEL_LOG ? "inherit" : "ignore" });
  });
  after(async () => {
    await k?.shutdown();
  });

  it("is a display updated in place and finalised when gptq ends", { timeout: 120_000 }, async () => {
    const r = await k.execute("const g = await gptq(randn(256, 256, { seed: 1 }), randn(512, 256, { seed: 2 }), { bits: 4, groupSize: 32, blockSize: 16 });\ng.report.loss > 0");
    assert.equal(r.reply.content.status, "ok");
    const outs = outputsOf(r);
    const shown = outs.filter(([t, c]) => t === "display_data" && c.metadata?.quantlab?.progress);
    assert.equal(shown.length, 1, "one progress line per job");
    const id = shown[0]![1].transient.display_id;
    assert.ok(typeof id === "string" && id.length > 0);
    assert.match(shown[0]![1].data["text/plain"], /^gptq 256×256 columns: \d+\/256 \(\d+ %\) · .* elapsed/);
    const updates = outs.filter(([t]) => t === "update_display_data");
    assert.ok(updates.length >= 1);
    assert.ok(updates.every(([, c]) => c.transient.display_id === id), "updates go to the same display");
    const last = updates.at(-1)![1];
    assert.equal(last.metadata.quantlab.finished, true);
    assert.match(last.data["text/plain"], /^gptq 256×256 columns: 256\/256 done in \d/);
    assert.equal(outs.at(-1)![0], "execute_result");
  });

  it("shows nothing for a cell without long jobs", async () => {
    const r = await k.execute("1 + 1");
    assert.deepEqual(outputsOf(r).map(([t]) => t), ["execute_result"]);
  });
});

describe("the headless runner", () => {
  it("passes progress lines on as plain lines and stores the finished line", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "quantlab-progress-"));
    try {
      const path = join(dir, "p.ipynb");
      const code = "const g = await gptq(randn(128, 256, { seed: 1 }), randn(256, 256, { seed: 2 }), { bits: 4, groupSize: 32, blockSize: 16 });";
      writeFileSync(path, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: "code", source: code, metadata: {}, outputs: [], execution_count: null }] }));
      const lines: [string, boolean][] = [];
      const report = await runNotebook(path, { outDir: join(dir, "out"), kernel: { env: { ...kernelEnv(), QUANTLAB_PROGRESS_AFTER_MS: "0" } }, onProgress: (l, f) => lines.push([l, f]) });
      assert.equal(report.failed, null);
      assert.ok(lines.length >= 2);
      assert.deepEqual(lines.map(([, f]) => f), [...lines.slice(1).map(() => false), true]);
      assert.match(lines.at(-1)![0], /^gptq 128×256 columns: 256\/256 done in /);
      const nb = JSON.parse(readFileSync(report.output, "utf8"));
      const texts = nb.cells[0].outputs.map((o: any) => o.data?.["text/plain"]);
      assert.deepEqual(texts, [lines.at(-1)![0]], "the notebook keeps the finished line, not the intermediate ones");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
