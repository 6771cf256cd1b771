/**
 * A small Jupyter client: starts the QuantLab kernel on a fresh connection file (or connects to one),
 * and sends requests on shell/control/stdin while collecting the iopub messages of each request.
 * Used by the headless notebook runner, the kernel tests and the kernel benchmark.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Dealer, Request, Subscriber } from "zeromq";
import { QuantLabError } from "../errors.js";
import { cleanStaleTempDirs, ownedTempDir } from "../kernel/tempdirs.js";
import { address, decode, encode, newHeader, SendQueue, Signer, type ConnectionInfo, type Message } from "../kernel/wire.js";

export const QUANTLAB_BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "quantlab.js");

export interface ExecuteResult {
  reply: Message;
  /** iopub messages of this request between busy and idle (execute_input and status excluded). */
  outputs: Message[];
}

export interface StartOptions {
  /** Command line of the kernel; `{connection_file}` is replaced. Default: this installation's QuantLab kernel. */
  argv?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the kernel's stderr goes (default: ignored). */
  stderr?: "inherit" | "ignore" | "pipe";
  key?: string;
  readyTimeoutMs?: number;
}

interface Pending {
  reply?: Message;
  noReply: boolean;
  outputs: Message[];
  idle: boolean;
  resolve(r: ExecuteResult): void;
  onOutput?: (m: Message) => void;
  onInput?: (m: Message) => Promise<string> | string;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import("node:net").Server>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function defaultKernelArgv(): string[] {
  return [process.execPath, QUANTLAB_BIN, "kernel", "start", "-f", "{connection_file}"];
}

/** Kernels this process started and has not closed: ended on every exit path (see endAllKernels). */
const live = new Set<KernelClient>();
let exitHooked = false;

/**
 * Synchronously kills every kernel this process started and removes their connection folders: what
 * `process.on("exit")` may still do. A kernel killed this way cannot close its Chromium; its lifeline
 * does (src/kernel/lifeline.ts).
 */
export function endAllKernels(): void {
  for (const k of live) k.killNow();
}

/**
 * For a command that owns its kernels (`quantlab run`, `npm start`): SIGINT, SIGTERM and SIGHUP first
 * ask each kernel to shut down (SIGTERM, so it closes its browser), wait up to `graceMs`, then kill
 * what is left and exit with 128 + the signal's number, as the signal itself would have.
 */
export function endKernelsOnSignals(graceMs = 2000): void {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  let ending = false;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (ending) return;
      ending = true;
      void Promise.all([...live].map((k) => k.terminate(graceMs))).finally(() => {
        endAllKernels();
        process.exit(128 + numbers[sig]);
      });
    });
  }
}

export class KernelClient {
  readonly session = randomUUID();
  readonly signer: Signer;
  // shell and stdin share a routing id: the kernel answers input on stdin to the shell request's sender
  private readonly shell = new Dealer({ routingId: this.session });
  private readonly control = new Dealer();
  private readonly stdin = new Dealer({ routingId: this.session });
  private readonly iopub = new Subscriber();
  private readonly shellOut: SendQueue;
  private readonly controlOut: SendQueue;
  private readonly stdinOut: SendQueue;
  private readonly pending = new Map<string, Pending>();
  /** Every iopub message received, in order (tests inspect it). */
  readonly iopubLog: Message[] = [];
  private closed = false;
  process: ChildProcess | null = null;
  private tmpDir: string | null = null;

  constructor(readonly info: ConnectionInfo) {
    this.signer = new Signer(info.key);
    const onErr = (e: unknown) => {
      if (!this.closed) throw e;
    };
    this.shellOut = new SendQueue(this.shell, onErr);
    this.controlOut = new SendQueue(this.control, onErr);
    this.stdinOut = new SendQueue(this.stdin, onErr);
    this.shell.connect(address(info, "shell"));
    this.control.connect(address(info, "control"));
    this.stdin.connect(address(info, "stdin"));
    this.iopub.connect(address(info, "iopub"));
    this.iopub.subscribe();
    void this.readLoop(this.shell, "reply");
    void this.readLoop(this.control, "reply");
    void this.readLoop(this.stdin, "stdin");
    void this.readLoop(this.iopub, "iopub");
  }

