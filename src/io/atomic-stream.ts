/**
 * Atomic writes of files too large to hold in memory: chunks are appended to a partial file beside the
 * target as they are produced, and the partial file is synced and renamed over the target only once the
 * last chunk is in. An error (or `abort()`) removes the partial file; the target is never left truncated.
 *
 *   const w = await openAtomicStream("model.gguf");
 *   try { for (const part of parts) await w.write(part); await w.commit(); } catch (e) { await w.abort(); throw e; }
 */
import { mkdir, open, rename, rm, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { check } from "../errors.js";
import { beginPartial, endPartial } from "../partial.js";

export interface AtomicStream {
  /** Appends bytes; resolves once the system has them (the caller may reuse the array afterwards). */
  write(bytes: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly length: number;
  /** Syncs and renames the partial file over the target. */
  commit(): Promise<void>;
  /** Removes the partial file (safe to call after a failed write, and twice). */
  abort(): Promise<void>;
}

export async function openAtomicStream(path: string): Promise<AtomicStream> {
  await mkdir(dirname(path), { recursive: true });
  // named, tracked and cleaned like every atomic write's partial file (src/partial.ts)
  const tmp = beginPartial(path);
  let fh: FileHandle | null;
  try {
    fh = await open(tmp, "w");
  } catch (e) {
    endPartial(tmp);
    throw e;
  }
  let length = 0, done = false;
  const close = async () => {
    const h = fh;
    fh = null;
    await h?.close();
  };
  return {
    get length() { return length; },
    async write(bytes) {
      check(!done && fh, "BAD_ARGUMENT", `the write to ${path} is already finished: open a new stream`);
      // a single write may be partial for large buffers: loop until all of it is written
      let off = 0;
      while (off < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
        off += bytesWritten;
      }
      length += bytes.length;
    },
    async commit() {
      check(!done && fh, "BAD_ARGUMENT", `the write to ${path} is already finished: open a new stream`);
      done = true;
      try {
        await fh.sync();
        await close();
        await rename(tmp, path);
      } catch (e) {
        await close().catch(() => {});
        await rm(tmp, { force: true });
        throw e;
      } finally {
        endPartial(tmp);
      }
    },
    async abort() {
      done = true;
      await close().catch(() => {});
      await rm(tmp, { force: true });
      endPartial(tmp);
    },
  };
}
