/**
 * The first cell of a session says, in one line, that it waits for the warm-up (converter and DSL),
 * and the line is cleared before the cell's own output; once the warm-up is over, no cell says it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { KernelClient } from "../../src/runner/client.js";
import { kernelEnv, rawOutputsOf, ROOT } from "./helpers.js";

const fixture = join(ROOT, "test", "kernel", "fixtures", "dsl.js");
const isNote = ([type, c]: [string, Record<string, any>]) => type === "display_data" && /^warming up the TypeScript checker/.test(String(c.data?.["text/plain"]));

it("a first cell that arrives before the warm-up ends gets the note, cleared before its result", async () => {
  // the warm-up waits for a pause after kernel_info; a long pause makes the first cell start it
  const k = await KernelClient.start({ env: { ...kernelEnv(), QUANTLAB_PRELOAD: fixture, QUANTLAB_WARM_DELAY_MS: "600000" } });
  try {
    const first = rawOutputsOf(await k.execute("1 + 1"));
    assert.equal(first.length, 3, JSON.stringify(first));
    assert.ok(isNote(first[0]), JSON.stringify(first[0]));
    assert.deepEqual(first[1], ["clear_output", { wait: false }]);
    assert.equal(first[2][0], "execute_result");
    assert.equal(first[2][1].data["text/plain"], "2");
    const second = rawOutputsOf(await k.execute("2 + 2"));
    assert.deepEqual(second.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});

it("a first cell after the warm-up has no note", async () => {
  const k = await KernelClient.start({ env: { ...kernelEnv(), QUANTLAB_PRELOAD: fixture, QUANTLAB_WARM_DELAY_MS: "600000" } });
  try {
    // a completion waits for the warm-up, so the cell after it finds everything loaded
    await k.request("complete_request", { code: "1 + ", cursor_pos: 4 });
    const first = rawOutputsOf(await k.execute("1 + 1"));
    assert.ok(!first.some(isNote), JSON.stringify(first));
    assert.deepEqual(first.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});
