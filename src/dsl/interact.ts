/**
 * Widgets in a cell: sliders, drop-downs, toggles and `interact`, which builds the controls from the
 * shapes of its options, calls a function with their values and shows what it returns in an Output
 * widget — again each time a control moves. The protocol and the models are in src/display/widgets.ts.
 */
import { check } from "../errors.js";
import { DISPLAY, type MimeBundle } from "../display/mime.js";
import {
  Box, Checkbox, Dropdown, FloatSlider, IntSlider, Output, SelectionSlider, Text, ToggleButton, ValueWidget, Widget, WIDGET_VIEW_MIME,
  type ControlOptions, type OutputRecord, type SelectionOptions, type SliderOptions,
} from "../display/widgets.js";

export type { ControlOptions, SliderOptions, SelectionOptions, OutputRecord } from "../display/widgets.js";

/**
 * A slider over integers.
 * @group Widgets
 * @example
 * ```ts
 * const bits = intSlider({ description: "bits", min: 2, max: 8, value: 4 });
 * bits.value            // 4
 * bits.onChange((b) => console.log("now", b));
 * bits                  // shows the slider
 * ```
 */
export function intSlider(o: SliderOptions = {}): IntSlider {
  return new IntSlider(o);
}

/**
 * A slider over numbers with a fractional step (a clip factor, a learning rate).
 * @group Widgets
 * @example
 * ```ts
 * const clip = floatSlider({ description: "clip", min: 0.5, max: 1, step: 0.05, value: 0.9 });
 * clip.value = 0.8      // moves it in the front end too
 * ```
 */
export function floatSlider(o: SliderOptions = {}): FloatSlider {
  return new FloatSlider(o);
}

/**
 * A slider over a list of choices, such as group sizes or bit widths.
 * @group Widgets
 * @example
 * ```ts
 * const g = selectionSlider({ description: "group size", options: [16, 32, 64, 128, "channel"], value: 64 });
 * g.value               // 64
 * ```
 */
export function selectionSlider<const T>(o: SelectionOptions<T>): SelectionSlider<T> {
  return new SelectionSlider(o);
}

/**
 * A drop-down list of choices (formats, conventions, models).
 * @group Widgets
 * @example
 * ```ts
 * const f = dropdown({ description: "format", options: ["int4", "nf4", "fp4-e2m1"] });
 * f.value               // "int4"
 * ```
 */
export function dropdown<const T>(o: SelectionOptions<T>): Dropdown<T> {
  return new Dropdown(o);
}

/**
 * A checkbox: true or false.
 * @group Widgets
 * @example
 * ```ts
 * const sym = checkbox({ description: "symmetric", value: true });
 * sym.value             // true
 * ```
 */
export function checkbox(o: ControlOptions & { value?: boolean } = {}): Checkbox {
  return new Checkbox(o);
}

/**
 * A button that stays pressed (true) or released (false).
 * @group Widgets
 * @example
 * ```ts
 * const logY = toggleButton({ description: "log y", value: true });
 * logY.value = false
 * ```
 */
export function toggleButton(o: ControlOptions & { value?: boolean } = {}): ToggleButton {
  return new ToggleButton(o);
}

/**
 * A line of text to type into.
 * @group Widgets
 * @example
 * ```ts
 * const title = textInput({ description: "title", value: "MSE vs group size" });
 * title.value           // "MSE vs group size"
 * ```
 */
export function textInput(o: ControlOptions & { value?: string; placeholder?: string; continuousUpdate?: boolean } = {}): Text {
  return new Text(o);
}

/**
 * Widgets stacked top to bottom.
 * @group Widgets
 * @example
 * ```ts
 * vbox([intSlider({ description: "bits", min: 2, max: 8 }), checkbox({ description: "symmetric" })])
 * ```
 */
export function vbox(children: readonly Widget[]): Box {
  return new Box("VBox", children);
}

/**
 * Widgets side by side.
 * @group Widgets
 * @example
 * ```ts
 * hbox([dropdown({ options: ["int4", "nf4"] }), toggleButton({ description: "log y" })])
 * ```
 */
