/**
 * One runtime per loaded model, shared by every DSL function that runs it (uploading the weights is
 * the expensive part); not part of the notebook vocabulary.
 */
import { LlamaRuntime } from "../model/runtime/forward.js";
import type { LlamaModel } from "../model/llama.js";

const runtimes = new WeakMap<LlamaModel, LlamaRuntime>();

export async function runtimeOf(m: LlamaModel): Promise<LlamaRuntime> {
  let rt = runtimes.get(m);
  if (!rt) {
    rt = await LlamaRuntime.create(m);
    runtimes.set(m, rt);
  }
  return rt;
}
