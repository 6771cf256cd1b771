/**
 * The QuantLab Jupyter kernel: shell, iopub and stdin on the main thread (control and heartbeat on
 * the control thread), one table from message type to handler, `status: busy`/`idle` around every
 * request. kernel_info is answered before the TypeScript converter and the DSL load, which happens
 * right after, so a front end sees the kernel ready in well under a second.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { getHeapStatistics } from "node:v8";
import { Publisher, Router } from "zeromq";
import { QuantLabError } from "../errors.js";
import { clearInterrupt, interruptBuffer } from "../interrupt.js";
import { resetProgress, setProgressSink } from "../progress.js";
import { installCodeCache, saveCodeCache } from "../code-cache.js";
import { CommRegistry, COMMS_KEY } from "./comms.js";
import { startControlThread, type ControlThread } from "./control-thread.js";
import { html, md, plainText, svg, toMimeBundle } from "./display.js";
import { Executor, isComplete } from "./executor.js";
import { heapBudgetBytes, installHeapBudget } from "./heap.js";
import { History, type HistoryRequest } from "./history.js";
import { startLifeline } from "./lifeline.js";
import { cleanStaleTempDirs } from "./tempdirs.js";
import { isMagic, MAGICS, parseMagic, runMagic } from "./magics.js";
import { loadPreload, type LoadedPreload } from "./preload.js";
import { ProgressDisplay } from "./progress-display.js";
import { ReplayGuard } from "./replay.js";
import { cellError, isCellError, type CellError } from "./traceback.js";
import { contentProblem } from "./validate.js";
import { address, decode, encode, newHeader, PROTOCOL_VERSION, readConnectionFile, SendQueue, Signer, type ConnectionInfo, type Header, type Message } from "./wire.js";

const require = createRequire(import.meta.url);
const VERSION = (require("../../package.json") as { version: string }).version;
const TS_VERSION = (require("@tslab/typescript-for-tslab/package.json") as { version: string }).version;

type Channel = "shell" | "control";

/** Shown while the first cell waits for the warm-up (see waitForWarmUp). */
export const WARMING_NOTE = "warming up the TypeScript checker and the DSL (first cell of the session, a few seconds)…";

/** Above the output of a cell that ran before the checker was ready (see runBeforeChecker). */
export const UNCHECKED_NOTE = "not type-checked: the TypeScript checker is still warming up (once it is ready, the next cell says if this one had type errors)";

/**
 * Quiet time after a cell that ran before the checker, before the checker's warm-up (≈ 1.5 s holding
 * the thread) begins: a cell sent right after it (Run All, a chart after the first result) runs first.
 */
const WARM_AFTER_CELL_MS = 250;

/** `name?` / `name??`: the pager's help, not code. */
const PAGER = /^\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\?\??\s*$/;

/**
 * Pause after the last kernel_info before warming up (ms): clients repeat kernel_info until their
 * iopub subscription sees its status, and the warm-up holds the thread; QUANTLAB_WARM_DELAY_MS sets it.
 */
const WARM_DELAY_MS = Number(process.env.QUANTLAB_WARM_DELAY_MS ?? 400);
type Reply = Record<string, unknown> | null;

const originalStderrWrite = process.stderr.write.bind(process.stderr);
function log(text: string): void {
  originalStderrWrite(`[quantlab kernel] ${text}\n`);
}

