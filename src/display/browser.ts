/**
 * Static chart images from a headless Chromium (Debian's `chromium`, or QUANTLAB_CHROMIUM) driven over
 * the DevTools protocol on its own pipe, with plotly.js loaded once into one page that every render
 * reuses. No browser-automation library: loading playwright-core's bundles alone took longer (≈ 0.7 s
 * cold) than starting Chromium, and a chart needs four protocol commands.
 *
 * The browser lives in a worker thread so that the main thread can wait for a render *synchronously*
 * (Atomics.wait on a shared counter, then receiveMessageOnPort): a chart's display bundle is computed
 * inside the kernel's synchronous `[DISPLAY]()` call with no kernel-side awaiting, and the same worker
 * also answers asynchronous exports. The worker and its port are unref'd, so an idle browser never
 * keeps Node alive; on exit the browser is closed and its fresh profile folder removed.
 *
 * Parsing and compiling plotly.js is most of a cold start (≈ 1.4 s of the ≈ 2.7). Chromium keeps the
 * compiled code of a script it has seen twice in its profile's code cache, but only for scripts
 * served over HTTP, and each browser gets a fresh profile (two kernels cannot share one). So the
 * worker serves the page and plotly.js from 127.0.0.1 under one fixed host name (mapped to the
 * server's port by a resolver rule, so the cache key never changes), and the profile's two cache
 * folders are seeded from a per-user copy at start and written back when the browser closes: from a
 * user's second session on, the page loads in ≈ 0.3 s.
 */
import { accessSync, constants, cpSync, existsSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, join } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { QuantLabError } from "../errors.js";
import { userCacheDir } from "../user-cache.js";
import type { Figure } from "./plotly-figure.js";
import { plotlyPath, plotlyVersion } from "./plotly.js";

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];

/** The browser executable: QUANTLAB_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH; null if none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (env.QUANTLAB_CHROMIUM) return runnable(env.QUANTLAB_CHROMIUM) ? env.QUANTLAB_CHROMIUM : null;
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
      const p = join(dir, name);
      if (runnable(p)) return p;
    }
  }
  return null;
}

export function noBrowserError(what: string): QuantLabError {
  const hint = process.env.QUANTLAB_CHROMIUM ? `QUANTLAB_CHROMIUM=${process.env.QUANTLAB_CHROMIUM} is not an executable file` : "no chromium, chromium-browser or google-chrome on PATH";
  return new QuantLabError("UNSUPPORTED", `${what} needs a headless Chromium and ${hint}: install one (apt install chromium) or set QUANTLAB_CHROMIUM to its path — or export .html instead, which opens offline with no browser needed here`);
}

export type ImageFormat = "svg" | "png" | "pdf";

export interface RenderOptions {
  format: ImageFormat;
  width?: number;
  height?: number;
  /** PNG pixel density (2 = twice the width and height in pixels). */
  scale?: number;
}

