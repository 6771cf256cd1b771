/**
 * A heap budget for big allocations. V8 aborts the whole process when its heap is exhausted, so the
 * kernel (which sets the budget) lets the DSL's constructors ask first: an allocation that would take
 * the process past the budget throws a QuantLabError the cell can show, and the kernel lives. Outside
 * the kernel no budget is set and nothing is checked.
 */
import { QuantLabError } from "./errors.js";

interface Budget {
  limitBytes: number;
  usedBytes: () => number;
  /** How to raise the budget, for the message. */
  hint: string;
}

let budget: Budget | null = null;

export function setMemoryBudget(b: Budget | null): void {
  budget = b;
}

const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;

/** Throws when allocating `bytes` more would exceed the budget; small requests are not measured. */
export function checkAllocation(bytes: number, what: string): void {
  if (!budget || bytes < 2 ** 20) return;
  const used = budget.usedBytes();
  if (used + bytes <= budget.limitBytes) return;
  throw new QuantLabError("BAD_ARGUMENT",
    `${what} needs ${mb(bytes)} but the kernel's memory budget has ${mb(Math.max(0, budget.limitBytes - used))} left of ${mb(budget.limitBytes)}: use smaller data, free large values (assign null to them), or ${budget.hint}`);
}
