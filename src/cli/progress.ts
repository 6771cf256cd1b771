/**
 * A progress line for long jobs on stderr: done/total, rate and ETA. On a terminal one line is rewritten
 * in place; otherwise (a log, a pipe, CI) plain lines at most every `every` seconds and at the end, so a
 * log stays short and every line is complete.
 */
export interface ProgressOptions {
  /** What is counted ("tensors", "windows"). */
  unit: string;
  /** Also shown as a rate: a second quantity per step (bytes, tokens) and its unit. */
  rateUnit?: string;
  /** The rate's quantity over the whole job: the ETA then follows it (tensors differ in size) rather than the steps. */
  totalAmount?: number;
  /** Seconds between plain lines (default 5). */
  every?: number;
  /** Where lines go (default process.stderr) and whether it is a terminal. */
  out?: { write(s: string): unknown; isTTY?: boolean };
  /** Seconds since some origin (default performance.now() / 1000); tests pass a fake clock. */
  now?: () => number;
}

const clock = (s: number): string => {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  return `${h > 0 ? `${h}:${String(m).padStart(2, "0")}` : m}:${String(sec).padStart(2, "0")}`;
};

const qty = (x: number, unit: string): string =>
  unit === "B" ? (x >= 2 ** 20 ? `${(x / 2 ** 20).toFixed(1)} MB` : `${(x / 2 ** 10).toFixed(1)} kB`) : `${x >= 100 ? Math.round(x) : x.toFixed(1)} ${unit}`;

export class Progress {
  private readonly t0: number;
  private last = -Infinity;
  private amount = 0;
  private readonly out: NonNullable<ProgressOptions["out"]>;
  private readonly now: () => number;

  constructor(private readonly label: string, private readonly total: number, private readonly opts: ProgressOptions) {
    this.out = opts.out ?? process.stderr;
    this.now = opts.now ?? (() => performance.now() / 1000);
    this.t0 = this.now();
  }

  /** The line for `done` steps after `elapsed` seconds. */
  line(done: number, elapsed: number): string {
    const pct = this.total > 0 ? Math.floor((100 * done) / this.total) : 100;
    const parts = [`${this.label}: ${done}/${this.total} ${this.opts.unit} (${pct}%)`];
    if (elapsed > 0 && done > 0) {
      parts.push(this.opts.rateUnit ? `${qty(this.amount / elapsed, this.opts.rateUnit)}/s` : `${qty(done / elapsed, this.opts.unit)}/s`);
      const T = this.opts.totalAmount;
      const left = T !== undefined && this.amount > 0 ? (elapsed / this.amount) * Math.max(0, T - this.amount) : (elapsed / done) * (this.total - done);
      parts.push(done < this.total ? `ETA ${clock(left)}` : `in ${clock(elapsed)}`);
    }
    return parts.join(", ");
  }

  /** `done` steps so far; `amount` more of the rate's quantity in this step. */
  tick(done: number, amount = 0): void {
    this.amount += amount;
    const t = this.now(), end = done >= this.total;
    if (this.out.isTTY) {
      this.out.write(`\r${this.line(done, t - this.t0)}\u001b[K${end ? "\n" : ""}`);
      return;
    }
    if (!end && t - this.last < (this.opts.every ?? 5)) return;
    this.last = t;
    this.out.write(`${this.line(done, t - this.t0)}\n`);
  }
}
