/**
 * The kernel over zeromq, driven by the project's own client: every request type, busy/idle around
 * each, outputs, errors, history, comms, stdin, magics, a forged signature, and shutdown.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KernelClient } from "../../src/runner/client.js";
import { encode, newHeader } from "../../src/kernel/wire.js";
import { outputsOf, startKernel } from "./helpers.js";

let k: KernelClient;

before(async () => {
  k = await startKernel();
});
after(async () => {
  await k?.shutdown();
});

function statuses(msgId: string): string[] {
  return k.iopubLog.filter((m) => m.parent_header.msg_id === msgId && m.header.msg_type === "status").map((m) => m.content.execution_state);
}

describe("kernel_info", () => {
  for (const channel of ["shell", "control"] as const) {
    it(`answers on ${channel} with every field, wrapped in busy/idle`, async () => {
      const req = k.request("kernel_info_request", {}, { channel });
      const { reply } = await req;
      const c = reply.content;
      assert.equal(reply.header.msg_type, "kernel_info_reply");
      assert.equal(c.status, "ok");
      assert.equal(c.protocol_version, "5.3");
      assert.equal(c.implementation, "quantlab");
      assert.equal(c.language_info.name, "typescript");
      assert.equal(c.language_info.file_extension, ".ts");
      assert.equal(c.language_info.mimetype, "text/typescript");
      assert.match(c.language_info.version, /^\d+\.\d+/);
      assert.equal(typeof c.banner, "string");
      assert.ok(Array.isArray(c.help_links) && c.help_links.length > 0);
      assert.deepEqual(statuses(req.msgId), ["busy", "idle"]);
    });
  }
  it("echoes the heartbeat", async () => {
    assert.notEqual(await k.heartbeat(), null);
  });
});

describe("execute", () => {
  it("publishes execute_input, streams and an uncoloured execute_result, then replies", async () => {
    const req = k.execute('const greeting: string = "hi";\nconsole.log(greeting, 1);\nconsole.error("warn");\n({ a: [1, 2], s: greeting })');
    const r = await req;
    assert.equal(r.reply.content.status, "ok");
    const input = k.iopubLog.find((m) => m.parent_header.msg_id === req.msgId && m.header.msg_type === "execute_input");
    assert.equal(input?.content.execution_count, r.reply.content.execution_count);
    const out = outputsOf(r);
    assert.deepEqual(out[0], ["stream", { name: "stdout", text: "hi 1\n" }]);
    assert.deepEqual(out[1], ["stream", { name: "stderr", text: "warn\n" }]);
    assert.equal(out[2][0], "execute_result");
    assert.equal(out[2][1].data["text/plain"], "{ a: [ 1, 2 ], s: 'hi' }");
    assert.equal(out[2][1].execution_count, r.reply.content.execution_count);
    assert.deepEqual(statuses(req.msgId), ["busy", "idle"]);
  });

  it("keeps declarations across cells and fixes top-level let loops", async () => {
    await k.execute("let total = 0;\nfor (let i = 1; i <= 100; i++) total += i;");
    const r = await k.execute("total * 2");
    assert.equal(outputsOf(r)[0][1].data["text/plain"], "10100");
  });

  it("reports an error with the cell line, not kernel files, and keeps serving", async () => {
    const r = await k.execute('const ok = 1;\nthrow new RangeError("boom " + ok);');
    assert.equal(r.reply.content.status, "error");
    assert.equal(r.reply.content.ename, "RangeError");
    assert.equal(r.reply.content.evalue, "boom 1");
    const [[type, err]] = outputsOf(r);
    assert.equal(type, "error");
    const n = r.reply.content.execution_count;
    assert.match(err.traceback.join("\n"), new RegExp(`at cell\\[${n}\\] line 2: throw new RangeError`));
    assert.doesNotMatch(err.traceback.join("\n"), /src\/kernel|dist\/kernel|node:|tslab/);
    const again = await k.execute("ok + 1");
    assert.equal(outputsOf(again)[0][1].data["text/plain"], "2");
  });

  it("survives a later throw from a timer and an unhandled rejection", async () => {
    await k.execute('setTimeout(() => { throw new Error("late"); }, 0);\nPromise.reject(new Error("ignored"));\n0');
    await new Promise((r) => setTimeout(r, 200));
    const r = await k.execute("40 + 2");
    assert.equal(outputsOf(r)[0][1].data["text/plain"], "42");
    assert.ok(k.iopubLog.some((m) => m.header.msg_type === "stream" && /Uncaught Error: late/.test(m.content.text)));
  });

  it("reports type errors with the cell position", async () => {
    const r = await k.execute("const n: number = 1;\nconst s: string = n;");
    assert.equal(r.reply.content.ename, "TypeScriptError");
    assert.match(r.reply.content.traceback[0], /:2:7 - Type 'number' is not assignable to type 'string'/);
  });

  it("silent runs publish nothing and do not count; store_history false does not count", async () => {
    const before = (await k.execute("1")).reply.content.execution_count;
    const silent = await k.execute('console.log("quiet"); 5', { silent: true });
    assert.deepEqual(silent.outputs, []);
    assert.equal(k.iopubLog.some((m) => m.parent_header.msg_id === silent.reply.parent_header.msg_id && m.header.msg_type === "execute_input"), false);
    const nohist = await k.execute("2", { store_history: false });
    assert.equal(nohist.reply.content.execution_count, before);
    assert.equal((await k.execute("3")).reply.content.execution_count, before + 1);
  });

  it("evaluates user_expressions, errors included", async () => {
    const r = await k.execute("const ue = 21;", { user_expressions: { double: "ue * 2", bad: "nope()" } });
    const ue = r.reply.content.user_expressions;
    assert.deepEqual(ue.double, { status: "ok", data: { "text/plain": "42" }, metadata: {} });
    assert.equal(ue.bad.status, "error");
    assert.equal(ue.bad.ename, "TypeScriptError");
  });

  it("stop_on_error: queued requests get status error (never abort); stop_on_error false lets them run", async () => {
    const a = k.execute('throw new Error("first")');
    const b = k.execute("globalThis.ranAfterError = true");
    const c = k.execute("1 + 1");
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.equal(ra.reply.content.status, "error");
    for (const r of [rb, rc]) {
      assert.equal(r.reply.content.status, "error");
      assert.equal(r.reply.content.ename, "ExecutionAborted");
    }
    assert.equal(outputsOf(await k.execute('"ranAfterError" in globalThis'))[0][1].data["text/plain"], "false");
    const d = k.execute('throw new Error("second")', { stop_on_error: false });
    const e = k.execute("40 + 2");
    const [, re] = await Promise.all([d, e]);
    assert.equal(re.reply.content.status, "ok");
  });

  it("drops a message with a forged signature without running it", async () => {
    const header = newHeader("execute_request", k.session, "mallory");
    const parts = [header, {}, {}, { code: "globalThis.forged = 1", silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }];
    const good = encode(k.signer, { identities: [], header, parent_header: {}, metadata: {}, content: parts[3] as Record<string, unknown> });
    const forged = [...good];
    forged[1] = Buffer.from("0".repeat(64));
    await k.sendRaw(forged);
    const r = await k.execute('"forged" in globalThis');
    assert.equal(outputsOf(r)[0][1].data["text/plain"], "false");
    assert.equal(k.iopubLog.some((m) => m.parent_header.msg_id === header.msg_id), false);
  });
});

describe("display", () => {
  it("renders the display symbol, _toMime, PNG bytes, and display/update_display_data with display_id", async () => {
    const r = await k.execute(
      [
        'const card = { [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>card</b>", "text/plain": "card" }; } };',
        "display(card, { display_id: 'd1' });",
        "display({ 'text/plain': 'raw' }, { raw: true });",
        "display(md`**new**`, { display_id: 'd1', update: true });",
        "display({ _toMime: () => ({ 'text/html': '<i>ij</i>' }) });",
        "new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0])",
      ].join("\n"),
    );
    const out = outputsOf(r);
    assert.deepEqual(out[0], ["display_data", { data: { "text/html": "<b>card</b>", "text/plain": "card" }, metadata: {}, transient: { display_id: "d1" } }]);
    assert.deepEqual(out[1][1].data, { "text/plain": "raw" });
    assert.equal(out[2][0], "update_display_data");
    assert.deepEqual(out[2][1].transient, { display_id: "d1" });
    assert.equal(out[2][1].data["text/markdown"], "**new**");
    assert.equal(out[3][1].data["text/html"], "<i>ij</i>");
    assert.ok(typeof out[3][1].data["text/plain"] === "string");
    assert.equal(out[4][0], "execute_result");
    assert.equal(out[4][1].data["image/png"], Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0]).toString("base64"));
  });

  it("clearOutput() sends clear_output and no global Deno exists", async () => {
    const r = await k.execute('clearOutput(true);\n"Deno" in globalThis');
    const out = outputsOf(r);
    assert.deepEqual(out[0], ["clear_output", { wait: true }]);
    assert.equal(out[1][1].data["text/plain"], "false");
  });
});

describe("the DSL preload", () => {
  it("has the DSL's names in scope without an import, and import from 'quantlab' works", async () => {
    const r = await k.execute("QuantLabError.name");
    assert.equal(r.reply.content.status, "ok", JSON.stringify(r.reply.content));
    const r2 = await k.execute('import { QuantLabError as QE } from "quantlab";\nnew QE("BAD_VALUE", "x").code');
    assert.equal(outputsOf(r2).at(-1)![1].data["text/plain"], "'BAD_VALUE'");
  });

  it("completes DSL names with a case-sensitive prefix and the right cursor range", async () => {
    const code = "const v = QuantLabE";
    const { reply } = await k.request("complete_request", { code, cursor_pos: code.length });
    assert.deepEqual(reply.content.matches, ["QuantLabError"]);
    assert.equal(reply.content.cursor_start, code.length - "QuantLabE".length);
    assert.equal(reply.content.cursor_end, code.length);
    const lower = await k.request("complete_request", { code: "quantLabE", cursor_pos: 9 });
    assert.deepEqual(lower.reply.content.matches, []);
  });
});

describe("introspection", () => {
  it("inspect shows the type and the doc comment", async () => {
    await k.execute("/** Adds one to a count. */\nfunction addOne(x: number) { return x + 1; }");
    const { reply } = await k.request("inspect_request", { code: "addOne(2)", cursor_pos: 3, detail_level: 0 });
    assert.equal(reply.content.found, true);
    assert.match(reply.content.data["text/plain"], /function addOne\(x: number\): number/);
    assert.match(reply.content.data["text/plain"], /Adds one to a count\./);
  });

  it("expr? returns a pager payload", async () => {
    const r = await k.execute("addOne?");
    assert.equal(r.reply.content.payload[0].source, "page");
    assert.match(r.reply.content.payload[0].data["text/plain"], /Adds one/);
  });

  it("is_complete: complete, incomplete with indent, invalid", async () => {
    const ask = async (code: string) => (await k.request("is_complete_request", { code })).reply.content;
    assert.deepEqual(await ask("const a = 1;"), { status: "complete" });
    assert.deepEqual(await ask("function f() {"), { status: "incomplete", indent: "  " });
    assert.equal((await ask("1 +* 2)")).status, "invalid");
  });

  it("history: tail, range, search with glob, unique and n, with output", async () => {
    for (const code of ["7 * 6", "7 * 6", "'x'.repeat(2)"]) await k.execute(code);
    const q = async (content: Record<string, unknown>) => (await k.request("history_request", { output: false, raw: true, ...content })).reply.content.history;
    const tail = await q({ hist_access_type: "tail", n: 3 });
    assert.deepEqual(tail.map((h: unknown[]) => h[2]), ["7 * 6", "7 * 6", "'x'.repeat(2)"]);
    const [session, line] = tail[0];
    assert.deepEqual(await q({ hist_access_type: "range", session, start: line, stop: line + 1 }), [[session, line, "7 * 6"]]);
    assert.equal((await q({ hist_access_type: "search", pattern: "7 ?*" })).length >= 2, true);
    assert.equal((await q({ hist_access_type: "search", pattern: "7 ?*", unique: true })).length, 1);
    assert.equal((await q({ hist_access_type: "search", pattern: "*", n: 2 })).length, 2);
    const withOut = await q({ hist_access_type: "tail", n: 1, output: true });
    assert.deepEqual(withOut[0][2], ["'x'.repeat(2)", "'xx'"]);
  });
});

