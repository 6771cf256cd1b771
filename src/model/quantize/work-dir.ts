/**
 * The work folder of a whole-model quantization (`.OUT.quantlab-work/` beside the output): each
 * finished layer's quantized linears (`layer-<i>.safetensors`), the calibration and evaluation hidden
 * states leaving the last finished layer (`hidden-<i>.f32`, `eval-<i>.f32`) and a manifest naming the
 * recipe, model and calibration they belong to. Every file is written atomically and the manifest last,
 * so an interrupted run leaves a folder `--resume` continues exactly where it stopped; the final file is
 * assembled from it, and the folder is removed once that is written.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { check, QuantLabError } from "../../errors.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { encodeSafetensors, openSafetensors } from "../../io/safetensors.js";
import type { Tensor } from "../../io/tensor.js";
import type { GroupQuantized } from "../../numerics/grouped.js";
import { ROUNDING } from "../../numerics/round.js";
import type { ResolvedSpec } from "../../numerics/spec.js";
import type { LinearName, ModelSource } from "../llama.js";
import { ggufTensorOf } from "./export.js";
import type { LayerDone, LayerError, QuantizedLinear } from "./workflow.js";

/** Where the work folder of output `out` lives. */
export function workDirOf(out: string): string {
  return join(dirname(out), `.${basename(out)}.quantlab-work`);
}

/** What a run's layers depend on; a resumed run must match all three. */
export interface WorkIdentity {
  /** The method and its grid, and whether GGUF bytes are stored per layer. */
  recipe: unknown;
  /** The checkpoint (its tensors' names, shapes and types, and its file's size and time). */
  model: unknown;
  /** The calibration windows and the evaluation tokens. */
  calibration: unknown;
}

interface Manifest {
  version: 1;
  recipe: string;
  model: string;
  calibration: string;
  nLayers: number;
  /** Finished layers in order, with their errors and seconds. */
  done: { layer: number; seconds: number; errors: LayerError[] }[];
}

const hash = (x: unknown) => createHash("sha256").update(JSON.stringify(x)).digest("hex");

/** A model's identity for the manifest: its tensor table, and its file's size and modification time. */
export function modelIdentity(source: ModelSource, path: string): unknown {
  const st = statSync(path);
  return { tensors: source.tensors.map((t) => [t.name, t.dims, t.type.name, t.nbytes]), size: st.isDirectory() ? null : st.size, mtime: st.isDirectory() ? null : st.mtimeMs };
}

