/**
 * Replay protection: a signed message is valid for as long as its key is, so a captured execute_request
 * sent again would run again. Like ipykernel's digest history, the kernel remembers the signatures it
 * has accepted and drops a repeat. The record is bounded (oldest forgotten first), so a long session
 * cannot grow it without limit; an attacker who waits for 65,536 newer messages is outside what a
 * signature-based scheme can stop without timestamps.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 1 << 16) {}

  /** True the first time `signature` is offered; false for a repeat. Empty signatures (no key) are never recorded. */
  accept(signature: string): boolean {
    if (!signature) return true;
    if (this.seen.has(signature)) return false;
    this.seen.add(signature);
    // a Set iterates in insertion order, so its first entry is the oldest
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
