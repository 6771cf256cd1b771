/**
 * The kernel's pure parts without a process: signing and framing, value display, history queries,
 * is_complete, magics parsing and the traceback line mapping.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { toMimeBundle, html, md, svg } from "../../src/kernel/display.js";
import { isComplete } from "../../src/kernel/executor.js";
import { History, globToRegExp } from "../../src/kernel/history.js";
import { parseMagic } from "../../src/kernel/magics.js";
import { mapLine } from "../../src/kernel/traceback.js";
import { decode, encode, newHeader, Signer } from "../../src/kernel/wire.js";

it("signs with HMAC-SHA256 and rejects a tampered message or signature; an empty key signs nothing", () => {
  const signer = new Signer("secret");
  const msg = { identities: [Buffer.from("id")], header: newHeader("execute_request", "s"), parent_header: {}, metadata: {}, content: { code: "1" } };
  const frames = encode(signer, msg);
  assert.equal(frames[2].toString().length, 64);
  assert.deepEqual(decode(signer, frames).content, { code: "1" });
  const tampered = [...frames];
  tampered[6] = Buffer.from(JSON.stringify({ code: "2" }));
  assert.throws(() => decode(signer, tampered), /signature does not verify/);
  const short = [...frames];
  short[2] = Buffer.from("abc");
  assert.throws(() => decode(signer, short), /signature does not verify/);
  assert.throws(() => decode(new Signer("other"), frames), /signature does not verify/);
  const open = new Signer("");
  assert.equal(encode(open, msg)[2].toString(), "");
  assert.deepEqual(decode(open, encode(open, msg)).identities, [Buffer.from("id")]);
  assert.throws(() => decode(signer, [Buffer.from("no delimiter")]), /delimiter/);
});

it("shows values through the display symbol, _toMime, image bytes, danfo frames, else plain text", () => {
  const d = { [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<b>x</b>" }) };
  assert.equal(toMimeBundle(d)["text/html"], "<b>x</b>");
  assert.equal(typeof toMimeBundle(d)["text/plain"], "string");
  assert.deepEqual(toMimeBundle({ _toMime: () => ({ "text/plain": "ij" }) }), { "text/plain": "ij" });
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1]);
  assert.equal(toMimeBundle(jpeg)["image/jpeg"], Buffer.from(jpeg).toString("base64"));
  assert.equal(toMimeBundle(new Uint8Array([1, 2, 3]))["text/plain"], "Uint8Array(3) [ 1, 2, 3 ]");
  class DataFrame {
    columns = ["a", "b"];
    index = [0, 1];
    values = [[1, "<x>"], [2, "y"]];
    toString() {
      return "table";
    }
  }
  const df = toMimeBundle(new DataFrame());
  assert.equal(df["text/plain"], "table");
  assert.equal(df["text/html"], '<table class="dataframe"><thead><tr><th></th><th>a</th><th>b</th></tr></thead><tbody><tr><th>0</th><td>1</td><td>&lt;x&gt;</td></tr><tr><th>1</th><td>2</td><td>y</td></tr></tbody></table>');
  assert.doesNotMatch(toMimeBundle({ s: "str", n: 1 })["text/plain"], /\x1b\[/);
  assert.deepEqual(toMimeBundle(html`<i>${1 + 1}</i>`), { "text/html": "<i>2</i>", "text/plain": "<i>2</i>" });
  assert.equal(toMimeBundle(md`# T`)["text/markdown"], "# T");
  assert.equal(toMimeBundle(svg`<svg/>`)["image/svg+xml"], "<svg/>");
});

it("answers history tail, range and glob search with unique and n", () => {
  const h = new History(7);
  ["a = 1", "b = 2", "a = 1", "print(a)"].forEach((code, i) => h.add(i + 1, code));
  h.setOutput(4, "1");
  assert.deepEqual(h.query({ hist_access_type: "tail", n: 2 }), [[7, 3, "a = 1"], [7, 4, "print(a)"]]);
  assert.deepEqual(h.query({ hist_access_type: "tail", n: 1, output: true }), [[7, 4, ["print(a)", "1"]]]);
  assert.deepEqual(h.query({ hist_access_type: "range", session: 7, start: 2, stop: 4 }), [[7, 2, "b = 2"], [7, 3, "a = 1"]]);
  assert.deepEqual(h.query({ hist_access_type: "range", session: 3, start: 1, stop: 4 }), []);
  assert.deepEqual(h.query({ hist_access_type: "search", pattern: "a*" }), [[7, 1, "a = 1"], [7, 3, "a = 1"]]);
  assert.deepEqual(h.query({ hist_access_type: "search", pattern: "a*", unique: true }), [[7, 3, "a = 1"]]);
  assert.deepEqual(h.query({ hist_access_type: "search", pattern: "*", n: 1 }), [[7, 4, "print(a)"]]);
  assert.ok(globToRegExp("[ab] = ?").test("b = 2"));
  assert.ok(!globToRegExp("a").test("ab"));
  assert.ok(globToRegExp("x.y+(z)").test("x.y+(z)"));
});

it("classifies code as complete, incomplete (with indent) or invalid", () => {
  assert.deepEqual(isComplete("const x = 1;"), { status: "complete" });
  assert.deepEqual(isComplete("for (const x of xs) {"), { status: "incomplete", indent: "  " });
  assert.deepEqual(isComplete("  foo(1,"), { status: "incomplete", indent: "  " });
  assert.deepEqual(isComplete("const s = `abc"), { status: "incomplete", indent: "" });
  assert.equal(isComplete("function f() {\n\n\n").status, "invalid");
  assert.equal(isComplete("const = ;").status, "invalid");
  assert.equal(isComplete("}").status, "invalid");
});

it("parses magics and maps emitted lines back to the cell", () => {
  assert.deepEqual(parseMagic("%time 1 + 1"), { name: "time", arg: "1 + 1", rest: "" });
  assert.deepEqual(parseMagic("%%time\nconst a = 1;\na"), { name: "time", arg: "", rest: "const a = 1;\na" });
  assert.equal(parseMagic("x % 2"), null);
  const src = ["const a: number = 1;", "", "// comment", 'throw new Error("boom " + a);'];
  assert.equal(mapLine('throw new Error("boom " + exports.a);', src), 3);
});