const f32 = (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
const asF32 = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** A resolved spec as JSON (its rounding rule by name); refuses the learner's own formulas, which have no name. */
function specJson(s: ResolvedSpec): unknown {
  const round = Object.entries(ROUNDING).find(([, f]) => f === s.round)?.[0];
  check(round && !s.scale && !s.zeroPoint, "UNSUPPORTED", "a spec with its own scale, zero-point or rounding formula cannot be saved in the work folder: quantize it in memory with quantizeModel");
  return { ...s, grid: s.grid ? Array.from(s.grid) : null, round, scale: undefined, zeroPoint: undefined };
}

function specOf(j: Record<string, unknown>): ResolvedSpec {
  return { ...(j as unknown as ResolvedSpec), grid: j.grid ? Float64Array.from(j.grid as number[]) : null, round: ROUNDING[j.round as keyof typeof ROUNDING] };
}

interface LinearMeta {
  format: string;
  rows: number;
  cols: number;
  loss?: number;
  gguf?: string;
  grouped?: { spec: unknown; report: GroupQuantized["report"]; gIdx: boolean };
  inputScales?: boolean;
  /** The GGUF type the final file stores it as (precomputed while the layer is fresh). */
  stored?: { type: string; lossless: boolean };
}

/** A linear as the final GGUF stores it. */
export interface StoredLinear {
  type: string;
  lossless: boolean;
  /** The method's label of its grid (for the plan's reason when it was re-encoded). */
  format: string;
  bytes: Uint8Array;
}

export interface Resumed {
  /** The first layer still to quantize. */
  layer: number;
  /** The calibration hidden states entering it. */
  hidden: Float32Array;
  /** The evaluation windows' hidden states entering it (the quantized model's), when the run scores. */
  evalHidden: Float32Array | null;
  /** Errors of the finished layers, in order. */
  errors: LayerError[];
  seconds: number[];
}

export class WorkDir {
  private constructor(readonly dir: string, private manifest: Manifest) {}

  /**
   * Opens (with `resume`) or starts the work folder of `out`. Without `resume` an existing folder is refused
   * (it holds an interrupted run); with it, a folder whose manifest names another recipe, model or
   * calibration is refused, and otherwise the run continues after its last finished layer.
   */
  static async open(out: string, id: WorkIdentity, nLayers: number, resume: boolean): Promise<{ work: WorkDir; resumed: Resumed | null }> {
    const dir = workDirOf(out);
    const want: Manifest = { version: 1, recipe: hash(id.recipe), model: hash(id.model), calibration: hash(id.calibration), nLayers, done: [] };
    const mpath = join(dir, "manifest.json");
    if (!existsSync(mpath)) {
      // a folder without a manifest never finished its first write: nothing in it counts
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const w = new WorkDir(dir, want);
      await w.saveManifest();
      return { work: w, resumed: null };
    }
    check(resume, "BAD_ARGUMENT", `${dir} holds an interrupted run for ${out}: add --resume to continue it, or delete the folder to start over`);
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(mpath, "utf8")) as Manifest;
    } catch {
      throw new QuantLabError("BAD_FILE", `${mpath} is not a work manifest: delete ${dir} and run again without --resume`);
    }
    for (const [k, what] of [["recipe", "method, bits, group size or --format"], ["model", "model file"], ["calibration", "calibration or evaluation text, --calib-windows, --calib-length or --max-tokens"]] as const) {
      check(m[k] === want[k], "BAD_ARGUMENT", `--resume: ${dir} was made with a different ${what}: repeat the first run's flags, or delete the folder to start over`);
    }
    const w = new WorkDir(dir, m);
    const last = m.done.at(-1);
    if (!last) return { work: w, resumed: null };
    const h = join(dir, `hidden-${last.layer}.f32`);
    check(existsSync(h), "BAD_FILE", `${h} is missing: the work folder is incomplete, delete ${dir} and run again without --resume`);
    const e = join(dir, `eval-${last.layer}.f32`);
    return {
      work: w,
      resumed: {
        layer: last.layer + 1, hidden: asF32(readFileSync(h)), evalHidden: existsSync(e) ? asF32(readFileSync(e)) : null,
        errors: m.done.flatMap((d) => d.errors), seconds: m.done.map((d) => d.seconds),
      },
    };
  }

  /** Finished layers so far. */
  get finished(): number {
    return this.manifest.done.length;
  }

  /**
   * Stores a finished layer: its linears (with their GGUF encoding when `storeGguf`), then the hidden states,
   * then the manifest that makes them count; the previous layer's states go last.
   */
  async saveLayer(d: LayerDone, evalHidden: Float32Array | null, storeGguf: boolean): Promise<void> {
    const tensors = new Map<string, Tensor>();
    const meta: Record<string, string> = {};
    for (const [n, q] of d.linears) {
      const { rows, cols } = q.weight;
      const m: LinearMeta = { format: q.format, rows, cols, ...(q.loss !== undefined ? { loss: q.loss } : {}) };
      tensors.set(`${n}.weight`, { dtype: "F32", shape: [rows, cols], data: q.weight.data });
      const g = q.grouped;
      if (g) {
        m.grouped = { spec: specJson(g.spec), report: g.report, gIdx: !!g.gIdx };
        tensors.set(`${n}.codes`, { dtype: "I16", shape: [g.codes.length], data: g.codes });
        tensors.set(`${n}.scales`, { dtype: "F32", shape: [g.scales.length], data: g.scales });
        tensors.set(`${n}.zeros`, { dtype: "F32", shape: [g.zeros.length], data: g.zeros });
        if (g.gIdx) tensors.set(`${n}.g_idx`, { dtype: "I32", shape: [g.gIdx.length], data: g.gIdx });
      }
      if (q.inputScales) {
        m.inputScales = true;
        tensors.set(`${n}.input_scales`, { dtype: "F32", shape: [q.inputScales.length], data: q.inputScales });
      }
      if (q.gguf) {
        m.gguf = q.gguf.type;
        tensors.set(`${n}.gguf`, { dtype: "U8", shape: [q.gguf.bytes.length], data: q.gguf.bytes });
      }
      if (storeGguf && !q.gguf) {
        const t = ggufTensorOf(q);
        m.stored = { type: t.type, lossless: t.lossless };
        tensors.set(`${n}.stored`, { dtype: "U8", shape: [t.data.length], data: t.data });
      } else if (q.gguf) m.stored = { type: q.gguf.type, lossless: true };
      meta[n] = JSON.stringify(m);
    }
    await writeFileAtomic(join(this.dir, `layer-${d.layer}.safetensors`), encodeSafetensors(tensors, meta));
    await writeFileAtomic(join(this.dir, `hidden-${d.layer}.f32`), f32(d.hidden));
    if (evalHidden) await writeFileAtomic(join(this.dir, `eval-${d.layer}.f32`), f32(evalHidden));
    this.manifest.done.push({ layer: d.layer, seconds: d.seconds, errors: d.errors });
    await this.saveManifest();
    rmSync(join(this.dir, `hidden-${d.layer - 1}.f32`), { force: true });
    rmSync(join(this.dir, `eval-${d.layer - 1}.f32`), { force: true });
  }

  /** Layer i's quantized linears as the workflow returned them. */
  async readLayer(i: number): Promise<Map<LinearName, QuantizedLinear>> {
    const f = await openSafetensors(join(this.dir, `layer-${i}.safetensors`));
    try {
      const out = new Map<LinearName, QuantizedLinear>();
      for (const [n, json] of Object.entries(f.metadata)) {
        const m = JSON.parse(json) as LinearMeta;
        const bytes = async (k: string) => f.read(`${n}.${k}`);
        const weight = { rows: m.rows, cols: m.cols, data: asF32(await bytes("weight")) };
        const q: QuantizedLinear = { weight, format: m.format, ...(m.loss !== undefined ? { loss: m.loss } : {}) };
        if (m.grouped) {
          const i16 = await bytes("codes"), i32 = m.grouped.gIdx ? await bytes("g_idx") : null;
          q.grouped = {
            spec: specOf(m.grouped.spec as Record<string, unknown>), rows: m.rows, cols: m.cols,
            codes: new Int16Array(i16.buffer.slice(i16.byteOffset, i16.byteOffset + i16.byteLength)),
            scales: asF32(await bytes("scales")), zeros: asF32(await bytes("zeros")),
            gIdx: i32 ? new Int32Array(i32.buffer.slice(i32.byteOffset, i32.byteOffset + i32.byteLength)) : null,
            dequantized: weight.data, report: m.grouped.report,
          };
        }
        if (m.inputScales) q.inputScales = asF32(await bytes("input_scales"));
        if (m.gguf) q.gguf = { type: m.gguf, bytes: await bytes("gguf") };
        out.set(n as LinearName, q);
      }
      return out;
    } finally {
      await f.close();
    }
  }

  /** Layer i's linears as the final GGUF stores them (computed when the layer was saved with `storeGguf`). */
  async storedLayer(i: number): Promise<Map<LinearName, StoredLinear>> {
    const f = await openSafetensors(join(this.dir, `layer-${i}.safetensors`));
    try {
      const out = new Map<LinearName, StoredLinear>();
      for (const [n, json] of Object.entries(f.metadata)) {
        const m = JSON.parse(json) as LinearMeta;
        check(m.stored, "BAD_FILE", `layer ${i} of ${this.dir} has no stored GGUF tensors: delete the folder and run again`);
        out.set(n as LinearName, { ...m.stored, format: m.format, bytes: await f.read(`${n}.${m.gguf ? "gguf" : "stored"}`) });
      }
      return out;
    } finally {
      await f.close();
    }
  }

  /** Removes the folder (after the final file is written). */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async saveManifest(): Promise<void> {
    await writeFileAtomic(join(this.dir, "manifest.json"), JSON.stringify(this.manifest));
  }
}
