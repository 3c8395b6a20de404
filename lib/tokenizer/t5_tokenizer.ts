/**
 * The T5 tokenizer, reproducing Hugging Face's slow `T5Tokenizer` (transformers v4.20, loaded with
 * `from_pretrained`) on top of a pure TypeScript SentencePiece (see `normalizer.ts`, `unigram.ts`).
 *
 * Behaviours copied from the reference (each pinned by the fixtures in
 * `fixtures/tokenizer/t5_tokenizer_cases.json`):
 *
 * - Ids: the 32,000 SentencePiece pieces, then 100 sentinels `<extra_id_99>` = 32000 …
 *   `<extra_id_0>` = 32099; `vocabSize` is 32100 (the T5 model's 32128 rows include 28 unused
 *   ids above that).
 * - Special tokens (`</s>`, `<unk>`, `<pad>` and the 100 sentinels) typed in the text are cut out
 *   before SentencePiece sees it, and the whitespace on both sides of each is stripped (Hugging
 *   Face strips plain-string special tokens on both sides). Every remaining chunk is encoded on its
 *   own, so each gets its own "▁" dummy prefix. `<extra_id_100>` is ordinary text.
 * - `encode` appends `</s>` unless the ids already end with it; truncation to `maxLength` keeps
 *   room for that `</s>`.
 * - Unknown characters: SentencePiece merges a run of them into one piece (its text is what
 *   `tokenize` shows), whose id is `<unk>` = 2.
 * - `decode` follows `T5Tokenizer.convert_tokens_to_string`: pieces between special tokens are
 *   decoded by SentencePiece, a kept special token is written followed by a space, and the result
 *   is stripped. Clean-up of tokenization spaces is never applied (TANL decodes with it off).
 *
 * ```ts
 * const tok = await T5Tokenizer.load();
 * tok.encode("Hello world"); // [8774, 296, 1]
 * tok.decode([8774, 296, 1]); // "Hello world"
 * ```
 *
 * @module
 */

import { howToGet, MissingDataError, requireDataFile } from "../config/paths.ts";
import { SentencePieceNormalizer, SPACE_SYMBOL } from "./normalizer.ts";
import {
  parseSentencePieceModel,
  PieceType,
  type SentencePieceModel,
  SentencePieceModelError,
} from "./sentencepiece_model.ts";
import { UnigramModel } from "./unigram.ts";

/** Where `spiece.model` lives inside the data directory. */
export const SPIECE_RELATIVE_PATH = "t5/spiece.model";

/** Number of `<extra_id_N>` sentinels T5 appends to the SentencePiece vocabulary. */
export const T5_EXTRA_IDS = 100;

/** Options of {@link T5Tokenizer.encode}. */
export interface EncodeOptions {
  /** Truncate to at most this many ids, `</s>` included (Hugging Face `truncation=True`). */
  maxLength?: number;
  /** Append `</s>` (default true), unless the ids already end with it. */
  addEos?: boolean;
}

/** Options of {@link T5Tokenizer.batchEncode}. */
export interface BatchEncodeOptions extends EncodeOptions {
  /**
   * `"longest"` (default; Hugging Face `padding=True`) pads every row to the longest row; a number
   * pads every row to that length (Hugging Face `padding="max_length"`; longer rows are left as
   * they are, so combine it with `maxLength` to get a rectangular batch).
   */
  padTo?: "longest" | number;
}

/** Options of {@link T5Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop `<pad>`, `</s>`, `<unk>` and the sentinels (default true, as TANL decodes). */
  skipSpecialTokens?: boolean;
}

/** A padded batch: right padding with the pad id, mask 1 on real tokens and 0 on padding. */
export interface BatchEncoding {
  inputIds: number[][];
  attentionMask: number[][];
}

/** Python's `str.isspace()` characters, which `str.strip()` removes (JavaScript's trim differs). */
function isPySpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 ||
    c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f ||
    c === 0x205f || c === 0x3000;
}

