/**
 * The widget state a saved notebook carries (nbformat's `metadata.widgets`, MIME type
 * application/vnd.jupyter.widget-state+json, ipywidgets' widget-state schema 2.0): every live widget
 * model's last state, recorded from the kernel's `jupyter.widget` comm traffic, so nbconvert, nbviewer
 * and Jupyter's "render saved widgets" show the sliders of an executed notebook instead of
 * "Error displaying widget: model not found". Binary buffers are stored base64, at their state paths.
 */
import type { Message } from "../kernel/wire.js";

interface Model {
  state: Record<string, unknown>;
  buffers: Map<string, { path: (string | number)[]; data: string }>;
}

export const WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json";

export class WidgetStateRecorder {
  private readonly models = new Map<string, Model>();

  /** Feeds one iopub message (anything that is not widget comm traffic is ignored). */
  add(m: Message): void {
    const type = m.header.msg_type, c = m.content ?? {};
    const id = typeof c.comm_id === "string" ? c.comm_id : null;
    if (!id) return;
    if (type === "comm_open") {
      if (c.target_name !== "jupyter.widget") return;
      this.models.set(id, { state: {}, buffers: new Map() });
      this.merge(id, c.data, m.buffers);
    } else if (type === "comm_msg" && this.models.has(id) && ["update", "echo_update"].includes(c.data?.method)) {
      this.merge(id, c.data, m.buffers);
    } else if (type === "comm_close") {
      this.models.delete(id);
    }
  }

  private merge(id: string, data: { state?: Record<string, unknown>; buffer_paths?: (string | number)[][] } | undefined, buffers: Buffer[] = []): void {
    const model = this.models.get(id)!;
    Object.assign(model.state, data?.state ?? {});
    (data?.buffer_paths ?? []).forEach((path, i) => {
      if (buffers[i]) model.buffers.set(JSON.stringify(path), { path, data: buffers[i].toString("base64") });
    });
  }

  /** The metadata.widgets value, or null when no widget lives. */
  metadata(): Record<string, unknown> | null {
    if (this.models.size === 0) return null;
    const state: Record<string, unknown> = {};
    for (const [id, m] of this.models) {
      const s = m.state;
      state[id] = {
        model_name: s._model_name, model_module: s._model_module, model_module_version: s._model_module_version,
        state: s,
        ...(m.buffers.size ? { buffers: [...m.buffers.values()].map((b) => ({ ...b, encoding: "base64" })) } : {}),
      };
    }
    return { [WIDGET_STATE_MIME]: { version_major: 2, version_minor: 0, state } };
  }
}