  /** Starts a kernel process on a new connection file and waits until it answers and publishes. */
  static async start(opts: StartOptions = {}): Promise<KernelClient> {
    const [shell_port, iopub_port, stdin_port, control_port, hb_port] = await freePorts(5);
    const info: ConnectionInfo = {
      transport: "tcp", ip: "127.0.0.1", shell_port, iopub_port, stdin_port, control_port, hb_port,
      key: opts.key ?? randomBytes(16).toString("hex"), signature_scheme: "hmac-sha256", kernel_name: "quantlab",
    };
    // folders left by runners that were killed (SIGKILL leaves no chance to clean up) go first
    cleanStaleTempDirs();
    const dir = ownedTempDir("quantlab-client-");
    const file = join(dir, "kernel.json");
    writeFileSync(file, JSON.stringify(info));
    const [cmd, ...args] = (opts.argv ?? defaultKernelArgv()).map((a) => a.replace("{connection_file}", file));
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "ignore", opts.stderr ?? "ignore"] });
    const client = new KernelClient(info);
    client.process = child;
    client.tmpDir = dir;
    live.add(client);
    if (!exitHooked) {
      exitHooked = true;
      process.once("exit", endAllKernels);
    }
    let exited: string | null = null;
    child.once("exit", (code, signal) => (exited = `the kernel exited (${signal ?? code}) before it was ready`));
    try {
      await client.waitForReady(opts.readyTimeoutMs ?? 60_000, () => exited);
    } catch (e) {
      await client.close();
      throw e;
    }
    return client;
  }

  /**
   * Repeats kernel_info until one is answered on shell and its status reaches iopub: a SUB socket
   * misses what is published before its subscription arrives, so a reply alone is not enough.
   */
  async waitForReady(timeoutMs: number, failed: () => string | null = () => null): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const why = failed();
      if (why) throw new QuantLabError("PROTOCOL", why);
      if (Date.now() > deadline) throw new QuantLabError("PROTOCOL", `the kernel did not answer kernel_info within ${timeoutMs} ms`);
      const r = await Promise.race([this.request("kernel_info_request", {}), new Promise<null>((res) => setTimeout(() => res(null), 250))]);
      if (r && r.outputs !== undefined && this.iopubLog.some((m) => m.parent_header.msg_id === r.reply.parent_header.msg_id)) return r.reply;
    }
  }

  private async readLoop(socket: AsyncIterable<Buffer[]>, kind: "reply" | "iopub" | "stdin"): Promise<void> {
    try {
      for await (const frames of socket) {
        let msg: Message;
        try {
          msg = decode(this.signer, frames);
        } catch {
          continue;
        }
        const p = this.pending.get(String(msg.parent_header.msg_id));
        if (kind === "iopub") {
          this.iopubLog.push(msg);
          if (!p) continue;
          const type = msg.header.msg_type;
          if (type === "status") {
            if (msg.content.execution_state === "idle") p.idle = true;
          } else if (type !== "execute_input") {
            p.outputs.push(msg);
            p.onOutput?.(msg);
          }
        } else if (kind === "stdin") {
          if (msg.header.msg_type === "input_request") void this.answerInput(msg, p);
          continue;
        } else if (p) {
          p.reply = msg;
        }
        if (p && (p.reply || p.noReply) && p.idle) {
          this.pending.delete(String(msg.parent_header.msg_id));
          p.resolve({ reply: p.reply ?? msg, outputs: p.outputs });
        }
      }
    } catch (e) {
      if (!this.closed) throw e;
    }
  }

  private async answerInput(req: Message, p: Pending | undefined): Promise<void> {
    const value = p?.onInput ? await p.onInput(req) : "";
    const frames = encode(this.signer, { identities: [], header: newHeader("input_reply", this.session, "client"), parent_header: req.header, metadata: {}, content: { value } });
    await this.stdinOut.send(frames);
  }

  /**
   * Sends a request and resolves when its reply has arrived and the kernel went idle for it (comm
   * messages have no reply: they resolve on idle, with the idle status as `reply`).
   */
  request(
    type: string,
    content: Record<string, unknown>,
    opts: { channel?: "shell" | "control"; onOutput?: (m: Message) => void; onInput?: (m: Message) => Promise<string> | string } = {},
  ): Promise<ExecuteResult> & { msgId: string } {
    const header = newHeader(type, this.session, "client");
    const promise = new Promise<ExecuteResult>((resolve) => {
      this.pending.set(header.msg_id, { outputs: [], idle: false, noReply: type.startsWith("comm_") && type !== "comm_info_request", resolve, onOutput: opts.onOutput, onInput: opts.onInput });
    });
    void this.sendRaw(encode(this.signer, { identities: [], header, parent_header: {}, metadata: {}, content }), opts.channel ?? "shell");
    return Object.assign(promise, { msgId: header.msg_id });
  }

  /** Frames as given, e.g. a deliberately mis-signed message in a test. */
  sendRaw(frames: Buffer[], channel: "shell" | "control" = "shell"): Promise<void> {
    return (channel === "shell" ? this.shellOut : this.controlOut).send(frames);
  }

  execute(
    code: string,
    opts: { silent?: boolean; store_history?: boolean; user_expressions?: Record<string, string>; allow_stdin?: boolean; stop_on_error?: boolean; onOutput?: (m: Message) => void; onInput?: (m: Message) => Promise<string> | string } = {},
  ): Promise<ExecuteResult> & { msgId: string } {
    const { onOutput, onInput, ...rest } = opts;
    return this.request(
      "execute_request",
      { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: !!onInput, stop_on_error: true, ...rest },
      { onOutput, onInput },
    );
  }

  /** One heartbeat round trip (ms), or null when the kernel does not echo within `timeoutMs`. */
  async heartbeat(timeoutMs = 2000): Promise<number | null> {
    const req = new Request({ receiveTimeout: timeoutMs, linger: 0 });
    req.connect(address(this.info, "hb"));
    const t0 = performance.now();
    try {
      await req.send("ping");
      await req.receive();
      return performance.now() - t0;
    } catch {
      return null;
    } finally {
      req.close();
    }
  }

  /** Asks the kernel to shut down (waiting for its process to exit), then closes the sockets. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      await Promise.race([this.request("shutdown_request", { restart: false }, { channel: "control" }), new Promise((r) => setTimeout(r, timeoutMs))]);
      await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutMs))]);
    }
    await this.close();
  }

  /** Sends the kernel SIGTERM (it shuts down cleanly) and waits up to `graceMs` for it to exit. */
  async terminate(graceMs: number): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  }

  /** The synchronous part of close(): kill the kernel if it still runs, remove the connection folder. */
  killNow(): void {
    live.delete(this);
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    this.tmpDir = null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [this.shell, this.control, this.stdin, this.iopub]) {
      s.linger = 0;
      s.close();
    }
    this.killNow();
  }
}
