/**
 * A Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) as a QuantLab `Tokenizer`, encoded and
 * decoded by `@huggingface/tokenizers` so the ids are the ones transformers gives. Two families:
 * byte-level BPE (Llama 3, Qwen2, SmolLM: GPT-2's byte alphabet, `tokenizer.ggml.model = "gpt2"` in GGUF)
 * and SentencePiece-style BPE (Llama 2, TinyLlama: "▁" for spaces, `<0xNN>` byte fallback,
 * `tokenizer.ggml.model = "llama"`). The vocabulary is padded to the model's `vocab_size` as llama.cpp's
 * converter pads it, so the tokenizer and the embedding agree on every id.
 *
 * BOS follows tokenizer_config.json: `add_bos_token` when given, else whether the post-processor's
 * template starts with the BOS token, else whether a `bos_token` is named. A vocabulary without a BOS
 * (Qwen2) starts its perplexity windows with its end-of-text token, the document separator it was
 * trained with.
 */
import { Tokenizer as HfTokenizerImpl } from "@huggingface/tokenizers";
import { check, QuantLabError } from "../../errors.js";
import type { GgufValue } from "../../gguf/file.js";
import { Tokenizer } from "./tokenizer.js";

export type HfTokenizerKind = "byte-level" | "sentencepiece";

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean; unk_token?: string | null };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  post_processor?: unknown;
  decoder?: unknown;
}

type TokenSetting = string | { content?: string } | null | undefined;

export interface TokenizerConfigJson {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: TokenSetting;
  eos_token?: TokenSetting;
  unk_token?: TokenSetting;
}

const tokenText = (t: TokenSetting): string | undefined => (typeof t === "string" ? t : t && typeof t.content === "string" ? t.content : undefined);

/** Every "type" field in a component tree (pre-tokenizers and normalizers nest in Sequences). */
function componentTypes(x: unknown, out: string[] = []): string[] {
  if (Array.isArray(x)) for (const y of x) componentTypes(y, out);
  else if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    if (typeof o.type === "string") out.push(o.type);
    for (const v of Object.values(o)) if (v && typeof v === "object") componentTypes(v, out);
  }
  return out;
}

function splitPatterns(x: unknown, out: string[] = []): string[] {
  if (Array.isArray(x)) for (const y of x) splitPatterns(y, out);
  else if (x && typeof x === "object") {
    const o = x as Record<string, unknown>;
    const p = o.pattern as { Regex?: unknown } | undefined;
    if (o.type === "Split" && p && typeof p.Regex === "string") out.push(p.Regex);
    for (const v of Object.values(o)) if (v && typeof v === "object") splitPatterns(v, out);
  }
  return out;
}

// The pre-tokenizer regexes llama.cpp knows by name (tokenizer.ggml.pre), as the Hub's files spell them.
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** llama.cpp's name for a byte-level pre-tokenizer (its converter tells them apart the same way, by behaviour). */
function ggmlPre(pre: unknown): string {
  const splits = splitPatterns(pre);
  if (splits.includes(LLAMA3_SPLIT)) return "llama-bpe";
  if (splits.includes(QWEN2_SPLIT)) return "qwen2";
  const types = componentTypes(pre);
  if (splits.length === 0 && types.includes("ByteLevel")) return types.includes("Digits") ? "smollm" : "gpt-2";
  return "default";
}

/** Whether a SentencePiece-style tokenizer.json puts "▁" before the text (Llama 2's Prepend, or Metaspace's prepend_scheme). */
function spacePrefix(j: TokenizerJson): boolean {
  if (componentTypes(j.normalizer).includes("Prepend")) return true;
  const find = (x: unknown): Record<string, unknown> | undefined => {
    if (Array.isArray(x)) return x.map(find).find((y) => y);
    if (!x || typeof x !== "object") return undefined;
    const o = x as Record<string, unknown>;
    return o.type === "Metaspace" ? o : find(Object.values(o).filter((v) => v && typeof v === "object"));
  };
  const meta = find(j.pre_tokenizer);
  if (!meta) return false;
  const scheme = meta.prepend_scheme ?? (meta.add_prefix_space === false ? "never" : "always");
  return scheme !== "never";
}

export interface HfTokenizerOptions {
  /** The model's vocabulary size (config.json); ids past the tokenizer's are padding, as llama.cpp writes them. */
  vocabSize?: number;
  /** For messages: where tokenizer.json was read from. */
  label?: string;
}

/** A Hugging Face tokenizer behind QuantLab's tokenizer interface. */
export class HfTokenizer extends Tokenizer {
  readonly kind: HfTokenizerKind;
  /** Whether text is led by BOS (tokenizer_config.json's add_bos_token, or what the template implies). */
  readonly addBos: boolean;
  /** llama.cpp's pre-tokenizer name (byte-level vocabularies). */
  readonly pre: string;
  private readonly impl: HfTokenizerImpl;
  private readonly merges: string[];

