/**
 * The model code's door to tfjs: every module under src/model imports tf from here and awaits
 * `ready()` before its first op. The backend choice itself lives in src/backend (wasm by default,
 * `cpu` as the reference, QUANTLAB_BACKEND to override).
 */
import { ensureBackend, tf } from "../../backend/index.js";

export { tf };

/** Makes sure a tfjs backend is running; `name` switches to that backend. Returns the backend's name. */
export async function ready(name?: string): Promise<string> {
  return ensureBackend(name);
}
