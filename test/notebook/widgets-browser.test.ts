/**
 * Widgets in a real widgets front end: ipywidgets' own `@jupyter-widgets/html-manager` (the ipywidgets 8
 * renderer) with `@jupyterlab/services`, bundled here with esbuild into a small page served by a running
 * Jupyter server (classic Notebook 6.4 as the server only). In headless Chromium the page starts a QuantLab kernel, runs a cell with `interact(...)`
 * that draws a chart, renders the widget, and the test drags the slider with the mouse and waits until
 * the chart redrawn by the kernel shows the new value. The bundle is built in a temporary folder.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM_ARGS } from "../../src/display/browser.js";
import { artifactsDir, CHROMIUM, freePort, jupyterEnv, jupyterSkip, PY, ROOT } from "../helpers/jupyter.js";

const skip = jupyterSkip();
const TOKEN = "quantlab-widgets-test";
let dir = "";
let env: NodeJS.ProcessEnv = process.env;

/** The page's script: a widget manager over a kernel connection, as ipywidgets' web3 example wires it. */
const ENTRY = String.raw`
import { HTMLManager } from "@jupyter-widgets/html-manager";
import * as base from "@jupyter-widgets/base";
import { KernelManager, ServerConnection } from "@jupyterlab/services";

class Manager extends HTMLManager {
  constructor(kernel) {
    super();
    this.kernel = kernel;
    kernel.registerCommTarget(this.comm_target_name, async (comm, msg) => {
      await this.handle_comm_open(new base.shims.services.Comm(comm), msg);
    });
  }
  async _create_comm(target, id, data, metadata) {
    const comm = this.kernel.createComm(target, id);
    if (data || metadata) comm.open(data, metadata);
    return new base.shims.services.Comm(comm);
  }
  _get_comm_info() {
    return this.kernel.requestCommInfo({ target_name: this.comm_target_name }).then((r) => r.content.comms);
  }
}

const log = [];
let kernel = null;
let manager = null;
window.QL = {
  log,
  async start(token) {
    // Notebook 6.4 knows no websocket subprotocols: ask for none rather than fail once and reconnect
    class LegacyWebSocket extends WebSocket {
      constructor(url) {
        super(url);
      }
    }
    const serverSettings = ServerConnection.makeSettings({ baseUrl: location.origin + "/", wsUrl: "ws://" + location.host + "/", token, WebSocket: LegacyWebSocket });
    kernel = await new KernelManager({ serverSettings }).startNew({ name: "quantlab" });
    kernel.iopubMessage.connect((_, msg) => log.push(msg.header.msg_type));
    manager = new Manager(kernel);
    await new Promise((resolve) => {
      if (kernel.connectionStatus === "connected") resolve();
      kernel.connectionStatusChanged.connect((_, s) => s === "connected" && resolve());
    });
    await kernel.info;
    return kernel.id;
  },
  async run(code) {
    const area = document.getElementById("area");
    const future = kernel.requestExecute({ code });
    const views = [];
    const errors = [];
    future.onIOPub = (msg) => {
      const t = msg.header.msg_type;
      if (t === "error") errors.push(msg.content.ename + ": " + msg.content.evalue);
      if (t !== "execute_result" && t !== "display_data") return;
      const ref = msg.content.data["application/vnd.jupyter.widget-view+json"];
      if (ref) views.push(manager.get_model(ref.model_id).then((m) => manager.display_view(manager.create_view(m), area)));
    };
    const reply = await future.done;
    await Promise.all(views);
    return { status: reply.content.status, errors, views: views.length };
  },
  async shutdown() {
    if (kernel) await kernel.shutdown();
  },
};
`;

const LOADERS = ["woff", "woff2", "ttf", "eot", "svg", "png", "gif"].map((e) => `--loader:.${e}=dataurl`);

function bundle(out: string): void {
  const esbuild = join(ROOT, "node_modules", "esbuild", "bin", "esbuild");
  // from stdin, imports resolve from the working directory: the checkout's node_modules
  const r = spawnSync(esbuild, [
    "--bundle", "--format=iife", "--platform=browser", "--sourcefile=entry.js", `--outfile=${join(out, "bundle.js")}`,
    ...LOADERS, "--define:process.env.NODE_ENV=\"production\"", "--define:global=window",
    // html-manager's embed module assigns webpack's asset path; give it a variable to assign
    "--banner:js=var __webpack_public_path__ = \"\";", "--log-level=error",
  ], { cwd: ROOT, input: ENTRY, encoding: "utf8" });
  assert.equal(r.status, 0, `esbuild: ${r.stderr}`);
  writeFileSync(join(out, "page.html"), `<!doctype html><html><head><meta charset="utf-8"><title>QuantLab widgets</title>
<link rel="stylesheet" href="bundle.css"></head><body style="width: 900px; padding: 16px"><div id="area"></div><script src="bundle.js"></script></body></html>\n`);
}