  constructor(json: unknown, config: unknown = {}, opts: HfTokenizerOptions = {}) {
    const label = opts.label ?? "tokenizer.json";
    check(json !== null && typeof json === "object" && !Array.isArray(json), "BAD_FILE", `${label} is not a JSON object: it is not a Hugging Face tokenizer`);
    const j = json as TokenizerJson;
    const cfg = (config && typeof config === "object" ? config : {}) as TokenizerConfigJson;
    check(j.model?.type === "BPE" && j.model.vocab && typeof j.model.vocab === "object" && Array.isArray(j.model.merges), "UNSUPPORTED",
      `${label} has a '${j.model?.type ?? "missing"}' model: QuantLab reads BPE tokenizers (byte-level as Llama 3/Qwen2, or SentencePiece-style as Llama 2)`);
    const vocab = j.model.vocab;
    const added = Array.isArray(j.added_tokens) ? j.added_tokens : [];
    let n = 0;
    for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
    for (const t of added) n = Math.max(n, t.id + 1);
    const size = Math.max(n, opts.vocabSize ?? 0);
    check(opts.vocabSize === undefined || n <= opts.vocabSize, "BAD_FILE",
      `${label} has ${n} tokens but config.json's vocab_size is ${opts.vocabSize}: the tokenizer belongs to another model`);
    const byteLevel = componentTypes(j.pre_tokenizer).includes("ByteLevel") || componentTypes(j.decoder).includes("ByteLevel");
    const kind: HfTokenizerKind = byteLevel ? "byte-level" : "sentencepiece";
    const pieces: (string | undefined)[] = new Array(size);
    for (const [p, id] of Object.entries(vocab)) pieces[id] = p;
    // GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    const types = new Int32Array(size).fill(1);
    for (const t of added) {
      pieces[t.id] = t.content;
      types[t.id] = t.special ? 3 : 4;
    }
    for (let i = 0; i < size; i++) {
      if (pieces[i] === undefined) {
        pieces[i] = `[PAD${i}]`;
        types[i] = 5;
      } else if (kind === "sentencepiece" && types[i] === 1 && /^<0x[0-9A-F]{2}>$/.test(pieces[i]!)) types[i] = 6;
    }
    const unkText = tokenText(cfg.unk_token) ?? j.model.unk_token ?? undefined;
    const idOf = (text: string | undefined) => (text === undefined ? undefined : vocab[text] ?? added.find((t) => t.content === text)?.id);
    const unk = idOf(unkText);
    if (unk !== undefined) types[unk] = 2;
    const merges = j.model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
    // SentencePiece scores for the GGUF "llama" vocabulary: a piece made by an earlier merge scores higher,
    // so llama.cpp's highest-score-first merging replays the merge order.
    const scores = new Float32Array(size);
    if (kind === "sentencepiece") {
      scores.fill(-1e9);
      for (let r = merges.length - 1; r >= 0; r--) {
        const id = vocab[merges[r]!.replace(" ", "")];
        if (id !== undefined) scores[id] = -r;
      }
      for (let i = 0; i < size; i++) if (types[i] !== 1 || Array.from(pieces[i]!).length === 1) scores[i] = 0;
    }
    const eosText = tokenText(cfg.eos_token);
    const eos = idOf(eosText);
    check(eos !== undefined || eosText === undefined, "BAD_FILE", `tokenizer_config.json names eos_token '${eosText}', which ${label} does not hold`);
    const bosText = tokenText(cfg.bos_token);
    const bosId = idOf(bosText);
    check(bosId !== undefined || bosText === undefined, "BAD_FILE", `tokenizer_config.json names bos_token '${bosText}', which ${label} does not hold`);
    const templateFirst = (() => {
      const single = (j.post_processor as { single?: { SpecialToken?: { id?: string } }[] } | null | undefined)?.single;
      // null: a template that starts with the text itself adds no BOS
      return Array.isArray(single) ? single[0]?.SpecialToken?.id ?? null : undefined;
    })();
    const addBos = bosId !== undefined && (cfg.add_bos_token ?? (templateFirst !== undefined ? templateFirst === bosText : true));
    super({
      pieces: pieces as string[], scores, types, bos: bosId ?? eos ?? 0, eos: eos ?? bosId ?? 0, unk: unk ?? 0,
      addSpacePrefix: kind === "sentencepiece" && spacePrefix(j),
    });
    this.kind = kind;
    this.addBos = addBos;
    this.pre = kind === "byte-level" ? ggmlPre(j.pre_tokenizer) : "default";
    this.merges = merges;
    try {
      // the library wants every component key present; the Hub's files omit none, hand-written ones may
      this.impl = new HfTokenizerImpl({ normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...(json as object) }, config as object);
    } catch (e) {
      throw new QuantLabError("UNSUPPORTED", `${label} cannot be read by @huggingface/tokenizers (${(e as Error).message}): it uses a component QuantLab cannot run`);
    }
  }

