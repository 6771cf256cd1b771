"""Protocol probes through a real jupyter_client against the QuantLab kernel (run by trust.test.ts).

`probes`: replayed messages, prototype msg_types, incomplete headers, bad content, deep nesting and
jupyter_client's own KernelClient.input() flow; prints one JSON line of findings, the kernel's stderr
goes to the file given. `orphan`: starts a kernel through a KernelManager, prints its pid, then sleeps
until killed (the test kills this process and looks for the kernel).
"""
import json
import sys
import time

import jupyter_client
from jupyter_client.session import json_packer


def start(stderr_path):
    km = jupyter_client.KernelManager(kernel_name="quantlab")
    km.start_kernel(stderr=open(stderr_path, "w"))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def replies(kc, msg_id, timeout=1.5):
    """Shell replies to msg_id within timeout (others are dropped)."""
    got = []
    end = time.time() + timeout
    while time.time() < end:
        try:
            m = kc.get_shell_msg(timeout=max(0.05, end - time.time()))
        except Exception:
            break
        if m["parent_header"].get("msg_id") == msg_id:
            got.append(m)
    return got


def iopub_for(kc, msg_id, timeout=0.5):
    got = []
    end = time.time() + timeout
    while time.time() < end:
        try:
            m = kc.get_iopub_msg(timeout=max(0.05, end - time.time()))
        except Exception:
            break
        if m["parent_header"].get("msg_id") == msg_id:
            got.append(m["msg_type"])
    return got


def raw_frames(session, header, content, parent=None, metadata=None):
    parts = [json_packer(header), json_packer(parent or {}), json_packer(metadata or {}), json_packer(content)]
    return [b"<IDS|MSG>", session.sign(parts)] + parts


def run(kc, code):
    msg_id = kc.execute(code)
    r = replies(kc, msg_id, timeout=30)
    return r[0]["content"] if r else None


def probes(stderr_path):
    km, kc = start(stderr_path)
    s = kc.session
    sock = kc.shell_channel.socket
    out = {}
    run(kc, "globalThis.__count = 0")

    # 1. the same signed frames twice: one execution, one reply
    msg = s.msg("execute_request", {"code": "globalThis.__count++", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    frames = raw_frames(s, msg["header"], msg["content"])
    sock.send_multipart(frames)
    sock.send_multipart(frames)
    out["replayReplies"] = len(replies(kc, msg["header"]["msg_id"], timeout=2))
    out["replayCount"] = run_value(kc, "(globalThis as any).__count")

    # 2. msg_types that name Object.prototype members: no reply, no iopub
    proto = {}
    for t in ["constructor", "toString", "__proto__", "valueOf", "hasOwnProperty"]:
        m = s.msg(t, {})
        sock.send_multipart(raw_frames(s, m["header"], m["content"]))
        proto[t] = {"replies": len(replies(kc, m["header"]["msg_id"], timeout=0.6)), "iopub": iopub_for(kc, m["header"]["msg_id"], 0.3)}
    out["prototype"] = proto

    # 3. a header with only msg_type: not run
    sock.send_multipart(raw_frames(s, {"msg_type": "execute_request"}, {"code": "globalThis.__count += 100"}))
    time.sleep(0.8)
    out["headerOnlyCount"] = run_value(kc, "(globalThis as any).__count")

    # 4. bad execute_request content: an error reply naming the problem, nothing run
    bad = {}
    for name, content in [("empty", {}), ("array", []), ("null", None), ("codeNull", {"code": None}), ("codeNumber", {"code": 5})]:
        m = s.msg("execute_request", {})
        sock.send_multipart(raw_frames(s, m["header"], content))
        r = replies(kc, m["header"]["msg_id"], timeout=3)
        bad[name] = [x["content"] for x in r]
    out["badContent"] = bad
    out["afterBadCount"] = run_value(kc, "(globalThis as any).__count")

    # 5. a value nested 200,000 deep: not parsed, not run
    deep = '{"code": "globalThis.__count += 1000", "silent": false, "x": ' + "[" * 200000 + "]" * 200000 + "}"
    m = s.msg("execute_request", {})
    parts = [json_packer(m["header"]), b"{}", b"{}", deep.encode()]
    sock.send_multipart([b"<IDS|MSG>", s.sign(parts)] + parts)
    out["deepReplies"] = len(replies(kc, m["header"]["msg_id"], timeout=2))
    out["deepCount"] = run_value(kc, "(globalThis as any).__count")

    # 6. input() answered through KernelClient.input() (no parent_header, as jupyter console does)
    msg_id = kc.execute('const answer = await input("name? "); console.log("got " + answer)', allow_stdin=True)
    try:
        req = kc.get_stdin_msg(timeout=30)
        out["inputPrompt"] = req["content"]["prompt"]
        kc.input("bob")
        r = replies(kc, msg_id, timeout=10)
        out["inputStatus"] = r[0]["content"]["status"] if r else None
        out["inputValue"] = run_value(kc, "answer")
    except Exception as e:
        out["inputError"] = repr(e)

    # still serving
    out["alive"] = run_value(kc, "1 + 1")
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    print(json.dumps(out))


def run_value(kc, expr):
    msg_id = kc.execute(expr)
    value = None
    end = time.time() + 30
    while time.time() < end:
        m = kc.get_iopub_msg(timeout=30)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "execute_result":
            value = m["content"]["data"]["text/plain"]
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    replies(kc, msg_id, timeout=5)
    return value


def orphan(stderr_path):
    km, kc = start(stderr_path)
    code = sys.argv[3] if len(sys.argv) > 3 else ""
    if code:
        kc.execute(code)
        time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0.5)
    print(json.dumps({"kernel": km.provisioner.process.pid}), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    {"probes": probes, "orphan": orphan}[sys.argv[1]](sys.argv[2])
