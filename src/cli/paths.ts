/**
 * Paths given on the command line, checked before any work starts: an input must be a readable file
 * (not a folder), an output must be a file path QuantLab can write (not a folder, not under the
 * kernel's virtual /proc or /sys, in a folder that exists or can be made and that may be written) and
 * must not be one of the inputs unless --force says so. Each failure is one QuantLabError line that
 * names the option, the path and the fix.
 */
import { accessSync, constants, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { QuantLabError } from "../errors.js";
import { fsError } from "../fs-errors.js";

/** The nearest part of `path` that exists (the path itself, or a parent folder). */
function nearestExisting(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** An input file: exists, is a regular file (or a folder where `folderOk`), may be read. */
export function checkInput(option: string, path: string, opts: { folderOk?: boolean } = {}): void {
  let s;
  try {
    s = statSync(path);
    accessSync(path, constants.R_OK);
  } catch (e) {
    throw fsError(e, `${option} ${path}`, "read");
  }
  if (s.isDirectory() && !opts.folderOk) throw new QuantLabError("BAD_ARGUMENT", `cannot read ${option} ${path}: it is a folder: give a file`);
}

/** A UTF-8 text file's content, or one line saying why it cannot be read. */
export function readText(option: string, path: string): string {
  checkInput(option, path);
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw fsError(e, `${option} ${path}`, "read");
  }
}

/**
 * An output file: refuses a folder, /proc and /sys, a folder that cannot be written, and any of
 * `inputs` (the same file by its real path) unless `force`.
 */
export function checkOutput(option: string, path: string, opts: { inputs?: string[]; force?: boolean } = {}): void {
  const abs = resolve(path);
  const at = nearestExisting(abs);
  const where = real(at);
  if (/^\/(proc|sys)(\/|$)/.test(where)) {
    throw new QuantLabError("BAD_ARGUMENT", `cannot write ${option} ${path}: it is under ${where.split("/")[1] === "proc" ? "/proc" : "/sys"}, the kernel's virtual filesystem: choose a path on a disk`);
  }
  let s;
  try {
    s = statSync(at);
  } catch (e) {
    throw fsError(e, `${option} ${path}`, "write");
  }
  if (at === abs && s.isDirectory()) throw new QuantLabError("BAD_ARGUMENT", `cannot write ${option} ${path}: it is a folder: give a file path inside it`);
  if (at !== abs && !s.isDirectory()) throw new QuantLabError("BAD_ARGUMENT", `cannot write ${option} ${path}: ${at} is a file, not a folder: check the path`);
  try {
    accessSync(at === abs ? dirname(abs) : at, constants.W_OK);
    if (at === abs) accessSync(abs, constants.W_OK);
  } catch (e) {
    throw fsError(e, `${option} ${path}`, "write");
  }
  if (opts.force) return;
  for (const input of opts.inputs ?? []) {
    if (real(input) === real(abs)) {
      throw new QuantLabError("BAD_ARGUMENT", `${option} ${path} is also the input ${input}: writing it would replace the input; choose another output path (or pass --force to replace it)`);
    }
  }
}

/** A computed number that must be finite, else a QuantLabError("NUMERICAL") naming it and the likely cause. */
export function finite(value: number, what: string, cause: string): number {
  if (!Number.isFinite(value)) throw new QuantLabError("NUMERICAL", `${what} is ${value}: ${cause}`);
  return value;
}
