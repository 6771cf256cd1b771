/**
 * The widget protocol and models without a kernel process: the kernel's own comm registry stands in for
 * the kernel (it publishes into an array), and every state the models send is checked against the
 * ipywidgets 8 model schema (`@jupyter-widgets/schema`, jupyterwidgetmodels.latest.json).
 */
import { afterEach, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { CommRegistry, COMMS_KEY } from "../../src/kernel/comms.js";
import { DISPLAY, type MimeBundle } from "../../src/display/mime.js";
import { WIDGET_VIEW_MIME, type Widget } from "../../src/display/widgets.js";
import { checkbox, dropdown, floatSlider, interact, intSlider, outputWidget, selectionSlider, toggleButton, textInput, vbox } from "../../src/dsl/interact.js";
import { randn, rtn } from "../../src/dsl/index.js";

const require = createRequire(import.meta.url);
interface Attr { name: string; type: string; allow_none?: boolean; enum?: unknown[]; items?: { type: string }; widget?: string }
const SCHEMA = require("@jupyter-widgets/schema/jupyterwidgetmodels.latest.json") as { model: { module: string; name: string; version: string }; view: { module: string; name: string | null; version: string }; attributes: Attr[] }[];

interface Sent { type: string; content: Record<string, any>; metadata?: Record<string, unknown> }
let sent: Sent[] = [];
let reg: CommRegistry;

beforeEach(() => {
  sent = [];
  reg = new CommRegistry((type, content, metadata) => sent.push({ type, content, metadata }));
  (globalThis as Record<symbol, unknown>)[COMMS_KEY] = reg;
});
afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[COMMS_KEY];
});

/** What the kernel does with a cell's display(...) call: the capture takes it, else iopub. */
function kernelDisplay(data: Record<string, unknown>): void {
  if (!reg.route("display_data", { data, metadata: {}, transient: {} })) sent.push({ type: "display_data", content: { data } });
}

const opens = () => sent.filter((m) => m.type === "comm_open");
const stateOf = (id: string) => opens().find((m) => m.content.comm_id === id)!.content.data.state as Record<string, unknown>;
const msgsTo = (id: string) => sent.filter((m) => m.type === "comm_msg" && m.content.comm_id === id).map((m) => m.content.data);
const front = (w: Widget, data: unknown) => reg.handleMsg({ comm_id: w.id, data });

function typeOk(a: Attr, v: unknown, known: Set<string>): boolean {
  if (v === null) return !!a.allow_none;
  if (a.enum && !a.enum.includes(v)) return false;
  switch (a.type) {
    case "string": return typeof v === "string";
    case "bool": return typeof v === "boolean";
    case "int": return Number.isInteger(v);
    case "float": return typeof v === "number";
    case "reference": return typeof v === "string" && v.startsWith("IPY_MODEL_") && known.has(v.slice(10));
    case "array": return Array.isArray(v) && (a.items?.type !== "reference" || v.every((x) => typeof x === "string" && known.has(x.slice(10))));
    default: return true;
  }
}

/** Every comm_open: protocol metadata, the model exists in the schema, each key valid, references to models opened before. */
function assertSchemaValid(): void {
  const known = new Set<string>();
  for (const m of opens()) {
    assert.equal(m.content.target_name, "jupyter.widget");
    assert.deepEqual(m.metadata, { version: "2.1.0" });
    assert.deepEqual(m.content.data.buffer_paths, []);
    const s = m.content.data.state as Record<string, unknown>;
    const spec = SCHEMA.find((x) => x.model.name === s._model_name && x.model.module === s._model_module);
    assert.ok(spec, `model ${s._model_module} ${s._model_name} exists in ipywidgets 8`);
    assert.equal(s._model_module_version, spec.model.version);
    assert.equal(s._view_name, spec.view.name);
    assert.equal(s._view_module, spec.view.module);
    assert.equal(s._view_module_version, spec.view.version);
    const attrs = new Map(spec.attributes.map((a) => [a.name, a]));
    for (const [k, v] of Object.entries(s)) {
      const a = attrs.get(k);
      assert.ok(a, `${s._model_name}.${k} is an attribute of the model`);
      assert.ok(typeOk(a, v, known), `${s._model_name}.${k} = ${JSON.stringify(v)} fits ${a.type}${a.allow_none ? " or null" : ""}`);
    }
    // every attribute but the layout's CSS is sent, so a saved widget state is complete
    if (s._model_name !== "LayoutModel") for (const a of spec.attributes) assert.ok(a.name in s, `${s._model_name} sends ${a.name}`);
    known.add(m.content.comm_id);
  }
}

