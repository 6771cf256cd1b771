/**
 * Atomic file writes: the data goes to a temporary file in the same folder, which is renamed over the
 * target only once complete. A crash or an error mid-write leaves the old file (or nothing) in place,
 * never a truncated one.
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";

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