export class Kernel {
  private readonly signer: Signer;
  private readonly session = randomUUID();
  private readonly shell = new Router();
  private readonly iopub = new Publisher();
  private readonly stdin = new Router();
  private readonly shellOut: SendQueue;
  private readonly iopubOut: SendQueue;
  private readonly stdinOut: SendQueue;
  private control: ControlThread | null = null;
  private readonly queue: Message[] = [];
  private wake: (() => void) | null = null;
  private executionCount = 0;
  private readonly history = new History();
  private executor: Executor | null = null;
  private preload: LoadedPreload | null = null;
  private prepared: Promise<void> | null = null;
  private ready: Promise<void> | null = null;
  private warmed = false;
  private warmTimer: NodeJS.Timeout | undefined;
  /**
   * When the warm-up's quiet wait last restarted (performance.now()), and how long it is: Infinity
   * while a cell before the checker runs (its end restarts the wait, see dispatch).
   */
  private quietSince = 0;
  private quietMs = 0;
  /** The cells that ran before the checker, checked once it is ready (see lateTypeErrors). */
  private readonly ranUnchecked: { code: string; cell: string }[] = [];
  /** What that check found, said under the next checked cell; null when nothing is to be said. */
  private lateTypeErrors: string | null = null;
  private parent: Message | null = null;
  private readonly streams = { stdout: "", stderr: "" };
  private flushScheduled = false;
  private readonly pendingInput = new Map<string, { resolve(v: string): void }>();
  private readonly comms: CommRegistry;
  private closing = false;
  private readonly handlers: Map<string, (msg: Message, channel: Channel) => Promise<Reply>>;
  private readonly replays = new ReplayGuard();

  constructor(private readonly info: ConnectionInfo) {
    this.signer = new Signer(info.key);
    const onErr = (e: unknown) => log(`send failed: ${(e as Error).message}`);
    this.shellOut = new SendQueue(this.shell, onErr);
    this.iopubOut = new SendQueue(this.iopub, onErr);
    this.stdinOut = new SendQueue(this.stdin, onErr);
    this.comms = new CommRegistry((type, content, metadata) => this.publish(type, content, undefined, metadata), () => this.flushStreams());
    // a Map, not an object literal: a msg_type such as "constructor" or "__proto__" must not find
    // Object.prototype's members
    this.handlers = new Map(Object.entries({
      kernel_info_request: async () => this.kernelInfo(),
      execute_request: (m) => this.execute(m),
      complete_request: (m) => this.complete(m),
      inspect_request: (m) => this.inspect(m),
      is_complete_request: async (m) => this.isComplete(m),
      history_request: async (m) => ({ status: "ok", history: this.history.query(m.content as HistoryRequest) }),
      comm_info_request: async (m) => ({ status: "ok", comms: this.comms.info(m.content.target_name) }),
      comm_open: async (m) => (this.comms.handleOpen(m.content as never), null),
      comm_msg: async (m) => (await this.comms.handleMsg(m.content as never), null),
      comm_close: async (m) => (this.comms.handleClose(m.content as never), null),
      shutdown_request: async (m) => ({ status: "ok", restart: !!m.content.restart }),
      interrupt_request: async () => (this.interrupt(), { status: "ok" }),
    } satisfies Record<string, (msg: Message, channel: Channel) => Promise<Reply>>));
  }

  async start(): Promise<void> {
    await Promise.all([
      this.shell.bind(address(this.info, "shell")),
      this.iopub.bind(address(this.info, "iopub")),
      this.stdin.bind(address(this.info, "stdin")),
    ]);
    this.control = await startControlThread(
      { control: address(this.info, "control"), hb: address(this.info, "hb"), key: this.info.key, session: this.session, interrupt: interruptBuffer() },
      (e) => {
        if (e.type === "log") log(e.text);
        else if (e.type === "interrupted") this.wrapStatus(e.header as unknown as Header);
        else if (e.type === "orphaned") {
          log(`${e.text}: shutting down`);
          // nobody is left to read a reply: skip the graceful close of the sockets
          void this.shutdown(true);
        }
        else this.receive(e.frames.map((f) => Buffer.from(f)), "control");
      },
    );
    this.captureStreams();
    setProgressSink(this.progress.sink);
    process.on("SIGINT", () => this.interrupt());
    process.on("SIGTERM", () => void this.shutdown());
    // a cell's timer or forgotten promise that throws later must not kill the kernel: report it on
    // stderr of the latest cell instead (Node would exit on either by default)
    process.on("uncaughtException", (e) => process.stderr.write(`Uncaught ${(e as Error)?.stack ?? String(e)}\n`));
    process.on("unhandledRejection", (e) => process.stderr.write(`Unhandled promise rejection: ${(e as Error)?.stack ?? String(e)}\n`));
    (globalThis as Record<symbol, unknown>)[COMMS_KEY] = this.comms;
    void this.readShell();
    void this.readStdin();
    void this.processQueue();
  }

