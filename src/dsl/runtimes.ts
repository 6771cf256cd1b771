/**
 * How DSL functions run a model: its weights uploaded to tfjs for the call, then freed. tfjs tensors are
 * not garbage collected, so a runtime kept per model (as a cache once did) left every model's weights
 * allocated after the model itself was gone; uploading again per call costs far less than the call.
 * Not part of the notebook vocabulary.
 */
import { LlamaRuntime } from "../model/runtime/forward.js";
import type { LlamaModel } from "../model/llama.js";

export async function withRuntime<T>(m: LlamaModel, fn: (rt: LlamaRuntime) => T | Promise<T>): Promise<T> {
  const rt = await LlamaRuntime.create(m);
  try {
    return await fn(rt);
  } finally {
    rt.dispose();
  }
}
