/**
 * Jupyter comms: a registry of targets (a DSL widget registers one through
 * `globalThis[Symbol.for("quantlab.comms")]`, so it needs no import of the kernel) and the open comms.
 */
export interface Comm {
  readonly id: string;
  readonly targetName: string;
  send(data: unknown): void;
  close(data?: unknown): void;
  onMsg: ((data: unknown) => void) | null;
  onClose: ((data: unknown) => void) | null;
}

export type TargetHandler = (comm: Comm, data: unknown) => void;

export const COMMS_KEY = Symbol.for("quantlab.comms");

export class CommRegistry {
  readonly targets = new Map<string, TargetHandler>();
  readonly open = new Map<string, Comm>();

  constructor(private readonly publish: (type: string, content: Record<string, unknown>) => void) {}

  registerTarget(name: string, handler: TargetHandler): void {
    this.targets.set(name, handler);
  }

  create(id: string, targetName: string): Comm {
    const comm: Comm = {
      id,
      targetName,
      onMsg: null,
      onClose: null,
      send: (data) => this.publish("comm_msg", { comm_id: id, data: data ?? {} }),
      close: (data) => {
        if (!this.open.delete(id)) return;
        this.publish("comm_close", { comm_id: id, data: data ?? {} });
      },
    };
    this.open.set(id, comm);
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

  handleMsg(content: { comm_id: string; data?: unknown }): void {
    this.open.get(content.comm_id)?.onMsg?.(content.data ?? {});
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
}
