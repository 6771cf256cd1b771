/**
 * Partial files of atomic writes: named `.NAME.quantlab-partial-PID-…` beside their target, removed
 * when the writer gets SIGINT or SIGTERM, and — when it was SIGKILLed and could not — removed by the
 * next write of the same output. The writer is a real process holding a partial file mid-write.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { writeFileAtomic } from "../../src/io/atomic.js";
import { writeFileAtomicSync } from "../../src/display/write.js";

const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "ql-partial-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// a writer that has opened its partial file and written half of it, then stalls (as a big write does)
const WRITER = `
import { openSync, writeSync } from "node:fs";
import { beginPartial } from ${JSON.stringify(join(root, "src", "partial.ts"))};
const tmp = beginPartial(process.argv[1]);
const fd = openSync(tmp, "w");
writeSync(fd, Buffer.alloc(1 << 20, 7));
console.log(tmp);
setInterval(() => {}, 1000);
`;

async function writerMidWrite(target: string): Promise<{ pid: number; tmp: string; exited: Promise<[number | null, string | null]> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", WRITER, target], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<[number | null, string | null]>((r) => child.once("exit", (c, s) => r([c, s])));
  const tmp = await new Promise<string>((resolve) => child.stdout.once("data", (d) => resolve(String(d).trim())));
  return { pid: child.pid!, tmp, exited };
}

const partials = (name: string) => readdirSync(dir).filter((n) => n.startsWith(`.${name}.`));

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  it(`a writer killed by ${signal} removes its partial file and still dies of the signal`, async () => {
    const target = join(dir, `out-${signal}.bin`);
    const w = await writerMidWrite(target);
    assert.match(w.tmp, new RegExp(`\\.out-${signal}\\.bin\\.quantlab-partial-${w.pid}-[0-9a-f]+$`));
    assert.deepEqual(partials(`out-${signal}.bin`).length, 1);
    process.kill(w.pid, signal);
    const [, sig] = await w.exited;
    assert.equal(sig, signal);
    assert.deepEqual(partials(`out-${signal}.bin`), []);
  });
}

it("a SIGKILLed writer's partial file is removed by the next write of the same output, a live writer's is kept", async () => {
  const target = join(dir, "model.gguf");
  const dead = await writerMidWrite(target);
  process.kill(dead.pid, "SIGKILL");
  await dead.exited;
  assert.deepEqual(partials("model.gguf").map((n) => join(dir, n)), [dead.tmp]);
  await writeFileAtomic(target, "done");
  assert.equal(readFileSync(target, "utf8"), "done");
  assert.deepEqual(partials("model.gguf"), []);
  const live = await writerMidWrite(target);
  try {
    await writeFileAtomic(target, "done");
    assert.deepEqual(partials("model.gguf").map((n) => join(dir, n)), [live.tmp]);
    writeFileAtomicSync(target, "again");
    assert.deepEqual(partials("model.gguf").map((n) => join(dir, n)), [live.tmp]);
  } finally {
    process.kill(live.pid, "SIGKILL");
    await live.exited;
  }
});
