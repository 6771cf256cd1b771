/**
 * Reading a file by offset and length through a handle, for checkpoints larger than one read (Node
 * refuses a single read over 2 GiB) or than memory. Every failure is a QuantLabError that says what
 * really went wrong: a missing file is NOT_FOUND, a folder or an unreadable file is BAD_ARGUMENT with the
 * system's reason, a file that ends early is BAD_FILE.
 */
import { open, type FileHandle } from "node:fs/promises";
import { fsError } from "../fs-errors.js";
import { QuantLabError } from "../errors.js";

/** One read at most this long: below Node's 2 GiB limit, and a bounded transient buffer per call. */
const CHUNK = 1 << 30;

/**
 * The QuantLabError for a failed open or read of `path`: src/fs-errors.ts words the system's error
 * code; a single read over Node's 2 GiB limit says which reader to use instead.
 */
export function fileError(e: unknown, path: string, what = "file"): QuantLabError {
  if (e instanceof QuantLabError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ERR_FS_FILE_TOO_LARGE") {
    return new QuantLabError("UNSUPPORTED", `cannot read the ${what} ${path}: it is over the 2 GiB one read can hold; open it with a reader that reads tensors on demand`, { cause: e });
  }
  const err = fsError(e, `the ${what} ${path}`, "read");
  if (err instanceof QuantLabError) return err;
  return new QuantLabError("BAD_FILE", `cannot read the ${what} ${path}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** A read-only file with its size; reads are by absolute offset and never past the end. */
export class RangedFile {
  private constructor(private readonly fh: FileHandle, readonly path: string, readonly size: number, private readonly what: string) {}

  static async open(path: string, what = "file"): Promise<RangedFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw fileError(e, path, what);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
      return new RangedFile(fh, path, st.size, what);
    } catch (e) {
      await fh.close();
      throw fileError(e, path, what);
    }
  }

  /**
   * `length` bytes from `offset`, in reads of at most 1 GiB into one fresh array, or into the start of
   * `into` when it holds `length` bytes (a view of that start is returned: callers reuse one buffer). A
   * file that is shorter than the header promised (it shrank, or lies) is BAD_FILE naming the offset.
   */
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new QuantLabError("BAD_FILE", `${this.path}: bytes ${offset}…${offset + length} lie past the end of the ${this.size}-byte ${this.what}: it is truncated`);
    }
    let out: Uint8Array;
    try {
      out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
    } catch (e) {
      throw new QuantLabError("UNSUPPORTED", `${this.path}: a read of ${length} bytes at ${offset} does not fit in one array (${(e as Error).message}): read it in parts`, { cause: e });
    }
    let done = 0;
    while (done < length) {
      const n = Math.min(CHUNK, length - done);
      let got: number;
      try {
        got = (await this.fh.read(out, done, n, offset + done)).bytesRead;
      } catch (e) {
        throw fileError(e, this.path, this.what);
      }
      if (got === 0) {
        throw new QuantLabError("BAD_FILE", `${this.path}: the ${this.what} ends at byte ${offset + done}, before the ${length} bytes at ${offset} it promised: it is truncated`);
      }
      done += got;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Runs `use` on the opened file and closes it whatever happens. */
export async function withRangedFile<T>(path: string, what: string, use: (f: RangedFile) => Promise<T>): Promise<T> {
  const f = await RangedFile.open(path, what);
  try {
    return await use(f);
  } finally {
    await f.close();
  }
}
