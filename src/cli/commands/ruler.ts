import { parse, num, str, printJson } from "../args.js";
import { explain } from "../../numerics/explain.js";
import { ruler } from "../../numerics/ruler.js";
import { describeSpec, type Scheme, type Convention } from "../../numerics/spec.js";
import { QuantLabError } from "../../errors.js";

export const summary = "quantize a row by hand and show the arithmetic (scale, zero point, codes, error)";

const USAGE = `usage: quantlab ruler [--bits 8] [--scheme asymmetric|symmetric] [--convention course|zero-point|gptq|awq]
                      [--format int|nf4|fp4-e2m1|fp8-e4m3 …] [--json] -- X1 X2 …
  Quantizes the values as one group. Without --json prints the worked example; with --json one object:
  {"scale","min","max","zeroPoint","codes","dequantized","mse","maxError"}.
  example: quantlab ruler --bits 8 --scheme asymmetric -- 0.10 -0.30 0.70 -1.00 0.50`;

export async function run(argv: string[]): Promise<number> {
  const p = parse("ruler", argv, {
    bits: { type: "string" }, scheme: { type: "string" }, convention: { type: "string" },
    format: { type: "string" }, json: { type: "boolean" },
  }, USAGE);
  if (!p) return 0;
  const values = p.positionals.map((s) => {
    const v = Number(s);
    if (s.trim() === "" || Number.isNaN(v)) throw new QuantLabError("BAD_VALUE", `'${s}' is not a number: give the row as numbers after --, e.g. -- 0.1 -0.3 0.7`);
    return v;
  });
  if (values.length === 0) throw new QuantLabError("BAD_VALUE", "no values given: put the row after --, e.g. quantlab ruler --bits 8 -- 0.1 -0.3 0.7");
  const format = str(p, "format");
  const r = ruler({
    bits: num("bits", str(p, "bits"), 8),
    scheme: str(p, "scheme") as Scheme | undefined,
    convention: str(p, "convention") as Convention | undefined,
    ...(format ? { format: format as never } : {}),
  });
  const fit = r.fit(values);
  const q = r.quantize(values);
  if (p.values.json) {
    printJson({
      scale: fit.scale, min: fit.min, max: fit.max, zeroPoint: fit.zero,
      codes: Array.from(q.codes), dequantized: Array.from(q.dequantized),
      mse: q.report.mse, maxError: q.report.maxError,
    });
    return 0;
  }
  console.log(`${describeSpec(r.spec)} on [${values.join(", ")}]\n`);
  for (let i = 0; i < values.length; i++) {
    if (i > 0) console.log("");
    console.log(explain(r, values, i).steps.join("\n"));
  }
  console.log(`\ncodes        ${Array.from(q.codes).join(", ")}`);
  console.log(`dequantized  ${Array.from(q.dequantized, (v) => Number(v.toPrecision(6))).join(", ")}`);
  console.log(`MSE ${q.report.mse.toExponential(3)}, max error ${q.report.maxError.toExponential(3)}` +
    (Number.isNaN(q.report.bound) ? "" : ` (bound scale/2 = ${q.report.bound.toPrecision(5)})`));
  return 0;
}
