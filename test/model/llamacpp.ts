/**
 * llama.cpp (through node-llama-cpp, a devDependency) as the independent reference for the model
 * tests: its tokenizer, its per-token probabilities (full-vocabulary softmax at each position of a
 * context sequence), and greedy generation. Contexts use one thread: its default (4 threads on a
 * 2-core machine) spin-waits and runs ~100× slower.
 */
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";

let llama: Promise<Llama> | null = null;

export async function llamaCppModel(path: string): Promise<LlamaModel> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  return (await llama).loadModel({ modelPath: path });
}

/** Negative log-likelihood of each window's tokens 1… given their prefix, from llama.cpp. */
export async function llamaCppNll(model: LlamaModel, windows: number[][]): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: Math.max(...windows.map((w) => w.length)), batchSize: 512, threads: 1 });
  const seq = ctx.getSequence();
  const out: number[] = [];
  try {
    for (const w of windows) {
      await seq.clearHistory();
      const input = w.map((t, i) => (i + 1 < w.length ? [t, { generateNext: { probabilities: true } }] : t)) as never[];
      const res = await seq.controlledEvaluate(input);
      for (let i = 0; i + 1 < w.length; i++) {
        const p = res[i]?.next.probabilities?.get(w[i + 1] as never);
        if (p === undefined) throw new Error(`llama.cpp returned no probability for position ${i}`);
        out.push(-Math.log(p));
      }
    }
  } finally {
    await ctx.dispose();
  }
  return out;
}

/** Greedy continuation from BOS by llama.cpp, as token ids. */
export async function llamaCppGreedy(model: LlamaModel, prompt: number[], n: number): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1 });
  const seq = ctx.getSequence();
  const out: number[] = [];
  try {
    for await (const t of seq.evaluate(prompt as never[], { temperature: 0 })) {
      out.push(t as unknown as number);
      if (out.length >= n) break;
    }
  } finally {
    await ctx.dispose();
  }
  return out;
}
