/**
 * llama.cpp's side of the KLD parity test: full next-token distributions from node-llama-cpp's
 * libllama on given BOS-led windows, and the statistics computed from them here, the way
 * `llama-perplexity --kl-divergence` does (written apart from src/model/runtime/kld-stats.ts).
 */
import type { LlamaModel } from "node-llama-cpp";

/** ln p(v) for every vocabulary entry at each scored position (row i of a window predicts token i + 1). */
export async function llamaCppLogProbs(model: LlamaModel, windows: number[][], vocab: number): Promise<Float64Array[]> {
  const ctx = await model.createContext({ contextSize: Math.max(...windows.map((w) => w.length)), batchSize: 512, threads: 1 });
  const seq = ctx.getSequence();
  const out: Float64Array[] = [];
  try {
    for (const w of windows) {
      await seq.clearHistory();
      const input = w.map((t, i) => (i + 1 < w.length ? [t, { generateNext: { probabilities: true } }] : t)) as never[];
      const res = await seq.controlledEvaluate(input);
      for (let i = 0; i + 1 < w.length; i++) {
        const probs = res[i]?.next.probabilities as Map<number, number> | undefined;
        if (!probs) throw new Error(`llama.cpp returned no probabilities for position ${i}`);
        const row = new Float64Array(vocab).fill(Math.log(1e-45));
        for (const [id, p] of probs) if (p > 0) row[id] = Math.log(p);
        out.push(row);
      }
    }
  } finally {
    await ctx.dispose();
  }
  return out;
}

export interface ReferenceStats {
  meanKld: number;
  kldStderr: number;
  sameTopPercent: number;
  perplexity: number;
  basePerplexity: number;
}

const argmax = (r: Float64Array) => r.reduce((b, x, i) => (x > r[b] ? i : b), 0);

export function referenceStats(base: Float64Array[], quant: Float64Array[], targets: number[]): ReferenceStats {
  let sk = 0, sk2 = 0, same = 0, nb = 0, nq = 0;
  const n = targets.length;
  for (let t = 0; t < n; t++) {
    const b = base[t], q = quant[t];
    let kl = 0;
    for (let v = 0; v < b.length; v++) kl += Math.exp(b[v]) * (b[v] - q[v]);
    sk += kl;
    sk2 += kl * kl;
    if (argmax(b) === argmax(q)) same++;
    nb -= b[targets[t]];
    nq -= q[targets[t]];
  }
  const mean = sk / n;
  return {
    meanKld: mean, kldStderr: Math.sqrt(Math.max(0, sk2 / n - mean * mean) / (n - 1)), sameTopPercent: (100 * same) / n,
    perplexity: Math.exp(nq / n), basePerplexity: Math.exp(nb / n),
  };
}