test("every control opens a jupyter.widget comm whose state fits the ipywidgets 8 schema", () => {
  const w = [
    intSlider({ description: "bits", min: 2, max: 8, value: 4 }),
    floatSlider({ description: "clip", min: 0.5, max: 1, step: 0.05, value: 0.9 }),
    selectionSlider({ description: "group", options: [16, 32, 64, "channel"], value: 64 }),
    dropdown({ description: "format", options: ["int4", "nf4"] }),
    checkbox({ description: "symmetric", value: true }),
    toggleButton({ description: "log y" }),
    textInput({ description: "title", value: "MSE" }),
    outputWidget(),
  ];
  const box = vbox(w);
  assertSchemaValid();
  assert.equal(opens().length, 3 * 7 + 2 + 2, "each control with its layout and style, the output and the box with their layouts");
  assert.deepEqual(stateOf(box.id).children, w.map((x) => `IPY_MODEL_${x.id}`));
  assert.equal(stateOf(w[2].id).index, 2);
  assert.deepEqual(stateOf(w[2].id)._options_labels, ["16", "32", "64", "channel"]);
  const bundle = (box as unknown as { [DISPLAY](): MimeBundle })[DISPLAY]();
  assert.deepEqual(bundle[WIDGET_VIEW_MIME], { model_id: box.id, version_major: 2, version_minor: 0 });
  assert.equal(typeof bundle["text/plain"], "string");
});

test("an update from the front end is echoed first, then validated, applied and observed", async () => {
  const s = intSlider({ min: 2, max: 8, value: 4 });
  const seen: number[] = [];
  s.onChange((v) => {
    seen.push(v);
  });
  sent = [];
  await front(s, { method: "update", state: { value: 6 }, buffer_paths: [] });
  assert.deepEqual(msgsTo(s.id), [{ method: "echo_update", state: { value: 6 }, buffer_paths: [] }]);
  assert.equal(s.value, 6);
  assert.deepEqual(seen, [6]);
  // out of range and fractional: echoed as sent, corrected by an update, observers see the kept value
  sent = [];
  await front(s, { method: "update", state: { value: 11.6 }, buffer_paths: [] });
  assert.deepEqual(msgsTo(s.id), [
    { method: "echo_update", state: { value: 11.6 }, buffer_paths: [] },
    { method: "update", state: { value: 8 }, buffer_paths: [] },
  ]);
  assert.equal(s.value, 8);
  // the model's identity and layout reference are not the front end's to change; unknown keys are dropped
  sent = [];
  await front(s, { method: "update", state: { _model_name: "Evil", layout: "IPY_MODEL_x", nonsense: 1 }, buffer_paths: [] });
  assert.deepEqual(msgsTo(s.id), []);
  assert.equal(s.stateSnapshot._model_name, "IntSliderModel");
  // a value that does not type-checks is refused and the kernel's value is sent back
  sent = [];
  await front(s, { method: "update", state: { value: "seven" }, buffer_paths: [] });
  assert.deepEqual(msgsTo(s.id).at(-1), { method: "update", state: { value: 8 }, buffer_paths: [] });
  assert.deepEqual(seen, [6, 8]);
});

test("request_state answers with the whole state; custom messages reach their handler; kernel-side set sends update", async () => {
  const d = dropdown({ options: ["int4", "nf4", "fp4-e2m1"], value: "nf4" });
  const opened = stateOf(d.id);
  sent = [];
  await front(d, { method: "request_state" });
  assert.deepEqual(msgsTo(d.id), [{ method: "update", state: opened, buffer_paths: [] }]);
  const got: unknown[] = [];
  d.onCustom((c) => got.push(c));
  await front(d, { method: "custom", content: { event: "ping" } });
  assert.deepEqual(got, [{ event: "ping" }]);
  sent = [];
  d.value = "fp4-e2m1";
  assert.deepEqual(msgsTo(d.id), [{ method: "update", state: { index: 2 }, buffer_paths: [] }]);
  d.value = "fp4-e2m1";
  assert.equal(msgsTo(d.id).length, 1, "an unchanged value sends nothing");
  assert.throws(() => (d.value = "int3" as never), { code: "BAD_ARGUMENT", message: /not one of the options \(int4, nf4, fp4-e2m1\)/ });
  await front(d, { method: "update", state: { index: 0 }, buffer_paths: [] });
  assert.equal(d.value, "int4");
  d.close();
  assert.equal(sent.at(-1)!.type, "comm_close");
  assert.equal(d.live, false);
});

