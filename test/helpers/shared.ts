/**
 * Where the tests find what lives outside the repository: the shared real data (QUANTLAB_SHARED_DATA,
 * default ../shared/data beside the checkout) and llama.cpp's libraries from the devDependency
 * @node-llama-cpp/linux-x64. A missing piece skips a test with the reason, and fails it under CI=true.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");

export function sharedData(): string {
  return resolve(process.env.QUANTLAB_SHARED_DATA ?? join(REPO_ROOT, "..", "shared", "data"));
}

/** Path of a shared data file, or a skip reason naming what is missing. */
export function sharedFile(name: string): { path: string; skip: false | string } {
  const path = join(sharedData(), name);
  return { path, skip: existsSync(path) ? false : `needs ${path} (set QUANTLAB_SHARED_DATA to the shared data folder)` };
}

/** llama.cpp's shared libraries as shipped in the npm package. */
export const LLAMA_BINS = join(REPO_ROOT, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64");
export const LIBLLAMA = join(LLAMA_BINS, "libllama.v0.4.0.so");

/** The first missing requirement as a skip reason (false when none); under CI=true a missing one throws. */
export function skipUnless(requirements: [ok: boolean, missing: string][]): string | false {
  const missing = requirements.find(([ok]) => !ok)?.[1];
  if (!missing) return false;
  if (process.env.CI === "true") throw new Error(`${missing} — CI=true requires it`);
  return missing;
}
