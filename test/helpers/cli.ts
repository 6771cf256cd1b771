/** The `quantlab` command as the CLI tests run it: from the TypeScript sources, output captured. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";

export function quantlab(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "quantlab.js"), ...args], {
    env: { ...process.env, QUANTLAB_FROM_SOURCE: "1" }, encoding: "utf8",
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