export function hbox(children: readonly Widget[]): Box {
  return new Box("HBox", children);
}

/**
 * An Output widget: a place whose contents a callback replaces (`run`) or adds to (`append`).
 * @group Widgets
 * @example
 * ```ts
 * const out = outputWidget();
 * const bits = intSlider({ description: "bits", min: 2, max: 8, value: 4 });
 * const show = () => out.run(() => ruler({ bits: bits.value }).fit([0.1, -0.3, 0.7]));
 * bits.onChange(show);
 * show();
 * vbox([bits, out])
 * ```
 */
export function outputWidget(): Output {
  return new Output();
}

/**
 * One control of `interact`, by its shape: `[min, max]` (two numbers: an IntSlider when both are
 * integers, else a FloatSlider; the value starts in the middle), a list of choices (a SelectionSlider
 * when it holds numbers, a Dropdown when it holds only strings; the first is chosen), a boolean (a
 * Checkbox), a string (a text box), `{ min, max, step?, value? }` (a slider with a start value),
 * `{ options, value?, control? }` (choices with a start value), or a control you built.
 * @group Widgets
 */
export type ControlShape =
  | readonly [number, number]
  | readonly unknown[]
  | boolean
  | string
  | { readonly min: number; readonly max: number; readonly step?: number; readonly value?: number }
  | { readonly options: readonly unknown[]; readonly value?: unknown; readonly control?: "slider" | "dropdown" }
  | ValueWidget<any>;

/**
 * The value a control of that shape gives the function.
 * @group Widgets
 */
export type ControlValue<S> = S extends ValueWidget<infer V>
  ? V
  : S extends boolean
    ? boolean
    : S extends string
      ? string
      : S extends readonly [number, number]
        ? number
        : S extends readonly (infer T)[]
          ? T
          : S extends { readonly options: readonly (infer T)[] }
            ? T
            : S extends { readonly min: number }
              ? number
              : never;

/**
 * The values `interact` passes to its function, one per option.
 * @group Widgets
 */
export type InteractValues<O> = { -readonly [K in keyof O]: ControlValue<O[K]> };

/**
 * Options of `interact` itself.
 * @group Widgets
 */
export interface InteractOptions {
  /** Re-run while a slider is dragged (default false: on release, since a re-run may draw a chart). */
  continuousUpdate?: boolean;
  /** Label width for the controls (default "120px"). */
  descriptionWidth?: string;
}

function isRange(s: unknown): s is readonly [number, number] {
  return Array.isArray(s) && s.length === 2 && s.every((x) => typeof x === "number");
}

function controlFor(name: string, shape: unknown, o: InteractOptions): ValueWidget<unknown> {
  const common = { description: name, descriptionWidth: o.descriptionWidth ?? "120px" };
  const continuousUpdate = o.continuousUpdate ?? false;
  if (shape instanceof ValueWidget) return shape;
  if (typeof shape === "boolean") return new Checkbox({ ...common, value: shape });
  if (typeof shape === "string") return new Text({ ...common, value: shape, continuousUpdate: false });
  if (isRange(shape) || (typeof shape === "object" && shape !== null && "min" in shape && "max" in shape)) {
    const r = isRange(shape) ? { min: shape[0], max: shape[1] } : (shape as { min: number; max: number; step?: number; value?: number });
    const ints = [r.min, r.max, ...("step" in r && r.step !== undefined ? [r.step] : [])].every(Number.isInteger);
    const value = "value" in r && r.value !== undefined ? r.value : ints ? Math.floor((r.min + r.max) / 2) : (r.min + r.max) / 2;
    const step = "step" in r ? r.step : undefined;
    check(r.min <= r.max, "BAD_ARGUMENT", `interact option ${name}: [min, max] needs min ≤ max, got [${r.min}, ${r.max}]`);
    const opts = { ...common, min: r.min, max: r.max, step, value, continuousUpdate };
    return ints && Number.isInteger(value) ? new IntSlider(opts) : new FloatSlider(opts);
  }
  const choice = Array.isArray(shape)
    ? { options: shape as readonly unknown[], value: undefined, control: undefined }
    : typeof shape === "object" && shape !== null && Array.isArray((shape as { options?: unknown }).options)
      ? (shape as { options: readonly unknown[]; value?: unknown; control?: "slider" | "dropdown" })
      : null;
  check(choice !== null, "BAD_ARGUMENT", () =>
    `interact option ${name}: cannot make a control from ${JSON.stringify(shape)}; use [min, max] for a slider, a list of choices, true/false, a string, or a control such as intSlider({ … })`);
  check(choice.options.length > 0, "BAD_ARGUMENT", `interact option ${name}: the list of choices is empty: give at least one`);
  const slider = choice.control ? choice.control === "slider" : !choice.options.every((x) => typeof x === "string");
  const sel = { ...common, options: choice.options, value: choice.value, continuousUpdate };
  return slider ? new SelectionSlider(sel) : new Dropdown(sel);
}

