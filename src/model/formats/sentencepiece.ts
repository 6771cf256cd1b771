/**
 * SentencePiece's `tokenizer.model` (a protobuf ModelProto), the fields a Llama tokenizer needs: each
 * piece (1: piece, 2: score, 3: type), the trainer spec (3: model type, 35: byte fallback, 40/41/42: unk,
 * bos and eos ids) and the normalizer spec (1: name, 3: add_dummy_prefix). Written beside an exported
 * checkpoint when the source has no tokenizer files, and read back so such a folder evaluates on text.
 */
import { check, QuantLabError } from "../../errors.js";
import { Tokenizer } from "./tokenizer.js";

const TYPE_NORMAL = 1;
const TYPE_BYTE = 6;

function varint(out: number[], v: number): void {
  while (v > 127) { out.push((v & 127) | 128); v = Math.floor(v / 128); }
  out.push(v);
}
const key = (out: number[], field: number, wire: number) => varint(out, field * 8 + wire);
function bytesField(out: number[], field: number, body: ArrayLike<number>): void {
  key(out, field, 2); varint(out, body.length);
  for (let i = 0; i < body.length; i++) out.push(body[i]!);
}

/** The tokenizer as a SentencePiece BPE model file. */
export function encodeSentencePiece(tok: Tokenizer, types: ArrayLike<number>): Uint8Array {
  const enc = new TextEncoder(), f32 = new DataView(new ArrayBuffer(4));
  const out: number[] = [];
  for (let i = 0; i < tok.pieces.length; i++) {
    const p: number[] = [];
    bytesField(p, 1, enc.encode(tok.pieces[i]!));
    f32.setFloat32(0, tok.scores[i]!, true);
    key(p, 2, 5); for (let b = 0; b < 4; b++) p.push(f32.getUint8(b));
    key(p, 3, 0); varint(p, types[i] ?? TYPE_NORMAL);
    bytesField(out, 1, p);
  }
  const trainer: number[] = [];
  key(trainer, 3, 0); varint(trainer, 2); // BPE: Llama's SentencePiece merges pieces by score
  key(trainer, 35, 0); varint(trainer, Array.from(types).includes(TYPE_BYTE) ? 1 : 0);
  key(trainer, 40, 0); varint(trainer, tok.unk);
  key(trainer, 41, 0); varint(trainer, tok.bos);
  key(trainer, 42, 0); varint(trainer, tok.eos);
  bytesField(out, 2, trainer);
  const norm: number[] = [];
  bytesField(norm, 1, enc.encode("identity"));
  key(norm, 3, 0); varint(norm, tok.addSpacePrefix ? 1 : 0);
  key(norm, 4, 0); varint(norm, 0);
  bytesField(out, 3, norm);
  return Uint8Array.from(out);
}

/** Fields of one protobuf message: field number → list of (wire type, value or bytes). */
function fields(buf: Uint8Array, what: string): Map<number, (number | Uint8Array)[]> {
  const out = new Map<number, (number | Uint8Array)[]>();
  let p = 0;
  const vi = () => {
    let v = 0, mul = 1;
    for (;;) {
      check(p < buf.length, "BAD_FILE", `${what} ends inside a number: the file is truncated`);
      const b = buf[p++]!;
      v += (b & 127) * mul; mul *= 128;
      if (b < 128) return v;
    }
  };
  while (p < buf.length) {
    const k = vi(), field = Math.floor(k / 8), wire = k % 8;
    let val: number | Uint8Array;
    if (wire === 0) val = vi();
    else if (wire === 2) { const n = vi(); check(p + n <= buf.length, "BAD_FILE", `${what} has a field longer than the file`); val = buf.subarray(p, p + n); p += n; }
    else if (wire === 5) { check(p + 4 <= buf.length, "BAD_FILE", `${what} is truncated`); val = new DataView(buf.buffer, buf.byteOffset + p, 4).getFloat32(0, true); p += 4; }
    else if (wire === 1) { p += 8; continue; }
    else throw new QuantLabError("BAD_FILE", `${what} uses protobuf wire type ${wire}, which a SentencePiece model never holds: the file is corrupt`);
    const list = out.get(field) ?? [];
    list.push(val);
    out.set(field, list);
  }
  return out;
}

/** Reads a SentencePiece tokenizer.model into QuantLab's tokenizer. */
export function decodeSentencePiece(bytes: Uint8Array, what = "tokenizer.model"): Tokenizer {
  const top = fields(bytes, what);
  const dec = new TextDecoder();
  const pieces: string[] = [], scores: number[] = [], types: number[] = [];
  for (const raw of top.get(1) ?? []) {
    check(raw instanceof Uint8Array, "BAD_FILE", `${what} has a malformed piece`);
    const f = fields(raw, what);
    const piece = f.get(1)?.[0];
    pieces.push(piece instanceof Uint8Array ? dec.decode(piece) : "");
    scores.push(Number(f.get(2)?.[0] ?? 0));
    types.push(Number(f.get(3)?.[0] ?? TYPE_NORMAL));
  }
  check(pieces.length > 0, "BAD_FILE", `${what} holds no pieces: it is not a SentencePiece model`);
  const trainerRaw = top.get(2)?.[0], normRaw = top.get(3)?.[0];
  const trainer = trainerRaw instanceof Uint8Array ? fields(trainerRaw, what) : new Map();
  const norm = normRaw instanceof Uint8Array ? fields(normRaw, what) : new Map();
  const id = (f: number, dflt: number) => Number(trainer.get(f)?.[0] ?? dflt);
  return new Tokenizer({
    pieces, scores, types, unk: id(40, 0), bos: id(41, 1), eos: id(42, 2),
    addSpacePrefix: Number(norm.get(3)?.[0] ?? 1) !== 0,
  });
}
