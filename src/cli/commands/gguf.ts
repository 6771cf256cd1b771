/**
 * `quantlab gguf inspect|quantize|dequantize`: the GGUF container from the command line — what a file
 * holds, a whole model re-quantized by a llama.cpp type mix (the per-tensor plan printed before anything
 * is written), and one tensor decoded to FP32 safetensors.
 */
import { parse, printJson, str } from "../args.js";
import { QuantLabError } from "../../errors.js";
import { openGguf, readGgufHeader, tensorElements } from "../../gguf/file.js";
import { formatInspection, inspectGguf, metadataLines } from "../../gguf/inspect.js";
import { MIXES, mixByName, mixTable, overridesFromFlags, type MixPlan } from "../../gguf/mix.js";
import { quantizeTensorSource, quantizeTensorSourceToFile, readImatrix } from "../../gguf/model-quantize.js";
import { readF32 } from "../../gguf/source.js";
import { writeSafetensors } from "../../io/safetensors.js";
import { openModelSource } from "../../model/formats/source.js";
import { checkInput, checkOutput } from "../paths.js";

export const summary = "GGUF files: inspect, quantize a model by a llama.cpp mix (Q4_K_M …), dequantize a tensor";

const MIX_LIST = Object.keys(MIXES).join("|");

const USAGE = `usage: quantlab gguf inspect FILE.gguf [--json]
       quantlab gguf quantize --type ${MIX_LIST}
                              --in MODEL.gguf|HF_FOLDER|MODEL.safetensors --out OUT.gguf [--imatrix FILE] [--allow-requantize] [--dry-run] [--force] [--max-memory 8G] [--json]
                              [--output-tensor-type TYPE] [--token-embedding-type TYPE] [--pure] [--tensor-type NAME=TYPE]...
       quantlab gguf dequantize --in FILE.gguf --tensor NAME --out T.safetensors [--force] [--json]
  inspect     metadata, tensors (type, dims in ggml order, bytes, bits/weight) and totals.
  quantize    chooses each tensor's type as llama.cpp's llama-quantize does for the mix, prints that table,
              then writes GGUF v3 (general.file_type and general.quantization_version = 2 set). A folder or
              .safetensors input is a Hugging Face Llama checkpoint (config.json beside it, shards listed
              in model.safetensors.index.json); inputs are read tensor by tensor, never whole. --imatrix takes
              llama-imatrix's output (GGUF or legacy .dat) and weights the rounding as llama-quantize does.
              The overrides act as llama-quantize's: --output-tensor-type and --token-embedding-type set those
              tensors' types as given; --tensor-type NAME=TYPE (repeatable; NAME a regular expression searched in
              tensor names, the first match wins) replaces the mix's rule, then the row-length fallback applies;
              --pure gives every other weight the mix's base type.
              Tensors are read, encoded and written a block of rows at a time (≤ 64 MiB of FP32), so memory
              does not grow with the model or its largest tensor; the memory estimate is printed (stderr) first
              and the job refused when it exceeds --max-memory (default: the machine's free memory).
  dequantize  decodes one tensor to F32, stored as [rows, row length] (dims reversed, PyTorch order).
  --force     lets --out replace a file that is also an input (refused otherwise).`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "inspect") return inspect(rest);
  if (sub === "quantize") return quantizeCmd(rest);
  if (sub === "dequantize") return dequantizeCmd(rest);
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new QuantLabError("BAD_ARGUMENT", `unknown subcommand '${sub}': use inspect, quantize or dequantize (quantlab gguf --help)`);
}

function need(v: string | undefined, name: string, sub: string): string {
  if (v === undefined) throw new QuantLabError("BAD_ARGUMENT", `--${name} is required: run 'quantlab gguf ${sub} --help'`);
  return v;
}

async function inspect(argv: string[]): Promise<number> {
  const p = parse("gguf inspect", argv, { json: { type: "boolean" } }, USAGE);
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new QuantLabError("BAD_ARGUMENT", `gguf inspect takes one FILE.gguf, got ${p.positionals.length}: quantlab gguf inspect model.gguf`);
  checkInput("FILE", p.positionals[0]!);
  // the header alone: inspecting a 40 GB model reads kilobytes
  const file = await readGgufHeader(p.positionals[0]!);
  const r = inspectGguf(file);
  if (p.values.json) printJson(r);
  else console.log(formatInspection(r, metadataLines(file)));
  return 0;
}

