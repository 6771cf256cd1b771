/**
 * What an outside harness found the kernel too trusting about, each checked through a real
 * jupyter_client (test/kernel/trust.py) or by killing real processes: replayed signed messages,
 * msg_types that name Object.prototype members, incomplete headers, bad execute_request content, a
 * value nested 200,000 deep, input() answered by KernelClient.input(), a kernel whose KernelManager
 * is killed (idle, or busy in a loop), and a killed kernel's Chromium and temporary folders.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findChromium } from "../../src/display/browser.js";
import { kernelEnv, ROOT, startKernel } from "./helpers.js";
import { processesWith } from "../helpers/processes.js";

const PY = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import jupyter_client"], { stdio: "ignore" }).status === 0);
const skip = PY ? false : "a python3 with jupyter_client is needed: apt-get install python3-jupyter-client";
if (skip && process.env.CI) throw new Error(`CI: ${skip}`);

let dir = "";
let env: NodeJS.ProcessEnv = {};
before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "quantlab-trust-"));
  env = { ...kernelEnv(), JUPYTER_PATH: join(dir, "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(dir, "runtime") };
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "quantlab.js"), "kernel", "install", "--prefix", dir], { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});
after(() => dir && rmSync(dir, { recursive: true, force: true }));

/** Running, not merely a zombie waiting for a reaper (a container's init may be slow to reap). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return false;
  }
}

async function waitDead(pid: number, ms: number): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (!alive(pid)) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

describe("protocol probes through jupyter_client", { skip }, () => {
  let found: Record<string, any> = {};
  let log = "";
  before(() => {
    const stderr = join(dir, "kernel-stderr.txt");
    const r = spawnSync(PY!, [join(ROOT, "test", "kernel", "trust.py"), "probes", stderr], { env, encoding: "utf8", timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    found = JSON.parse(r.stdout.trim().split("\n").pop()!);
    log = readFileSync(stderr, "utf8");
  });

  it("runs a replayed signed message once and logs the duplicate once", () => {
    assert.equal(found.replayReplies, 1);
    assert.equal(found.replayCount, "1");
    assert.equal(log.match(/duplicate signature/g)?.length, 1);
  });

  it("answers msg_types named after Object.prototype members with nothing but a log line", () => {
    for (const [type, r] of Object.entries(found.prototype as Record<string, { replies: number; iopub: string[] }>)) {
      assert.equal(r.replies, 0, type);
      assert.deepEqual(r.iopub, [], type);
      assert.match(log, new RegExp(`unknown message type "${type}"`));
    }
    assert.doesNotMatch(log, /handler for .* failed/);
  });

  it("drops a message whose header has only msg_type", () => {
    assert.equal(found.headerOnlyCount, "1");
    assert.match(log, /malformed header: the header's msg_id is missing/);
  });

  it("refuses execute_request content that is not an object or lacks a string code, running nothing", () => {
    const expect: Record<string, RegExp> = {
      empty: /needs 'code' \(a string\)/, array: /content is an array/, null: /content is null/,
      codeNull: /'code' must be a string, got null/, codeNumber: /'code' must be a string, got the number 5/,
    };
    for (const [name, re] of Object.entries(expect)) {
      const replies = found.badContent[name] as Record<string, unknown>[];
      assert.equal(replies.length, 1, name);
      assert.equal(replies[0].status, "error", name);
      assert.equal(replies[0].ename, "BadRequest", name);
      assert.match(String(replies[0].evalue), re, name);
    }
    assert.equal(found.afterBadCount, "1");
  });

  it("does not parse or run a value nested 200,000 deep", () => {
    assert.equal(found.deepReplies, 0);
    assert.equal(found.deepCount, "1");
    assert.match(log, /nests deeper than 100 levels/);
  });

  it("takes input() from KernelClient.input(), whose reply has no parent_header", () => {
    assert.equal(found.inputPrompt, "name? ");
    assert.equal(found.inputStatus, "ok");
    assert.equal(found.inputValue, "'bob'");
    assert.equal(found.alive, "2");
  });
});

/** Starts a kernel through a KernelManager in a Python process; resolves with both pids. */
async function managedKernel(code = "", settle = 0.5): Promise<{ manager: number; kernel: number; stderr: string }> {
  const stderr = join(dir, `orphan-${Date.now()}.txt`);
  const child = spawn(PY!, [join(ROOT, "test", "kernel", "trust.py"), "orphan", stderr, code, String(settle)], { env, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const kernel = await new Promise<number>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line).kernel);
    });
    child.once("exit", (c) => reject(new Error(`the manager exited (${c}) before its kernel was ready`)));
  });
  return { manager: child.pid!, kernel, stderr };
}

describe("a kernel whose parent dies", { skip }, () => {
  it("exits within about a second of its KernelManager being killed", async () => {
    const { manager, kernel, stderr } = await managedKernel("1 + 1");
    process.kill(manager, "SIGKILL");
    const ms = await waitDead(kernel, 4000);
    if (ms === null) process.kill(kernel, "SIGKILL");
    assert.notEqual(ms, null, "the kernel outlived its KernelManager");
    assert.ok(ms! < 2500, `took ${ms} ms`);
    // the kernel says why it left when its log reaches the file (not always before the exit here)
    const said = readFileSync(stderr, "utf8");
    if (said) assert.match(said, /parent .*exited: shutting down|did not stop within 1 s of losing its parent/);
  });

  it("exits even while a cell loops forever on the main thread", async () => {
    const { manager, kernel } = await managedKernel("while (true) {}", 1);
    process.kill(manager, "SIGKILL");
    const ms = await waitDead(kernel, 5000);
    if (ms === null) process.kill(kernel, "SIGKILL");
    assert.notEqual(ms, null, "the busy kernel outlived its KernelManager");
  });
});


const chromium = findChromium() ? false : "Chromium is needed: apt-get install chromium";
describe("a killed kernel's browser and folders", { skip: skip || chromium }, () => {
  it("go with it: no Chromium or profile folder survives SIGKILL", async () => {
    const k = await startKernel();
    const pid = k.process!.pid!;
    const r = await k.execute("await warmBrowser()");
    assert.equal(r.reply.content.status, "ok", JSON.stringify(r.reply.content));
    const mark = `quantlab-chromium-${pid}-`;
    assert.ok(processesWith(mark).length > 0, "no Chromium found for the kernel");
    const profiles = readdirSync(tmpdir()).filter((n) => n.startsWith(mark));
    assert.equal(profiles.length, 1);
    process.kill(pid, "SIGKILL");
    const t0 = Date.now();
    while (Date.now() - t0 < 5000 && (processesWith(mark).length || existsSync(join(tmpdir(), profiles[0])))) await new Promise((r) => setTimeout(r, 100));
    await k.close();
    assert.deepEqual(processesWith(mark), []);
    assert.equal(existsSync(join(tmpdir(), profiles[0])), false);
  });
});