test("interact builds the controls from the option shapes", () => {
  const w = interact((v) => v, {
    bits: [2, 8], clip: [0.5, 1], groupSize: [16, 32, 64, 128, "channel"], format: ["int4", "nf4"],
    symmetric: true, title: "MSE", step: { min: 0, max: 10, step: 2, value: 4 }, scheme: { options: ["a", "b"], value: "b", control: "slider" },
  });
  const model = (k: keyof typeof w.controls) => stateOf(w.controls[k].id)._model_name;
  assert.deepEqual(
    Object.keys(w.controls).map((k) => model(k as never)),
    ["IntSliderModel", "FloatSliderModel", "SelectionSliderModel", "DropdownModel", "CheckboxModel", "TextModel", "IntSliderModel", "SelectionSliderModel"],
  );
  assert.deepEqual(w.values, { bits: 5, clip: 0.75, groupSize: 16, format: "int4", symmetric: true, title: "MSE", step: 4, scheme: "b" });
  assert.equal(stateOf(w.controls.bits.id).continuous_update, false, "sliders re-run on release by default");
  assert.equal(stateOf(w.controls.bits.id).description, "bits");
  assertSchemaValid();
  assert.throws(() => interact(() => 0, { n: 3 as never }), { code: "BAD_ARGUMENT", message: /interact option n: cannot make a control from 3; use \[min, max\]/ });
  assert.throws(() => interact(() => 0, {}), { code: "BAD_ARGUMENT", message: /at least one control/ });
});

test("moving a control re-runs the function and replaces the Output widget's outputs", async () => {
  const W = randn(32, 128, { seed: 7, std: 0.02 });
  const w = interact(({ bits, groupSize }) => {
    console.log(`bits ${bits}`);
    kernelDisplay({ "text/plain": `note for ${groupSize}` });
    return rtn(W, { bits, groupSize }).report;
  }, { bits: [2, 8], groupSize: [16, 32, 64, "channel"] });
  assert.equal(w.calls, 1);
  const first = w.outputs;
  assert.deepEqual(first.map((o) => o.output_type), ["display_data", "display_data"]);
  assert.equal((first[0] as { data: Record<string, unknown> }).data["text/plain"], "note for 16");
  const mse5 = (w.result as { mse: number }).mse;
  assert.ok(!sent.some((m) => m.type === "display_data"), "a display inside the function goes to the Output widget, not the cell");

  sent = [];
  await front(w.controls.bits, { method: "update", state: { value: 3 }, buffer_paths: [] });
  assert.equal(w.calls, 2);
  const mse3 = (w.result as { mse: number }).mse;
  assert.ok(mse3 > mse5 * 4, `3 bits err more than 5 (${mse3} vs ${mse5})`);
  const update = msgsTo(w.output.id).at(-1)!;
  assert.equal(update.method, "update");
  assert.deepEqual(Object.keys(update.state), ["outputs"]);
  assert.match(update.state.outputs[1].data["text/plain"], new RegExp(`mse: ${String(mse3).slice(0, 6)}`));
  assert.equal(update.state.outputs.length, 2, "replaced, not appended");

  await front(w.controls.groupSize, { method: "update", state: { index: 3 }, buffer_paths: [] });
  assert.deepEqual(w.values, { bits: 3, groupSize: "channel" });
  w.set({ bits: 8, groupSize: 32 });
  assert.equal(w.calls, 4, "set() moves both controls and re-runs once");
  assert.deepEqual(msgsTo(w.controls.bits.id).at(-1), { method: "update", state: { value: 8 }, buffer_paths: [] });
});

