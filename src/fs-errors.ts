/**
 * Filesystem failures in QuantLab's words: a Node error such as `EISDIR: illegal operation on a
 * directory, open 'x'` becomes one QuantLabError line that names the path, says what is wrong with it
 * in plain terms and what to do instead, so no command ever shows a raw stack trace for a bad path.
 */
import { QuantLabError, type ErrorCode } from "./errors.js";

const REASONS: Record<string, [ErrorCode, string, string]> = {
  ENOENT: ["NOT_FOUND", "it does not exist", "check the path"],
  EISDIR: ["BAD_ARGUMENT", "it is a folder", "give a file path"],
  ENOTDIR: ["BAD_ARGUMENT", "a part of the path is a file, not a folder", "check the path"],
  EACCES: ["BAD_ARGUMENT", "permission denied", "choose a location you may write to (or fix its permissions)"],
  EPERM: ["BAD_ARGUMENT", "operation not permitted", "choose a location you may write to (or fix its permissions)"],
  EROFS: ["BAD_ARGUMENT", "the filesystem is read-only", "choose a writable location"],
  ENOSPC: ["BAD_ARGUMENT", "the disk is full", "free some space or choose another disk"],
  EDQUOT: ["BAD_ARGUMENT", "the disk quota is exhausted", "free some space or choose another disk"],
  EEXIST: ["BAD_ARGUMENT", "something already exists there", "remove it or choose another path"],
  ENAMETOOLONG: ["BAD_ARGUMENT", "the name is too long", "choose a shorter path"],
  EMFILE: ["BAD_ARGUMENT", "too many open files", "close other programs or raise the limit (ulimit -n)"],
  EINVAL: ["BAD_ARGUMENT", "the operation is not valid for this kind of file", "choose a regular file or folder"],
  ELOOP: ["BAD_ARGUMENT", "too many symbolic links", "check the path"],
};

export function isErrno(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && /^E[A-Z]+$/.test((e as NodeJS.ErrnoException).code!);
}

/**
 * `e` as a QuantLabError about `path` ("cannot write out.gguf: EISDIR (it is a folder): give a file path");
 * a QuantLabError passes through, anything that is not a filesystem error too.
 */
export function fsError(e: unknown, path: string, verb: string): unknown {
  if (e instanceof QuantLabError || !isErrno(e)) return e;
  const [code, reason, fix] = REASONS[e.code!] ?? ["BAD_ARGUMENT", e.code!, "check the path"];
  return new QuantLabError(code, `cannot ${verb} ${path}: ${e.code} (${reason}): ${fix}`, { cause: e });
}