  override encode(text: string, opts: { bos?: boolean } = {}): number[] {
    const ids = text.length === 0 ? [] : this.impl.encode(text, { add_special_tokens: false }).ids;
    return opts.bos ? [this.bos, ...ids] : ids;
  }

  override decode(ids: ArrayLike<number>): string {
    const list = Array.from(ids);
    for (const id of list) {
      check(Number.isInteger(id) && id >= 0 && id < this.vocabSize, "BAD_ARGUMENT", `token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    }
    return this.impl.decode(list, { skip_special_tokens: true });
  }

  /** The `tokenizer.ggml.*` keys llama.cpp's converter writes for this vocabulary. */
  override ggufMetadata(): Map<string, GgufValue> {
    const meta = new Map<string, GgufValue>();
    const u32 = (k: string, v: number) => meta.set(k, { type: "UINT32", value: v });
    meta.set("tokenizer.ggml.model", { type: "STRING", value: this.kind === "byte-level" ? "gpt2" : "llama" });
    if (this.kind === "byte-level") meta.set("tokenizer.ggml.pre", { type: "STRING", value: this.pre });
    meta.set("tokenizer.ggml.tokens", { type: "ARRAY", itemType: "STRING", value: this.pieces.slice() });
    if (this.kind === "sentencepiece") meta.set("tokenizer.ggml.scores", { type: "ARRAY", itemType: "FLOAT32", value: Float32Array.from(this.scores) });
    meta.set("tokenizer.ggml.token_type", { type: "ARRAY", itemType: "INT32", value: Int32Array.from(this.tokenTypes) });
    if (this.kind === "byte-level") meta.set("tokenizer.ggml.merges", { type: "ARRAY", itemType: "STRING", value: this.merges.slice() });
    u32("tokenizer.ggml.bos_token_id", this.bos);
    u32("tokenizer.ggml.eos_token_id", this.eos);
    if (this.kind === "sentencepiece") u32("tokenizer.ggml.unknown_token_id", this.unk);
    meta.set("tokenizer.ggml.add_bos_token", { type: "BOOL", value: this.addBos });
    if (this.kind === "sentencepiece") meta.set("tokenizer.ggml.add_space_prefix", { type: "BOOL", value: this.addSpacePrefix });
    return meta;
  }
}

/** What a GGUF `gpt2` vocabulary carries (`tokenizer.ggml.*`). */
export interface GgufBpeVocab {
  tokens: string[];
  merges: string[];
  types?: ArrayLike<number>;
  bos?: number;
  eos?: number;
  addBos?: boolean;
  pre?: string;
}

/**
 * A GGUF byte-level vocabulary (`tokenizer.ggml.model = "gpt2"`) as the tokenizer.json it was converted
 * from: the merges and the pre-tokenizer llama.cpp names (`tokenizer.ggml.pre`), control and user-defined
 * tokens as added tokens.
 */
export function hfTokenizerFromGguf(v: GgufBpeVocab, label = "the GGUF vocabulary"): HfTokenizer {
  const vocab: Record<string, number> = {};
  const added: { id: number; content: string; special: boolean; normalized: boolean; lstrip: boolean; rstrip: boolean; single_word: boolean }[] = [];
  v.tokens.forEach((t, i) => {
    const type = v.types?.[i] ?? 1;
    if (type === 3 || type === 4) added.push({ id: i, content: t, special: type === 3, normalized: false, lstrip: false, rstrip: false, single_word: false });
    else if (type !== 5 && !(t in vocab)) vocab[t] = i;
  });
  const pre = v.pre ?? "default";
  const split = pre === "llama-bpe" || pre === "llama3" ? LLAMA3_SPLIT : pre === "qwen2" ? QWEN2_SPLIT : undefined;
  const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  const preTokenizer = split
    ? { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: split }, behavior: "Isolated", invert: false }, byteLevel(false)] }
    : pre === "smollm"
      ? { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)] }
      : byteLevel(true);
  const json = {
    added_tokens: added, normalizer: null, pre_tokenizer: preTokenizer, post_processor: null, decoder: byteLevel(true),
    model: { type: "BPE", vocab, merges: v.merges, ignore_merges: split === LLAMA3_SPLIT, byte_fallback: false, unk_token: null },
  };
  const name = (id: number | undefined) => (id !== undefined && v.tokens[id] !== undefined ? v.tokens[id] : undefined);
  const config = { bos_token: name(v.bos), eos_token: name(v.eos), add_bos_token: v.addBos ?? v.bos !== undefined };
  return new HfTokenizer(json, config, { vocabSize: v.tokens.length, label });
}
