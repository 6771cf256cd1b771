/**
 * The widget protocol on the wire: Debian's jupyter_client drives the real kernel (installed into a
 * temporary Jupyter prefix) the way a widget front end does — it reads the comm_open messages of an
 * `interact` cell, moves the slider with a comm_msg `update`, asks for `request_state`, and lists the
 * comms — and this test checks what came back: protocol metadata, echo_update parented to the front
 * end's message, the Output widget's new outputs, and outputs outside the callback left where they were.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { jupyterEnv, PY } from "../helpers/jupyter.js";

const DRIVER = String.raw`
import json, sys
from jupyter_client.manager import KernelManager

km = KernelManager(kernel_name="quantlab")
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=120)
log = []

def drain(msg_id, timeout=120):
    got = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        got.append({"type": m["msg_type"], "content": m["content"], "metadata": m["metadata"]})
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return got

def execute(code):
    msg_id = kc.execute(code)
    out = drain(msg_id)
    reply = kc.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=120)
    return {"iopub": out, "reply": reply["content"]}

def comm_msg(comm_id, data):
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.shell_channel.send(msg)
    return drain(msg["header"]["msg_id"])

cell = execute('const w = interact(({ bits }) => { console.log("run " + bits); return ruler({ bits }).fit([0.1, -0.3, 0.7, -1.0, 0.5]); }, { bits: [2, 8] });\nconsole.log("after interact");\nw')
opens = [m for m in cell["iopub"] if m["type"] == "comm_open"]
slider = next(m["content"]["comm_id"] for m in opens if m["content"]["data"]["state"]["_model_name"] == "IntSliderModel")
output = next(m["content"]["comm_id"] for m in opens if m["content"]["data"]["state"]["_model_name"] == "OutputModel")
moved = comm_msg(slider, {"method": "update", "state": {"value": 3}, "buffer_paths": []})
clamped = comm_msg(slider, {"method": "update", "state": {"value": 99}, "buffer_paths": []})
state = comm_msg(output, {"method": "request_state"})
kc.comm_info(target_name="jupyter.widget")
info = kc.get_shell_msg(timeout=60)["content"]
values = execute("w.values")
print(json.dumps({"cell": cell, "slider": slider, "output": output, "moved": moved, "clamped": clamped, "state": state, "info": info, "values": values}))
kc.stop_channels()
km.shutdown_kernel(now=True)
`;

let dir = "";
let env: NodeJS.ProcessEnv = process.env;
type Msg = { type: string; content: Record<string, any>; metadata: Record<string, any> };
let r: { cell: { iopub: Msg[]; reply: Record<string, any> }; slider: string; output: string; moved: Msg[]; clamped: Msg[]; state: Msg[]; info: Record<string, any>; values: { iopub: Msg[] } };

before(() => {
  if (!PY) return;
  ({ dir, env } = jupyterEnv());
  const run = spawnSync(PY, ["-c", DRIVER], { env, encoding: "utf8", timeout: 240_000 });
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  r = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const skip = PY ? false : "a python3 with jupyter_client is needed (apt-get install python3-jupyter-client)";
const comms = (msgs: Msg[], id: string) => msgs.filter((m) => m.type === "comm_msg" && m.content.comm_id === id).map((m) => m.content.data);

test("an interact cell opens its widgets over jupyter.widget with protocol 2.1 and shows the view", { skip }, () => {
  assert.equal(r.cell.reply.status, "ok");
  const opens = r.cell.iopub.filter((m) => m.type === "comm_open");
  assert.deepEqual(new Set(opens.map((m) => m.content.data.state._model_name)), new Set(["LayoutModel", "SliderStyleModel", "IntSliderModel", "OutputModel", "VBoxModel"]));
  for (const m of opens) {
    assert.equal(m.content.target_name, "jupyter.widget");
    assert.deepEqual(m.metadata, { version: "2.1.0" });
    assert.deepEqual(m.content.data.buffer_paths, []);
  }
  const result = r.cell.iopub.find((m) => m.type === "execute_result")!;
  const view = result.content.data["application/vnd.jupyter.widget-view+json"];
  const box = opens.find((m) => m.content.data.state._model_name === "VBoxModel")!;
  assert.deepEqual(view, { model_id: box.content.comm_id, version_major: 2, version_minor: 0 });
  assert.match(result.content.data["text/plain"], /^interact: bits = 5\n[\s\S]*scale/);
  assert.match(result.content.data["text/html"], /<b>bits<\/b> = 5/);
  // the first run's print went into the Output widget; the cell's own print stayed in the cell
  const first = opens.find((m) => m.content.comm_id === r.output)!.content.data.state.outputs;
  const later = comms(r.cell.iopub, r.output).at(-1)?.state.outputs ?? first;
  assert.deepEqual(later[0], { output_type: "stream", name: "stdout", text: "run 5\n" });
  const streams = r.cell.iopub.filter((m) => m.type === "stream").map((m) => m.content.text).join("");
  assert.equal(streams, "after interact\n");
});

test("moving the slider: busy, echo_update, the Output widget's new outputs, idle — all parented to the update", { skip }, () => {
  assert.deepEqual(r.moved.map((m) => m.type), ["status", "comm_msg", "comm_msg", "status"]);
  assert.deepEqual(comms(r.moved, r.slider), [{ method: "echo_update", state: { value: 3 }, buffer_paths: [] }]);
  const [update] = comms(r.moved, r.output);
  assert.equal(update.method, "update");
  const outs = update.state.outputs;
  assert.deepEqual(outs[0], { output_type: "stream", name: "stdout", text: "run 3\n" });
  assert.equal(outs[1].output_type, "display_data");
  assert.match(outs[1].data["text/plain"], /scale\s+0\.2429/, "3 bits: (0.7 + 1.0) / 7 = 0.242857");
  assert.ok(!r.moved.some((m) => m.type === "stream" || m.type === "display_data"), "nothing leaks out of the Output widget");
});

test("an out-of-range value is echoed, corrected by an update, and the kernel keeps the corrected value", { skip }, () => {
  assert.deepEqual(comms(r.clamped, r.slider), [
    { method: "echo_update", state: { value: 99 }, buffer_paths: [] },
    { method: "update", state: { value: 8 }, buffer_paths: [] },
  ]);
  const values = r.values.iopub.find((m) => m.type === "execute_result")!.content.data["text/plain"];
  assert.match(values, /bits: 8/);
});

test("request_state returns the whole state; comm_info lists the open widget comms", { skip }, () => {
  const [update] = comms(r.state, r.output);
  assert.equal(update.method, "update");
  assert.equal(update.state._model_name, "OutputModel");
  assert.equal(update.state._model_module, "@jupyter-widgets/output");
  assert.match(JSON.stringify(update.state.outputs), /run 8/);
  assert.ok(r.info.comms[r.slider], "the slider's comm is listed");
  assert.equal(r.info.comms[r.output].target_name, "jupyter.widget");
});
