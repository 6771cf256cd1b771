/**
 * The statistics llama.cpp's `llama-perplexity --kl-divergence` reports, from per-token arrays: mean
 * KLD with its standard error, median and upper percentiles, same-top share, Δp of the correct token,
 * both perplexities, their ratio and the mean log-ratio. Pure arithmetic in float64, kept apart from
 * the forward passes so a test can feed it another engine's numbers.
 *
 * Uncertainties follow llama.cpp's `mean_and_uncertainty`: sqrt((E[x²] − E[x]²) / (n − 1)), reported
 * as 0 for n ≤ 10 (too few tokens for a meaningful spread). Percentiles interpolate linearly between
 * order statistics at fraction·(n − 1); the median averages the two middle values for even n.
 */

export interface KldSummary {
  mean: number;
  stderr: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  min: number;
  max: number;
}

export interface KldStatistics {
  tokens: number;
  perplexity: number;
  basePerplexity: number;
  /** PPL(quant) / PPL(base). */
  ratio: number;
  /** mean of ln p_base(correct) − ln p_quant(correct) = ln(PPL_q / PPL_base), with its standard error. */
  logRatio: { mean: number; stderr: number };
  kld: KldSummary;
  /** Share of tokens whose most likely next token is the same under both models, in percent. */
  sameTopPercent: number;
  sameTopStderr: number;
  /** p_quant(correct) − p_base(correct): mean (with standard error) and root mean square. */
  deltaP: { mean: number; stderr: number; rms: number };
}

/** Per-token inputs of the statistics; index t is one scored position. */
export interface TokenArrays {
  kld: ArrayLike<number>;
  /** −ln p(correct token) under the base and the quantized model. */
  nllBase: ArrayLike<number>;
  nllQuant: ArrayLike<number>;
  /** 1 where the argmax tokens agree. */
  sameTop: ArrayLike<number>;
}

export function meanAndUncertainty(sum: number, sum2: number, n: number): { mean: number; stderr: number } {
  const mean = sum / n;
  const v = sum2 / n - mean * mean;
  return { mean, stderr: v > 0 && n > 10 ? Math.sqrt(v / (n - 1)) : 0 };
}

/** Linear interpolation between the order statistics around fraction·(n − 1) of sorted values. */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  const n = sorted.length;
  if (fraction <= 0) return sorted[0];
  if (fraction >= 1) return sorted[n - 1];
  const p = fraction * (n - 1);
  const i = Math.floor(p), f = p - i;
  return (1 - f) * sorted[i] + f * sorted[Math.min(i + 1, n - 1)];
}

export function median(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  return n % 2 === 0 ? (sorted[n / 2] + sorted[n / 2 - 1]) / 2 : sorted[(n - 1) / 2];
}

export function kldStatistics(a: TokenArrays): KldStatistics {
  const n = a.kld.length;
  let k = 0, k2 = 0, nb = 0, nq = 0, lr = 0, lr2 = 0, same = 0, dp = 0, dp2 = 0;
  for (let t = 0; t < n; t++) {
    k += a.kld[t];
    k2 += a.kld[t] * a.kld[t];
    nb += a.nllBase[t];
    nq += a.nllQuant[t];
    const d = a.nllQuant[t] - a.nllBase[t];
    lr += d;
    lr2 += d * d;
    same += a.sameTop[t] ? 1 : 0;
    const diff = Math.exp(-a.nllQuant[t]) - Math.exp(-a.nllBase[t]);
    dp += diff;
    dp2 += diff * diff;
  }
  const sorted = Float64Array.from(a.kld).sort();
  const kl = meanAndUncertainty(k, k2, n);
  const p = same / n;
  const perplexity = Math.exp(nq / n), basePerplexity = Math.exp(nb / n);
  return {
    tokens: n,
    perplexity,
    basePerplexity,
    ratio: perplexity / basePerplexity,
    logRatio: meanAndUncertainty(lr, lr2, n),
    kld: {
      mean: kl.mean, stderr: kl.stderr, median: median(sorted),
      p90: percentile(sorted, 0.9), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999),
      min: sorted[0], max: sorted[n - 1],
    },
    sameTopPercent: 100 * p,
    sameTopStderr: n > 1 ? 100 * Math.sqrt((p * (1 - p)) / (n - 1)) : 0,
    deltaP: { ...meanAndUncertainty(dp, dp2, n), rms: Math.sqrt(dp2 / n) },
  };
}
