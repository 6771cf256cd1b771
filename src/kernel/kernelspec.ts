/**
 * Writes the QuantLab kernelspec where Jupyter looks for it, without Python: `kernel.json` with argv
 * pointing at this installation's bin/quantlab.js through node's absolute path, plus the logos.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir, platform } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { QuantLabError } from "../errors.js";

export const KERNEL_NAME = "quantlab";
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SPEC_DIR = join(REPO_ROOT, "kernel");

export type InstallTarget = { user: true } | { sysPrefix: true } | { prefix: string };

/** `<data dir>/kernels/quantlab` for a target, following jupyter_core's paths. */
export function kernelDir(target: InstallTarget, env: NodeJS.ProcessEnv = process.env): string {
  if ("prefix" in target) return join(resolve(target.prefix), "share", "jupyter", "kernels", KERNEL_NAME);
  if ("sysPrefix" in target) {
    const prefix = env.VIRTUAL_ENV ?? env.CONDA_PREFIX;
    if (!prefix) throw new QuantLabError("NOT_FOUND", "--sys-prefix needs an active virtualenv or conda environment (VIRTUAL_ENV or CONDA_PREFIX): activate one, or use --user or --prefix DIR");
    return join(prefix, "share", "jupyter", "kernels", KERNEL_NAME);
  }
  const data = env.JUPYTER_DATA_DIR ?? (platform() === "darwin" ? join(homedir(), "Library", "Jupyter") : join(env.XDG_DATA_HOME ?? join(homedir(), ".local", "share"), "jupyter"));
  return join(data, "kernels", KERNEL_NAME);
}

/** The kernel.json written on install: the committed one with an absolute argv. */
export function kernelJson(): Record<string, unknown> {
  const spec = JSON.parse(readFileSync(join(SPEC_DIR, "kernel.json"), "utf8")) as Record<string, unknown>;
  spec.argv = [process.execPath, join(REPO_ROOT, "bin", "quantlab.js"), "kernel", "start", "-f", "{connection_file}"];
  if (process.env.QUANTLAB_FROM_SOURCE) spec.env = { ...(spec.env as object), QUANTLAB_FROM_SOURCE: "1" };
  return spec;
}

export function installKernelspec(target: InstallTarget): string {
  const dir = kernelDir(target);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.kernel.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(kernelJson(), null, 2) + "\n");
  renameSync(tmp, join(dir, "kernel.json"));
  for (const logo of ["logo-32x32.png", "logo-64x64.png"]) {
    if (existsSync(join(SPEC_DIR, logo))) copyFileSync(join(SPEC_DIR, logo), join(dir, logo));
  }
  return dir;
}
