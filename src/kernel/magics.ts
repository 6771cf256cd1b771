/**
 * The `%` magics: `%time` (wall time of the rest of the cell or of one line), `%backend`, `%who`,
 * `%help`, and `%charts` (forwarded to the DSL's `setChartMode` when it has one). The DSL hooks are
 * looked up by name on the preloaded module, so the kernel needs no knowledge of what they do.
 */
export interface MagicContext {
  dsl: Record<string, unknown>;
  print(text: string): void;
  display(value: unknown): void;
  userNames(): string[];
  preloadNames(): string[];
  /** Runs code as (the rest of) the cell and returns its last value, if any. */
  run(code: string): Promise<{ value: unknown; hasValue: boolean }>;
}

export const MAGICS: Record<string, string> = {
  time: "%time CODE or %time / %%time on the first line: run the cell and print its wall time",
  backend: "%backend: which tfjs backend the DSL computes on",
  who: "%who: the names your cells defined",
  help: "%help [NAME]: this list, the DSL vocabulary, or what NAME does (NAME? works too)",
  charts: "%charts MODE: how charts render (forwarded to the DSL's setChartMode)",
};

export interface ParsedMagic {
  name: string;
  arg: string;
  /** The cell after the magic line (a `%%time` cell body). */
  rest: string;
}

/** A cell whose first line is `%name …` or `%%name …`, else null. */
export function parseMagic(code: string): ParsedMagic | null {
  const m = /^\s*%%?([A-Za-z]\w*)[ \t]*([^\n]*)(?:\n([\s\S]*))?$/.exec(code);
  if (!m) return null;
  return { name: m[1], arg: m[2].trim(), rest: m[3] ?? "" };
}

export function isMagic(name: string): boolean {
  return Object.hasOwn(MAGICS, name);
}

export async function runMagic(m: ParsedMagic, ctx: MagicContext): Promise<{ value: unknown; hasValue: boolean }> {
  const none = { value: undefined, hasValue: false };
  switch (m.name) {
    case "time": {
      const code = [m.arg, m.rest].filter((s) => s.trim()).join("\n");
      const t0 = process.hrtime.bigint();
      try {
        return await ctx.run(code);
      } finally {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        ctx.print(`Wall time: ${ms < 1000 ? `${ms.toFixed(2)} ms` : `${(ms / 1000).toFixed(3)} s`}\n`);
      }
    }
    case "backend": {
      const report = ["backendReport", "backendInfo"].map((k) => ctx.dsl[k]).find((f) => typeof f === "function") as (() => unknown) | undefined;
      if (!report) ctx.print("none: the preloaded DSL exports no backend report (backendReport)\n");
      else show(ctx, await report());
      return none;
    }
    case "who": {
      const names = ctx.userNames();
      ctx.print(names.length ? names.sort().join("\t") + "\n" : "no names defined yet\n");
      return none;
    }
    case "help": {
      const dslHelp = ctx.dsl.help;
      if (!m.arg) {
        ctx.print(
          "QuantLab kernel: TypeScript cells with the QuantLab DSL preloaded.\n" +
            "Magics:\n" + Object.values(MAGICS).map((s) => `  ${s}\n`).join("") +
            "Helpers: display(obj, {raw, update, display_id}), html`…`, md`…`, svg`…`, clearOutput(), await input(prompt)\n" +
            "Inspect any name with NAME? or Shift+Tab.\n",
        );
      }
      if (typeof dslHelp === "function") show(ctx, await (dslHelp as (f?: string) => unknown)(m.arg || undefined));
      else if (!m.arg) ctx.print(`DSL names: ${ctx.preloadNames().join(", ")}\n`);
      return none;
    }
    case "charts": {
      const set = ctx.dsl.setChartMode;
      if (typeof set !== "function") {
        ctx.print("none: the preloaded DSL exports no setChartMode, so charts have a single mode\n");
        return none;
      }
      show(ctx, await (set as (mode: string) => unknown)(m.arg));
      return none;
    }
    default:
      throw new Error(`unknown magic %${m.name}: the magics are ${Object.keys(MAGICS).map((k) => "%" + k).join(", ")}`);
  }
}

/** A hook's answer: strings print as text, anything else displays through its mime bundle. */
function show(ctx: MagicContext, value: unknown): void {
  if (value === undefined) return;
  if (typeof value === "string") ctx.print(value.endsWith("\n") ? value : value + "\n");
  else ctx.display(value);
}