function pyLstrip(s: string): string {
  let i = 0;
  while (i < s.length && isPySpace(s.charCodeAt(i))) i++;
  return s.slice(i);
}

function pyRstrip(s: string): string {
  let j = s.length;
  while (j > 0 && isPySpace(s.charCodeAt(j - 1))) j--;
  return s.slice(0, j);
}

/** The T5 tokenizer (see the module documentation for the exact behaviour). */
export class T5Tokenizer {
  /** Size of the tokenizer's vocabulary: SentencePiece pieces plus the sentinels (32100). */
  readonly vocabSize: number;
  /** `<pad>` (0): padding, and T5's decoder start id. */
  readonly padId: number;
  /** `</s>` (1). */
  readonly eosId: number;
  /** `<unk>` (2). */
  readonly unkId: number;
  /** Number of SentencePiece pieces (32000). */
  readonly pieceCount: number;
  /** The special token strings, in Hugging Face's order: eos, unk, pad, then sentinels 0..99. */
  readonly specialTokens: readonly string[];

  private readonly normalizer: SentencePieceNormalizer;
  private readonly unigram: UnigramModel;
  private readonly pieces: readonly string[];
  private readonly types: Uint8Array;
  private readonly pieceIds = new Map<string, number>();
  private readonly specialTokenSet: ReadonlySet<string>;
  private readonly specialIds: ReadonlySet<number>;
  /** Matches any special token; sentinels only for 0..99 written without leading zeros. */
  private readonly specialPattern: RegExp;
  /** SentencePiece output per text chunk; CoNLL-style data repeats many chunks. */
  private readonly chunkCache = new Map<string, string[]>();
  private static readonly CACHE_LIMIT = 200_000;

  /** Builds a tokenizer from a decoded model (prefer {@link T5Tokenizer.load}). */
  constructor(model: SentencePieceModel, readonly extraIds = T5_EXTRA_IDS) {
    if (model.modelType !== 1) {
      throw new Error(`expected a unigram SentencePiece model, got type ${model.modelType}`);
    }
    if (model.treatWhitespaceAsSuffix) throw new Error("treat_whitespace_as_suffix models are not supported");
    if (model.byteFallback) throw new Error("byte_fallback models are not supported");
    this.pieces = model.pieces.map((p) => p.piece);
    this.types = new Uint8Array(model.pieces.map((p) => p.type));
    model.pieces.forEach((p, id) => {
      if (!this.pieceIds.has(p.piece)) this.pieceIds.set(p.piece, id);
    });
    const userDefined = model.pieces.filter((p) => p.type === PieceType.USER_DEFINED).map((p) => p.piece);
    this.normalizer = new SentencePieceNormalizer(model.normalizer, userDefined);
    this.unigram = new UnigramModel(model.pieces);
    this.pieceCount = model.pieces.length;
    this.vocabSize = this.pieceCount + extraIds;

    const required = (piece: string) => {
      const id = this.pieceIds.get(piece);
      if (id === undefined) {
        throw new Error(
          `lacks the special piece ${piece} (a T5 vocabulary has <pad>, </s> and <unk>): ` +
            `the file is damaged or not a T5 tokenizer`,
        );
      }
      return id;
    };
    this.eosId = required("</s>");
    this.unkId = required("<unk>");
    this.padId = required("<pad>");
    const sentinels = Array.from({ length: extraIds }, (_, i) => `<extra_id_${i}>`);
    this.specialTokens = ["</s>", "<unk>", "<pad>", ...sentinels];
    this.specialTokenSet = new Set(this.specialTokens);
    this.specialIds = new Set(this.specialTokens.map((t) => this.pieceToId(t)));
    // Longest alternatives first is not needed: no special token is a prefix of another.
    this.specialPattern = new RegExp(
      this.specialTokens.map((t) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|"),
      "g",
    );
  }

  /**
   * Loads `spiece.model` from `path`, or from `<data dir>/t5/spiece.model` (the data directory is
   * `$FISHDIP_DATA`, else `<repo>/data`). Throws {@link MissingDataError} naming the file when it
   * is absent, {@link SentencePieceModelError} naming it when it is damaged.
   */
  static async load(path?: string): Promise<T5Tokenizer> {
    const file = path ?? requireDataFile(SPIECE_RELATIVE_PATH, "t5");
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw new MissingDataError(file, "t5", howToGet("t5", true));
      throw e;
    }
    return T5Tokenizer.fromBytes(bytes, file);
  }