/**
 * The result of `interact`: its controls, the Output widget that shows the function's latest result,
 * and the last value the function returned. Shows as the controls above the output.
 * @group Widgets
 * @example
 * ```ts
 * const w = interact(({ bits }) => ruler({ bits }).fit([0.1, -0.3, 0.7]), { bits: [2, 8] });
 * w.values              // { bits: 5 }
 * w.set({ bits: 3 });   // moves the slider and re-runs
 * w.result              // the fitted ruler for 3 bits
 * ```
 */
export class Interactive<V extends Record<string, unknown>> {
  readonly controls: { readonly [K in keyof V]: ValueWidget<V[K]> };
  readonly output: Output;
  readonly widget: Box;
  private last: unknown;
  private holding = false;
  private runs = 0;

  constructor(private readonly fn: (values: V) => unknown, options: Record<string, unknown>, o: InteractOptions = {}) {
    check(typeof fn === "function", "BAD_ARGUMENT", "interact(fn, options): fn must be a function of the values, e.g. ({ bits }) => ruler({ bits })");
    check(typeof options === "object" && options !== null && Object.keys(options).length > 0, "BAD_ARGUMENT",
      "interact(fn, options): options must name at least one control, e.g. { bits: [2, 8] }");
    const controls: Record<string, ValueWidget<unknown>> = {};
    for (const [name, shape] of Object.entries(options)) controls[name] = controlFor(name, shape, o);
    this.controls = controls as never;
    this.output = new Output();
    // an async function's re-run is returned, so the kernel stays busy on the slider's message until it is shown
    for (const c of Object.values(controls)) {
      c.onChange(() => {
        const r = this.rerun();
        return r instanceof Promise ? r : undefined;
      });
    }
    this.rerun();
    this.widget = new Box("VBox", [...Object.values(controls), this.output], { layout: {} });
  }

  /** The controls' current values, as the function receives them. */
  get values(): V {
    return Object.fromEntries(Object.entries(this.controls).map(([k, c]) => [k, (c as ValueWidget<unknown>).value])) as V;
  }

  /** What the function returned last (undefined after an error). */
  get result(): unknown {
    return this.last;
  }

  /** How many times the function ran. */
  get calls(): number {
    return this.runs;
  }

  /** The outputs shown now (what a static export keeps). */
  get outputs(): OutputRecord[] {
    return this.output.outputs;
  }

  /** Moves controls from code (the front end follows) and re-runs once. */
  set(patch: Partial<V>): this {
    this.holding = true;
    try {
      for (const [k, v] of Object.entries(patch)) {
        const c = (this.controls as Record<string, ValueWidget<unknown>>)[k];
        check(c, "BAD_ARGUMENT", `interact has no control named ${k}: its controls are ${Object.keys(this.controls).join(", ")}`);
        c.value = v;
      }
    } finally {
      this.holding = false;
    }
    void this.rerun();
    return this;
  }

