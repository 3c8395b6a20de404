/**
 * A reduced T5 vocabulary: a new `spiece.model` holding only the SentencePiece pieces a corpus
 * uses, written in the same protobuf format so that {@link T5Tokenizer.load} (and Python's
 * sentencepiece) read it exactly like the original.
 *
 * Pieces keep their text, score and type and their relative order, so the special pieces stay at
 * ids 0..2 (`<pad>`, `</s>`, `<unk>`) and ids are compact. Every single-character piece is kept:
 * the unigram model can then still spell out any text the original could, without `<unk>`.
 * Keeping every piece the full tokenizer produced on the corpus keeps its segmentation of that
 * corpus unchanged (the Viterbi optimum over a subset that still contains it is the same path).
 *
 * Only the wire format is touched: piece entries are copied as their original bytes, every other
 * top-level field (normalizer, trainer spec, ...) verbatim, except `TrainerSpec.vocab_size`,
 * rewritten to the new count.
 *
 * @module
 */
import { PieceType } from "../tokenizer/sentencepiece_model.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0, scale = 1;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if (b < 0x80) return [result, pos];
    scale *= 128;
  }
}

/** Base-128 varint encoding of a non-negative integer below 2^53. */
export function encodeVarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** One top-level field of a protobuf message: number, wire type and its full encoded bytes. */
interface RawField {
  field: number;
  wireType: number;
  /** The whole field (key included). */
  raw: Uint8Array;
  /** For length-delimited fields: the payload. */
  payload?: Uint8Array;
}

function splitFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Math.floor(key / 8), wireType = key & 7;
    let payload: Uint8Array | undefined;
    if (wireType === 0) pos = readVarint(buf, pos)[1];
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const [len, p2] = readVarint(buf, pos);
      payload = buf.subarray(p2, p2 + len);
      pos = p2 + len;
    } else throw new Error(`protobuf: unsupported wire type ${wireType}`);
    out.push({ field, wireType, raw: buf.subarray(start, pos), payload });
  }
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const head = [...encodeVarint(field * 8 + 2), ...encodeVarint(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function pieceOf(payload: Uint8Array): { piece: string; type: number } {
  let piece = "", type: number = PieceType.NORMAL;
  for (const f of splitFields(payload)) {
    if (f.field === 1 && f.wireType === 2) piece = utf8.decode(f.payload!);
    else if (f.field === 3 && f.wireType === 0) type = readVarint(f.raw, encodeVarint(f.field * 8).length)[0];
  }
  return { piece, type };
}

/** What {@link reduceSentencePieceModel} returns. */
export interface ReducedModel {
  /** The new `spiece.model` bytes. */
  bytes: Uint8Array;
  /** Piece texts kept, in their new id order. */
  kept: string[];
  /** Pieces in the original model. */
  originalCount: number;
}

/**
 * Writes a `spiece.model` that keeps the pieces for which `keep(piece)` is true, plus every
 * non-NORMAL piece (control, unknown, user-defined) and, unless `keepSingleChars` is false, every
 * one-character piece (the "▁" space marker included).
 */
export function reduceSentencePieceModel(
  bytes: Uint8Array,
  keep: (piece: string) => boolean,
  keepSingleChars = true,
): ReducedModel {
  const fields = splitFields(bytes);
  const kept: string[] = [];
  let originalCount = 0;
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    if (f.field === 1 && f.wireType === 2) {
      originalCount++;
      const { piece, type } = pieceOf(f.payload!);
      const single = [...piece].length === 1;
      if (type !== PieceType.NORMAL || (keepSingleChars && single) || keep(piece)) {
        kept.push(piece);
        parts.push(f.raw);
      }
    } else parts.push(f.raw);
  }
  // TrainerSpec.vocab_size (field 4, varint) is informational for the encoder, but keep it true.
  const out = parts.map((p) => {
    const [f] = splitFields(p);
    if (f.field !== 2 || f.wireType !== 2) return p;
    const inner = splitFields(f.payload!).map((g) =>
      g.field === 4 && g.wireType === 0
        ? new Uint8Array([...encodeVarint(4 * 8), ...encodeVarint(kept.length)])
        : g.raw
    );
    return lengthDelimited(2, concat(inner));
  });
  return { bytes: concat(out), kept, originalCount };
}

/**
 * T5's padded vocabulary size for a piece count: pieces + 100 sentinels, rounded up to a multiple
 * of 128 as the original checkpoints do (32,000 + 100 -> 32,128).
 */
export function paddedVocabSize(pieceCount: number, extraIds = 100, multiple = 128): number {
  return Math.ceil((pieceCount + extraIds) / multiple) * multiple;
}
