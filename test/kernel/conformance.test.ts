/**
 * Jupyter's conformance suite (Debian's python3-jupyter-kernel-test) against the real kernel, every test
 * enabled (see conformance.py). The kernelspec goes into a temporary prefix on JUPYTER_PATH, never the
 * user's. When the suite is not importable the test says how to install it and skips — except under
 * CI=true, where a missing suite is a failure.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { kernelEnv, ROOT } from "./helpers.js";

function findPython(): string | null {
  for (const py of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(py, ["-c", "import jupyter_kernel_test, jupyter_client"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}

test("jupyter_kernel_test passes with every test enabled", (t) => {
  const python = findPython();
  if (!python) {
    const how = "jupyter_kernel_test is not importable: install it with `apt-get install python3-jupyter-kernel-test` (or `pip install jupyter_kernel_test`)";
    if (process.env.CI === "true") assert.fail(how);
    t.skip(how);
    return;
  }
  const prefix = mkdtempSync(join(tmpdir(), "quantlab-kernelspec-"));
  try {
    const env = kernelEnv();
    const install = spawnSync(process.execPath, [join(ROOT, "bin", "quantlab.js"), "kernel", "install", "--prefix", prefix], { env, encoding: "utf8" });
    assert.equal(install.status, 0, install.stderr);
    const r = spawnSync(python, [join(ROOT, "test", "kernel", "conformance.py")], {
      env: { ...env, JUPYTER_PATH: join(prefix, "share", "jupyter"), JUPYTER_RUNTIME_DIR: join(prefix, "runtime") },
      encoding: "utf8",
      timeout: 120_000,
    });
    const report = r.stderr + r.stdout;
    assert.equal(r.status, 0, report);
    assert.match(report, /Ran 12 tests/);
    assert.doesNotMatch(report, /skipped/);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});
