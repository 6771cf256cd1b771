/**
 * Atomic file writes: the data goes to a temporary file in the same folder, which is renamed over the
 * target only once complete. A crash or an error mid-write leaves the old file (or nothing) in place,
 * never a truncated one.
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { QuantLabError } from "../errors.js";
import { dirname } from "node:path";
import { beginPartial, endPartial } from "../partial.js";
import { fsError } from "../fs-errors.js";

export async function writeFileAtomic(path: string, data: Uint8Array | string | (Uint8Array | string)[]): Promise<void> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw fsError(e, dir, "write into");
  }
  const tmp = beginPartial(path);
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
    throw fsError(e, path, "write");
  } finally {
    endPartial(tmp);
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
    throw fsError(e, path, "read");
  }
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof QuantLabError) throw new QuantLabError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}
