/**
 * Shared option parsing for the CLI commands: node's parseArgs with QuantLab's error messages, so a
 * typo gets "unknown option --grup-size: run 'quantlab rtn --help'" instead of a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { QuantLabError } from "../errors.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Parses argv against `options`; prints `usage` and returns null for --help. */
export function parse(command: string, argv: string[], options: Options, usage: string): Parsed | null {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(usage);
    return null;
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new QuantLabError("BAD_ARGUMENT", `${(e as Error).message}: run 'quantlab ${command} --help' for the options`);
  }
}

/** A number option: rejects "abc" and NaN with a message naming the option. */
export function num(name: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new QuantLabError("BAD_ARGUMENT", `--${name} is required`);
    return fallback;
  }
  const v = Number(value);
  if (!Number.isFinite(v)) throw new QuantLabError("BAD_ARGUMENT", `--${name} must be a number, got '${value}'`);
  return v;
}

/** A string option's value (undefined when absent); rejects a repeated or boolean use. */
export function str(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  if (v === undefined || typeof v === "string") return v;
  throw new QuantLabError("BAD_ARGUMENT", `--${name} takes one value`);
}

/** Prints one JSON object on stdout (the `--json` contract). */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
