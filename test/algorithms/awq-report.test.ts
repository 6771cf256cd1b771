import { test } from "node:test";
import assert from "node:assert/strict";
import { awq, awqBlock, outputErrors } from "../../src/algorithms/awq.js";
import { outputError } from "../../src/algorithms/hessian.js";
import { useBackend } from "../../src/backend/index.js";
import { inputs, weights } from "./helpers.js";

await useBackend("wasm");

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

test("AWQ's output error by the trace form equals the direct form ‖XWᵀ − XQᵀ‖²/‖XWᵀ‖²", async () => {
  // tokens ≥ in: the trace form is the cheaper one, so it is the one awq() reports
  const W = weights(96, 256, 31);
  const X = inputs(512, 256, 32, { every: 30 });
  const a = await awq(W, X, { bits: 3, groupSize: 64, grid: 4 });
  const direct = await outputError(X, W, a.dequantized);
  assert.ok(rel(a.report.outputError!, direct) < 1e-5, `trace ${a.report.outputError} vs direct ${direct}`);
});

test("outputErrors: one Hessian for a block's linears, each equal to its direct form; few tokens take the direct form", async () => {
  const Ws = [weights(64, 128, 41), weights(32, 128, 42)];
  const X = inputs(256, 128, 43, { every: 20 });
  const b = await awqBlock(Ws, X, { bits: 4, groupSize: 32, grid: 4 });
  for (let i = 0; i < Ws.length; i++) {
    const direct = await outputError(X, Ws[i]!, b.layers[i]!.dequantized);
    assert.ok(rel(b.layers[i]!.report.outputError!, direct) < 1e-5, `linear ${i}: ${b.layers[i]!.report.outputError} vs ${direct}`);
    // the reports are not part of the method's time
    assert.ok(b.layers[i]!.report.seconds <= b.seconds);
  }
  const few = inputs(8, 128, 44);
  const [e] = await outputErrors(few, [Ws[0]!], [b.layers[0]!.dequantized]);
  assert.equal(e, await outputError(few, Ws[0]!, b.layers[0]!.dequantized));
  const [zero] = await outputErrors(X, [Ws[0]!], [Ws[0]!.data]);
  assert.equal(zero, 0);
});
