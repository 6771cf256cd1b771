/**
 * `quantlab hf inspect DIR`: a Hugging Face GPTQ or AWQ checkpoint folder from the command line — its
 * quantization_config, every linear and tensor as stored, the float16 linears and why, as text or --json.
 */
import { statSync } from "node:fs";
import { parse, printJson } from "../args.js";
import { QuantLabError } from "../../errors.js";
import { formatHfInspection, inspectHfQuantized } from "../../model/formats/hf-inspect.js";
import { readHfQuantized } from "../../model/formats/hf-quantized.js";
import { checkInput } from "../paths.js";

export const summary = "Hugging Face GPTQ/AWQ checkpoint folders: inspect (method, bits, groups, each linear as stored)";

const USAGE = `usage: quantlab hf inspect FOLDER [--json]
  inspect   a GPTQ (checkpoint_format "gptq") or AWQ (AutoAWQ GEMM) folder: quantization_config's method,
            bits, group size, desc_act and zero point; each linear (bits, group size, act-order, stored
            qweight/qzeros/scales/g_idx shapes, bytes, bits per weight) and each other tensor as stored;
            the linears kept float16 and why; totals. The folder is read whole (it is dequantized to check it).`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "inspect") return inspect(rest);
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new QuantLabError("BAD_ARGUMENT", `unknown subcommand '${sub}': use inspect (quantlab hf --help)`);
}

async function inspect(argv: string[]): Promise<number> {
  const p = parse("hf inspect", argv, { json: { type: "boolean" } }, USAGE);
  if (!p) return 0;
  if (p.positionals.length !== 1) throw new QuantLabError("BAD_ARGUMENT", `hf inspect takes one FOLDER, got ${p.positionals.length}: quantlab hf inspect out/model-gptq`);
  const dir = p.positionals[0]!;
  checkInput("FOLDER", dir, { folderOk: true });
  if (!statSync(dir).isDirectory()) {
    throw new QuantLabError("BAD_ARGUMENT", `${dir} is a file, not a checkpoint folder: give the folder holding config.json${dir.endsWith(".gguf") ? " (for a GGUF file use quantlab gguf inspect)" : ""}`);
  }
  const r = inspectHfQuantized(await readHfQuantized(dir), dir);
  if (p.values.json) printJson(r);
  else console.log(formatHfInspection(r));
  return 0;
}
