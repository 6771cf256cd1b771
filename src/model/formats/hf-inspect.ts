/**
 * `inspectHfQuantized(ck, folder)`: what a Hugging Face GPTQ or AWQ checkpoint folder holds, as `quantlab
 * hf inspect` prints it and as JSON — the quantization_config's method, bits, group size, desc_act and
 * zero point; every linear and tensor as stored (hfQuantizedListing); the float16 linears the
 * quantizer skipped, and why; the totals and bits per weight.
 */
import { hfQuantizedListing, type HfListingRow, type HfQuantizedCheckpoint, type HfQuantMethod } from "./hf-quantized.js";

export interface HfInspection {
  folder: string;
  method: HfQuantMethod;
  bits: number;
  /** quantization_config's group size (−1: one group per row). */
  groupSize: number;
  /** quantization_config's desc_act (GPTQ's act-order); false for AWQ. */
  descAct: boolean;
  zeroPoint: "asymmetric" | "symmetric";
  /** Every linear and tensor, in file order. */
  tensors: HfListingRow[];
  quantizedLinears: number;
  /** The Llama linears kept in float16, with the reason. */
  skipped: { name: string; reason: string }[];
  totalBytes: number;
  totalWeights: number;
  /** Tensor bytes × 8 over all weights. */
  bitsPerWeight: number;
  /** The same over the integer linears alone (codes, zero points, scales, g_idx). */
  quantizedBitsPerWeight: number;
}

const weights = (r: HfListingRow): number => r.shape.reduce((a, b) => a * b, 1);

export function inspectHfQuantized(ck: HfQuantizedCheckpoint, folder: string): HfInspection {
  const q = ck.config.quantization_config;
  const tensors = hfQuantizedListing(ck);
  const quantized = tensors.filter((r) => r.method);
  const sum = (rows: HfListingRow[], f: (r: HfListingRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const totalBytes = sum(tensors, (r) => r.bytes), totalWeights = sum(tensors, weights);
  const qBytes = sum(quantized, (r) => r.bytes), qWeights = sum(quantized, weights);
  return {
    folder, method: ck.method,
    bits: Number(q.bits ?? q.w_bit), groupSize: Number(q.group_size ?? q.q_group_size),
    descAct: ck.method === "gptq" && q.desc_act === true,
    zeroPoint: ck.method === "gptq" && q.sym === true ? "symmetric" : "asymmetric",
    tensors, quantizedLinears: quantized.length,
    skipped: tensors.filter((r) => r.skipped).map((r) => ({ name: r.name.replace(/\.weight$/, ""), reason: r.skipped! })),
    totalBytes, totalWeights,
    bitsPerWeight: totalWeights ? (totalBytes * 8) / totalWeights : 0,
    quantizedBitsPerWeight: qWeights ? (qBytes * 8) / qWeights : 0,
  };
}

/** The plain-text report (what `quantlab hf inspect` prints). */
export function formatHfInspection(r: HfInspection): string {
  const lines = [
    `Hugging Face ${r.method.toUpperCase()} checkpoint ${r.folder}: int${r.bits}, group size ${r.groupSize}, ` +
      `desc_act ${r.descAct}, zero point ${r.zeroPoint}`,
    `${r.quantizedLinears} quantized linears, ${r.skipped.length} linear${r.skipped.length === 1 ? "" : "s"} kept float16, ${r.tensors.length} entries: ` +
      `${r.totalBytes} bytes, ${r.totalWeights} weights, ${r.bitsPerWeight.toFixed(3)} bits/weight (quantized linears ${r.quantizedBitsPerWeight.toFixed(3)})`,
  ];
  if (r.skipped.length) {
    lines.push("", "skipped (float16):");
    const w = Math.max(...r.skipped.map((s) => s.name.length));
    for (const s of r.skipped) lines.push(`  ${s.name.padEnd(w)}  ${s.reason}`);
  }
  lines.push("", "tensors:");
  const rows = r.tensors.map((t) => [
    t.name, t.stored, `[${t.shape.join(", ")}]`, String(t.bytes), String(+t.bitsPerWeight.toFixed(4)),
    t.method ? t.tensors.map((s) => `${s.name.slice(t.name.length + 1)} ${s.dtype} [${s.shape.join(", ")}]`).join(", ") : t.skipped ? "skipped" : "",
  ]);
  const head = ["name", "stored", "shape", "bytes", "bits/w", "stored tensors"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  for (const row of [head, ...rows]) lines.push("  " + row.map((c, i) => (i === 3 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd());
  return lines.join("\n");
}