  /** Loads the DSL and makes the executor (≈ 0.3 s): what a cell needs before the checker. */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      let budget = getHeapStatistics().heap_size_limit;
      try {
        budget = heapBudgetBytes();
      } catch (e) {
        log(`${(e as Error).message}: using V8's heap limit (${Math.round(budget / 2 ** 20)} MB)`);
      }
      installHeapBudget(budget);
      cleanStaleTempDirs();
      try {
        startLifeline(getHeapStatistics().heap_size_limit);
      } catch (e) {
        log(`could not start the lifeline process: ${(e as Error).message}`);
      }
      const helpers = {
        display: (obj: unknown, opts?: { raw?: boolean; update?: boolean; display_id?: string }) => this.display(obj, opts),
        html,
        md,
        svg,
        clearOutput: (wait = false) => this.publishOut("clear_output", { wait }),
        input: (prompt = "", opts?: { password?: boolean }) => this.input(prompt, !!opts?.password),
      };
      this.preload = await loadPreload(helpers);
      if (this.preload.error) log(this.preload.error);
      // only now: Chromium starting beside the kernel's own start slowed the first result by ≈ 0.4 s
      // on two cores (whatever its priority); beside the compiler's load it costs ≈ 0.1 s
      startChartBrowser();
      this.executor = new Executor(this.preload, process.cwd());
      // what a cell before the checker transpiles with
      require("@tslab/typescript-for-tslab");
    })();
    return this.prepared;
  }

  /** Loads the converter and the DSL once; every checked cell, completion and inspection waits on it. */
  private warm(): Promise<void> {
    this.ready ??= (async () => {
      await this.prepare();
      this.executor!.warmUp();
      this.warmed = true;
      this.lateTypeErrors = this.checkUncheckedCells();
      // the bundles' functions the checker compiled are in the cache the next kernel starts with
      void saveCodeCache();
    })();
    return this.ready;
  }

  // ---------------------------------------------------------------- wire

  private async readShell(): Promise<void> {
    for await (const frames of this.shell) this.receive(frames, "shell");
  }

  private async readStdin(): Promise<void> {
    for await (const frames of this.stdin) {
      const msg = this.accept(frames, "stdin");
      if (!msg) continue;
      if (msg.header.msg_type !== "input_reply") {
        log(`dropped a ${msg.header.msg_type} on stdin: only input_reply is expected there`);
        continue;
      }
      const problem = contentProblem("input_reply", msg.content);
      if (problem || typeof msg.content.value !== "string") {
        log(`dropped an input_reply: ${problem ?? "its content needs a string 'value'"}`);
        continue;
      }
      // jupyter_client's KernelClient.input() (jupyter console) sends its reply with an empty
      // parent_header; ipykernel takes the next reply as the answer, and so does this kernel
      const id = String(msg.parent_header.msg_id ?? "");
      const key = this.pendingInput.has(id) ? id : this.pendingInput.keys().next().value;
      if (key === undefined) {
        log("dropped an input_reply: no input() is waiting");
        continue;
      }
      const waiting = this.pendingInput.get(key);
      this.pendingInput.delete(key);
      waiting?.resolve(msg.content.value);
    }
  }

  /** Decodes and checks one message (signature, replay, header); null, with a log line, when dropped. */
  private accept(frames: Buffer[], channel: Channel | "stdin"): Message | null {
    let msg: Message;
    try {
      msg = decode(this.signer, frames, { strict: true });
    } catch (e) {
      log(`dropped a message on ${channel}: ${(e as Error).message}`);
      return null;
    }
    if (this.signer.enabled && !this.replays.accept(msg.signature ?? "")) {
      log(`dropped a message on ${channel}: duplicate signature (msg_id ${JSON.stringify(msg.header.msg_id)}, ${msg.header.msg_type}): a signed message is accepted once`);
      return null;
    }
    return msg;
  }

  private receive(frames: Buffer[], channel: Channel): void {
    const msg = this.accept(frames, channel);
    if (!msg) return;
    if (channel === "control") {
      void this.dispatch(msg, channel);
      return;
    }
    this.queue.push(msg);
    this.wake?.();
  }

  private async processQueue(): Promise<void> {
    for (;;) {
      const msg = this.queue.shift();
      if (!msg) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
        continue;
      }
      await this.dispatch(msg, "shell");
    }
  }

  private async dispatch(msg: Message, channel: Channel): Promise<void> {
    const type = msg.header.msg_type;
    const handler = this.handlers.get(type);
    if (!handler) {
      log(`unknown message type ${JSON.stringify(type)} on ${channel}: dropped`);
      return;
    }
    const problem = contentProblem(type, msg.content);
    if (problem && !type.endsWith("_request")) {
      log(`dropped a ${type} on ${channel}: ${problem}`);
      return;
    }
    // outputs a comm handler publishes belong to the comm message that triggered them
    if (channel === "shell") this.parent = msg;
    this.publish("status", { execution_state: "busy" }, msg.header);
    try {
      if (problem) {
        log(`refused ${/^[aeiou]/.test(type) ? "an" : "a"} ${type} on ${channel}: ${problem}`);
        const count = type === "execute_request" ? { execution_count: this.executionCount, user_expressions: {}, payload: [] } : {};
        this.reply(msg, channel, type.replace(/_request$/, "_reply"), { status: "error", ename: "BadRequest", evalue: problem, traceback: [`BadRequest: ${problem}`], ...count });
        this.publish("status", { execution_state: "idle" }, msg.header);
        return;
      }
      const content = await handler(msg, channel);
      this.flushStreams();
      if (content) this.reply(msg, channel, type.replace(/_request$/, "_reply"), content);
    } catch (e) {
      log(`handler for ${type} failed: ${(e as Error).stack}`);
      if (type.endsWith("_request")) this.reply(msg, channel, type.replace(/_request$/, "_reply"), { status: "error", ename: "KernelError", evalue: (e as Error).message, traceback: [] });
    }
    this.publish("status", { execution_state: "idle" }, msg.header);
    // once a cell before the checker has its reply and its result out (a chart renders after the run)
    if (!this.ready && this.quietMs === Infinity) this.warmWhenQuiet(WARM_AFTER_CELL_MS);
    if (type === "shutdown_request") await this.shutdown();
  }

  private wrapStatus(parent: Header): void {
    this.publish("status", { execution_state: "busy" }, parent);
    this.publish("status", { execution_state: "idle" }, parent);
  }

  private reply(req: Message, channel: Channel, type: string, content: Record<string, unknown>): void {
    const frames = encode(this.signer, {
      identities: req.identities,
      header: newHeader(type, this.session, "kernel"),
      parent_header: req.header,
      metadata: {},
      content,
    });
    if (channel === "shell") void this.shellOut.send(frames);
    else this.control?.send(frames);
  }

  private publish(type: string, content: Record<string, unknown>, parent: Partial<Header> = this.parent?.header ?? {}, metadata: Record<string, unknown> = {}): void {
    if (type !== "stream") this.flushStreams();
    // a widget callback's outputs belong in its Output widget (comms.ts)
    if (this.comms.route(type, content)) return;
    const frames = encode(this.signer, {
      identities: [Buffer.from(`kernel.${this.session}.${type}`)],
      header: newHeader(type, this.session, "kernel"),
      parent_header: parent,
      metadata,
      content,
    });
    void this.iopubOut.send(frames);
  }

  /** Output of the running cell; a silent execution publishes nothing. */
  private publishOut(type: string, content: Record<string, unknown>): void {
    if (this.parent?.content.silent) return;
    this.publish(type, content);
  }

  private captureStreams(): void {
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      stream.write = ((chunk: unknown, enc?: unknown, cb?: unknown) => {
        this.streams[name] += typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof enc === "string" ? (enc as BufferEncoding) : "utf8");
        if (this.streams[name].length > 1 << 16) this.flushStreams();
        else if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flushStreams());
        }
        const done = typeof enc === "function" ? enc : cb;
        if (typeof done === "function") queueMicrotask(() => (done as () => void)());
        return true;
      }) as typeof stream.write;
    }
  }

  private flushStreams(): void {
    this.flushScheduled = false;
    for (const name of ["stdout", "stderr"] as const) {
      const text = this.streams[name];
      if (!text) continue;
      this.streams[name] = "";
      if (!this.parent?.content.silent) this.publish("stream", { name, text });
    }
  }

  // ---------------------------------------------------------------- requests

  private kernelInfo(): Record<string, unknown> {
    // The converter and the DSL load synchronously for ~2 s. Clients repeat kernel_info until their
    // iopub subscription sees its status, so warming up right away would stall that handshake; warm
    // up once kernel_info requests pause (any other request warms up at once).
    this.warmWhenQuiet(WARM_DELAY_MS);
    // the DSL loads meanwhile (≈ 0.3 s, much of it waiting on files), so the first cell finds it
    if (!this.prepared) setImmediate(() => void this.prepare().catch((e) => log(`loading the DSL failed: ${(e as Error).stack}`)));
    return {
      status: "ok",
      protocol_version: PROTOCOL_VERSION,
      implementation: "quantlab",
      implementation_version: VERSION,
      language_info: {
        name: "typescript",
        version: TS_VERSION,
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        codemirror_mode: { name: "javascript", typescript: true },
      },
      banner: `QuantLab ${VERSION}: TypeScript ${TS_VERSION} on Node ${process.version}, the quantization DSL preloaded (%help)`,
      help_links: [
        { text: "QuantLab vocabulary", url: "https://github.com/quantlab/quantlab#readme" },
        { text: "TypeScript handbook", url: "https://www.typescriptlang.org/docs/handbook/intro.html" },
      ],
      debugger: false,
    };
  }

  private async execute(msg: Message): Promise<Reply> {
    const c = msg.content as { code: string; silent?: boolean; store_history?: boolean; user_expressions?: Record<string, string>; allow_stdin?: boolean; stop_on_error?: boolean };
    const code = String(c.code ?? "");
    const silent = !!c.silent;
    const store = !silent && c.store_history !== false;
    if (store) this.executionCount++;
    const count = this.executionCount;
    this.parent = msg;
    // an interrupt or a progress line belongs to the cell it arrived in
    clearInterrupt();
    resetProgress();
    this.progress.reset();
    if (!silent) this.publish("execute_input", { code, execution_count: count });
    if (store) this.history.add(count, code);
    const cell = `cell[${count}]`;
    const payload: Record<string, unknown>[] = [];
    try {
      if (this.preload?.error && count === 1) process.stderr.write(this.preload.error + "\n");
      const result = await this.runCell(code, cell, payload);
      if (result.hasValue && result.value !== undefined && !silent) {
        const data = toMimeBundle(result.value);
        this.publish("execute_result", { execution_count: count, data, metadata: {} });
        if (store) this.history.setOutput(count, data["text/plain"]);
      }
      const userExpressions = await this.userExpressions(c.user_expressions ?? {});
      return { status: "ok", execution_count: count, payload, user_expressions: userExpressions };
    } catch (e) {
      const err = isCellError(e) ? e : cellError(e, cell, code, "");
      if (!silent) this.publish("error", { ename: err.ename, evalue: err.evalue, traceback: err.traceback });
      if (c.stop_on_error !== false) await this.abortQueued(msg);
      return { status: "error", execution_count: count, ename: err.ename, evalue: err.evalue, traceback: err.traceback, user_expressions: {}, payload: [] };
    }
  }

  private async runCell(code: string, cell: string, payload: Record<string, unknown>[]): Promise<{ value: unknown; hasValue: boolean }> {
    if (!this.ready) {
      const unchecked = await this.runBeforeChecker(code, cell);
      if (unchecked) return unchecked;
    }
    if (this.warmed) await this.warm();
    else await this.waitForWarmUp();
    if (this.lateTypeErrors) {
      this.publishOut("stream", { name: "stderr", text: this.lateTypeErrors });
      this.lateTypeErrors = null;
    }
    const exec = this.executor!;
    const pager = PAGER.exec(code);
    if (pager) {
      const info = exec.inspect(pager[1], pager[1].length);
      const data = info ? { "text/plain": info.plain, "text/markdown": info.markdown } : { "text/plain": `${pager[1]}: no such name (run %who for yours, %help for the DSL)` };
      payload.push({ source: "page", data, start: 0 });
      return { value: undefined, hasValue: false };
    }
    const magic = parseMagic(code);
    if (magic) {
      return runMagic(magic, {
        dsl: this.preload!.module,
        print: (t) => process.stdout.write(t),
        display: (v) => this.display(v),
        userNames: () => exec.userNames(),
        preloadNames: () => this.preload!.names,
        run: (src) => exec.run(src, cell),
      });
    }
    return exec.run(code, cell);
  }

  /**
   * A cell that comes before the checker's warm-up has begun (≈ 1.5 s of one thread) runs at once,
   * transpiled without type checking, when it declares nothing (an expression, a DSL call, a chart):
   * the first result comes in the time ipykernel takes, one line above each such cell's output says
   * it is not checked, and once the checker is ready the next cell names those that had type errors.
   * The warm-up starts once no cell has come for WARM_AFTER_CELL_MS. Anything else (a declaration, an
   * import, a magic, `name?`) starts it at once and waits for it. Null when the cell is not one of those.
   */
  private async runBeforeChecker(code: string, cell: string): Promise<{ value: unknown; hasValue: boolean } | null> {
    if (PAGER.test(code) || parseMagic(code)) return null;
    // the pause after kernel_info must not start the warm-up while the DSL loads for this cell
    clearTimeout(this.warmTimer);
    this.quietMs = Infinity;
    await this.prepare();
    const run = this.ready ? null : this.executor!.runUnchecked(code, cell);
    if (!run) return null;
    this.publishOut("display_data", { data: { "text/plain": UNCHECKED_NOTE }, metadata: {}, transient: {} });
    this.ranUnchecked.push({ code, cell });
    return run;
  }

  /**
   * The cells that ran unchecked, type-checked now against the same declarations (they declared
   * nothing, and ran before any checked cell): a cell whose error went unseen is named, with the
   * messages it would have had.
   */
  private checkUncheckedCells(): string | null {
    const found = this.ranUnchecked.splice(0).flatMap(({ code, cell }) => {
      const lines = this.executor!.typeErrors(code, cell);
      return lines.length ? [`${cell} ran before the TypeScript checker was ready, and has type errors:\n${lines.map((l) => `  ${l}`).join("\n")}\n`] : [];
    });
    return found.length ? found.join("") : null;
  }

  /**
   * Starts the warm-up once `ms` have passed with nothing new (a kernel_info or a cell before the checker
   * restarts the wait). Measured on the clock, and checked again after one turn of the event loop:
   * while the DSL's load or a cell held the thread, requests may have queued up (a client repeating
   * kernel_info until its iopub subscription sees a status), and a timer set before that fires at
   * once — the warm-up (seconds holding the thread) would then stall them.
   */
  private warmWhenQuiet(ms: number): void {
    clearTimeout(this.warmTimer);
    this.quietSince = performance.now();
    this.quietMs = ms;
    const wait = (left: number) => {
      this.warmTimer = setTimeout(() => setImmediate(() => {
        // a cell is running (it restarts the wait when it is done), or the warm-up has begun
        if (this.ready || this.quietMs === Infinity) return;
        const rest = this.quietMs - (performance.now() - this.quietSince);
        if (rest > 0) wait(rest);
        else void this.warm().catch((e) => log(`warm-up failed: ${(e as Error).stack}`));
      }), Math.max(0, left));
    };
    wait(ms);
  }

  /**
   * The first cell of a session waits for the converter and the DSL to load (seconds): one line says
   * so, and is cleared before the cell's own output, so a saved notebook keeps none of it.
   */
  private async waitForWarmUp(): Promise<void> {
    this.publishOut("display_data", { data: { "text/plain": WARMING_NOTE }, metadata: {}, transient: {} });
    // one turn, so the line leaves before the synchronous part of the warm-up holds the thread
    await new Promise<void>((r) => setImmediate(r));
    try {
      await this.warm();
    } finally {
      this.publishOut("clear_output", { wait: false });
    }
  }

  private async userExpressions(exprs: Record<string, string>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, expr] of Object.entries(exprs)) {
      try {
        const r = await this.executor!.run(`(${expr})`, `user_expressions[${name}]`);
        out[name] = { status: "ok", data: toMimeBundle(r.value), metadata: {} };
      } catch (e) {
        const err: CellError = isCellError(e) ? e : cellError(e, name, expr, "");
        out[name] = { status: "error", ...err };
      }
    }
    return out;
  }

  /**
   * stop_on_error: execute requests already waiting when a cell fails get an error reply without
   * running (status "error", not "abort", which several front ends show as a hang). A short pause
   * first lets requests that arrived during a blocking cell reach the queue.
   */
  private async abortQueued(failed: Message): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    const rest: Message[] = [];
    for (const m of this.queue.splice(0)) {
      if (m.header.msg_type !== "execute_request") {
        rest.push(m);
        continue;
      }
      this.publish("status", { execution_state: "busy" }, m.header);
      const evalue = `not run: an earlier cell failed (${String(failed.header.msg_id).slice(0, 8)})`;
      this.reply(m, "shell", "execute_reply", { status: "error", execution_count: this.executionCount, ename: "ExecutionAborted", evalue, traceback: [evalue], user_expressions: {}, payload: [] });
      this.publish("status", { execution_state: "idle" }, m.header);
    }
    this.queue.unshift(...rest);
  }

  private async complete(msg: Message): Promise<Reply> {
    const code = String(msg.content.code ?? "");
    const pos = toUtf16(code, Number(msg.content.cursor_pos ?? code.length));
    const magic = /^(\s*%%?)([A-Za-z]*)$/.exec(code.slice(0, pos));
    if (magic) {
      const matches = Object.keys(MAGICS).filter((k) => k.startsWith(magic[2])).map((k) => magic[1].trim() + k);
      return { status: "ok", matches, cursor_start: toCodePoints(code, magic[1].length - magic[1].trim().length), cursor_end: toCodePoints(code, pos), metadata: {} };
    }
    await this.warm();
    const info = this.executor!.complete(code, pos);
    const start = toCodePoints(code, info.start);
    const end = toCodePoints(code, Math.max(info.end, pos));
    const types = info.types.map((t) => ({ start, end, ...t }));
    return { status: "ok", matches: info.candidates, cursor_start: start, cursor_end: end, metadata: { _jupyter_types_experimental: types } };
  }

  private async inspect(msg: Message): Promise<Reply> {
    const code = String(msg.content.code ?? "");
    const pos = toUtf16(code, Number(msg.content.cursor_pos ?? code.length));
    await this.warm();
    const info = this.executor!.inspect(code, pos);
    if (!info) return { status: "ok", found: false, data: {}, metadata: {} };
    return { status: "ok", found: true, data: { "text/plain": info.plain, "text/markdown": info.markdown }, metadata: {} };
  }

  private isComplete(msg: Message): Record<string, unknown> {
    const code = String(msg.content.code ?? "");
    const m = parseMagic(code);
    if (m && isMagic(m.name) && m.name !== "time") return { status: "complete" };
    return { ...isComplete(m?.name === "time" ? [m.arg, m.rest].join("\n") : code) };
  }

  // ---------------------------------------------------------------- helpers seen by cells

  private display(obj: unknown, opts: { raw?: boolean; update?: boolean; display_id?: string } = {}): void {
    if (opts.update && !opts.display_id) throw new QuantLabError("BAD_ARGUMENT", "display(obj, { update: true }) needs the display_id of the output to update");
    const data = opts.raw ? ({ "text/plain": plainText(obj), ...(obj as object) } as Record<string, unknown>) : toMimeBundle(obj);
    const transient = opts.display_id ? { display_id: String(opts.display_id) } : {};
    this.publishOut(opts.update ? "update_display_data" : "display_data", { data, metadata: {}, transient });
  }

  private input(prompt: string, password: boolean): Promise<string> {
    const parent = this.parent;
    if (!parent || !parent.content.allow_stdin) {
      return Promise.reject(new QuantLabError("UNSUPPORTED", "input(): this front end does not accept input (allow_stdin is false); pass the value in the cell instead"));
    }
    this.flushStreams();
    const header = newHeader("input_request", this.session, "kernel");
    const frames = encode(this.signer, { identities: parent.identities, header, parent_header: parent.header, metadata: {}, content: { prompt, password } });
    return new Promise<string>((resolve) => {
      this.pendingInput.set(header.msg_id, { resolve });
      void this.stdinOut.send(frames);
    });
  }

  private readonly progress = new ProgressDisplay((type, content) => {
    this.flushStreams();
    this.publishOut(type, content);
  });

  private interrupt(): void {
    // a synchronous loop never gets here: breakOnSigint ends it; this stops a pending await
    this.executor?.interrupt();
  }

  async shutdown(orphaned = false): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.flushStreams();
    if (!orphaned) {
      await this.control?.close();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.executor?.close();
    for (const s of [this.shell, this.iopub, this.stdin]) s.close();
    process.exit(0);
  }
}

