/**
 * V8's code cache for the kernel's large CommonJS bundles (TypeScript, 8 MB; tfjs-core and its two
 * backends, 2 MB): compiling them is ≈ 0.3 s of every kernel start before the first cell can run, and compiling
 * the checker's functions on first use is part of the type checker's warm-up. With the cached data an
 * earlier kernel left, most of it is skipped (TypeScript's load: 0.30 → 0.11 s here).
 *
 *   installCodeCache() → from now on, CommonJS files of ≥ 256 kB under node_modules compile with the
 *                        cache of an earlier start when it fits (same file, size, mtime, Node and V8)
 *   saveCodeCache()    → (async) writes the cache of each such file that had none (or a rejected one), with
 *                        the functions compiled so far: call it once the warm-up has run them
 *
 * Node 20 has no built-in module compile cache (module.enableCompileCache is Node 22), and ESM modules
 * cannot be given cached data, so the DSL's own modules are not covered. The cache lives outside the
 * checkout, under the OS temp folder; a missing or unwritable folder only costs the speed-up.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import Module from "node:module";
import { dirname, join, sep } from "node:path";
import vm from "node:vm";
import { writeFileAtomic } from "./io/atomic.js";
import { userCacheDir } from "./user-cache.js";

const MIN_BYTES = 256 * 1024;

interface Compiled {
  script: vm.Script;
  /** Where its cache goes; its other caches (older versions of the file) share the prefix. */
  path: string;
  prefix: string;
  saved: boolean;
}

const compiled: Compiled[] = [];
let dir: string | null = null;

type Compile = (this: Module, content: string, filename: string) => unknown;

export function installCodeCache(): void {
  if (dir !== null || process.env.QUANTLAB_CODE_CACHE === "0") return;
  dir = userCacheDir("code-cache");
  if (dir === null) return;
  const proto = Module.prototype as unknown as { _compile: Compile };
  const original = proto._compile;
  const folder = dir;
  proto._compile = function (content, filename) {
    if (content.length < MIN_BYTES || !filename.includes(`${sep}node_modules${sep}`)) return original.call(this, content, filename);
    const prefix = createHash("sha1").update(filename).digest("hex").slice(0, 16);
    let mtime = 0;
    try {
      mtime = statSync(filename).mtimeMs;
    } catch {
      return original.call(this, content, filename);
    }
    const version = createHash("sha1").update(`${process.version}\0${process.versions.v8}\0${content.length}\0${mtime}`).digest("hex").slice(0, 16);
    const path = join(folder, `${prefix}-${version}.bin`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(path);
    } catch {
      // first start with this file
    }
    const script = new vm.Script(Module.wrap(content), {
      filename,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    compiled.push({ script, path, prefix, saved: cachedData !== undefined && !script.cachedDataRejected });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, dirname(filename));
  };
}

/** What Node hands a CommonJS module as `require` (the parts these bundles use). */
function requireFor(mod: Module): NodeJS.Require {
  const M = Module as unknown as { _resolveFilename(request: string, parent: Module, isMain: boolean, options?: unknown): string; _cache: NodeJS.Dict<NodeModule> };
  const require = ((id: string) => mod.require(id)) as NodeJS.Require;
  require.resolve = ((request: string, options?: unknown) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  require.cache = M._cache;
  require.main = process.mainModule;
  return require;
}

export async function saveCodeCache(): Promise<void> {
  if (!dir) return;
  for (const c of compiled) {
    if (c.saved) continue;
    c.saved = true;
    try {
      mkdirSync(dir, { recursive: true });
      for (const old of readdirSync(dir)) if (old.startsWith(c.prefix + "-")) rmSync(join(dir, old), { force: true });
      await writeFileAtomic(c.path, c.script.createCachedData());
    } catch {
      // a read-only or full temp folder: the next start compiles again
    }
  }
}
