/**
 * `node --import tsx scripts/derive-iq-grids.ts`: writes src/gguf/blocks/iq-grids.ts, ggml's lattice grids
 * for the IQ1/IQ2/IQ3 i-quants, read back from ggml's own decoders — llama.cpp's libggml-base.so (the
 * devDependency the bit-exactness tests load through koffi, test/gguf/oracle.ts). No table is copied: for
 * each grid the script crafts blocks with d = 1, every sub-block scale and sign bit 0 (so one known
 * multiplier, all signs positive) and one grid index per group, calls dequantize_row_<type>, and divides
 * the multiplier back out. `--check` writes nothing and exits 1 when the committed module differs.
 * The test test/gguf/quants-iq-decode.test.ts re-derives the grids the same way and compares.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { indexBits, packIndices } from "../src/gguf/blocks/lattice.js";
import { decodableType, type DecodeOnlyTypeName } from "../src/gguf/types.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const GRIDS_MODULE = join(root, "src/gguf/blocks/iq-grids.ts");

/** A decoder to read grids from: dequantize_row_<type> over n values. */
export type RowDecoder = (type: DecodeOnlyTypeName, bytes: Uint8Array, n: number) => Float32Array;

/** How to read one grid through one type's decoder. */
interface GridProbe {
  /** The grid's name in ggml-common.h, and the constant iq-grids.ts exports it as. */
  name: string;
  exportName: string;
  type: DecodeOnlyTypeName;
  points: number;
  width: number;
  /** Grid indices one block holds (each decodes to `width` consecutive weights). */
  perBlock: number;
  /** Writes grid index `idx` into group `k` of a zeroed block (d already 1). */
  place(b: Uint8Array, k: number, idx: number): void;
  /** A decoded weight back to its grid value: the crafted blocks' multiplier and offset undone. */
  value(y: number): number;
}

const PROBES: GridProbe[] = [
  {
    // x = d·(0.5 + s)·0.25·grid·sign: s = 0 → 1/8; group k's index is byte k%4 of its sub-block's first u32
    name: "iq2xxs_grid", exportName: "IQ2XXS_GRID", type: "IQ2_XXS", points: 256, width: 8, perBlock: 32,
    place: (b, k, idx) => { b[2 + 8 * (k >> 2) + (k & 3)] = idx; },
    value: (y) => y * 8,
  },
  {
    // qs[k] = 9-bit index | 7 sign bits << 9; scales 0 → 1/8
    name: "iq2xs_grid", exportName: "IQ2XS_GRID", type: "IQ2_XS", points: 512, width: 8, perBlock: 32,
    place: (b, k, idx) => { b[2 + 2 * k] = idx & 0xff; b[3 + 2 * k] = idx >> 8; },
    value: (y) => y * 8,
  },
  {
    // qs[k] the low 8 bits, qh[k/4] bits 2(k%4)… the top 2; signs (qs[32…]) and scales 0 → 1/8
    name: "iq2s_grid", exportName: "IQ2S_GRID", type: "IQ2_S", points: 1024, width: 8, perBlock: 32,
    place: (b, k, idx) => { b[2 + k] = idx & 0xff; b[66 + (k >> 2)]! |= (idx >> 8) << (2 * (k & 3)); },
    value: (y) => y * 8,
  },
  {
    // qs[k] names 4 weights; scales-and-signs 0 → d·0.5·0.5 = 1/4
    name: "iq3xxs_grid", exportName: "IQ3XXS_GRID", type: "IQ3_XXS", points: 256, width: 4, perBlock: 64,
    place: (b, k, idx) => { b[2 + k] = idx; },
    value: (y) => y * 4,
  },
  {
    // qs[k] the low 8 bits, bit k%8 of qh[k/8] the 9th; scales 0 → d·(1 + 0) = 1
    name: "iq3s_grid", exportName: "IQ3S_GRID", type: "IQ3_S", points: 512, width: 4, perBlock: 64,
    place: (b, k, idx) => { b[2 + k] = idx & 0xff; b[66 + (k >> 3)]! |= (idx >> 8) << (k & 7); },
    value: (y) => y,
  },
  {
    // x = d·(2s + 1)·(grid + delta): qh[k/4] bits 3(k%4)… the top 3 index bits, s = 0, delta +1/8
    name: "iq1s_grid", exportName: "IQ1S_GRID", type: "IQ1_S", points: 2048, width: 8, perBlock: 32,
    place: (b, k, idx) => { b[2 + k] = idx & 0xff; const o = 34 + 2 * (k >> 2); const h = (b[o]! | (b[o + 1]! << 8)) | ((idx >> 8) << (3 * (k & 3))); b[o] = h & 0xff; b[o + 1] = h >> 8; },
    value: (y) => y - 0.125,
  },
];