  /**
   * Builds a tokenizer from the bytes of a `spiece.model` file; `path` names it in errors. Throws
   * {@link SentencePieceModelError} for a damaged file or one that is not a T5 vocabulary.
   */
  static fromBytes(bytes: Uint8Array, path = "<bytes>"): T5Tokenizer {
    const model = parseSentencePieceModel(bytes, path);
    try {
      return new T5Tokenizer(model);
    } catch (e) {
      throw new SentencePieceModelError(path, (e as Error).message);
    }
  }

  /** SentencePiece normalization of `text` (NFKC-like rules, whitespace folding, "▁" escapes). */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /** SentencePiece alone on `text` (no special-token handling): the piece strings. */
  encodePieces(text: string): string[] {
    const cached = this.chunkCache.get(text);
    if (cached) return cached;
    const pieces = this.unigram.encode(this.normalizer.normalize(text)).map((s) => s.piece);
    if (this.chunkCache.size >= T5Tokenizer.CACHE_LIMIT) this.chunkCache.clear();
    this.chunkCache.set(text, pieces);
    return pieces;
  }

  /**
   * Splits `text` into tokens as Hugging Face's `tokenize` does: special tokens whole, everything
   * else as SentencePiece pieces (a run of unknown characters is one token showing its text).
   */
  tokenize(text: string): string[] {
    // Cut out special tokens; empty pieces between adjacent matches are dropped (HF's Trie.split).
    const parts: string[] = [];
    let last = 0;
    for (const m of text.matchAll(this.specialPattern)) {
      if (m.index > last) parts.push(text.slice(last, m.index));
      parts.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) parts.push(text.slice(last));

    // Strip whitespace on both sides of every special token (plain-string tokens in HF).
    for (let i = 0; i < parts.length; i++) {
      if (!this.specialTokenSet.has(parts[i])) continue;
      if (i + 1 < parts.length && parts[i + 1]) parts[i + 1] = pyLstrip(parts[i + 1]);
      if (i > 0 && parts[i - 1]) parts[i - 1] = pyRstrip(parts[i - 1]);
    }

    const out: string[] = [];
    for (const part of parts) {
      if (!part) continue;
      if (this.specialTokenSet.has(part)) out.push(part);
      else for (const piece of this.encodePieces(part)) out.push(piece);
    }
    return out;
  }

  /**
   * Token string to id, as `T5Tokenizer._convert_token_to_id`: sentinels by number, pieces by the
   * vocabulary, anything else (e.g. a merged run of unknown characters) is `<unk>`.
   */
  pieceToId(token: string): number {
    if (token.startsWith("<extra_id_")) {
      const m = /^<extra_id_(\d+)>/.exec(token);
      if (m) {
        const n = Number(m[1]);
        if (n < this.extraIds) return this.vocabSize - n - 1;
      }
    }
    return this.pieceIds.get(token) ?? this.unkId;
  }

  /**
   * Id to token string, as `T5Tokenizer._convert_id_to_token`. Ids from `pieceCount` up are
   * sentinels `<extra_id_{vocabSize-1-id}>`; like Hugging Face this also names the model's unused
   * ids 32100..32127 (`<extra_id_-1>` …), which a generator can emit.
   */
  idToPiece(id: number): string {
    if (!Number.isInteger(id) || id < 0) throw new RangeError(`invalid token id ${id}`);
    if (id < this.pieceCount) return this.pieces[id];
    return `<extra_id_${this.vocabSize - 1 - id}>`;
  }