before(() => {
  if (skip) return;
  ({ dir, env } = jupyterEnv());
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const CELL = `const G = randn(64, 256, { seed: 5, std: 0.02 });
const sizes = [16, 32, 64, 128];
const w = interact(({ bits }) => lineChart({ groupSize: sizes, mse: sizes.map((g) => rtn(G, { bits, groupSize: g }).report.mse) },
                                           { x: "groupSize", y: "mse", title: \`MSE at \${bits} bits\` }),
                   { bits: [2, 8] });
w`;

test("html-manager renders an interact cell; dragging the slider redraws the chart with the new value", { skip, timeout: 300_000 }, async () => {
  const work = join(dir, "widgets");
  mkdirSync(work, { recursive: true });
  bundle(work);
  const port = await freePort();
  const server: ChildProcess = spawn(PY!, ["-m", "notebook", "--no-browser", `--port=${port}`, "--ip=127.0.0.1", `--NotebookApp.token=${TOKEN}`,
    "--NotebookApp.password=", "--allow-root", `--notebook-dir=${work}`,
    // under /static/ the page is same-origin with the API (/files/ is served sandboxed, an opaque origin)
    `--NotebookApp.extra_static_paths=${JSON.stringify([work])}`], { env, stdio: "ignore" });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: CHROMIUM_ARGS });
  const shots = artifactsDir();
  const pageErrors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
      if (process.env.QUANTLAB_TEST_VERBOSE) console.log(`[page] ${m.type()}: ${m.text().slice(0, 300)}`);
    });
    let loaded = false;
    for (let i = 0; i < 60 && !loaded; i++) {
      try {
        const res = await page.goto(`http://127.0.0.1:${port}/static/page.html?token=${TOKEN}`, { timeout: 5000 });
        loaded = !!res?.ok();
      } catch {
        /* the server is still starting */
      }
      if (!loaded) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(loaded, "the Jupyter server served the page");
    await page.waitForFunction(() => !!(window as any).QL, undefined, { timeout: 30_000 });
    await page.evaluate((t) => (window as any).QL.start(t), TOKEN);
    const run = await page.evaluate((code) => (window as any).QL.run(code), CELL);
    assert.deepEqual(run, { status: "ok", errors: [], views: 1 });

    // the widget: a slider whose readout says 5 (the middle of [2, 8]) above the chart for 5 bits
    const readout = page.locator(".widget-readout").first();
    await readout.waitFor({ timeout: 30_000 });
    assert.equal((await readout.textContent())?.trim(), "5");
    const output = page.locator(".widget-output").first();
    await page.waitForFunction(() => (document.querySelector(".widget-output")?.textContent ?? "").includes("MSE at 5 bits"), undefined, { timeout: 60_000 });
    assert.ok(await output.locator("img, .js-plotly-plot").count() > 0, "the output shows a chart, not text");
    await page.screenshot({ path: join(shots, "widgets-before.png"), fullPage: true });

    // drag the handle to the far right end of the track: the value becomes the maximum, 8
    const handle = page.locator(".noUi-handle").first();
    const track = page.locator(".noUi-target").first();
    const h = (await handle.boundingBox())!;
    const t = (await track.boundingBox())!;
    await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
    await page.mouse.down();
    await page.mouse.move(t.x + t.width - 2, h.y + h.height / 2, { steps: 12 });
    await page.mouse.move(t.x + t.width + 40, h.y + h.height / 2, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => (document.querySelector(".widget-readout")?.textContent ?? "").trim() === "8", undefined, { timeout: 10_000 });

    // the kernel re-ran the function and replaced the chart: the new title, and the old one gone
    await page.waitForFunction(() => {
      const text = document.querySelector(".widget-output")?.textContent ?? "";
      return text.includes("MSE at 8 bits") && !text.includes("MSE at 5 bits");
    }, undefined, { timeout: 60_000 });
    assert.ok(await output.locator("img, .js-plotly-plot").count() > 0, "a chart again");
    await page.screenshot({ path: join(shots, "widgets-after.png"), fullPage: true });

    // the kernel's state followed the slider, and the widget traffic went over the real websocket
    const follow = await page.evaluate(() => (window as any).QL.run("if (w.values.bits !== 8 || w.calls !== 2) throw new Error(`kernel has ${JSON.stringify(w.values)} after ${w.calls} runs`)"));
    assert.deepEqual(follow, { status: "ok", errors: [], views: 0 });
    const log: string[] = await page.evaluate(() => (window as any).QL.log);
    assert.ok(log.includes("comm_open") && log.includes("comm_msg"), `widget messages arrived: ${[...new Set(log)].join(", ")}`);
    assert.deepEqual(pageErrors, []);
    await page.evaluate(() => (window as any).QL.shutdown());
  } finally {
    await browser.close();
    server.kill("SIGTERM");
  }
});
