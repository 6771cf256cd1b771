/**
 * What every cell has in scope before the first import: the DSL's exports (all of them, whatever the
 * other modules add to src/dsl/index.ts — read from the module at run time, never a fixed list) and the
 * kernel's helpers. The kernel knows nothing about quantization beyond this list of names.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Preload } from "./executor.js";

export const HELPER_DECL = `declare function display(obj: unknown, opts?: { raw?: boolean; update?: boolean; display_id?: string }): void;
declare function html(strings: TemplateStringsArray | string, ...values: unknown[]): object;
declare function md(strings: TemplateStringsArray | string, ...values: unknown[]): object;
declare function svg(strings: TemplateStringsArray | string, ...values: unknown[]): object;
declare function clearOutput(wait?: boolean): void;
declare function input(prompt?: string, opts?: { password?: boolean }): Promise<string>;
`;

export interface LoadedPreload extends Preload {
  names: string[];
  error: string | null;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Loads the DSL next to this module (dist/dsl/index.js when compiled, src/dsl/index.ts from source).
 * Types come from the compiled declarations next to it; from source every name is typed `any`.
 */
export async function loadPreload(helpers: Record<string, unknown>): Promise<LoadedPreload> {
  const here = dirname(fileURLToPath(import.meta.url));
  const compiled = import.meta.url.endsWith(".js");
  // QUANTLAB_PRELOAD names another module to preload instead (the kernel tests use a fixture)
  const entry = process.env.QUANTLAB_PRELOAD ?? join(here, "..", "dsl", compiled ? "index.js" : "index.ts");
  let module: Record<string, unknown> = {};
  let error: string | null = null;
  try {
    module = await import(pathToFileURL(entry).href);
  } catch (e) {
    error = `the QuantLab DSL failed to load (${entry}): ${(e as Error).message}`;
  }
  const names = Object.keys(module).filter((n) => IDENT.test(n) && n !== "default" && !(n in helpers));
  let typesPath = entry.replace(/\.[cm]?[jt]s$/, "");
  if (!entry.endsWith(".js") || !existsSync(typesPath + ".d.ts")) {
    // from source there are no declaration files: give the names type `any` so cells still check
    // named for its owner: the kernel's lifeline, or the next start after a kill, removes it
    const dir = join(tmpdir(), `quantlab-kernel-${process.pid}-types`);
    mkdirSync(dir, { recursive: true });
    typesPath = join(dir, "quantlab");
    writeFileSync(typesPath + ".d.ts", names.map((n) => `export declare const ${n}: any;\n`).join("") + "export {};\n");
  }
  const importLine = names.length ? `import { ${names.join(", ")} } from ${JSON.stringify(typesPath)};\n` : "";
  const values: Record<string, unknown> = { ...helpers };
  for (const n of names) values[n] = module[n];
  return { decl: importLine + HELPER_DECL, values, typesPath, module, names, error };
}