test("an error in the function becomes an error output, and the next good value replaces it", async () => {
  const w = interact(({ bits }) => {
    if (bits > 6) throw new RangeError(`too many bits: ${bits}`);
    return `ok ${bits}`;
  }, { bits: [2, 8] });
  assert.deepEqual(w.outputs, [{ output_type: "display_data", data: { "text/plain": "ok 5" }, metadata: {} }]);
  await front(w.controls.bits, { method: "update", state: { value: 7 }, buffer_paths: [] });
  assert.deepEqual(w.outputs.map((o) => o.output_type), ["error"]);
  assert.match(JSON.stringify(w.outputs[0]), /RangeError.*too many bits: 7/);
  assert.equal(w.result, undefined);
  await front(w.controls.bits, { method: "update", state: { value: 2 }, buffer_paths: [] });
  assert.equal(w.result, "ok 2");
});

test("an async function's result replaces the output when it resolves", async () => {
  const w = interact(async ({ n }) => {
    await new Promise((r) => setTimeout(r, 5));
    kernelDisplay({ "text/plain": `late ${n}` });
    return n * 2;
  }, { n: [1, 9] });
  assert.deepEqual(w.outputs, []);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(w.outputs.map((o) => (o as { data: Record<string, string> }).data["text/plain"]), ["late 5", "10"]);
  // on a front end's update the kernel waits for the re-run: when the message is handled, the output is there
  await front(w.controls.n, { method: "update", state: { value: 2 }, buffer_paths: [] });
  assert.deepEqual(w.outputs.map((o) => (o as { data: Record<string, string> }).data["text/plain"]), ["late 2", "4"]);
  assert.equal(w.result, 4);
});

test("the interact bundle carries the widget view and the last output for static exports", async () => {
  const chartLike = (bits: number) => ({
    [DISPLAY]: () => ({ "text/plain": `chart for ${bits}`, "text/html": `<div>chart ${bits}</div>`, "image/svg+xml": `<svg><text>${bits}</text></svg>` }),
  });
  const w = interact(({ bits }) => chartLike(bits), { bits: [2, 8] });
  await front(w.controls.bits, { method: "update", state: { value: 3 }, buffer_paths: [] });
  const b = (w as unknown as { [DISPLAY](): MimeBundle })[DISPLAY]();
  assert.deepEqual(b[WIDGET_VIEW_MIME], { model_id: w.widget.id, version_major: 2, version_minor: 0 });
  assert.equal(b["text/plain"], "interact: bits = 3\nchart for 3");
  assert.match(String(b["text/html"]), /<b>bits<\/b> = 3[\s\S]*<div>chart 3<\/div>/);
  assert.equal(b["image/svg+xml"], "<svg><text>3</text></svg>");
  const box = stateOf(w.widget.id);
  assert.deepEqual(box.children, [`IPY_MODEL_${w.controls.bits.id}`, `IPY_MODEL_${w.output.id}`]);
});

test("without a kernel the same objects work locally: values, observers, re-runs", () => {
  delete (globalThis as Record<symbol, unknown>)[COMMS_KEY];
  const w = interact(({ on }) => (on ? "yes" : "no"), { on: false });
  assert.equal(w.controls.on.live, false);
  assert.equal(w.result, "no");
  w.set({ on: true });
  assert.equal(w.result, "yes");
  assert.deepEqual(w.outputs, [{ output_type: "display_data", data: { "text/plain": "yes" }, metadata: {} }]);
  assert.equal(sent.length, 0);
});

test("a reconnecting front end gets every live widget's state from one request_states on the control comm", async () => {
  const a = intSlider({ min: 0, max: 4, value: 2 });
  const opened = stateOf(a.id);
  const b = checkbox({ value: true });
  b.close();
  reg.handleOpen({ comm_id: "ctl", target_name: "jupyter.widget.control", data: {} });
  sent = [];
  await reg.handleMsg({ comm_id: "ctl", data: { method: "request_states" } });
  assert.equal(sent.length, 1);
  const data = sent[0].content.data;
  assert.equal(data.method, "update_states");
  assert.deepEqual(data.buffer_paths, []);
  assert.deepEqual(data.states[a.id], opened);
  assert.equal(data.states[b.id], undefined, "a closed widget is not sent");
  assert.ok(Object.values(data.states).some((s: any) => s._model_name === "SliderStyleModel"), "the layouts and styles come along");
});
