/**
 * Atomic file writes: the data goes to a temporary file in the same folder, which is renamed over the
 * target only once complete. A crash or an error mid-write leaves the old file (or nothing) in place,
 * never a truncated one.
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { QuantLabError } from "../errors.js";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { fileError } from "./ranged.js";

export async function writeFileAtomic(path: string, data: Uint8Array | string | (Uint8Array | string)[]): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "w");
    try {
      for (const part of Array.isArray(data) ? data : [data]) {
        if (typeof part === "string") await fh.write(part);
        else await fh.write(part);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads a whole file and parses it, so every reader words its errors the same way: each system error as
 * what it is (a missing file NOT_FOUND, a folder or an unreadable file BAD_ARGUMENT, a file over one
 * read's 2 GiB UNSUPPORTED: see ranged.ts), a parse error prefixed with the path.
 */
export async function readAndParse<T>(path: string, parse: (bytes: Uint8Array) => T): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw fileError(e, path);
  }
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof QuantLabError) throw new QuantLabError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}
