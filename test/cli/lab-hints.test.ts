/**
 * `npm run lab` and `quantlab kernel install` name the Jupyter front end that is installed: classic
 * Notebook when JupyterLab is missing, `--allow-root` for root, the install commands when neither is
 * there (never "run jupyter lab" without JupyterLab). Fake `jupyter` programs on PATH stand in.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { findFrontEnd, rootFlags, startHint } from "../../src/cli/commands/lab.js";

const dir = mkdtempSync(join(tmpdir(), "quantlab-lab-"));
const path = process.env.PATH;
after(() => {
  process.env.PATH = path;
  rmSync(dir, { recursive: true, force: true });
});

/** A PATH holding only a `jupyter` that knows the given subcommands. */
function fakeJupyter(name: string, subcommands: string[]): void {
  const bin = join(dir, name);
  mkdirSync(bin, { recursive: true });
  const script = `#!/bin/sh\ncase "$1" in ${subcommands.map((s) => `${s}) exit 0;;`).join(" ")} *) exit 1;; esac\n`;
  writeFileSync(join(bin, "jupyter"), script);
  chmodSync(join(bin, "jupyter"), 0o755);
  process.env.PATH = bin;
}

test("JupyterLab first; classic Notebook when it is the only one; --allow-root for root", () => {
  fakeJupyter("both", ["lab", "notebook"]);
  assert.deepEqual(findFrontEnd(), { argv: ["jupyter", "lab"], name: "JupyterLab" });
  fakeJupyter("classic", ["notebook"]);
  const fe = findFrontEnd();
  assert.deepEqual(fe, { argv: ["jupyter", "notebook"], name: "classic Notebook" });
  assert.equal(startHint(fe, 1000), 'start Jupyter with: jupyter notebook   (kernel "QuantLab (TypeScript)"), or: npm run lab');
  assert.equal(startHint(fe, 0), 'start Jupyter with: jupyter notebook --allow-root   (kernel "QuantLab (TypeScript)"), or: npm run lab');
  assert.deepEqual(rootFlags(0), ["--allow-root"]);
  assert.deepEqual(rootFlags(1000), []);
});

test("without any front end the hint says how to install one, not to run jupyter lab", () => {
  fakeJupyter("none", []);
  assert.equal(findFrontEnd(), null);
  const hint = startHint(null, 1000);
  assert.match(hint, /^Jupyter is not installed\./);
  assert.match(hint, /pip install jupyterlab/);
  assert.match(hint, /apt-get install jupyter-notebook/);
  assert.doesNotMatch(hint, /start Jupyter with: jupyter lab/);
});