async function quantizeCmd(argv: string[]): Promise<number> {
  const p = parse("gguf quantize", argv, {
    type: { type: "string" }, in: { type: "string" }, out: { type: "string" },
    "allow-requantize": { type: "boolean" }, "dry-run": { type: "boolean" }, json: { type: "boolean" }, imatrix: { type: "string" },
    "output-tensor-type": { type: "string" }, "token-embedding-type": { type: "string" }, pure: { type: "boolean" },
    "tensor-type": { type: "string", multiple: true },
    force: { type: "boolean" },
    "max-memory": { type: "string" },
  }, USAGE);
  if (!p) return 0;
  const mix = mixByName(need(str(p, "type"), "type", "quantize"));
  const overrides = overridesFromFlags({
    outputTensorType: str(p, "output-tensor-type"), tokenEmbeddingType: str(p, "token-embedding-type"),
    pure: p.values.pure === true, tensorTypes: p.values["tensor-type"] as string[] | undefined,
  });
  const input = need(str(p, "in"), "in", "quantize");
  const dry = p.values["dry-run"] === true;
  const out = dry ? str(p, "out") : need(str(p, "out"), "out", "quantize");
  if (out !== undefined && !out.endsWith(".gguf")) throw new QuantLabError("BAD_ARGUMENT", `--out ${out} must name a .gguf file`);
  checkInput("--in", input, { folderOk: true });
  const imPath = str(p, "imatrix");
  if (imPath !== undefined) checkInput("--imatrix", imPath);
  if (out !== undefined && !dry) checkOutput("--out", out, { inputs: [input, ...(imPath ? [imPath] : [])], force: p.values.force === true });
  const source = await openModelSource(input);
  const t0 = performance.now();
  let plan;
  try {
    const im = str(p, "imatrix");
    const imatrices = im === undefined ? undefined : await readImatrix(im);
    const options = { ...overrides, allowRequantize: p.values["allow-requantize"] === true, ...(imatrices ? { imatrices } : {}) };
    const { checkFits, describeEstimate, estimateGgufQuantize, memoryBudget } = await import("../../model/formats/memory.js");
    const budget = memoryBudget(str(p, "max-memory"));
    const fits = (pl: MixPlan, inMemory: boolean) => {
      const e = estimateGgufQuantize(source.tensors, pl.choices.map((c) => c.bytes), { byRows: source.readRows !== undefined });
      if (inMemory) e.total += pl.totalBytes - e.output;
      checkFits(e, budget, "quantize on a machine with more free memory, or raise --max-memory if the estimate is too cautious");
      console.error(`memory: ${describeEstimate(e, budget)}`);
    };
    if (out !== undefined && !dry) {
      // streamed: the plan is printed first, then each tensor is written as it is encoded
      const { Progress } = await import("../progress.js");
      let progress: InstanceType<typeof Progress> | undefined;
      plan = await quantizeTensorSourceToFile(source, mix, out, {
        ...options,
        onPlan: (pl) => {
          fits(pl, false);
          if (!p.values.json) console.log(mixTable(pl));
          progress = new Progress("gguf quantize", pl.choices.length, { unit: "tensors", rateUnit: "B", totalAmount: source.tensors.reduce((a, t) => a + t.nbytes, 0) });
        },
        onTensor: (done, _total, t) => progress?.tick(done, t.nbytes),
      });
    } else {
      plan = (await quantizeTensorSource(source, mix, { ...options, onPlan: (pl) => fits(pl, true) })).plan;
      if (!p.values.json) console.log(mixTable(plan));
    }
  } finally {
    await source.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (p.values.json) {
    printJson({
      mix: plan.mix, ftype: plan.ftype, in: input, out: dry ? null : out, written: !dry,
      tensors: plan.choices, totalBytes: plan.totalBytes, bitsPerWeight: plan.bitsPerWeight, fallbacks: plan.fallbacks, seconds,
    });
  } else if (!dry) {
    console.log(`wrote ${out} (${plan.totalBytes} bytes of tensors, ${plan.bitsPerWeight.toFixed(3)} bits/weight) in ${seconds.toFixed(2)} s`);
  }
  return 0;
}

async function dequantizeCmd(argv: string[]): Promise<number> {
  const p = parse("gguf dequantize", argv, {
    in: { type: "string" }, tensor: { type: "string" }, out: { type: "string" }, json: { type: "boolean" }, force: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const input = need(str(p, "in"), "in", "dequantize");
  const name = need(str(p, "tensor"), "tensor", "dequantize");
  const out = need(str(p, "out"), "out", "dequantize");
  checkInput("--in", input);
  checkOutput("--out", out, { inputs: [input], force: p.values.force === true });
    // one tensor read by its offset: the rest of the file is never loaded
  const source = await openGguf(input);
  let data: Float32Array;
  try {
    data = await readF32(source, name);
  } finally {
    await source.close();
  }
  const info = source.tensors.find((t) => t.name === name)!;
  const shape = [...info.dims].reverse();
  await writeSafetensors(out, { [name]: { dtype: "F32", shape, data } }, { source: input, gguf_type: info.type.name });
  if (p.values.json) printJson({ tensor: name, type: info.type.name, dims: info.dims, shape, elements: tensorElements(info.dims), out });
  else console.log(`wrote ${out}: ${name} (${info.type.name} [${info.dims.join(", ")}]) as F32 [${shape.join(", ")}]`);
  return 0;
}
