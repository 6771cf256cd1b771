/**
 * The preload mechanism with a fixture DSL (QUANTLAB_PRELOAD): every export in scope without a list,
 * types and doc comments from its declarations, and the magics that forward to DSL hooks.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { KernelClient } from "../../src/runner/client.js";
import { kernelEnv, outputsOf, ROOT } from "./helpers.js";

let k: KernelClient;
before(async () => {
  k = await KernelClient.start({ env: { ...kernelEnv(), QUANTLAB_PRELOAD: join(ROOT, "test", "kernel", "fixtures", "dsl.js") } });
});
after(async () => {
  await k?.shutdown();
});

it("puts every export in scope in the first cell and renders through the display symbol", async () => {
  const r = await k.execute("ruler(FORMATS.length * 4)");
  assert.equal(r.reply.content.status, "ok", JSON.stringify(r.reply.content));
  assert.deepEqual(outputsOf(r)[0][1].data, { "text/plain": "ruler(8 bits)", "text/html": "<b>ruler 8</b>" });
});

it("type-checks against the DSL's declarations", async () => {
  // once the checker is ready (a completion waits for it): a cell sent before runs unchecked
  await k.request("complete_request", { code: "rul", cursor_pos: 3 });
  const r = await k.execute('ruler("eight")');
  assert.equal(r.reply.content.ename, "TypeScriptError");
});

it("inspects a DSL name with its doc comment and completes it", async () => {
  const { reply } = await k.request("inspect_request", { code: "ruler", cursor_pos: 5, detail_level: 0 });
  assert.match(reply.content.data["text/plain"], /function ruler\(bits: number\)/);
  assert.match(reply.content.data["text/plain"], /fixture doc comment/);
  const c = await k.request("complete_request", { code: "rul", cursor_pos: 3 });
  assert.deepEqual(c.reply.content.matches, ["ruler"]);
});

it("import from 'quantlab' gives the same module", async () => {
  const r = await k.execute('import { FORMATS as F } from "quantlab";\nF === FORMATS');
  assert.equal(outputsOf(r).at(-1)![1].data["text/plain"], "true");
});

it("%backend, %charts and %help forward to the DSL's hooks", async () => {
  assert.deepEqual(outputsOf(await k.execute("%backend")), [["stream", { name: "stdout", text: "backend: fixture-cpu\n" }]]);
  assert.deepEqual(outputsOf(await k.execute("%charts static")), [["stream", { name: "stdout", text: "chart mode static\n" }]]);
  assert.equal(outputsOf(await k.execute("chartMode()"))[0][1].data["text/plain"], "'static'");
  assert.match(JSON.stringify(outputsOf(await k.execute("%help ruler"))), /fixture help ruler/);
});