describe("comms", () => {
  it("opens, echoes through a registered target, lists and closes comms; unknown targets are closed", async () => {
    await k.execute('(globalThis as any)[Symbol.for("quantlab.comms")].registerTarget("echo", (comm: any) => { comm.onMsg = (d: unknown) => comm.send(d); });');
    await k.request("comm_open", { comm_id: "c1", target_name: "echo", data: {} });
    const info = await k.request("comm_info_request", { target_name: "echo" });
    assert.deepEqual(info.reply.content, { status: "ok", comms: { c1: { target_name: "echo" } } });
    const echoed = await k.request("comm_msg", { comm_id: "c1", data: { ping: 1 } });
    assert.deepEqual(outputsOf(echoed), [["comm_msg", { comm_id: "c1", data: { ping: 1 } }]]);
    await k.request("comm_close", { comm_id: "c1", data: {} });
    assert.deepEqual((await k.request("comm_info_request", {})).reply.content.comms, {});
    const refused = await k.request("comm_open", { comm_id: "c2", target_name: "nobody", data: {} });
    assert.deepEqual(outputsOf(refused), [["comm_close", { comm_id: "c2", data: {} }]]);
  });
});

describe("stdin and magics", () => {
  it("input() asks on stdin when allowed, and fails clearly when not", async () => {
    const r = await k.execute('const who = await input("name? ");\n"hello " + who', { onInput: (m) => (m.content.prompt === "name? " ? "ada" : "?") });
    assert.equal(outputsOf(r).at(-1)![1].data["text/plain"], "'hello ada'");
    const no = await k.execute('await input("x")');
    assert.equal(no.reply.content.status, "error");
    assert.match(no.reply.content.evalue, /allow_stdin/);
  });

  it("%time, %who, %help, %backend and %charts", async () => {
    const t = await k.execute("%time 6 * 7");
    assert.equal(outputsOf(t).some(([ty, c]) => ty === "stream" && /Wall time: [\d.]+ (ms|s)/.test(c.text)), true);
    assert.equal(outputsOf(t).some(([ty, c]) => ty === "execute_result" && c.data["text/plain"] === "42"), true);
    const who = await k.execute("%who");
    assert.match(outputsOf(who)[0][1].text, /greeting/);
    const help = await k.execute("%help");
    assert.match(JSON.stringify(outputsOf(help)), /%time/);
    for (const magic of ["%backend", "%charts static"]) assert.equal((await k.execute(magic)).reply.content.status, "ok");
    const tc = await k.request("complete_request", { code: "%wh", cursor_pos: 3 });
    assert.deepEqual(tc.reply.content.matches, ["%who"]);
  });
});

describe("shutdown", () => {
  it("echoes the restart flag and exits", async () => {
    const child = k.process!;
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const { reply } = await k.request("shutdown_request", { restart: true }, { channel: "control" });
    assert.deepEqual(reply.content, { status: "ok", restart: true });
    assert.equal(await exited, 0);
  });
});