  /** Whether `id` is `<pad>`, `</s>`, `<unk>` or a sentinel (what decoding skips). */
  isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Token strings to ids. */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.pieceToId(t));
  }

  /** Ids to token strings, optionally without special tokens. */
  convertIdsToTokens(ids: readonly number[], skipSpecialTokens = false): string[] {
    const out: string[] = [];
    for (const id of ids) {
      if (skipSpecialTokens && this.specialIds.has(id)) continue;
      out.push(this.idToPiece(id));
    }
    return out;
  }

  /**
   * Encodes `text` to ids: `tokenize`, ids, optional truncation to `maxLength` (room kept for
   * `</s>`), then `</s>` unless already last.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addEos = opts.addEos ?? true;
    let ids = this.convertTokensToIds(this.tokenize(text));
    if (opts.maxLength !== undefined) {
      // HF counts the special tokens as those of an empty sequence: one `</s>`.
      const reserved = addEos ? 1 : 0;
      const keep = opts.maxLength - reserved;
      if (!Number.isInteger(opts.maxLength) || keep < 0) {
        throw new RangeError(`maxLength ${opts.maxLength} leaves no room for the sequence`);
      }
      if (ids.length > keep) ids = ids.slice(0, keep);
    }
    if (addEos && (ids.length === 0 || ids[ids.length - 1] !== this.eosId)) ids.push(this.eosId);
    return ids;
  }

  /** Encodes several texts and pads them on the right with `padId`, with attention masks. */
  batchEncode(texts: readonly string[], opts: BatchEncodeOptions = {}): BatchEncoding {
    const rows = texts.map((t) => this.encode(t, opts));
    const padTo = opts.padTo ?? "longest";
    const width = padTo === "longest" ? Math.max(0, ...rows.map((r) => r.length)) : padTo;
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    for (const row of rows) {
      const pad = Math.max(0, width - row.length);
      inputIds.push([...row, ...new Array<number>(pad).fill(this.padId)]);
      attentionMask.push([...new Array<number>(row.length).fill(1), ...new Array<number>(pad).fill(0)]);
    }
    return { inputIds, attentionMask };
  }

  /**
   * SentencePiece's `DecodePieces`: "▁" becomes a space, the leading one of the text is dropped,
   * control pieces vanish, and a piece that is not in the vocabulary is copied as it is.
   */
  private decodePieces(pieces: readonly string[]): string {
    let text = "";
    for (const piece of pieces) {
      const id = this.pieceIds.get(piece) ?? this.unkId;
      const type = this.types[id];
      if (type === PieceType.CONTROL) continue;
      if (type === PieceType.UNKNOWN) {
        // SentencePiece shows the literal `<unk>` piece as " ⁇ "; other unknown strings verbatim.
        text += piece === this.pieces[id] ? " \u2047 " : piece;
        continue;
      }
      let p = piece;
      if (text.length === 0 && p.startsWith(SPACE_SYMBOL)) p = p.slice(SPACE_SYMBOL.length);
      text += p.replaceAll(SPACE_SYMBOL, " ");
    }
    return text;
  }

  /**
   * Decodes ids to text as Hugging Face's `decode(ids, skip_special_tokens, clean_up_tokenization_spaces=False)`.
   * With `skipSpecialTokens: false`, each special token is followed by a space
   * (`"Hello<extra_id_0> world</s>"`), exactly as `T5Tokenizer.convert_tokens_to_string` writes it.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const tokens = this.convertIdsToTokens(ids, opts.skipSpecialTokens ?? true);
    let out = "";
    let current: string[] = [];
    for (const token of tokens) {
      if (this.specialTokenSet.has(token)) {
        out += this.decodePieces(current) + token + " ";
        current = [];
      } else {
        current.push(token);
      }
    }
    out += this.decodePieces(current);
    return pyRstrip(pyLstrip(out));
  }

  /** Decodes each row of a batch (see {@link T5Tokenizer.decode}). */
  batchDecode(rows: readonly (readonly number[])[], opts: DecodeOptions = {}): string[] {
    return rows.map((r) => this.decode(r, opts));
  }
}
