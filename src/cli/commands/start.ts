import { explain } from "../../numerics/explain.js";
import { ruler } from "../../numerics/ruler.js";

export const summary = "the main job: run the companion example end to end and say where its outputs are";

/** The course's worked example of the ruler (until the companion notebook runs here). */
export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log("usage: quantlab start   (npm start)");
    return 0;
  }
  const row = [0.1, -0.3, 0.7, -1.0, 0.5];
  const r = ruler({ bits: 8, scheme: "asymmetric" });
  const q = r.quantize(row);
  console.log("QuantLab: the ruler, worked by hand (INT8, asymmetric min-max)\n");
  console.log(`row = [${row.join(", ")}]\n`);
  console.log(explain(r, row, 0).steps.join("\n"));
  console.log(`\ncodes       = [${Array.from(q.codes).join(", ")}]`);
  console.log(`dequantized = [${Array.from(q.dequantized, (v) => Number(v.toFixed(6))).join(", ")}]`);
  console.log(`worst error = scale / 2 = ${q.report.bound.toFixed(5)}`);
  return 0;
}
