/**
 * llama.cpp's own whole-model quantizer for the tests: `llama_model_quantize` from the devDependency's
 * libllama (the exact llama.cpp node-llama-cpp ships), called through koffi.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { tensorBytes, writeGguf, type GgufFile } from "../../src/gguf/file.js";
import { LIBLLAMA, LLAMA_BINS, REPO_ROOT } from "../helpers/shared.js";

/** llama_model_quantize_params' overrides, with ggml type ids. */
export interface LlamaQuantizeOverrides {
  outputTensorType?: number;
  tokenEmbeddingType?: number;
  pure?: boolean;
  /** tt_overrides: [regex, ggml type id], in order. */
  tensorTypes?: [pattern: string, type: number][];
}

/**
 * Runs llama_model_quantize(in, out, ftype) single-threaded for each job in one child process (its logs
 * stay there, and its copy of ggml does not meet node-llama-cpp's in this one). The params struct is
 * llama.h's llama_model_quantize_params of that build, from llama_model_quantize_default_params().
 * With `imatrixJson` (a JSON file of { tensorName: weights[] }), params.imatrix is those weights as a
 * NULL-terminated llama_model_imatrix_data array. A job's overrides set the params' output_tensor_type,
 * token_embedding_type, pure and tt_overrides (a NULL-terminated llama_model_tensor_override array).
 */
export function llamaQuantize(input: string, jobs: [output: string, ftype: number, overrides?: LlamaQuantizeOverrides][], imatrixJson = ""): void {
  const script = `
    const koffi = require("koffi");
    const fs = require("fs");
    const [bins, lib, input, jobs, imPath] = process.argv.slice(1);
    const keep = [];
    const ggml = koffi.load(bins + "/libggml.v0.4.0.so");
    const llama = koffi.load(lib);
    koffi.struct("llama_model_quantize_params", {
      nthread: "int32", ftype: "int", output_tensor_type: "int", token_embedding_type: "int",
      allow_requantize: "bool", quantize_output_tensor: "bool", only_copy: "bool", pure: "bool", keep_split: "bool", dry_run: "bool",
      imatrix: "void*", kv_overrides: "void*", tt_overrides: "void*", prune_layers: "void*", max_buf_size: "size_t",
    });
    const TtOverride = koffi.struct("llama_model_tensor_override", { pattern: "void*", type: "int" });
    const cstr = (text) => {
      const bytes = Buffer.from(text + "\\0");
      const p = koffi.alloc("uint8", bytes.length); koffi.encode(p, "uint8", Array.from(bytes), bytes.length);
      keep.push(p);
      return p;
    };
    const ImData = koffi.struct("llama_model_imatrix_data", { name: "void*", data: "void*", size: "size_t" });
    ggml.func("void ggml_backend_load_all_from_path(const char*)")(bins);
    llama.func("void llama_backend_init()")();
    let imatrix = null;
    if (imPath) {
      const rows = Object.entries(JSON.parse(fs.readFileSync(imPath, "utf8"))).map(([name, values]) => {
        const nameBytes = Buffer.from(name + "\\0");
        const np = koffi.alloc("uint8", nameBytes.length); koffi.encode(np, "uint8", Array.from(nameBytes), nameBytes.length);
        const dp = koffi.alloc("float", values.length); koffi.encode(dp, "float", values, values.length);
        keep.push(np, dp);
        return { name: np, data: dp, size: values.length };
      });
      rows.push({ name: null, data: null, size: 0 });
      imatrix = koffi.alloc(ImData, rows.length);
      koffi.encode(imatrix, ImData, rows, rows.length);
    }
    const defaults = llama.func("llama_model_quantize_params llama_model_quantize_default_params()");
    const quantize = llama.func("uint32 llama_model_quantize(const char*, const char*, const llama_model_quantize_params*)");
    for (const [output, ftype, o = {}] of JSON.parse(jobs)) {
      const p = defaults();
      p.ftype = ftype; p.nthread = 1;
      if (imatrix) p.imatrix = imatrix;
      if (o.outputTensorType !== undefined) p.output_tensor_type = o.outputTensorType;
      if (o.tokenEmbeddingType !== undefined) p.token_embedding_type = o.tokenEmbeddingType;
      if (o.pure) p.pure = true;
      if (o.tensorTypes) {
        const rows = o.tensorTypes.map(([pattern, type]) => ({ pattern: cstr(pattern), type }));
        rows.push({ pattern: null, type: 0 });
        const tt = koffi.alloc(TtOverride, rows.length);
        koffi.encode(tt, TtOverride, rows, rows.length);
        keep.push(tt);
        p.tt_overrides = tt;
      }
      if (quantize(input, output, p) !== 0) process.exit(1);
    }
  `;
  const r = spawnSync(process.execPath, ["-e", script, LLAMA_BINS, LIBLLAMA, input, JSON.stringify(jobs), imatrixJson],
    { cwd: REPO_ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `llama_model_quantize failed:\n${r.stderr.slice(-2000)}`);
}

/** Re-writes a parsed file as GGUF v3 (llama.cpp no longer reads v1), tensors in the given order. */
export async function writeV3(file: GgufFile, path: string, order = file.tensors): Promise<void> {
  await writeGguf(path, {
    metadata: file.metadata,
    tensors: order.map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: tensorBytes(file, t.name) })),
  });
}
