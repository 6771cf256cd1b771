/**
 * A tensor source: a model checkpoint seen as GGUF sees it — typed metadata, tensor infos under
 * llama.cpp's names with ggml dims and a ggml type, and each tensor's bytes read only when asked.
 *
 * The GGUF quantizer takes one; src/model/formats opens them from GGUF, safetensors (single files and
 * sharded Hugging Face folders) and llama2.c checkpoints. It is a plain type here so the quantizer never
 * needs to know the model code (src/gguf does not import src/model).
 */
import { check, QuantLabError } from "../errors.js";
import { checkRows, tensorBytes, tensorElements, type GgufFile, type GgufValue } from "./file.js";

// the row layout lives with the container; re-exported for the sources that implement readRows
export { checkRows, tensorRows } from "./file.js";
import { dequantize } from "./quants.js";
import { decodableType, decodableTypeList, type GgmlType } from "./types.js";

/** One tensor of a source: its name, dims in ggml order (dims[0] is the row), stored type and size. */
export interface SourceTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly nbytes: number;
}

export interface TensorSource {
  /** Where it came from (a path), for messages. */
  readonly label: string;
  /** Typed GGUF metadata (`general.*`, `<arch>.*`, `tokenizer.ggml.*`), as a GGUF file would carry it. */
  readonly metadata: Map<string, GgufValue>;
  /** In file order: the order a GGUF written from this source keeps. */
  readonly tensors: readonly SourceTensor[];
  /** The data alignment a GGUF written from this source uses. */
  readonly alignment: number;
  /** A tensor's bytes in its stored type (exactly `nbytes`); a fresh array the caller may keep. */
  read(name: string): Promise<Uint8Array>;
  /**
   * Rows [r0, r1) of a tensor in its stored type, exactly (r1 − r0) × its row bytes (tensorRows), read by
   * offset: what lets the quantizer go through a tensor larger than memory a block of rows at a time.
   * Into `into` when given and large enough (a view of its start is returned), else a fresh array.
   * Optional: a source without it is read whole, one tensor at a time.
   */
  readRows?(name: string, r0: number, r1: number, into?: Uint8Array): Promise<Uint8Array>;
  /** Releases file handles; reads fail afterwards. */
  close(): Promise<void>;
}

/** A GGUF file already in memory as a source (the notebook-sized path: no file is read). */
export function tensorSourceOf(file: GgufFile, label = "the GGUF file"): TensorSource {
  return {
    label, metadata: file.metadata, tensors: file.tensors, alignment: file.alignment,
    read: async (name) => tensorBytes(file, name),
    readRows: async (name, r0, r1, into) => {
      const { rowBytes } = checkRows(sourceTensor({ tensors: file.tensors, label }, name), r0, r1, label);
      const bytes = tensorBytes(file, name).subarray(r0 * rowBytes, r1 * rowBytes);
      if (into && into.length >= bytes.length) { into.set(bytes); return into.subarray(0, bytes.length); }
      return bytes.slice();
    },
    close: async () => {},
  };
}

/** The info of `name`, or NOT_FOUND listing a few names the source does hold. */
export function sourceTensor(source: Pick<TensorSource, "tensors" | "label">, name: string): SourceTensor {
  const t = source.tensors.find((x) => x.name === name);
  if (!t) {
    const some = source.tensors.slice(0, 6).map((x) => x.name).join(", ");
    throw new QuantLabError("NOT_FOUND", `${source.label} has no tensor '${name}': it holds ${source.tensors.length} tensors (${some}${source.tensors.length > 6 ? ", …" : ""})`);
  }
  return t;
}

/** A tensor's values as FP32 (dequantized as llama.cpp does), converted from its stored type. */
export async function readF32(source: TensorSource, name: string): Promise<Float32Array> {
  const t = sourceTensor(source, name);
  const type = decodableType(t.type.name);
  check(type, "UNSUPPORTED", () =>
    `tensor '${name}' of ${source.label} is ${t.type.name}, which QuantLab cannot decode: it decodes ${decodableTypeList()}`);
  return dequantize(type.name, await source.read(name), tensorElements(t.dims));
}