/** Jupyter counts cursor positions in code points, JavaScript strings in UTF-16 units. */
function toUtf16(s: string, codePoints: number): number {
  let units = 0;
  let n = 0;
  for (const ch of s) {
    if (n++ >= codePoints) break;
    units += ch.length;
  }
  return units;
}

function toCodePoints(s: string, units: number): number {
  return Array.from(s.slice(0, units)).length;
}

/**
 * A session's first chart launches Chromium and loads plotly.js (≈ 0.8–1.1 s from a user's second
 * session on; src/display/browser.ts) in its own thread and processes: started as soon as the DSL has
 * loaded, it is ready by the first chart a learner runs, and the first result does not share the CPU
 * with it. QUANTLAB_WARM_BROWSER=0 leaves it to the first chart.
 */
function startChartBrowser(): void {
  if (process.env.QUANTLAB_WARM_BROWSER === "0") return;
  void import("../display/browser.js")
    .then((b) => (b.browserAvailable() ? b.warmBrowser() : undefined))
    .catch((e: Error) => log(`the chart browser was not started ahead: ${e.message}`));
}

export async function startKernel(connectionFile: string): Promise<Kernel> {
  installCodeCache();
  const kernel = new Kernel(readConnectionFile(connectionFile));
  await kernel.start();
  return kernel;
}
