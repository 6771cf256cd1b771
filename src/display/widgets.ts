/**
 * Jupyter widgets from TypeScript: the kernel side of the ipywidgets 8 protocol (comm target
 * `jupyter.widget`, message protocol 2.1) and the models JupyterLab 4, Notebook 7, VS Code and
 * `@jupyter-widgets/html-manager` render: `@jupyter-widgets/controls` 2.0.0 controls and boxes,
 * `@jupyter-widgets/base` 2.0.0 layouts, `@jupyter-widgets/output` 1.0.0 output.
 *
 * A widget opens its comm when it is created (`comm_open` with `{state, buffer_paths}` and metadata
 * `{version: "2.1.0"}`), sends `update` when the kernel changes it, answers `request_state` with its
 * whole state, and on an `update` from the front end first echoes it (`echo_update`, so other front ends
 * follow), then applies it through the model's validation (a corrected value goes back as `update`),
 * then tells its observers. Outside a kernel (plain Node, the tests' own registry aside) the same
 * objects work without a comm: state, observers and the display bundle.
 *
 * The comm registry is the kernel's (src/kernel/comms.ts), found through
 * `globalThis[Symbol.for("quantlab.comms")]`, so this layer never imports the kernel.
 */
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { check, QuantLabError } from "../errors.js";
import { DISPLAY, isDisplayable, type MimeBundle } from "./mime.js";

export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
export const WIDGET_TARGET = "jupyter.widget";
export const WIDGET_PROTOCOL_VERSION = "2.1.0";

const CONTROLS = "@jupyter-widgets/controls";
const BASE = "@jupyter-widgets/base";
const OUTPUT = "@jupyter-widgets/output";
const REF = "IPY_MODEL_";

type State = Record<string, unknown>;

/** The part of the kernel's comm registry a widget uses (structural, so no import of the kernel). */
interface HostComm {
  readonly id: string;
  send(data: unknown, metadata?: Record<string, unknown>): void;
  close(data?: unknown): void;
  onMsg: ((data: unknown) => void | Promise<unknown>) | null;
  onClose: ((data: unknown) => void) | null;
}

interface CommHost {
  openComm(id: string, targetName: string, data: unknown, metadata?: Record<string, unknown>): HostComm;
  captureOutputs<T>(sink: (type: string, content: Record<string, unknown>) => void, fn: () => T): T;
  registerTarget(name: string, handler: (comm: HostComm, data: unknown) => void): void;
  readonly targets: Map<string, unknown>;
}

export const CONTROL_TARGET = "jupyter.widget.control";

/** The widgets with an open comm, so a reloaded front end can fetch them all at once. */
const liveWidgets = new Map<string, Widget>();

function commHost(): CommHost | null {
  const h = (globalThis as Record<symbol, unknown>)[Symbol.for("quantlab.comms")] as Partial<CommHost> | undefined;
  if (!h || typeof h.openComm !== "function" || typeof h.captureOutputs !== "function") return null;
  const host = h as CommHost;
  if (!host.targets.has(CONTROL_TARGET)) host.registerTarget(CONTROL_TARGET, controlComm);
  return host;
}

/**
 * The control comm (ipywidgets' control protocol 1.0): a front end that reconnects (JupyterLab after a
 * page reload) opens it and asks `request_states`; the answer is every live widget's state in one
 * `update_states` message, instead of one `request_state` per widget.
 */
function controlComm(comm: HostComm): void {
  comm.onMsg = (data) => {
    if ((data as { method?: string } | null)?.method !== "request_states") return;
    const states: Record<string, State> = {};
    for (const [id, w] of liveWidgets) states[id] = w.stateSnapshot;
    comm.send({ method: "update_states", states, buffer_paths: [] });
  };
}

/** One nbformat output, as an Output widget's `outputs` state holds it.
 * @group Widgets
 */
