/**
 * `inspectGguf(file)`: what a GGUF file holds, as a notebook table and as JSON — metadata (long arrays
 * summarised), every tensor with its type, shape, bytes and bits per weight, and the totals by type.
 */
import { escapeHtml, keyValueBundle, tableBundle, withDisplay } from "../numerics/present.js";
import { tensorElements, type GgufArray, type GgufFile, type GgufValue } from "./file.js";
import { decodableType, ggufType } from "./types.js";

export interface GgufTensorSummary {
  name: string;
  type: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  elements: number;
  bytes: number;
  bitsPerWeight: number;
  /** Absolute byte offset in the file. */
  offset: number;
  /** Whether QuantLab can dequantize it, bit-exact with llama.cpp (false: sized and listed only, e.g. Q8_K, I32). */
  decodable: boolean;
  /** Whether QuantLab can also encode its type (false for the decode-only IQ1/IQ2/IQ3 i-quants). */
  encodable: boolean;
}

/**
 * `s` safe to print on a terminal or in a page: control characters (C0, DEL, C1 — ESC starts a
 * terminal escape sequence, so a tensor name could otherwise retitle the window or rewrite the screen)
 * and the bidirectional overrides that reorder text are shown as \xNN / \u{NNNN} escapes, and so is
 * the backslash that would make those ambiguous. A file's names and strings go through it in every
 * human-readable output.
 */
export function printable(s: string, opts: { json?: boolean } = {}): string {
  // JSON text already escapes C0 controls and backslashes: only what it leaves raw is escaped there
  const re = opts.json ? /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g : /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  return s.replace(re, (c) => {
    if (c === "\\") return "\\\\";
    const n = c.codePointAt(0)!;
    if (opts.json) return `\\u${n.toString(16).padStart(4, "0")}`;
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u{${n.toString(16)}}`;
  });
}

/** What a GGUF file holds, JSON-safe: metadata, tensors with types and sizes, totals by type. */
export interface GgufInspection {
  version: number;
  alignment: number;
  dataOffset: number;
  fileBytes: number;
  architecture: string | null;
  /** Metadata as JSON-safe values: bigints as decimal strings, arrays longer than 16 summarised. */
  metadata: Record<string, { type: string; value: unknown }>;
  tensors: GgufTensorSummary[];
  /** Per type: how many tensors, elements and bytes. */
  byType: Record<string, { tensors: number; elements: number; bytes: number }>;
  totalElements: number;
  totalBytes: number;
  /** Tensor bytes × 8 over all elements. */
  bitsPerWeight: number;
  /** Types present whose block code QuantLab lacks (sized and listed, not dequantized), e.g. Q8_K. */
  undecodable: string[];
  /** The tensors of those types, by name: what dequantize, eval and requantize refuse. */
  undecodableTensors: string[];
  /** Types present that QuantLab decodes bit-exact but cannot encode (the IQ1/IQ2/IQ3 lattice i-quants). */
  decodeOnly: string[];
}

const NAMES_SHOWN = 6;

/**
 * The line that says which tensors QuantLab sizes but cannot decode (types it has no block code for,
 * such as Q8_K or the integer types): dequantize, eval and requantize refuse them.
 */
export function undecodableLine(r: Pick<GgufInspection, "undecodable" | "undecodableTensors">): string | null {
  const names = r.undecodableTensors ?? [];
  if (!r.undecodable?.length) return null;
  const shown = names.slice(0, NAMES_SHOWN).join(", ") + (names.length > NAMES_SHOWN ? `, … (${names.length - NAMES_SHOWN} more)` : "");
  return `QuantLab sizes but cannot decode ${names.length} tensor${names.length === 1 ? "" : "s"} (${r.undecodable.join(", ")}: ${shown}): ` +
    "QuantLab has no block code for these types; dequantize, eval and requantize refuse them, inspect lists them";
}

/** The line that says which types present QuantLab decodes but cannot encode (the lattice i-quants), and why. */
export function decodeOnlyLine(r: Pick<GgufInspection, "decodeOnly">): string | null {
  if (!r.decodeOnly?.length) return null;
  return `${r.decodeOnly.join(", ")}: decoded bit-exact with llama.cpp (dequantize, eval and requantizing from them work), ` +
    "but decode-only: llama.cpp's quantizers for these i-quants search lattice codebooks QuantLab does not implement, so it cannot write them";
}

/** A tensor's type as the tables show it: marked when QuantLab only decodes it, or only sizes it. */
function typeCell(t: Pick<GgufTensorSummary, "type" | "decodable" | "encodable">): string {
  return t.decodable === false ? `${t.type} (size only)` : t.encodable === false ? `${t.type} (decode only)` : t.type;
}

const ARRAY_SHOWN = 16;

function arrayTypeName(a: GgufArray): string {
  return a.itemType === "ARRAY" ? "ARRAY[ARRAY]" : `ARRAY[${a.itemType}]`;
}

function jsonItem(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (v !== null && typeof v === "object" && (v as GgufValue).type === "ARRAY") return jsonValue(v as GgufValue).value;
  return v;
}

/** A metadata value as JSON: scalars as they are (bigints as strings); arrays cut to their first 16. */
export function jsonValue(v: GgufValue): { type: string; value: unknown } {
  if (v.type !== "ARRAY") return { type: v.type, value: jsonItem(v.value) };
  const items = Array.from(v.value as ArrayLike<unknown>);
  const shown = items.slice(0, ARRAY_SHOWN).map(jsonItem);
  return {
    type: arrayTypeName(v),
    value: items.length > ARRAY_SHOWN ? { length: items.length, first: shown } : shown,
  };
}

/** One line for a metadata value: `llama` · `512 × STRING: <unk>, <s>, </s> …`. */
export function describeValue(v: GgufValue): string {
  if (v.type === "STRING") return `"${printable(v.value.length > 80 ? v.value.slice(0, 80) + "…" : v.value).replace(/"/g, '\\"')}"`;
  if (v.type !== "ARRAY") return String(v.value);
  const items = Array.from(v.value as ArrayLike<unknown>);
  const show = (x: unknown) => (typeof x === "string" ? `"${printable(x).replace(/"/g, '\\"')}"` : x !== null && typeof x === "object" ? `[${(x as GgufArray).itemType} × ${(x as GgufArray).value.length}]` : String(x));
  return `${items.length} × ${v.itemType}: ${items.slice(0, 6).map(show).join(", ")}${items.length > 6 ? ", …" : ""}`;
}

