/**
 * Before the checker is warm: cells that declare nothing, sent before its warm-up begins, run at
 * once, unchecked, each under a one-line note that stays, and the first checked cell names those that
 * had type errors; any other cell says, in one line, that it waits for the warm-up (converter and
 * DSL), and the line is cleared before the cell's own output; once the warm-up is over, no cell says
 * either.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { it } from "node:test";
import { KernelClient } from "../../src/runner/client.js";
import { isUncheckedNote, isWaitNote, kernelEnv, rawOutputsOf, ROOT } from "./helpers.js";

const fixture = join(ROOT, "test", "kernel", "fixtures", "dsl.js");
const textOf = (c: Record<string, any>) => String(c.data?.["text/plain"]);
// the warm-up waits for a pause after kernel_info; a long pause leaves it to the first cell
const start = () => KernelClient.start({ env: { ...kernelEnv(), QUANTLAB_PRELOAD: fixture, QUANTLAB_WARM_DELAY_MS: "600000" } });

it("a first cell that declares nothing runs before the checker, unchecked and saying so; the next is checked", async () => {
  const k = await start();
  try {
    const first = rawOutputsOf(await k.execute('[1, 2].map((v: number) => v * 10).join(",") + (await Promise.resolve("!"))'));
    assert.equal(first.length, 2, JSON.stringify(first));
    assert.ok(isUncheckedNote(first[0]), JSON.stringify(first[0]));
    assert.deepEqual(first[1], ["execute_result", { execution_count: 1, data: first[1][1].data, metadata: {} }]);
    assert.equal(textOf(first[1][1]), "'10,20!'");
    // the second cell waits for the checker, which now sees the preload's names and refuses a bad type
    const second = await k.execute("const n: number = \"text\"");
    assert.equal(second.reply.content.status, "error");
    assert.equal(second.reply.content.ename, "TypeScriptError");
    const third = rawOutputsOf(await k.execute("2 + 2"));
    assert.deepEqual(third.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});

it("an unchecked first cell reads the preload's names, and an error in it points at its line", async () => {
  const k = await start();
  try {
    // `ruler` comes from the preload; the arrow's parameter of the same name shadows it, as checked
    const r = await k.execute("console.log(typeof ruler, [3].map((ruler) => ruler + 1)[0]);\n(null as any).boom");
    assert.equal(r.reply.content.status, "error");
    assert.ok(isUncheckedNote(rawOutputsOf(r)[0]!), JSON.stringify(rawOutputsOf(r)));
    const out = rawOutputsOf(r);
    assert.ok(out.some(([t, c]) => t === "stream" && c.text === "function 4\n"), JSON.stringify(out));
    assert.match(r.reply.content.traceback.join("\n"), /cell\[1\] line 2: \(null as any\)\.boom/);
    const v = await k.execute("ruler(4)");
    assert.equal(textOf(rawOutputsOf(v).at(-1)![1]), "ruler(4 bits)");
  } finally {
    await k.shutdown();
  }
});

it("a first cell with a declaration waits for the warm-up: the note, cleared before its result", async () => {
  const k = await start();
  try {
    const first = rawOutputsOf(await k.execute("const a = 1 + 1;\na"));
    assert.equal(first.length, 3, JSON.stringify(first));
    assert.ok(isWaitNote(first[0]), JSON.stringify(first[0]));
    assert.deepEqual(first[1], ["clear_output", { wait: false }]);
    assert.equal(first[2][0], "execute_result");
    assert.equal(textOf(first[2][1]), "2");
    const second = rawOutputsOf(await k.execute("a + 2"));
    assert.deepEqual(second.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});

it("a first cell after the warm-up has no note", async () => {
  const k = await start();
  try {
    // a completion waits for the warm-up, so the cell after it finds everything loaded
    await k.request("complete_request", { code: "1 + ", cursor_pos: 4 });
    const first = rawOutputsOf(await k.execute("1 + 1"));
    assert.ok(!first.some(isWaitNote) && !first.some(isUncheckedNote), JSON.stringify(first));
    assert.deepEqual(first.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});

it("cells sent before the warm-up begins run unchecked; the first checked cell names those with type errors", async () => {
  const k = await start();
  try {
    const a = rawOutputsOf(await k.execute("ruler(4)"));
    // sent at once, as Run All does: the warm-up has not begun, so it runs, wrong type and all
    const b = rawOutputsOf(await k.execute('[ruler(1), ruler("8")].length'));
    assert.ok(isUncheckedNote(a[0]!) && isUncheckedNote(b[0]!), JSON.stringify([a, b]));
    assert.equal(textOf(b.at(-1)![1]), "2");
    // a declaration waits for the checker; the late check of cell 2 comes first in its output
    const c = rawOutputsOf(await k.execute("const x = 1;\nx"));
    const late = c.find(([t, m]) => t === "stream" && m.name === "stderr");
    assert.ok(late, JSON.stringify(c));
    assert.match(late[1].text, /^cell\[2\] ran before the TypeScript checker was ready, and has type errors:\n {2}cell\[2\]:1:\d+ - Argument of type 'string' is not assignable to parameter of type 'number'/);
    assert.doesNotMatch(late[1].text, /cell\[1\]/);
    assert.equal(textOf(c.at(-1)![1]), "1");
    // said once
    const d = rawOutputsOf(await k.execute("x + 1"));
    assert.deepEqual(d.map(([t]) => t), ["execute_result"]);
  } finally {
    await k.shutdown();
  }
});