export type OutputRecord =
  | { output_type: "stream"; name: string; text: string }
  | { output_type: "display_data"; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

/** Called on a change; a promise it returns keeps the kernel busy on the front end's message until it settles. */
export type Observer<T = unknown> = (change: { name: string; value: T; old: T; widget: Widget }) => void | Promise<unknown>;

/** A model's identity: module, name and version of its model and view. */
interface ModelSpec {
  model: [module: string, name: string, version: string];
  view: [module: string, name: string | null, version: string];
}

const controls = (name: string, view: string | null = name): ModelSpec => ({
  model: [CONTROLS, `${name}Model`, "2.0.0"],
  view: [CONTROLS, view && `${view}View`, "2.0.0"],
});

const styleSpec = (name: string): ModelSpec => ({ model: [CONTROLS, `${name}Model`, "2.0.0"], view: [BASE, "StyleView", "2.0.0"] });

function identity(spec: ModelSpec): State {
  return {
    _model_module: spec.model[0], _model_name: spec.model[1], _model_module_version: spec.model[2],
    _view_module: spec.view[0], _view_name: spec.view[1], _view_module_version: spec.view[2],
  };
}

/**
 * A widget model: synced state, a comm when a kernel is there, observers. Subclasses name the model and
 * validate what the front end sends.
 */
export class Widget {
  readonly id: string = randomUUID().replace(/-/g, "");
  private readonly state: State;
  private comm: HostComm | null = null;
  private readonly observers = new Map<string, Set<Observer<any>>>();
  private readonly customHandlers = new Set<(content: unknown) => void>();
  private closed = false;

  constructor(spec: ModelSpec, state: State) {
    this.state = { ...identity(spec), ...state };
    const host = commHost();
    if (host) {
      this.comm = host.openComm(this.id, WIDGET_TARGET, { state: this.state, buffer_paths: [] }, { version: WIDGET_PROTOCOL_VERSION });
      this.comm.onMsg = (data) => this.receive(data);
      this.comm.onClose = () => {
        this.comm = null;
        this.closed = true;
        liveWidgets.delete(this.id);
      };
      liveWidgets.set(this.id, this);
    }
  }

  /** Whether the widget talks to a front end (it was created inside a kernel and is not closed). */
  get live(): boolean {
    return this.comm !== null;
  }

  /** A copy of the synced state (the protocol's snake_case names). */
  get stateSnapshot(): State {
    return structuredClone(this.state);
  }

  protected get<T>(name: string): T {
    return this.state[name] as T;
  }

  /** Sets state from the kernel side: sends the changed keys as one `update`, then notifies observers. */
  protected set(patch: State): void {
    check(!this.closed, "BAD_ARGUMENT", "this widget was closed: create a new one");
    const changed = this.assign(patch);
    if (changed.length === 0) return;
    this.sendState(Object.fromEntries(changed.map(([k]) => [k, this.state[k]])));
    this.notify(changed);
  }

  /**
   * Calls `fn` when state `name` changes (from the kernel or a front end); "*" for every key.
   * Returns a function that stops observing.
   */
  observe<T = unknown>(name: string, fn: Observer<T>): () => void {
    let set = this.observers.get(name);
    if (!set) this.observers.set(name, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  /** Handles the protocol's `custom` messages from the front end (a button's click). */
  onCustom(fn: (content: unknown) => void): () => void {
    this.customHandlers.add(fn);
    return () => this.customHandlers.delete(fn);
  }

  /** A `custom` message to the front end. */
  sendCustom(content: unknown): void {
    this.comm?.send({ method: "custom", content });
  }

  /** Closes the comm; the front end removes its views. */
  close(): void {
    this.closed = true;
    liveWidgets.delete(this.id);
    const comm = this.comm;
    this.comm = null;
    comm?.close();
  }

  /** What the front end sent may be clamped or rejected here; return the value to keep. */
  protected validate(_name: string, value: unknown): unknown {
    return value;
  }

  /** Names the front end may change (the `_`-prefixed identity and layout references are fixed). */
  protected writable(name: string): boolean {
    return name in this.state && !name.startsWith("_") && name !== "layout" && name !== "style" && name !== "children";
  }

  private assign(patch: State): [string, unknown][] {
    const changed: [string, unknown][] = [];
    for (const [k, v] of Object.entries(patch)) {
      const old = this.state[k];
      if (sameJson(old, v)) continue;
      this.state[k] = v;
      changed.push([k, old]);
    }
    return changed;
  }

  private notify(changed: [string, unknown][]): Promise<unknown> | undefined {
    const pending: Promise<unknown>[] = [];
    for (const [name, old] of changed) {
      for (const key of [name, "*"]) {
        for (const fn of this.observers.get(key) ?? []) {
          const r = fn({ name, value: this.state[name], old, widget: this });
          if (r instanceof Promise) pending.push(r);
        }
      }
    }
    return pending.length ? Promise.all(pending) : undefined;
  }

  private sendState(state: State, method: "update" | "echo_update" = "update"): void {
    this.comm?.send({ method, state, buffer_paths: [] });
  }

  /** A message on this widget's comm: `update`, `request_state` or `custom` (protocol 2.1). */
  private receive(data: unknown): Promise<unknown> | undefined {
    const msg = (data ?? {}) as { method?: string; state?: State; content?: unknown };
    if (msg.method === "request_state") {
      this.sendState(this.state);
      return undefined;
    }
    if (msg.method === "custom") {
      for (const fn of this.customHandlers) fn(msg.content);
      return undefined;
    }
    if (msg.method !== "update" || typeof msg.state !== "object" || msg.state === null) return undefined;
    const incoming = Object.entries(msg.state).filter(([k]) => this.writable(k));
    if (incoming.length === 0) return undefined;
    // echo first, as ipywidgets 8 does: every front end then applies the change in the kernel's order
    this.sendState(Object.fromEntries(incoming), "echo_update");
    const accepted: State = {};
    const corrected: State = {};
    for (const [k, v] of incoming) {
      let kept: unknown;
      try {
        kept = this.validate(k, v);
      } catch {
        kept = this.state[k];
      }
      accepted[k] = kept;
      if (!sameJson(kept, v)) corrected[k] = kept;
    }
    const changed = this.assign(accepted);
    if (Object.keys(corrected).length > 0) this.sendState(corrected);
    return this.notify(changed);
  }

  /** The widget view bundle, with a text line for front ends without widgets. */
  [DISPLAY](): MimeBundle {
    return { [WIDGET_VIEW_MIME]: viewRef(this), "text/plain": this.toString() };
  }

  toString(): string {
    return `${String(this.state._model_name).replace(/Model$/, "")}()`;
  }
}

function viewRef(w: Widget): { model_id: string; version_major: number; version_minor: number } {
  return { model_id: w.id, version_major: 2, version_minor: 0 };
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `@jupyter-widgets/base` LayoutModel: CSS of a widget's box (width, margin …); every key defaults to null. */
export class Layout extends Widget {
  constructor(css: Record<string, string | null> = {}) {
    super({ model: [BASE, "LayoutModel", "2.0.0"], view: [BASE, "LayoutView", "2.0.0"] }, { ...css });
  }
}

class Style extends Widget {
  constructor(name: string, state: State) {
    super(styleSpec(name), { description_width: "", ...state });
  }
}

/** Options every control accepts.
 * @group Widgets
 */
export interface ControlOptions {
  /** The label beside the control. */
  description?: string;
  disabled?: boolean;
  tooltip?: string;
  /** Layout CSS, e.g. `{ width: "400px" }`. */
  layout?: Record<string, string>;
  /** Label width, e.g. "120px" (default: the front end's). */
  descriptionWidth?: string;
}

function domState(o: ControlOptions, style: { name: string; state?: State } | null): State {
  const s: State = {
    _dom_classes: [],
    layout: REF + new Layout(o.layout ?? {}).id,
    tabbable: null,
    tooltip: o.tooltip ?? null,
  };
  if (style) s.style = REF + new Style(style.name, { ...style.state, ...(o.descriptionWidth ? { description_width: o.descriptionWidth } : {}) }).id;
  return s;
}

function describedState(o: ControlOptions): State {
  return { description: o.description ?? "", description_allow_html: false, disabled: !!o.disabled };
}

/** A control whose `value` the user moves; `value` reads and writes it. */
export abstract class ValueWidget<T> extends Widget {
  get value(): T {
    return this.read();
  }

  set value(v: T) {
    this.write(v);
  }

  protected abstract read(): T;
  protected abstract write(v: T): void;

  /** Calls `fn` with the new value whenever the user (or the kernel) changes it. */
  onChange(fn: (value: T) => void | Promise<unknown>): () => void {
    return this.observe(this.valueKey, () => fn(this.value));
  }

  protected get valueKey(): string {
    return "value";
  }

  override toString(): string {
    return `${super.toString().slice(0, -1)}value=${formatValue(this.value)})`;
  }
}

function formatValue(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/** Options of the numeric sliders.
 * @group Widgets
 */
export interface SliderOptions<N = number> extends ControlOptions {
  value?: N;
  min?: N;
  max?: N;
  step?: N;
  /** Send values while dragging (true) or when released (false, default: true, as ipywidgets). */
  continuousUpdate?: boolean;
  orientation?: "horizontal" | "vertical";
  /** d3-format of the readout, e.g. ".3f" or ".1e". */
  readoutFormat?: string;
}

function sliderState(o: SliderOptions, value: number, min: number, max: number, step: number, format: string): State {
  return {
    ...domState(o, { name: "SliderStyle", state: { handle_color: null } }),
    ...describedState(o),
    behavior: "drag-tap",
    continuous_update: o.continuousUpdate ?? true,
    orientation: o.orientation ?? "horizontal",
    readout: true,
    readout_format: o.readoutFormat ?? format,
    min, max, step, value,
  };
}

function checkRange(kind: string, min: number, max: number, step: number): void {
  check(Number.isFinite(min) && Number.isFinite(max) && min <= max, "BAD_ARGUMENT", `${kind}: min must not exceed max and both must be finite, got min ${min}, max ${max}`);
  check(Number.isFinite(step) && step > 0, "BAD_ARGUMENT", `${kind}: step must be a positive number, got ${step}`);
}

/** `IntSliderModel`: an integer from min to max in steps. */
export class IntSlider extends ValueWidget<number> {
  constructor(o: SliderOptions = {}) {
    const min = o.min ?? 0;
    const max = o.max ?? 100;
    const step = o.step ?? 1;
    checkRange("IntSlider", min, max, step);
    check([min, max, step].every(Number.isInteger), "BAD_ARGUMENT", `IntSlider: min, max and step must be integers, got ${min}, ${max}, ${step}: use FloatSlider for fractions`);
    const value = o.value ?? min;
    check(Number.isInteger(value) && value >= min && value <= max, "BAD_ARGUMENT", `IntSlider: value must be an integer from ${min} to ${max}, got ${value}`);
    super(controls("IntSlider"), sliderState(o, value, min, max, step, "d"));
  }
  protected read(): number {
    return this.get("value");
  }
  protected write(v: number): void {
    this.set({ value: this.validate("value", v) });
  }
  protected override validate(name: string, v: unknown): unknown {
    if (name !== "value") return v;
    check(typeof v === "number" && Number.isFinite(v), "BAD_ARGUMENT", `IntSlider value must be a number, got ${formatValue(v)}`);
    return Math.min(this.get<number>("max"), Math.max(this.get<number>("min"), Math.round(v)));
  }
}

/** `FloatSliderModel`: a number from min to max in steps. */
export class FloatSlider extends ValueWidget<number> {
  constructor(o: SliderOptions = {}) {
    const min = o.min ?? 0;
    const max = o.max ?? 10;
    const step = o.step ?? (max - min) / 100;
    checkRange("FloatSlider", min, max, step);
    const value = o.value ?? min;
    check(typeof value === "number" && value >= min && value <= max, "BAD_ARGUMENT", `FloatSlider: value must be from ${min} to ${max}, got ${value}`);
    super(controls("FloatSlider"), sliderState(o, value, min, max, step, ".2f"));
  }
  protected read(): number {
    return this.get("value");
  }
  protected write(v: number): void {
    this.set({ value: this.validate("value", v) });
  }
  protected override validate(name: string, v: unknown): unknown {
    if (name !== "value") return v;
    check(typeof v === "number" && Number.isFinite(v), "BAD_ARGUMENT", `FloatSlider value must be a number, got ${formatValue(v)}`);
    return Math.min(this.get<number>("max"), Math.max(this.get<number>("min"), v));
  }
}

/** Options of the selection controls (SelectionSlider, Dropdown).
 * @group Widgets
 */
export interface SelectionOptions<T> extends ControlOptions {
  /** The choices; each shows as its label (`String(option)` unless `labels` is given). */
  options: readonly T[];
  /** The initial choice (default: the first). */
  value?: T;
  labels?: readonly string[];
  continuousUpdate?: boolean;
}

/** Selection state lives as `index` into `_options_labels`; the kernel maps it back to the option. */
abstract class SelectionWidget<T> extends ValueWidget<T> {
  protected readonly options: readonly T[];

  constructor(kind: string, spec: ModelSpec, o: SelectionOptions<T>, extra: (index: number) => State) {
    check(Array.isArray(o.options) && o.options.length > 0, "BAD_ARGUMENT", `${kind}: options must be a non-empty list, e.g. { options: [16, 32, 64] }`);
    const labels = (o.labels ?? o.options.map((x) => String(x))).map(String);
    check(labels.length === o.options.length, "BAD_ARGUMENT", `${kind}: ${labels.length} labels for ${o.options.length} options: give one label per option`);
    const index = o.value === undefined ? 0 : o.options.findIndex((x) => sameJson(x, o.value));
    check(index >= 0, "BAD_ARGUMENT", `${kind}: value ${formatValue(o.value)} is not one of the options (${labels.join(", ")})`);
    super(spec, { ...extra(index), _options_labels: labels, index });
    this.options = [...o.options];
  }

  /** The position of the chosen option. */
  get index(): number {
    return this.get("index");
  }

  protected read(): T {
    return this.options[this.get<number>("index")];
  }

  protected write(v: T): void {
    const index = this.options.findIndex((x) => sameJson(x, v));
    check(index >= 0, "BAD_ARGUMENT", `${formatValue(v)} is not one of the options (${this.get<string[]>("_options_labels").join(", ")})`);
    this.set({ index });
  }

  protected override get valueKey(): string {
    return "index";
  }

  protected override validate(name: string, v: unknown): unknown {
    if (name !== "index") return v;
    check(Number.isInteger(v) && (v as number) >= 0 && (v as number) < this.options.length, "BAD_ARGUMENT", `index ${formatValue(v)} out of range`);
    return v;
  }
}

/** `SelectionSliderModel`: a slider over a list of choices (group sizes, bit widths). */
export class SelectionSlider<T> extends SelectionWidget<T> {
  constructor(o: SelectionOptions<T>) {
    super("SelectionSlider", controls("SelectionSlider"), o, () => ({
      ...domState(o, { name: "SliderStyle", state: { handle_color: null } }),
      ...describedState(o),
      behavior: "drag-tap",
      continuous_update: o.continuousUpdate ?? true,
      orientation: "horizontal",
      readout: true,
    }));
  }
}

/** `DropdownModel`: a drop-down list of choices (formats, conventions). */
export class Dropdown<T> extends SelectionWidget<T> {
  constructor(o: SelectionOptions<T>) {
    super("Dropdown", controls("Dropdown"), o, () => ({ ...domState(o, { name: "DescriptionStyle" }), ...describedState(o) }));
  }
}

abstract class BoolWidget extends ValueWidget<boolean> {
  protected read(): boolean {
    return this.get("value");
  }
  protected write(v: boolean): void {
    this.set({ value: this.validate("value", v) });
  }
  protected override validate(name: string, v: unknown): unknown {
    if (name !== "value") return v;
    check(typeof v === "boolean", "BAD_ARGUMENT", `a toggle's value must be true or false, got ${formatValue(v)}`);
    return v;
  }
}

/** `CheckboxModel`: true or false. */
export class Checkbox extends BoolWidget {
  constructor(o: ControlOptions & { value?: boolean; indent?: boolean } = {}) {
    super(controls("Checkbox"), { ...domState(o, { name: "CheckboxStyle", state: { background: null } }), ...describedState(o), indent: o.indent ?? true, value: !!o.value });
  }
}

/** `ToggleButtonModel`: a button that stays pressed (true) or not. */
export class ToggleButton extends BoolWidget {
  constructor(o: ControlOptions & { value?: boolean; icon?: string; buttonStyle?: "" | "primary" | "success" | "info" | "warning" | "danger" } = {}) {
    super(controls("ToggleButton"), {
      ...domState(o, { name: "ToggleButtonStyle", state: { font_family: null, font_size: null, font_style: null, font_variant: null, font_weight: null, text_color: null, text_decoration: null } }),
      ...describedState(o), button_style: o.buttonStyle ?? "", icon: o.icon ?? "", value: !!o.value,
    });
  }
}

/** `TextModel`: a line of text. */
export class Text extends ValueWidget<string> {
  constructor(o: ControlOptions & { value?: string; placeholder?: string; continuousUpdate?: boolean } = {}) {
    super(controls("Text"), {
      ...domState(o, { name: "TextStyle", state: { background: null, font_size: null, text_color: null } }),
      ...describedState(o), continuous_update: o.continuousUpdate ?? true, placeholder: o.placeholder ?? "\u200b", value: o.value ?? "",
    });
  }
  protected read(): string {
    return this.get("value");
  }
  protected write(v: string): void {
    this.set({ value: String(v) });
  }
  protected override validate(name: string, v: unknown): unknown {
    return name === "value" ? String(v) : v;
  }
}

/** `HTMLModel`: a piece of HTML (a heading, an explanation); `value` replaces it. */
export class HTML extends ValueWidget<string> {
  constructor(o: ControlOptions & { value?: string } = {}) {
    super(controls("HTML"), {
      ...domState(o, { name: "HTMLStyle", state: { background: null, font_size: null, text_color: null } }),
      description: o.description ?? "", description_allow_html: false, placeholder: "\u200b", value: o.value ?? "",
    });
  }
  protected read(): string {
    return this.get("value");
  }
  protected write(v: string): void {
    this.set({ value: String(v) });
  }
  protected override writable(): boolean {
    return false;
  }
}

/** A box of widgets, stacked (`VBox`) or side by side (`HBox`). */
export class Box extends Widget {
  readonly children: readonly Widget[];
  constructor(kind: "VBox" | "HBox", children: readonly Widget[], o: { layout?: Record<string, string>; boxStyle?: "" | "success" | "info" | "warning" | "danger" } = {}) {
    check(children.every((c) => c instanceof Widget), "BAD_ARGUMENT", `${kind}: every child must be a widget (IntSlider, Dropdown, Output …)`);
    super(controls(kind), { ...domState(o, null), box_style: o.boxStyle ?? "", children: children.map((c) => REF + c.id) });
    this.children = [...children];
  }
}

/** The mime bundle of a value: its display method when it has one, else its text. */
export function bundleOf(value: unknown): MimeBundle {
  if (isDisplayable(value)) {
    const b = { ...value[DISPLAY]() } as MimeBundle;
    if (typeof b["text/plain"] !== "string") b["text/plain"] = inspect(value, { depth: 4 });
    return b;
  }
  return { "text/plain": typeof value === "string" ? value : inspect(value, { colors: false, depth: 4, maxArrayLength: 100, breakLength: 100 }) };
}

/**
 * `OutputModel` (`@jupyter-widgets/output` 1.0.0): a place for outputs. The kernel keeps its `outputs`
 * state — nbformat outputs — and sends it on every change, which every widget front end renders.
 */
export class Output extends Widget {
  constructor(o: { layout?: Record<string, string> } = {}) {
    super({ model: [OUTPUT, "OutputModel", "1.0.0"], view: [OUTPUT, "OutputView", "1.0.0"] }, { ...domState(o, null), msg_id: "", outputs: [] });
  }

  /** The outputs shown now. */
  get outputs(): OutputRecord[] {
    return structuredClone(this.get<OutputRecord[]>("outputs"));
  }

  /** Replaces everything shown. */
  setOutputs(outputs: OutputRecord[]): void {
    this.set({ outputs });
  }

  clear(): void {
    this.set({ outputs: [] });
  }

  /** Shows `value` (anything with a display method, or its text) below what is there. */
  append(value: unknown): void {
    this.set({ outputs: [...this.get<OutputRecord[]>("outputs"), { output_type: "display_data", data: bundleOf(value), metadata: {} }] });
  }

  /**
   * Runs `fn`, replacing what is shown by what it prints and displays and then by its value (as a
   * cell's last expression would show). An error becomes an error output, not an exception.
   * Returns what `fn` returned (a promise when it is async), or undefined after an error.
   */
  run<T>(fn: () => T): T | undefined {
    const collected = new OutputCollector();
    const finish = (value: unknown, error: unknown) => {
      if (error !== undefined) collected.error(error);
      else if (value !== undefined) collected.display(bundleOf(value));
      this.setOutputs(collected.outputs);
    };
    const host = commHost();
    let result: T;
    try {
      result = host ? host.captureOutputs((type, content) => collected.add(type, content), fn) : fn();
    } catch (e) {
      finish(undefined, e);
      return undefined;
    }
    if (result instanceof Promise) {
      return result.then((v) => (finish(v, undefined), v), (e) => (finish(undefined, e), undefined)) as T;
    }
    finish(result, undefined);
    return result;
  }
}

/** Turns the kernel's output messages into nbformat outputs (streams merged, clear_output honoured). */
export class OutputCollector {
  outputs: OutputRecord[] = [];
  private readonly ids = new Map<string, number[]>();
  private clearPending = false;

  add(type: string, c: Record<string, unknown>): void {
    if (type === "clear_output") {
      if (c.wait) this.clearPending = true;
      else this.reset();
      return;
    }
    if (type === "update_display_data") {
      const id = (c.transient as { display_id?: string } | undefined)?.display_id;
      for (const i of (id && this.ids.get(id)) || []) this.outputs[i] = { output_type: "display_data", data: c.data as Record<string, unknown>, metadata: (c.metadata as Record<string, unknown>) ?? {} };
      return;
    }
    if (this.clearPending) this.reset();
    if (type === "stream") {
      const last = this.outputs.at(-1);
      if (last?.output_type === "stream" && last.name === c.name) last.text += String(c.text);
      else this.outputs.push({ output_type: "stream", name: String(c.name), text: String(c.text) });
    } else if (type === "display_data") {
      this.display(c.data as Record<string, unknown>, (c.metadata as Record<string, unknown>) ?? {});
      const id = (c.transient as { display_id?: string } | undefined)?.display_id;
      if (id) this.ids.set(id, [...(this.ids.get(id) ?? []), this.outputs.length - 1]);
    }
  }

  display(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
    if (this.clearPending) this.reset();
    this.outputs.push({ output_type: "display_data", data, metadata });
  }

  error(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const ename = err instanceof QuantLabError ? `QuantLabError[${err.code}]` : err.name;
    this.outputs.push({ output_type: "error", ename, evalue: err.message, traceback: [`${ename}: ${err.message}`] });
  }

  private reset(): void {
    this.outputs = [];
    this.ids.clear();
    this.clearPending = false;
  }
}
