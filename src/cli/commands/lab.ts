import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parse } from "../args.js";
import { installKernelspec, REPO_ROOT } from "../../kernel/kernelspec.js";

export const summary = "install the kernelspec for you and open the notebooks in JupyterLab (or classic Notebook)";

const USAGE = `usage: quantlab lab   (npm run lab)
  Installs the "QuantLab (TypeScript)" kernelspec for the current user, then starts JupyterLab on
  notebooks/ (classic Notebook when JupyterLab is not installed). Without Jupyter it says how to get it.`;

/** The first Jupyter front end that answers --version: JupyterLab, then classic Notebook. */
function frontEnd(): string[] | null {
  const candidates = [["jupyter", "lab"], ["jupyter-lab"], ["jupyter", "notebook"], ["jupyter-notebook"]];
  for (const c of candidates) {
    const r = spawnSync(c[0]!, [...c.slice(1), "--version"], { stdio: "ignore" });
    if (r.status === 0) return c;
  }
  return null;
}

export async function run(argv: string[]): Promise<number> {
  if (!parse("lab", argv, {}, USAGE)) return 0;
  const dir = installKernelspec({ user: true });
  console.log(`installed the QuantLab kernelspec in ${dir}`);
  const fe = frontEnd();
  if (!fe) {
    console.error(
      "Jupyter is not installed. Any one of these gives you a front end for the kernel:\n" +
      "  conda env create -f environment.yml && conda activate quantlab     (JupyterLab, as on Binder)\n" +
      "  pip install jupyterlab\n" +
      "  sudo apt-get install jupyter-notebook                               (Debian/Ubuntu: classic Notebook)\n" +
      "then run: npm run lab",
    );
    return 1;
  }
  console.log(`starting ${fe.join(" ")} on notebooks/ (Ctrl-C to stop)`);
  const child = spawn(fe[0]!, [...fe.slice(1), join(REPO_ROOT, "notebooks")], { stdio: "inherit" });
  return await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 0)));
}
