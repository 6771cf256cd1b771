/**
 * `quantlab COMMAND …`: one table from command name to the module that runs it. Each command module
 * exports `run(argv): Promise<number>` (the exit code) and `summary` (one line for `quantlab help`).
 * Modules are imported lazily so `quantlab memory` does not pay for tfjs or the kernel.
 */
import { QuantLabError } from "../errors.js";
import { isErrno } from "../fs-errors.js";

export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

// Each issue's commands add their line here.
const COMMANDS: Record<string, () => Promise<Command>> = {
  start: () => import("./commands/start.js"),
  lab: () => import("./commands/lab.js"),
  ruler: () => import("./commands/ruler.js"),
  memory: () => import("./commands/memory.js"),
  kv: () => import("./commands/kv.js"),
  rtn: () => import("./commands/rtn.js"),
  gptq: () => import("./commands/gptq.js"), awq: () => import("./commands/awq.js"),
  kernel: () => import("./commands/kernel.js"),
  run: () => import("./commands/run.js"),
  gguf: () => import("./commands/gguf.js"), hf: () => import("./commands/hf.js"),
  eval: () => import("./commands/eval.js"), "quantize-model": () => import("./commands/quantize-model.js"),
};

async function help(): Promise<number> {
  const lines = ["usage: quantlab COMMAND [options]   (quantlab COMMAND --help for its options)", ""];
  for (const [name, load] of Object.entries(COMMANDS)) {
    try {
      lines.push(`  ${name.padEnd(15)} ${(await load()).summary}`);
    } catch {
      // a command whose module is not present in this build is simply not listed
    }
  }
  console.log(lines.join("\n"));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") return help();
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`quantlab: unknown command '${name}': run 'quantlab help' for the list\n`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (e) {
    // bad input of every kind (options, files, paths, data) exits 1 with one line; a stack trace is
    // for QuantLab's own bugs, and even then only on request
    if (e instanceof QuantLabError) {
      process.stderr.write(`quantlab ${name}: ${e.message}\n`);
      return 1;
    }
    if (isErrno(e)) {
      const path = (e as NodeJS.ErrnoException).path;
      process.stderr.write(`quantlab ${name}: ${path ? `${path}: ` : ""}${(e as NodeJS.ErrnoException).code}: ${(e as Error).message.replace(/^E[A-Z]+: /, "")}: check the path and its permissions\n`);
      return 1;
    }
    if (process.env.QUANTLAB_DEBUG) throw e;
    process.stderr.write(`quantlab ${name}: internal error: ${(e as Error)?.message ?? String(e)} (run with QUANTLAB_DEBUG=1 for the stack trace, and please report it)\n`);
    return 70;
  }
}
