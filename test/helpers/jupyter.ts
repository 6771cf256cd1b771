/**
 * Shared set-up for tests that drive real Jupyter (Debian's nbclient, nbconvert, classic Notebook) and
 * Chromium against the QuantLab kernel: a Python that has the Jupyter packages, an isolated Jupyter
 * environment with the kernelspec installed into a temporary prefix, and free loopback ports.
 * Under CI a missing dependency is a failure, not a skip (`.ci/run` installs them).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findChromium } from "../../src/display/browser.js";

export const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

/** Debian's python3 has the Jupyter packages; a pyenv python3 earlier on PATH may not. */
export const PY = [process.env.QUANTLAB_PYTHON, "/usr/bin/python3", "python3"].filter((p): p is string => !!p)
  .find((p) => spawnSync(p, ["-c", "import nbclient, nbconvert, notebook"]).status === 0);
export const CHROMIUM = findChromium();

/** false when everything is there; else why — under CI=true the missing piece throws instead. */
export function jupyterSkip(): string | false {
  const why = !PY
    ? "a python3 with nbclient, nbconvert and notebook is needed: apt-get install python3-nbclient python3-nbconvert jupyter-notebook (or set QUANTLAB_PYTHON)"
    : !CHROMIUM ? "Chromium is needed: apt-get install chromium (or set QUANTLAB_CHROMIUM)" : false;
  if (why && process.env.CI) throw new Error(`CI: ${why}`);
  return why;
}

/** dist/ when it is newer than every source file, else the TypeScript sources (a stale build would mislead). */
function distIsCurrent(): boolean {
  const built = join(ROOT, "dist", "cli", "main.js");
  if (!existsSync(built)) return false;
  const t = statSync(built).mtimeMs;
  const walk = (d: string): boolean => readdirSync(d).every((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? walk(p) : statSync(p).mtimeMs <= t + 1;
  });
  return walk(join(ROOT, "src"));
}

/** An isolated Jupyter environment with the QuantLab kernelspec installed into it. */
export function jupyterEnv(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), "quantlab-jupyter-"));
  const prefix = join(dir, "prefix");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_CONFIG_DIR: join(dir, "config"), JUPYTER_DATA_DIR: join(dir, "data"),
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"), IPYTHONDIR: join(dir, "ipython"),
  };
  if (distIsCurrent()) delete env.QUANTLAB_FROM_SOURCE;
  else env.QUANTLAB_FROM_SOURCE = "1";
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "quantlab.js"), "kernel", "install", "--prefix", prefix], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`kernel install failed: ${r.stderr}`);
  return { dir, env };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Where tests keep screenshots and other artifacts ($QUANTLAB_ARTIFACTS, default test-artifacts/). */
export function artifactsDir(): string {
  const d = process.env.QUANTLAB_ARTIFACTS ?? join(ROOT, "test-artifacts");
  mkdirSync(d, { recursive: true });
  return d;
}