/** One `[key, "TYPE value"]` pair per metadata entry, long arrays cut to their first few items. */
export function metadataLines(file: Pick<GgufFile, "metadata">): [string, string][] {
  return [...file.metadata].map(([k, v]) => [printable(k), `${v.type === "ARRAY" ? arrayTypeName(v) : v.type} ${describeValue(v)}`]);
}

/** Summarises a parsed GGUF file. The result renders as tables in a notebook. */
export function inspectGguf(file: GgufFile): GgufInspection {
  const metadata: GgufInspection["metadata"] = {};
  for (const [k, v] of file.metadata) metadata[k] = jsonValue(v);
  const byType: GgufInspection["byType"] = {};
  const tensors = file.tensors.map((t): GgufTensorSummary => {
    const elements = tensorElements(t.dims);
    const e = (byType[t.type.name] ??= { tensors: 0, elements: 0, bytes: 0 });
    e.tensors++;
    e.elements += elements;
    e.bytes += t.nbytes;
    return { name: t.name, type: t.type.name, dims: [...t.dims], elements, bytes: t.nbytes, bitsPerWeight: t.type.bitsPerWeight, offset: t.offset,
      decodable: decodableType(t.type.name) !== undefined, encodable: ggufType(t.type.name) !== undefined };
  });
  const totalElements = tensors.reduce((a, t) => a + t.elements, 0);
  const totalBytes = tensors.reduce((a, t) => a + t.bytes, 0);
  const arch = file.metadata.get("general.architecture");
  const result: GgufInspection = {
    version: file.version,
    alignment: file.alignment,
    dataOffset: file.dataOffset,
    fileBytes: file.fileSize,
    architecture: arch?.type === "STRING" ? arch.value : null,
    metadata,
    tensors,
    byType,
    totalElements,
    totalBytes,
    bitsPerWeight: totalElements ? (totalBytes * 8) / totalElements : 0,
    undecodable: Object.keys(byType).filter((t) => !decodableType(t)),
    decodeOnly: Object.keys(byType).filter((t) => decodableType(t) && !ggufType(t)),
    undecodableTensors: tensors.filter((t) => !t.decodable).map((t) => t.name),
  };
  const metaLines = metadataLines(file);
  return withDisplay(result, () => {
    const head = keyValueBundle(`GGUF v${file.version}: ${tensors.length} tensors, ${totalElements} weights, ${totalBytes} bytes of tensor data`, [
      ["architecture", result.architecture === null ? "(none)" : printable(result.architecture)],
      ["bits/weight", result.bitsPerWeight.toFixed(3)],
      ["types", Object.entries(byType).map(([t, e]) => `${e.tensors} ${t}`).join(", ")],
      ["QuantLab decodes", result.undecodable.length ? `all but ${result.undecodable.join(", ")} (${result.undecodableTensors.length} tensor${result.undecodableTensors.length === 1 ? "" : "s"}, marked "size only")` : "every tensor"],
      ...(result.decodeOnly.length ? [["decode only", decodeOnlyLine(result)!] as [string, string]] : []),
      ["alignment", String(file.alignment)],
      ["data offset", String(file.dataOffset)],
      ["file bytes", String(file.fileSize)],
    ]);
    const meta = keyValueBundle("metadata", metaLines);
    const tab = tableBundle("tensors", ["tensor", "type", "dims", "bytes", "bits/w"],
      tensors.map((t) => [printable(t.name), typeCell(t), `[${t.dims.join(", ")}]`, String(t.bytes), String(+t.bitsPerWeight.toFixed(4))]));
    return {
      "text/plain": formatInspection(result, metaLines),
      "text/html": `${head["text/html"]}${meta["text/html"]}${tab["text/html"]}`.replace(/<script/gi, escapeHtml("<script")),
    };
  });
}

