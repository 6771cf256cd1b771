/**
 * `quantlab kernel install [--user | --sys-prefix | --prefix DIR]` writes the kernelspec (no Python
 * needed); `quantlab kernel start -f CONNECTION_FILE` is what the kernelspec runs.
 */
import { QuantLabError } from "../../errors.js";
import { parse, printJson, str } from "../args.js";

export const summary = "Jupyter kernel: 'install' the kernelspec, 'start -f CONNECTION_FILE'";

const USAGE = `usage: quantlab kernel install [--user | --sys-prefix | --prefix DIR] [--json]
       quantlab kernel start -f CONNECTION_FILE

install     write the "QuantLab (TypeScript)" kernelspec (default --user: ~/.local/share/jupyter)
start       run the kernel on a Jupyter connection file (what Jupyter itself runs)`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "install") {
    const p = parse("kernel", rest, { user: { type: "boolean" }, "sys-prefix": { type: "boolean" }, prefix: { type: "string" }, json: { type: "boolean" } }, USAGE);
    if (!p) return 0;
    const prefix = str(p, "prefix");
    const chosen = [p.values.user, p.values["sys-prefix"], prefix].filter((v) => v !== undefined && v !== false).length;
    if (chosen > 1) throw new QuantLabError("BAD_ARGUMENT", "choose one of --user, --sys-prefix and --prefix DIR");
    const { installKernelspec } = await import("../../kernel/kernelspec.js");
    const dir = installKernelspec(prefix ? { prefix } : p.values["sys-prefix"] ? { sysPrefix: true } : { user: true });
    if (p.values.json) printJson({ kernel: "quantlab", dir });
    else {
      // name the front end that is installed: telling people to run `jupyter lab` without it fails
      const { findFrontEnd, startHint } = await import("./lab.js");
      console.log(`installed the QuantLab kernelspec in ${dir}\n${startHint(findFrontEnd())}`);
    }
    return 0;
  }
  if (sub === "start") {
    const p = parse("kernel", rest, { f: { type: "string", short: "f" }, "connection-file": { type: "string" } }, USAGE);
    if (!p) return 0;
    const file = str(p, "f") ?? str(p, "connection-file") ?? p.positionals[0];
    if (!file) throw new QuantLabError("BAD_ARGUMENT", "kernel start needs -f CONNECTION_FILE (Jupyter passes it through the kernelspec)");
    const { startKernel } = await import("../../kernel/kernel.js");
    await startKernel(file);
    // the kernel runs until shutdown_request or SIGTERM, which exit the process
    await new Promise<never>(() => undefined);
    return 0;
  }
  if (sub === "--help" || sub === "-h" || sub === undefined) {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new QuantLabError("BAD_ARGUMENT", `unknown kernel subcommand '${sub}': use install or start`);
}
