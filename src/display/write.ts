/**
 * Synchronous atomic writes for exports: a notebook's `chart.export("notes/x.svg")` must work as a
 * cell's last expression with no `await`, so this is the blocking twin of src/io/atomic.ts — temp file
 * in the same folder, fsync, rename; an existing file is replaced only by a complete one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fsError } from "../fs-errors.js";
import { beginPartial, endPartial } from "../partial.js";
import { DISPLAY, type MimeBundle } from "./mime.js";

export interface Written {
  /** Absolute path of the file written. */
  path: string;
  bytes: number;
  [DISPLAY](): MimeBundle;
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array): Written {
  const abs = resolve(path);
  const dir = dirname(abs);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fsError(e, dir, "write into");
  }
  const tmp = beginPartial(abs);
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  try {
    const fd = openSync(tmp, "w");
    try {
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, abs);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fsError(e, path, "write");
  } finally {
    endPartial(tmp);
  }
  const size = buf.byteLength;
  const kb = size >= 1024 * 1024 ? `${(size / 1024 / 1024).toFixed(1)} MB` : `${(size / 1024).toFixed(1)} kB`;
  return {
    path: abs, bytes: size,
    [DISPLAY]: () => ({ "text/plain": `wrote ${path} (${kb})` }),
  };
}
