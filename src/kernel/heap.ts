/**
 * The kernel's heap budget: QUANTLAB_HEAP_MB when set, else V8's own heap limit (node's
 * --max-old-space-size). Big DSL allocations are checked against it (src/memory-budget.ts) with the
 * V8 heap in use plus the typed arrays' memory counted, so a cell asking for too much gets an error
 * instead of the process aborting.
 */
import { getHeapStatistics } from "node:v8";
import { QuantLabError } from "../errors.js";
import { setMemoryBudget } from "../memory-budget.js";

export function heapBudgetBytes(env: NodeJS.ProcessEnv = process.env): number {
  const limit = getHeapStatistics().heap_size_limit;
  const raw = env.QUANTLAB_HEAP_MB;
  if (raw === undefined || raw === "") return limit;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb <= 0) throw new QuantLabError("BAD_ARGUMENT", `QUANTLAB_HEAP_MB must be a positive number of megabytes, got '${raw}'`);
  return mb * 2 ** 20;
}

export function installHeapBudget(limitBytes: number): void {
  const mb = Math.round(limitBytes / 2 ** 20);
  setMemoryBudget({
    limitBytes,
    usedBytes: () => getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers,
    hint: `raise the budget: restart the kernel with QUANTLAB_HEAP_MB=${mb * 2} and NODE_OPTIONS=--max-old-space-size=${mb * 2} (now ${mb} MB)`,
  });
}
