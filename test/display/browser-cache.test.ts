/**
 * The chart browser's caches outlive it: a closed browser leaves its HTTP and code caches as the
 * user's seed, the next one starts from a copy of them and still renders; a cache folder someone else
 * could write to is not used.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { browserAvailable, closeBrowser, renderFigure, warmBrowser } from "../../src/display/browser.js";
import { userCacheDir } from "../../src/user-cache.js";

const noBrowser = browserAvailable() ? false : "no Chromium here (set QUANTLAB_CHROMIUM)";
// a temp folder of its own, so the user's real caches are neither read nor changed
const tmp = mkdtempSync(join(tmpdir(), "quantlab-cache-test-"));
process.env.TMPDIR = tmp;
delete process.env.QUANTLAB_CHART_CACHE;
after(() => rmSync(tmp, { recursive: true, force: true }));

const fig = { data: [{ type: "scatter" as const, x: [1, 2, 3], y: [2, 1, 3] }], layout: {} };

test("a closed browser's caches seed the next one, which still renders", { skip: noBrowser }, async () => {
  const seed = userCacheDir("chart-cache")!;
  assert.ok(seed.startsWith(tmp), seed);
  for (let session = 0; session < 2; session++) {
    await warmBrowser();
    const svg = (await renderFigure(fig, { format: "svg", width: 300, height: 200 })) as string;
    assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
    closeBrowser();
    const current = join(seed, "current", "Default");
    assert.ok(existsSync(join(current, "Cache")), `session ${session}: no HTTP cache kept`);
    assert.ok(readdirSync(join(current, "Cache"), { recursive: true }).length > 0);
    // nothing half-written is left beside the seed
    assert.deepEqual(readdirSync(seed), ["current"]);
  }
  // each browser's own profile went with it
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith("quantlab-chromium-")), []);
});

test("a cache folder others can write to is not used", () => {
  const dir = join(tmp, `quantlab-shared-${process.getuid?.() ?? "user"}`);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  assert.equal(userCacheDir("shared"), null);
  chmodSync(dir, 0o700);
  assert.equal(userCacheDir("shared"), dir);
});
