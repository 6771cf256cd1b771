/**
 * Interrupts in both modes (interrupt_request on control, SIGINT to the process) stop a runaway
 * synchronous loop and a pending await; the cell errors, the kernel keeps its state and serves on.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import type { KernelClient } from "../../src/runner/client.js";
import { outputsOf, startKernel } from "./helpers.js";

let k: KernelClient;
before(async () => {
  k = await startKernel();
  await k.execute("const kept = 41;");
});
after(async () => {
  await k?.shutdown();
});

const modes = {
  message: async () => {
    const { reply } = await k.request("interrupt_request", {}, { channel: "control" });
    assert.equal(reply.content.status, "ok");
  },
  signal: async () => {
    k.process!.kill("SIGINT");
  },
};

for (const [mode, interrupt] of Object.entries(modes)) {
  for (const [what, code] of [
    ["while (true) {}", "let spins = 0;\nwhile (true) { spins++; }"],
    ["a pending await", "await new Promise(() => {});"],
  ]) {
    it(`${mode} mode stops ${what}; state is kept`, async () => {
      const running = k.execute(code);
      // the cell must be running (busy and past execute_input) before the interrupt is sent
      await new Promise((r) => setTimeout(r, 400));
      await interrupt();
      const r = await running;
      assert.equal(r.reply.content.status, "error");
      assert.equal(r.reply.content.ename, "KeyboardInterrupt");
      assert.equal(outputsOf(r).at(-1)![0], "error");
      const after = await k.execute("kept + 1");
      assert.equal(outputsOf(after)[0][1].data["text/plain"], "42");
    });
  }
}

it("an interrupt while idle does nothing harmful", async () => {
  await modes.signal();
  await modes.message();
  const r = await k.execute("kept");
  assert.equal(outputsOf(r)[0][1].data["text/plain"], "41");
});
