/**
 * Static chart images from a headless Chromium (Debian's `chromium`, or QUANTLAB_CHROMIUM) driven by
 * playwright-core, with plotly.js loaded once into one page that every render reuses.
 *
 * The browser lives in a worker thread so that the main thread can wait for a render *synchronously*
 * (Atomics.wait on a shared counter, then receiveMessageOnPort): a chart's display bundle is computed
 * inside the kernel's synchronous `[DISPLAY]()` call with no kernel-side awaiting, and the same worker
 * also answers asynchronous exports. The worker and its port are unref'd, so an idle browser never
 * keeps Node alive; on exit the browser is closed and its fresh profile folder removed.
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { QuantLabError } from "../errors.js";
import type { Figure } from "./plotly-figure.js";
import { plotlyPath } from "./plotly.js";

const require = createRequire(import.meta.url);

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
const { chromium } = require(workerData.playwright);
const { port, signal, executablePath, args, profile, chromiumEnv } = workerData;
let context = null, pages = null;
function start() {
  return pages ??= (async () => {
    context = await chromium.launchPersistentContext(profile, { executablePath, args, headless: true, timeout: 60000, env: chromiumEnv });
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(workerData.page);
    return { page, pdfPage: null };
  })();
}
async function image(fig, o) {
  const p = await start();
  return p.page.evaluate(async ({ fig, o }) => {
    const gd = document.createElement("div");
    document.body.appendChild(gd);
    try {
      await Plotly.newPlot(gd, fig.data, fig.layout, { staticPlot: true });
      return await Plotly.toImage(gd, { format: o.format, width: o.width, height: o.height, scale: o.scale ?? 1 });
    } finally { Plotly.purge(gd); gd.remove(); }
  }, { fig, o });
}
async function raster(svg, o) {
  const p = await start();
  return p.page.evaluate(async ({ svg, o }) => {
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
async function handle(m) {
  if (m.op === "warm") { await start(); return { ok: true }; }
  if (m.op === "close") { if (context) await context.close(); context = null; pages = null; return { ok: true }; }
  const o = m.options;
  if (o.format === "pdf") {
    const svg = m.svg ?? decodeURIComponent((await image(m.fig, { ...o, format: "svg" })).replace(/^[^,]*,/, ""));
    const p = await start();
    p.pdfPage ??= await context.newPage();
    await p.pdfPage.setContent("<!doctype html><html><body style='margin:0'>" + svg + "</body></html>");
    const pdf = await p.pdfPage.pdf({ width: o.width + "px", height: (o.height + 1) + "px", printBackground: true, pageRanges: "1" });
    return { bytes: pdf };
  }
  // a PNG of an SVG already rendered is a rasterisation only: no second plotly layout
  const url = o.format === "png" && m.svg ? await raster(m.svg, o) : await image(m.fig, o);
  const comma = url.indexOf(",");
  if (o.format === "svg") return { text: url.slice(0, comma).endsWith(";base64") ? Buffer.from(url.slice(comma + 1), "base64").toString("utf8") : decodeURIComponent(url.slice(comma + 1)) };
  return { bytes: Buffer.from(url.slice(comma + 1), "base64") };
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
}

/**
 * The page every render uses: plotly.js loaded from node_modules by file URL, which Chromium reads and
 * compiles itself — ≈ 2 s faster than pushing the 4.8 MB source through the DevTools pipe.
 */
function pageUrl(profile: string): string {
  const file = join(profile, "render.html");
  writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"><script src="${pathToFileURL(plotlyPath()).href}"></script></head><body style="margin:0"></body></html>`);
  return pathToFileURL(file).href;
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

  constructor(executablePath: string) {
    // the pid in the name lets a later start (src/kernel/tempdirs.ts) remove the folder of a process
    // that was killed, and the kernel's lifeline find this Chromium by its command line
    this.profile = mkdtempSync(join(tmpdir(), `quantlab-chromium-${process.pid}-`));
    const tmp = join(this.profile, "tmp");
    mkdirSync(tmp);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER, {
      eval: true,
      // playwright puts its playwright-artifacts-* folder under TMPDIR: inside the profile, it goes
      // when the profile goes. Chromium keeps the real TMPDIR (its socket paths must stay short).
      env: { ...process.env, TMPDIR: tmp },
      workerData: {
        playwright: require.resolve("playwright-core"), page: pageUrl(this.profile), port: port2, signal: this.signal,
        executablePath, args: CHROMIUM_ARGS, profile: this.profile, chromiumEnv: { ...process.env },
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
      this.requestSync({ op: "close" }, 5000);
      this.closed = true;
      void this.worker.terminate();
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
