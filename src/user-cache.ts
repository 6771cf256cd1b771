/**
 * Per-user folders under the OS temp folder for caches that outlive a kernel (compiled code, the chart
 * browser's caches): outside the checkout, shared by a user's kernels, never by two users. What is
 * read from them runs (V8 code, cached scripts), so a folder is used only when this user owns it and
 * nobody else can write to it: the temp folder is everyone's, and anyone could have made the name first.
 */
import { mkdirSync, statSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/** `<tmp>/quantlab-<name>-<uid>`, made private (0700) if missing; null when it is not safely this user's. */
export function userCacheDir(name: string): string | null {
  let uid: number | null = null;
  try {
    uid = userInfo().uid;
  } catch {
    // no passwd entry (some containers)
  }
  const dir = join(tmpdir(), `quantlab-${name}-${uid ?? "user"}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (!st.isDirectory() || (st.mode & 0o022) !== 0) return null;
    if (uid !== null && uid >= 0 && st.uid !== uid) return null;
    return dir;
  } catch {
    return null;
  }
}
