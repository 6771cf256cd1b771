/**
 * The kernel's input history for `history_request`: tail, range and glob search (IPython's semantics:
 * the glob matches the whole input, `unique` keeps the latest of equal inputs, `n` keeps the last n).
 * Entries are [session, line, input] or [session, line, [input, output]].
 */
export interface HistoryRequest {
  hist_access_type: "tail" | "range" | "search";
  output?: boolean;
  session?: number;
  start?: number;
  stop?: number;
  n?: number | null;
  pattern?: string;
  unique?: boolean;
}

type Entry = [number, number, string] | [number, number, [string, string | null]];

interface Item {
  line: number;
  input: string;
  output: string | null;
}

export class History {
  private readonly items: Item[] = [];
  constructor(readonly session = 1) {}

  add(line: number, input: string): void {
    this.items.push({ line, input, output: null });
  }

  setOutput(line: number, output: string): void {
    for (let k = this.items.length - 1; k >= 0; k--) {
      if (this.items[k].line === line) {
        this.items[k].output = output;
        return;
      }
    }
  }

  query(req: HistoryRequest): Entry[] {
    let picked: Item[];
    switch (req.hist_access_type) {
      case "tail":
        picked = req.n && req.n > 0 ? this.items.slice(-req.n) : this.items.slice();
        break;
      case "range": {
        if (req.session !== undefined && req.session !== this.session && req.session !== 0) return [];
        const start = req.start ?? 0;
        const stop = req.stop ?? Infinity;
        picked = this.items.filter((i) => i.line >= start && (stop <= 0 ? true : i.line < stop));
        break;
      }
      case "search": {
        const re = globToRegExp(req.pattern ?? "*");
        picked = this.items.filter((i) => re.test(i.input));
        if (req.unique) {
          const seen = new Set<string>();
          picked = picked.reverse().filter((i) => !seen.has(i.input) && seen.add(i.input)).reverse();
        }
        if (req.n && req.n > 0) picked = picked.slice(-req.n);
        break;
      }
      default:
        picked = [];
    }
    return picked.map((i) => (req.output ? [this.session, i.line, [i.input, i.output]] : [this.session, i.line, i.input]));
  }
}

/** `*` any run, `?` one character, `[…]` a class; anchored at both ends like sqlite's GLOB. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += "[" + glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