/** The plain-text report (what `quantlab gguf inspect` prints). */
export function formatInspection(r: GgufInspection, metaLines?: [string, string][]): string {
  const lines = [
    `GGUF v${r.version}, ${r.architecture === null ? "no architecture" : printable(r.architecture)}: ${r.tensors.length} tensors, ${r.totalElements} weights, ` +
      `${r.totalBytes} bytes (${r.bitsPerWeight.toFixed(3)} bits/weight), alignment ${r.alignment}, data at byte ${r.dataOffset}, file ${r.fileBytes} bytes`,
    `types: ${Object.entries(r.byType).map(([t, e]) => `${t} ×${e.tensors} (${e.bytes} bytes)`).join(", ")}`,
    ...(undecodableLine(r) ? [undecodableLine(r)!] : []),
    ...(decodeOnlyLine(r) ? [decodeOnlyLine(r)!] : []),
    "",
    "metadata:",
  ];
  const ml = metaLines ?? Object.entries(r.metadata).map(([k, v]) => [printable(k), `${v.type} ${printable(JSON.stringify(v.value), { json: true })}`] as [string, string]);
  const kw = Math.max(0, ...ml.map(([k]) => k.length));
  for (const [k, v] of ml) lines.push(`  ${k.padEnd(kw)}  ${v}`);
  lines.push("", "tensors:");
  const rows = r.tensors.map((t) => [printable(t.name), typeCell(t), `[${t.dims.join(", ")}]`, String(t.bytes), String(+t.bitsPerWeight.toFixed(4))]);
  const head = ["name", "type", "dims", "bytes", "bits/w"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  for (const row of [head, ...rows]) lines.push("  " + row.map((c, i) => (i >= 3 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd());
  return lines.join("\n");
}