export interface DerivedGrid {
  name: string;
  exportName: string;
  points: number;
  width: number;
  /** Point p's value j at [p · width + j]. */
  table: Int16Array;
}

/** Reads every grid back through `decode` (the oracle's dequantize_row_<type>). */
export function deriveIqGrids(decode: RowDecoder): DerivedGrid[] {
  return PROBES.map((p) => {
    const t = decodableType(p.type)!;
    const blocks = p.points / p.perBlock;
    const bytes = new Uint8Array(blocks * t.typeSize);
    for (let i = 0; i < blocks; i++) {
      const b = bytes.subarray(i * t.typeSize, (i + 1) * t.typeSize);
      if (p.type !== "IQ1_M") b[1] = 0x3c; // fp16 1.0 in the block's leading d
      for (let k = 0; k < p.perBlock; k++) p.place(b, k, i * p.perBlock + k);
    }
    const y = decode(p.type, bytes, blocks * t.blockSize);
    const table = new Int16Array(p.points * p.width);
    // group k of block i decodes to width consecutive weights at (i·perBlock + k)·width: the point's values in order
    for (let i = 0; i < table.length; i++) {
      const v = p.value(y[i]!);
      if (!Number.isInteger(v) || v < -128 || v > 255) throw new Error(`${p.name}[${Math.floor(i / p.width)}] value ${i % p.width} reads back as ${v}, not a byte: the block layout assumed here is wrong`);
      table[i] = v;
    }
    return { name: p.name, exportName: p.exportName, points: p.points, width: p.width, table };
  });
}

/** The source text of iq-grids.ts for `grids`. */
export function gridsModule(grids: readonly DerivedGrid[]): string {
  const out = [
    "/**",
    " * GENERATED by scripts/derive-iq-grids.ts — do not edit: rerun `node --import tsx scripts/derive-iq-grids.ts`.",
    " *",
    " * ggml's lattice grids for the IQ1/IQ2/IQ3 i-quants (ggml-common.h's iq2xxs_grid … iq1s_grid), read back",
    " * point by point from ggml's own decoders (dequantize_row_<type> in llama.cpp's libggml-base.so) on crafted",
    " * blocks. ggml is MIT-licensed, © the ggml authors. Each grid's values come from a tiny set; each value is",
    " * stored as its index into that set (see PackedGrid in ./lattice.ts).",
    " */",
    'import type { PackedGrid } from "./lattice.js";',
    "",
  ];
  for (const g of grids) {
    const values = [...new Set(g.table)].sort((a, b) => a - b);
    const index = new Map(values.map((v, i) => [v, i]));
    const packed = packIndices(Array.from(g.table, (v) => index.get(v)!), indexBits(values.length));
    const lines: string[] = [];
    for (let i = 0; i < packed.length; i += 100) lines.push(JSON.stringify(packed.slice(i, i + 100)));
    out.push(`/** ${g.name}: ${g.points} points of ${g.width}. */`,
      `export const ${g.exportName}: PackedGrid = {`,
      `  values: [${values.join(", ")}], width: ${g.width}, points: ${g.points},`,
      `  packed:\n    ${lines.join(" +\n    ")},`,
      "};", "");
  }
  return out.join("\n");
}

async function main(): Promise<number> {
  const { loadOracle, oracleMissing } = await import("../test/gguf/oracle.js");
  const oracle = loadOracle();
  if (!oracle) {
    console.error(`derive-iq-grids: ${oracleMissing}`);
    return 1;
  }
  const text = gridsModule(deriveIqGrids((type, bytes, n) => oracle.dequantize(type, bytes, n)));
  if (process.argv.includes("--check")) {
    const same = readFileSync(GRIDS_MODULE, "utf8") === text;
    console.log(same ? "iq-grids.ts is up to date" : "iq-grids.ts differs from what ggml's decoders give: rerun without --check");
    return same ? 0 : 1;
  }
  writeFileSync(GRIDS_MODULE, text);
  console.log(`wrote ${GRIDS_MODULE}`);
  return 0;
}

if (process.argv[1]?.endsWith("derive-iq-grids.ts")) process.exitCode = await main();
