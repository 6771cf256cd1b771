import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress } from "../../src/cli/progress.js";

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { out: { isTTY, write: (s: string) => writes.push(s) }, writes };
}

test("without a terminal: complete lines at most every `every` seconds, and the last one always, with rate and ETA", () => {
  let now = 100;
  const { out, writes } = sink(false);
  const p = new Progress("gguf quantize", 10, { unit: "tensors", rateUnit: "B", every: 5, out, now: () => now });
  for (let i = 1; i <= 10; i++) {
    now += 2;
    p.tick(i, 3 * 2 ** 20);
  }
  assert.deepEqual(writes, [
    "gguf quantize: 1/10 tensors (10%), 1.5 MB/s, ETA 0:18\n",
    "gguf quantize: 4/10 tensors (40%), 1.5 MB/s, ETA 0:12\n",
    "gguf quantize: 7/10 tensors (70%), 1.5 MB/s, ETA 0:06\n",
    "gguf quantize: 10/10 tensors (100%), 1.5 MB/s, in 0:20\n",
  ]);
});

test("on a terminal: one line rewritten in place, ended by a newline when done; hours in the ETA", () => {
  let now = 0;
  const { out, writes } = sink(true);
  const p = new Progress("eval", 3, { unit: "windows", rateUnit: "tokens", out, now: () => now });
  now = 1800;
  p.tick(1, 511);
  now = 3600;
  p.tick(2, 511);
  now = 5400;
  p.tick(3, 511);
  assert.deepEqual(writes, [
    "\reval: 1/3 windows (33%), 0.3 tokens/s, ETA 1:00:00\u001b[K",
    "\reval: 2/3 windows (66%), 0.3 tokens/s, ETA 30:00\u001b[K",
    "\reval: 3/3 windows (100%), 0.3 tokens/s, in 1:30:00\u001b[K\n",
  ]);
  assert.equal(new Progress("x", 5, { unit: "steps", out, now: () => 0 }).line(0, 0), "x: 0/5 steps (0%)");
});

test("with the job's total amount, the ETA follows the amount (one large tensor first) rather than the step count", () => {
  let now = 0;
  const { out, writes } = sink(false);
  const p = new Progress("gguf quantize", 4, { unit: "tensors", rateUnit: "B", totalAmount: 4 * 2 ** 20, every: 0, out, now: () => now });
  now = 3;
  p.tick(1, 3 * 2 ** 20);
  assert.equal(writes[0], "gguf quantize: 1/4 tensors (25%), 1.0 MB/s, ETA 0:01\n");
});
