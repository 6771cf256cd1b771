import { mulberry32 } from "../../src/numerics/random.js";
/** Seeded randomness for tests: mulberry32 uniform and Box–Muller gaussians. */
export { mulberry32 };

/** A standard-normal generator from a seed. */
export function gaussian(seed: number): () => number {
  const u = mulberry32(seed);
  return () => {
    const u1 = Math.max(u(), 1e-12);
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u());
  };
}

/** n gaussian values times `std`. */
export function randn(n: number, seed: number, std = 1): Float32Array {
  const g = gaussian(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = g() * std;
  return out;
}

/**
 * A Student-t generator with `nu` degrees of freedom: heavy-tailed like real LLM weights, so outlier
 * tests see the occasional large value. t = Z / sqrt(V/nu), V = sum of nu squared normals (integer nu).
 */
export function studentT(seed: number, nu = 4): () => number {
  const g = gaussian(seed);
  const k = Math.max(1, Math.round(nu));
  return () => {
    const z = g();
    let v = 0;
    for (let i = 0; i < k; i++) {
      const y = g();
      v += y * y;
    }
    return z / Math.sqrt(Math.max(v, 1e-300) / k);
  };
}

/** n Student-t values (nu degrees of freedom) times `scale`. */
export function randt(n: number, seed: number, nu = 4, scale = 1): Float32Array {
  const t = studentT(seed, nu);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = t() * scale;
  return out;
}
