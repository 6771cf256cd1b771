/**
 * Jupyter comms: a registry of targets (a DSL widget registers one through
 * `globalThis[Symbol.for("quantlab.comms")]`, so it needs no import of the kernel), the open comms, and
 * comms the kernel side opens itself (a widget model announcing itself to the front end).
 *
 * Output capture: a widget callback (an `interact` re-run) wants the outputs it produces — prints,
 * `display(...)` calls, errors — as the `outputs` state of an Output widget rather than as outputs of the
 * message that triggered it, because that is what every widget front end (JupyterLab, Notebook 7, VS Code,
 * html-manager) renders. While `captureOutputs` runs, the kernel hands such messages to the capturing sink.
 */
export interface Comm {
  readonly id: string;
  readonly targetName: string;
  send(data: unknown, metadata?: Record<string, unknown>): void;
  close(data?: unknown): void;
  /** Returning a promise keeps the kernel busy on that message until it settles. */
  onMsg: ((data: unknown) => void | Promise<unknown>) | null;
  onClose: ((data: unknown) => void) | null;
}

export type TargetHandler = (comm: Comm, data: unknown) => void;

/** An output message the kernel would publish on iopub: `stream`, `display_data`, `update_display_data`, `clear_output`. */
export type OutputSink = (type: string, content: Record<string, unknown>) => void;

export type Publish = (type: string, content: Record<string, unknown>, metadata?: Record<string, unknown>) => void;

export const COMMS_KEY = Symbol.for("quantlab.comms");

// a cell's own execute_result and error are never captured: a callback still pending when its cell ends
// must not swallow them (a callback reports its own errors)
const CAPTURED = new Set(["stream", "display_data", "update_display_data", "clear_output"]);

export class CommRegistry {
  readonly targets = new Map<string, TargetHandler>();
  readonly open = new Map<string, Comm>();
  private readonly sinks: OutputSink[] = [];

  /** `flush` pushes out buffered stdout/stderr text, so a capture starts and ends on a clean boundary. */
  constructor(private readonly publish: Publish, private readonly flush: () => void = () => undefined) {}

  registerTarget(name: string, handler: TargetHandler): void {
    this.targets.set(name, handler);
  }

  create(id: string, targetName: string): Comm {
    const comm: Comm = {
      id,
      targetName,
      onMsg: null,
      onClose: null,
      send: (data, metadata) => {
        if (this.open.has(id)) this.publish("comm_msg", { comm_id: id, data: data ?? {} }, metadata);
      },
      close: (data) => {
        if (!this.open.delete(id)) return;
        this.publish("comm_close", { comm_id: id, data: data ?? {} });
      },
    };
    this.open.set(id, comm);
    return comm;
  }

  /** Opens a comm from the kernel side: `comm_open` on iopub with `data` and `metadata` (the widget protocol's version). */
  openComm(id: string, targetName: string, data: unknown, metadata: Record<string, unknown> = {}): Comm {
    const comm = this.create(id, targetName);
    this.publish("comm_open", { comm_id: id, target_name: targetName, data: data ?? {} }, metadata);
    return comm;
  }

  /** comm_open from the front end: unknown targets are closed right away, as the spec asks. */
  handleOpen(content: { comm_id: string; target_name: string; data?: unknown }): void {
    const handler = this.targets.get(content.target_name);
    if (!handler) {
      this.publish("comm_close", { comm_id: content.comm_id, data: {} });
      return;
    }
    handler(this.create(content.comm_id, content.target_name), content.data ?? {});
  }

  /** Resolves when the comm's handler is done (a widget callback that re-runs a function and shows its result). */
  async handleMsg(content: { comm_id: string; data?: unknown }): Promise<void> {
    await this.open.get(content.comm_id)?.onMsg?.(content.data ?? {});
  }

  handleClose(content: { comm_id: string; data?: unknown }): void {
    const comm = this.open.get(content.comm_id);
    if (!comm) return;
    this.open.delete(content.comm_id);
    comm.onClose?.(content.data ?? {});
  }

  info(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, c] of this.open) if (!targetName || c.targetName === targetName) out[id] = { target_name: c.targetName };
    return out;
  }

  /**
   * Runs `fn` with its outputs going to `sink` instead of iopub; the innermost capture wins. A synchronous
   * `fn` is released before this returns (so the rest of a cell prints where it should); a promise keeps
   * the capture until it settles.
   */
  captureOutputs<T>(sink: OutputSink, fn: () => T): T {
    this.flush();
    this.sinks.push(sink);
    const release = () => {
      this.flush();
      const at = this.sinks.lastIndexOf(sink);
      if (at >= 0) this.sinks.splice(at, 1);
    };
    let result: T;
    try {
      result = fn();
    } catch (e) {
      release();
      throw e;
    }
    if (result instanceof Promise) return result.finally(release) as T;
    release();
    return result;
  }

  /** The kernel asks before publishing: true when a capture took the message. */
  route(type: string, content: Record<string, unknown>): boolean {
    const sink = this.sinks.at(-1);
    if (!sink || !CAPTURED.has(type)) return false;
    sink(type, content);
    return true;
  }
}
