/**
 * Heap exhaustion: a DSL allocation past the kernel's budget (QUANTLAB_HEAP_MB) is an error the cell
 * shows while the kernel lives on; and when a cell does exhaust V8's heap, the kernel's last words on
 * stderr say it ran out of memory and how to raise the limit (not only V8's C++ stack).
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { KernelClient } from "../../src/runner/client.js";
import { kernelEnv } from "./helpers.js";

it("refuses a matrix past the heap budget with an error, and keeps serving", async () => {
  const k = await KernelClient.start({ env: { ...kernelEnv(), QUANTLAB_HEAP_MB: "64" } });
  try {
    const r = await k.execute("const W = randn(4096, 4096)");
    assert.equal(r.reply.content.status, "error");
    assert.match(r.reply.content.evalue, /a 4096 × 4096 matrix needs 64 MB but the kernel's memory budget has \d+ MB left of 64 MB/);
    assert.match(r.reply.content.evalue, /QUANTLAB_HEAP_MB=128/);
    const ok = await k.execute("randn(64, 64).rows");
    assert.equal(ok.reply.content.status, "ok");
    assert.equal(ok.outputs.find((m) => m.header.msg_type === "execute_result")?.content.data["text/plain"], "64");
  } finally {
    await k.shutdown();
  }
});

it("says on stderr that it ran out of memory, and how to raise the limit, when V8's heap is exhausted", async () => {
  const k = await KernelClient.start({ env: { ...kernelEnv(), NODE_OPTIONS: "--max-old-space-size=320" }, stderr: "pipe" });
  let err = "";
  k.process!.stderr!.on("data", (d) => (err += d));
  const closed = new Promise((r) => k.process!.stderr!.once("close", r));
  try {
    await k.execute("1 + 1");
    void k.execute("const hog: any[] = [];\nfor (;;) hog.push({ x: Math.random(), y: [1, 2, 3] });");
    await Promise.race([closed, new Promise((r) => setTimeout(r, 90_000))]);
    const tail = err.trim().split("\n").slice(-1)[0] ?? "";
    assert.match(tail, /the kernel ran out of memory: its JavaScript heap is limited to \d+ MB/);
    assert.match(tail, /NODE_OPTIONS=--max-old-space-size=\d+/);
  } finally {
    await k.close();
  }
});
