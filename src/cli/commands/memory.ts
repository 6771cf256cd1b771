import { parse, num, str, printJson } from "../args.js";
import { weightMemory, bytesText } from "../../numerics/memory.js";

export const summary = "bytes to store N weights in a format, with scale and zero-point overhead";

const USAGE = `usage: quantlab memory --params 7e9 [--format fp16|bf16|fp8-e4m3|int8|int4|nf4|mxfp4 …]
                       [--group-size 128|channel|tensor] [--symmetric] [--json]
  --json prints {"bytes","bitsPerParam","format","params"}.
  example: quantlab memory --params 7e9 --format int4 --group-size 128   (4 + (16 + 4)/128 = 4.156 bits)`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("memory", argv, {
    params: { type: "string" }, format: { type: "string" }, "group-size": { type: "string" },
    symmetric: { type: "boolean" }, json: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const g = str(p, "group-size");
  const m = weightMemory({
    params: num("params", str(p, "params")),
    format: str(p, "format") ?? "fp16",
    ...(g === undefined ? {} : { groupSize: g === "channel" || g === "tensor" ? g : num("group-size", g) }),
    scheme: p.values.symmetric === true ? "symmetric" : "asymmetric",
  });
  if (p.values.json) printJson({ bytes: m.bytes, bitsPerParam: m.bitsPerParam, format: m.format, params: m.params });
  else console.log(`${m.params.toExponential(2)} parameters in ${m.format}: ${m.bitsPerParam.toPrecision(5)} bits each = ${bytesText(m.bytes)}`);
  return 0;
}
