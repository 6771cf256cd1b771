import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parse } from "../args.js";
import { installKernelspec, REPO_ROOT } from "../../kernel/kernelspec.js";

export const summary = "install the kernelspec for you and open the notebooks in JupyterLab (or classic Notebook)";

const USAGE = `usage: quantlab lab   (npm run lab)
  Installs the "QuantLab (TypeScript)" kernelspec for the current user, then starts JupyterLab on
  notebooks/ (classic Notebook when JupyterLab is not installed). Without Jupyter it says how to get it.`;

/** A Jupyter front end found on PATH. */
export interface FrontEnd {
  argv: string[];
  name: "JupyterLab" | "classic Notebook";
}

/** The first Jupyter front end that answers --version: JupyterLab, then classic Notebook. */
export function findFrontEnd(): FrontEnd | null {
  const candidates: FrontEnd[] = [
    { argv: ["jupyter", "lab"], name: "JupyterLab" }, { argv: ["jupyter-lab"], name: "JupyterLab" },
    { argv: ["jupyter", "notebook"], name: "classic Notebook" }, { argv: ["jupyter-notebook"], name: "classic Notebook" },
  ];
  for (const c of candidates) {
    const r = spawnSync(c.argv[0]!, [...c.argv.slice(1), "--version"], { stdio: "ignore" });
    if (r.status === 0) return c;
  }
  return null;
}

/** Jupyter servers refuse to start as root unless told --allow-root. */
export function rootFlags(uid = process.getuid?.() ?? -1): string[] {
  return uid === 0 ? ["--allow-root"] : [];
}

const INSTALL_HINT =
  "Any one of these gives you a front end for the kernel:\n" +
  "  conda env create -f environment.yml && conda activate quantlab     (JupyterLab, as on Binder)\n" +
  "  pip install jupyterlab\n" +
  "  sudo apt-get install jupyter-notebook                               (Debian/Ubuntu: classic Notebook)\n" +
  "then run: npm run lab";

/** What to run after installing the kernelspec, for the front end that is actually installed. */
export function startHint(fe: FrontEnd | null, uid = process.getuid?.() ?? -1): string {
  if (!fe) return `Jupyter is not installed. ${INSTALL_HINT}`;
  const cmd = [...fe.argv, ...rootFlags(uid)].join(" ");
  return `start Jupyter with: ${cmd}   (kernel "QuantLab (TypeScript)"), or: npm run lab`;
}

export async function run(argv: string[]): Promise<number> {
  if (!parse("lab", argv, {}, USAGE)) return 0;
  const dir = installKernelspec({ user: true });
  console.log(`installed the QuantLab kernelspec in ${dir}`);
  const fe = findFrontEnd();
  if (!fe) {
    console.error(`Jupyter is not installed. ${INSTALL_HINT}`);
    return 1;
  }
  if (fe.name !== "JupyterLab") console.log("JupyterLab is not installed: starting classic Notebook instead (pip install jupyterlab for JupyterLab)");
  const extra = rootFlags();
  if (extra.length) console.log("running as root: passing --allow-root, which Jupyter requires then");
  console.log(`starting ${[...fe.argv, ...extra].join(" ")} on notebooks/ (Ctrl-C to stop)`);
  const child = spawn(fe.argv[0]!, [...fe.argv.slice(1), ...extra, join(REPO_ROOT, "notebooks")], { stdio: "inherit" });
  return await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 0)));
}