/** The worker's source, plain CommonJS, started with `eval` so it runs the same from src/ (tsx) and dist/. */
const WORKER = String.raw`
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const http = require("node:http");
const os = require("node:os");
const { port, signal, executablePath, args, profile, chromiumEnv, host, plotly, seed, cacheFolders } = workerData;
// the page's path names the library too: both are cached for good, so another plotly.js gets another page
const pagePath = "/render" + plotly.url.replace(/\.min\.js$/, ".html");
const files = {
  [pagePath]: ["text/html", '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><script src="' + plotly.url + '"></script></head><body style="margin:0"></body></html>'],
};
const pageUrl = "http://" + host + pagePath;
let browser = null, started = null, server = null, listening = null;
function serve() {
  files[plotly.url] = ["text/javascript", fs.readFileSync(plotly.path)];
  server = http.createServer((req, res) => {
    const f = files[req.url];
    if (!f) { res.writeHead(404); res.end(); return; }
    // the URLs name plotly's bundle and version: a cached copy never needs asking again
    res.writeHead(200, { "content-type": f[0], "cache-control": "max-age=31536000, immutable" });
    res.end(f[1]);
  });
  server.unref();
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}
// The DevTools protocol over Chromium's pipe (--remote-debugging-pipe): commands go in on its fd 3 and
// answers come out on its fd 4, each a JSON text ended by a NUL byte. Sessions are flat (one pipe).
class Browser {
  constructor(child) {
    this.child = child;
    this.nextId = 0;
    this.waiting = new Map();
    this.chunks = [];
    this.stderr = "";
    this.exited = new Promise((resolve) => child.once("exit", (code, sig) => {
      this.fail("Chromium exited (" + (sig ?? "code " + code) + ")" + (this.stderr ? ": " + this.stderr.trim().split("\n").filter((l) => !l.includes("dbus")).slice(-3).join(" | ") : ""));
      resolve();
    }));
    child.once("error", (e) => this.fail("could not run " + executablePath + ": " + e.message));
    child.stderr.on("data", (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    child.stdio[4].on("data", (d) => this.receive(d));
    // a browser that died breaks its pipe: the exit above says so, and the next render starts another
    for (const s of [child.stdio[3], child.stdio[4]]) s.on("error", () => {});
  }
  receive(d) {
    for (let at = d.indexOf(0); at >= 0; at = d.indexOf(0)) {
      this.chunks.push(d.subarray(0, at));
      const m = JSON.parse(Buffer.concat(this.chunks).toString("utf8"));
      this.chunks = [];
      d = d.subarray(at + 1);
      const w = m.id !== undefined && this.waiting.get(m.id);
      if (!w) continue;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(w.method + ": " + m.error.message));
      else w.resolve(m.result);
    }
    if (d.length) this.chunks.push(d);
  }
  fail(message) {
    this.failed = message;
    for (const w of this.waiting.values()) w.reject(new Error(message));
    this.waiting.clear();
  }
  send(method, params = {}, sessionId) {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, method });
      this.child.stdio[3].write(JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params }) + "\0");
    });
  }
  /** Runs an async function of one JSON argument in a page; its JSON result. */
  async call(session, fn, arg) {
    const r = await this.send("Runtime.evaluate", { expression: "(" + fn + ")(" + JSON.stringify(arg) + ")", awaitPromise: true, returnByValue: true }, session);
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value;
  }
  /** Waits until a page shows url, loaded (a navigation still under way destroys the context asked: asked again). */
  async loaded(session, url) {
    const until = Date.now() + 60000;
    for (;;) {
      const ok = await this.call(session, (url) => location.href === url && (document.readyState === "complete" || new Promise((r) => addEventListener("load", () => r(true)))), url).catch(() => false);
      if (ok) return;
      if (this.failed) throw new Error(this.failed);
      if (Date.now() > until) throw new Error("the chart page did not load within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  async attach(targetId) {
    return (await this.send("Target.attachToTarget", { targetId, flatten: true })).sessionId;
  }
  async newPage(url) {
    const { targetId } = await this.send("Target.createTarget", { url });
    return { targetId, session: await this.attach(targetId) };
  }
  async close() {
    await this.send("Browser.close").catch(() => {});
    const killed = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(killed);
  }
}
/** Copies the seed's caches into the fresh profile; true when there was one. A broken copy only costs speed. */
function seedProfile() {
  const from = seed && path.join(seed, "current");
  if (!from || !fs.existsSync(from)) return false;
  try {
    for (const f of cacheFolders) if (fs.existsSync(path.join(from, f))) fs.cpSync(path.join(from, f), path.join(profile, f), { recursive: true });
    return true;
  } catch {
    return false;
  }
}
// here, not in the kernel's thread: the copy (≈ 20 ms for 15 MB) is not on the way to a first result
const primeCache = seed !== null && !seedProfile();
function start() {
  if (browser?.failed) { browser = null; started = null; }
  return started ??= (async () => {
    const at = await (listening ??= serve());
    // the page is on the command line, so Chromium loads it while this side connects
    const child = spawn(executablePath, [...args, "--remote-debugging-pipe", "--user-data-dir=" + profile, "--host-resolver-rules=MAP " + host + " 127.0.0.1:" + at, pageUrl], {
      env: chromiumEnv, stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
    });
    // below the kernel's priority: while it starts, the checker's warm-up and the learner's cells come
    // first (a render is waited for, so the kernel is idle then and the niceness costs a chart nothing)
    try { if (child.pid) os.setPriority(child.pid, 10); } catch {}
    browser = new Browser(child);
    const { targetInfos } = await browser.send("Target.getTargets");
    const first = targetInfos.find((t) => t.type === "page");
    const page = first ? { targetId: first.targetId, session: await browser.attach(first.targetId) } : await browser.newPage(pageUrl);
    await browser.loaded(page.session, pageUrl);
    // Chromium stores compiled code for a script on its second load: with no cache yet, a second page
    // loads it once more in the background, a moment later (the first load's mark must have reached
    // the cache, or the second counts as a first), so the next session finds it
    if (primeCache) void new Promise((r) => setTimeout(r, 1500)).then(async () => {
      const p = await browser.newPage(pageUrl);
      await browser.loaded(p.session, pageUrl);
      await browser.send("Target.closeTarget", { targetId: p.targetId });
    }).catch(() => {});
    return { page, pdfPage: null };
  })().catch(async (e) => {
    // a start that failed is not kept: the next render tries afresh
    const b = browser;
    browser = null; started = null;
    if (b) await b.close();
    throw e;
  });
}
async function image(fig, o) {
  const p = await start();
  // toImage lays the figure out in a hidden plot of its own: given a figure, not a plotted div, it
  // draws once rather than twice
  return browser.call(p.page.session, ({ fig, o }) => Plotly.toImage({ data: fig.data, layout: fig.layout }, { format: o.format, width: o.width, height: o.height, scale: o.scale ?? 1 }), { fig, o });
}
async function raster(svg, o) {
  const p = await start();
  return browser.call(p.page.session, async ({ svg, o }) => {
    const img = new Image();
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(o.width * o.scale);
    canvas.height = Math.round(o.height * o.scale);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return canvas.toDataURL("image/png");
  }, { svg, o });
}
async function pdf(svg, o) {
  const p = await start();
  p.pdfPage ??= await browser.newPage("about:blank");
  const session = p.pdfPage.session;
  await browser.call(session, (html) => { document.open(); document.write(html); document.close(); return true; }, "<!doctype html><html><body style='margin:0'>" + svg + "</body></html>");
  // CSS pixels are 1/96 inch; one pixel more than the chart keeps it on one page
  const r = await browser.send("Page.printToPDF", {
    paperWidth: o.width / 96, paperHeight: (o.height + 1) / 96, printBackground: true, pageRanges: "1",
    marginTop: 0, marginBottom: 0, marginLeft: 0, marginRight: 0,
  }, session);
  return Buffer.from(r.data, "base64");
}
async function handle(m) {
  if (m.op === "warm") { await start(); return { ok: true }; }
  if (m.op === "close") {
    const was = Boolean(browser);
    if (browser) await browser.close();
    if (server) server.close();
    browser = null; started = null; listening = null;
    return { ok: true, started: was };
  }
  const o = m.options;
  if (o.format === "pdf") return { bytes: await pdf(m.svg ?? svgText(await image(m.fig, { ...o, format: "svg" })), o) };
  // a PNG of an SVG already rendered is a rasterisation only: no second plotly layout
  const url = o.format === "png" && m.svg ? await raster(m.svg, o) : await image(m.fig, o);
  if (o.format === "svg") return { text: svgText(url) };
  return { bytes: Buffer.from(url.slice(url.indexOf(",") + 1), "base64") };
}
/** The SVG of plotly's data: URL (percent-encoded or base64). */
function svgText(url) {
  const comma = url.indexOf(",");
  return url.slice(0, comma).endsWith(";base64") ? Buffer.from(url.slice(comma + 1), "base64").toString("utf8") : decodeURIComponent(url.slice(comma + 1));
}
port.on("message", async (m) => {
  let reply;
  try { reply = { id: m.id, ...(await handle(m)) }; }
  catch (e) { reply = { id: m.id, error: String(e && e.message || e) }; }
  port.postMessage(reply);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

interface Reply {
  id: number;
  error?: string;
  text?: string;
  bytes?: Uint8Array;
  ok?: boolean;
  /** On close: whether a browser had started (so its cache is worth keeping). */
  started?: boolean;
}

/** The host name the page is served under (.invalid never resolves anywhere else). */
const PAGE_HOST = "quantlab-charts.invalid";
/** The profile's folders worth keeping between sessions: the HTTP cache and V8's code cache. */
const CACHE_FOLDERS = ["Cache", "Code Cache"].map((f) => join("Default", f));

/** The per-user copy of the browser's caches (QUANTLAB_CHART_CACHE=0: none). */
function cacheSeed(): string | null {
  return process.env.QUANTLAB_CHART_CACHE === "0" ? null : userCacheDir("chart-cache");
}

/**
 * Writes a closed browser's caches back as the seed: copied beside it, then renamed into place, so a
 * browser starting meanwhile copies either the old seed or the new one, never half of one.
 */
function keepCaches(seed: string | null, profile: string): void {
  if (!seed) return;
  const next = join(seed, `next-${process.pid}`);
  const old = join(seed, `old-${process.pid}`);
  try {
    rmSync(next, { recursive: true, force: true });
    for (const f of CACHE_FOLDERS) if (existsSync(join(profile, f))) cpSync(join(profile, f), join(next, f), { recursive: true });
    if (!existsSync(next)) return;
    if (existsSync(join(seed, "current"))) renameSync(join(seed, "current"), old);
    renameSync(next, join(seed, "current"));
  } catch {
    // another kernel closing at the same moment won the rename: its copy is as good
  } finally {
    rmSync(next, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

class Renderer {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly pending = new Map<number, (r: Reply) => void>();
  private readonly done = new Map<number, Reply>();
  private nextId = 1;
  private closed = false;
  readonly profile: string;
  private readonly seed = cacheSeed();

  constructor(executablePath: string) {
    // the pid in the name lets a later start (src/kernel/tempdirs.ts) remove the folder of a process
    // that was killed, and the kernel's lifeline find this Chromium by its command line
    this.profile = mkdtempSync(join(tmpdir(), `quantlab-chromium-${process.pid}-`));
    const plotly = plotlyPath();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        port: port2, signal: this.signal, executablePath, args: CHROMIUM_ARGS, profile: this.profile, chromiumEnv: { ...process.env },
        host: PAGE_HOST, plotly: { path: plotly, url: `/${basename(plotly, ".min.js")}-${plotlyVersion()}.min.js` }, seed: this.seed, cacheFolders: CACHE_FOLDERS,
      },
      transferList: [port2],
    });
    this.worker.unref();
    this.worker.on("error", (e) => this.failAll(String(e)));
    this.worker.on("exit", () => this.failAll("the chart renderer stopped"));
    this.port.on("message", (r: Reply) => this.deliver(r));
    this.port.unref();
  }

  private deliver(r: Reply): void {
    const resolve = this.pending.get(r.id);
    if (resolve) {
      this.pending.delete(r.id);
      resolve(r);
    } else this.done.set(r.id, r);
    if (this.pending.size === 0) this.port.unref();
  }

  private failAll(message: string): void {
    this.closed = true;
    for (const [id, resolve] of this.pending) resolve({ id, error: message });
    this.pending.clear();
  }

  private post(m: Record<string, unknown>): number {
    if (this.closed) throw new QuantLabError("UNSUPPORTED", "the chart renderer has stopped (the browser closed or crashed): run the cell again");
    const id = this.nextId++;
    this.port.postMessage({ ...m, id });
    return id;
  }

  request(m: Record<string, unknown>): Promise<Reply> {
    const id = this.post(m);
    this.port.ref();
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  /** Blocks the calling thread until the worker answers (or `timeoutMs` passes). */
  requestSync(m: Record<string, unknown>, timeoutMs: number): Reply {
    const id = this.post(m);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      for (let msg = receiveMessageOnPort(this.port); msg; msg = receiveMessageOnPort(this.port)) this.deliver(msg.message as Reply);
      const mine = this.done.get(id);
      if (mine) {
        this.done.delete(id);
        return mine;
      }
      const left = deadline - Date.now();
      if (left <= 0) return { id, error: `no answer from the browser within ${timeoutMs} ms` };
      Atomics.wait(this.signal, 0, seen, Math.min(left, 1000));
    }
  }

  close(): void {
    if (!this.closed) {
      const r = this.requestSync({ op: "close" }, 5000);
      this.closed = true;
      void this.worker.terminate();
      if (r.started && !r.error) keepCaches(this.seed, this.profile);
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

let renderer: Renderer | null = null;
let exitHook = false;

function get(what: string): Renderer {
  if (renderer) return renderer;
  const exe = findChromium();
  if (!exe) throw noBrowserError(what);
  renderer = new Renderer(exe);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => closeBrowser());
  }
  return renderer;
}

/** True when a Chromium executable can be found (no browser is started). */
export function browserAvailable(): boolean {
  return findChromium() !== null;
}

/**
 * Closes the shared chart browser (the next render starts a fresh one); also done on process exit.
 * @example
 * ```ts
 * closeBrowser()
 * ```
 */
export function closeBrowser(): void {
  const r = renderer;
  renderer = null;
  r?.close();
}

/**
 * Starts the chart browser and loads plotly.js now, so the first chart does not wait for it (≈ 3 s).
 * @example
 * ```ts
 * await warmBrowser().catch((e) => e.message)   // without Chromium: the message says how to get one
 * ```
 */
export async function warmBrowser(): Promise<void> {
  const r = await get("rendering charts").request({ op: "warm" });
  if (r.error) throw new QuantLabError("UNSUPPORTED", `could not start Chromium: ${r.error}`);
}

function defaults(fig: Figure, o: RenderOptions): Required<RenderOptions> {
  const w = o.width ?? (fig.layout.width as number | undefined) ?? 720;
  const h = o.height ?? (fig.layout.height as number | undefined) ?? 440;
  return { format: o.format, width: w, height: h, scale: o.scale ?? 1 };
}

function unpack(r: Reply, o: RenderOptions): string | Uint8Array {
  if (r.error) throw new QuantLabError("UNSUPPORTED", `rendering the chart as ${o.format.toUpperCase()} failed in Chromium: ${r.error}`);
  if (o.format === "svg") return r.text!;
  return new Uint8Array(r.bytes!.buffer, r.bytes!.byteOffset, r.bytes!.byteLength);
}

/**
 * Renders a figure: SVG as text, PNG and PDF as bytes. `svg`, when given, is the figure's SVG at the
 * same size, so PNG and PDF only rasterise or print it.
 */
export async function renderFigure(fig: Figure, o: RenderOptions, svg?: string): Promise<string | Uint8Array> {
  const opts = defaults(fig, o);
  return unpack(await get(`exporting ${o.format.toUpperCase()}`).request({ op: "render", fig, options: opts, svg }), o);
}

/** The same, blocking the caller: for the synchronous display hook. The first call launches the browser (≈ 3 s). */
export function renderFigureSync(fig: Figure, o: RenderOptions, svg?: string, timeoutMs = 60000): string | Uint8Array {
  const opts = defaults(fig, o);
  return unpack(get(`rendering a static ${o.format.toUpperCase()}`).requestSync({ op: "render", fig, options: opts, svg }, timeoutMs), o);
}
