/**
 * The control and heartbeat sockets live on a worker thread, so that they answer while a cell blocks
 * the main thread: an `interrupt_request` is verified here and turned into SIGINT to this process
 * (which stops a synchronous loop through `vm` breakOnSigint, or rejects a pending await through the
 * main thread's SIGINT listener); the heartbeat echoes. Other control requests are forwarded to the
 * main thread, whose replies come back here to be sent.
 *
 * The same thread watches the kernel's parent (the process that started it, and JPY_PARENT_PID when
 * a Jupyter KernelManager sets it): a cell that blocks the main thread cannot stop the watch. When the
 * parent is gone the main thread is asked to shut down; if it has not within a second (a busy cell),
 * the thread ends the process itself, and the kernel's lifeline (src/kernel/lifeline.ts) takes the
 * Chromium and temporary folders with it.
 *
 * The worker is evaluated from source text (`eval: true`) so it runs the same whether the kernel was
 * started from dist/ or through tsx; that is why its few lines of framing and HMAC checking repeat
 * src/kernel/wire.ts rather than import it.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

const SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const { createHmac, timingSafeEqual } = require("node:crypto");
const zmq = require(workerData.zeromq);
const key = Buffer.from(workerData.key, "utf8");
const DELIM = "<IDS|MSG>";
const control = new zmq.Router();
const hb = new zmq.Reply();
let sending = Promise.resolve();
// interrupts are answered here, so their replays are refused here (the main thread guards the rest)
const seen = new Set();
function fresh(sig) {
  if (key.length === 0) return true;
  if (seen.has(sig)) return false;
  seen.add(sig);
  if (seen.size > 4096) seen.delete(seen.values().next().value);
  return true;
}
function alive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === "EPERM"; }
}
function watchParent() {
  const { ppid, jpyParent } = workerData;
  let gone = null;
  const timer = setInterval(() => {
    if (gone === null) {
      if (ppid > 1 && process.ppid !== ppid) gone = "its parent process " + ppid + " exited";
      else if (jpyParent > 1 && !alive(jpyParent)) gone = "its Jupyter parent (JPY_PARENT_PID " + jpyParent + ") exited";
      if (gone === null) return;
      parentPort.postMessage({ type: "orphaned", text: gone });
      gone = Date.now();
    } else if (Date.now() - gone > 1000) {
      process.stderr.write("[quantlab kernel] the main thread did not stop within 1 s of losing its parent: ending the process\n");
      process.kill(process.pid, "SIGKILL");
    }
  }, 200);
  timer.unref();
}
function send(frames) { sending = sending.then(() => control.send(frames)).catch((e) => parentPort.postMessage({ type: "log", text: "control send failed: " + e.message })); }
function sign(parts) {
  if (key.length === 0) return "";
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest("hex");
}
function verify(sig, parts) {
  if (key.length === 0) return true;
  const want = Buffer.from(sign(parts), "latin1");
  const got = Buffer.from(sig, "latin1");
  return got.length === want.length && timingSafeEqual(got, want);
}
async function serveControl() {
  for await (const frames of control) {
    const at = frames.findIndex((f) => f.toString() === DELIM);
    if (at < 0 || frames.length < at + 6) { parentPort.postMessage({ type: "log", text: "dropped a control message without the delimiter" }); continue; }
    const parts = frames.slice(at + 2, at + 6);
    let header;
    try { header = JSON.parse(parts[0].toString()); } catch { header = {}; }
    if (header.msg_type === "interrupt_request") {
      const sig = frames[at + 1].toString("latin1");
      if (!verify(sig, parts)) { parentPort.postMessage({ type: "log", text: "dropped an interrupt_request whose signature does not verify" }); continue; }
      if (typeof header.msg_id !== "string" || typeof header.session !== "string") { parentPort.postMessage({ type: "log", text: "dropped an interrupt_request with a malformed header" }); continue; }
      if (!fresh(sig)) { parentPort.postMessage({ type: "log", text: "dropped an interrupt_request: duplicate signature (msg_id " + JSON.stringify(header.msg_id) + ")" }); continue; }
      // the flag first: a cell busy in a library loop never reaches the SIGINT listener and polls it,
      // and a SIGINT that lands just before a cell's script starts is lost to breakOnSigint, but the
      // executor's last check before the call sees the flag already raised
      if (workerData.interrupt) Atomics.store(new Int32Array(workerData.interrupt), 0, 1);
      process.kill(process.pid, "SIGINT");
      const reply = [
        { msg_id: require("node:crypto").randomUUID(), session: workerData.session, username: "kernel", date: new Date().toISOString(), msg_type: "interrupt_reply", version: "5.3" },
        header, {}, { status: "ok" },
      ].map((p) => Buffer.from(JSON.stringify(p)));
      send([...frames.slice(0, at), Buffer.from(DELIM), Buffer.from(sign(reply)), ...reply]);
      parentPort.postMessage({ type: "interrupted", header });
      continue;
    }
    parentPort.postMessage({ type: "message", frames });
  }
}
async function serveHeartbeat() {
  for await (const frames of hb) await hb.send(frames);
}
parentPort.on("message", async (m) => {
  if (m.type === "send") send(m.frames.map((f) => Buffer.from(f)));
  if (m.type === "close") {
    await sending;
    control.close();
    hb.close();
    parentPort.postMessage({ type: "closed" });
  }
});
(async () => {
  await control.bind(workerData.control);
  await hb.bind(workerData.hb);
  parentPort.postMessage({ type: "ready" });
  watchParent();
  serveControl().catch(() => {});
  serveHeartbeat().catch(() => {});
})().catch((e) => parentPort.postMessage({ type: "fatal", text: e.message }));
`;

export type ControlEvent =
  | { type: "message"; frames: Uint8Array[] }
  | { type: "interrupted"; header: Record<string, unknown> }
  | { type: "log"; text: string }
  | { type: "orphaned"; text: string };

export interface ControlThread {
  send(frames: Buffer[]): void;
  close(): Promise<void>;
}

export async function startControlThread(
  opts: { control: string; hb: string; key: string; session: string; interrupt?: SharedArrayBuffer },
  onEvent: (e: ControlEvent) => void,
): Promise<ControlThread> {
  const jpyParent = Number(process.env.JPY_PARENT_PID);
  const workerData = { ...opts, zeromq: require.resolve("zeromq"), ppid: process.ppid, jpyParent: Number.isInteger(jpyParent) ? jpyParent : 0 };
  const worker = new Worker(SOURCE, { eval: true, workerData });
  worker.unref();
  await new Promise<void>((resolve, reject) => {
    worker.on("message", (m: { type: string; text?: string }) => {
      if (m.type === "ready") resolve();
      else if (m.type === "fatal") reject(new Error(`control thread: ${m.text}`));
      else if (m.type !== "closed") onEvent(m as ControlEvent);
    });
    worker.once("error", reject);
  });
  return {
    send(frames) {
      worker.postMessage({ type: "send", frames });
    },
    close() {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        worker.on("message", (m: { type: string }) => {
          if (m.type === "closed") {
            clearTimeout(timer);
            resolve();
          }
        });
        worker.postMessage({ type: "close" });
      });
    },
  };
}