  /** Calls the function with the current values and replaces the output by what it shows and returns. */
  rerun(): unknown {
    if (this.holding) return undefined;
    this.runs++;
    const values = this.values;
    const r = this.output.run(() => this.fn(values));
    if (r instanceof Promise) return r.then((v) => (this.last = v));
    this.last = r;
    return r;
  }

  private summary(): { text: string; html: string } {
    const pairs = Object.entries(this.values).map(([k, v]) => [k, typeof v === "string" ? JSON.stringify(v) : String(v)]);
    return {
      text: pairs.map(([k, v]) => `${k} = ${v}`).join(", "),
      html: `<p class="quantlab-interact-values">${pairs.map(([k, v]) => `<b>${escapeHtml(k)}</b> = ${escapeHtml(v)}`).join(" · ")}</p>`,
    };
  }

  toString(): string {
    return `interact(${this.summary().text})`;
  }

  /**
   * The widget for front ends with widgets; for everything else (nbconvert, GitHub, a front end without
   * the widget manager) the last output as text, HTML and image, under a line with the values.
   */
  [DISPLAY](): MimeBundle {
    const { text, html } = this.summary();
    const outs = this.output.outputs;
    const texts: string[] = [];
    const htmls: string[] = [];
    const bundle: MimeBundle = { [WIDGET_VIEW_MIME]: { model_id: this.widget.id, version_major: 2, version_minor: 0 }, "text/plain": "" };
    for (const out of outs) {
      if (out.output_type === "stream") {
        texts.push(out.text.replace(/\n$/, ""));
        htmls.push(`<pre>${escapeHtml(out.text)}</pre>`);
      } else if (out.output_type === "error") {
        texts.push(`${out.ename}: ${out.evalue}`);
        htmls.push(`<pre style="color:#b00">${escapeHtml(`${out.ename}: ${out.evalue}`)}</pre>`);
      } else {
        const d = out.data;
        if (typeof d["text/plain"] === "string") texts.push(d["text/plain"]);
        if (typeof d["text/html"] === "string") htmls.push(d["text/html"]);
        else if (typeof d["image/svg+xml"] === "string") htmls.push(`<img alt="chart" src="data:image/svg+xml;base64,${Buffer.from(d["image/svg+xml"], "utf8").toString("base64")}">`);
        else if (typeof d["text/plain"] === "string") htmls.push(`<pre>${escapeHtml(d["text/plain"])}</pre>`);
        for (const img of ["image/svg+xml", "image/png"]) if (typeof d[img] === "string") bundle[img] = d[img];
      }
    }
    bundle["text/plain"] = [`interact: ${text}`, ...texts].join("\n");
    bundle["text/html"] = `<div class="quantlab-interact">${html}\n${htmls.join("\n")}</div>`;
    return bundle;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/**
 * Builds a control for each option from its shape, calls `fn` with their values and shows its result (a
 * chart, a table, an explanation — anything that displays) below them; moving a control re-runs `fn` and
 * replaces the result. Shapes: `[min, max]` → slider, a list → selection slider (numbers) or drop-down
 * (strings), a boolean → checkbox, a string → text box, or a control you built (see `ControlShape`).
 * Without a widget front end (nbconvert, `quantlab run`, GitHub) the cell keeps the result it showed when
 * it ran, as text, HTML and image; front ends that save widget state (JupyterLab, nbclient) also keep the
 * Output widget's latest result.
 * @group Widgets
 * @example
 * ```ts
 * const W = randn(64, 256, { seed: 1, std: 0.02 });
 * interact(({ bits, groupSize }) => rtn(W, { bits, groupSize }).report,
 *          { bits: [2, 8], groupSize: [16, 32, 64, 128, "channel"] })
 * ```
 */
export function interact<const O extends Record<string, ControlShape>>(fn: (values: InteractValues<O>) => unknown, options: O, o: InteractOptions = {}): Interactive<InteractValues<O>> {
  return new Interactive(fn, options, o);
}
