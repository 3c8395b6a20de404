/**
 * SentencePiece's unigram segmentation (Viterbi over the piece lattice) for one model.
 *
 * This follows `unigram_model.cc`'s `EncodeOptimized`, the default encoder of SentencePiece 0.1.9x
 * that the reference fixtures were produced with:
 *
 * - Candidates are the NORMAL, USER_DEFINED and UNUSED pieces found by a trie walk from each
 *   character position; UNUSED pieces are skipped, user-defined ones get `length * max_score -
 *   0.1`, normal ones their own score.
 * - When no piece covers exactly the one character at a position, an unknown node with score
 *   `min_score - 10` (kUnkPenalty) spans that character.
 * - Scores are float32 and path sums are accumulated in float32 (`Math.fround`), and a node only
 *   replaces the current best when strictly better, visiting start positions left to right and
 *   pieces shortest first, so ties resolve as in the C++ code.
 * - Consecutive unknown nodes are merged into one (as `SentencePieceProcessor::Encode` does), so
 *   `"東京"` gives a single unknown piece whose text is the normalized characters.
 *
 * Positions are UTF-16 code units rather than the C++ code's UTF-8 bytes. Pieces are whole
 * characters in either encoding, so the lattice (and therefore the result) is the same.
 *
 * @module
 */

import { type ModelPiece, PieceType } from "./sentencepiece_model.ts";

/** SentencePiece's penalty for an unknown character, below the worst piece score. */
const UNK_PENALTY = 10;

/** One segment of the best path: the (normalized) text and its id. */
export interface Segment {
  piece: string;
  id: number;
}

/** A character trie over the candidate pieces, with one child map per node. */
class PieceTrie {
  /** `children[node]` maps a UTF-16 code unit to the child node. */
  private readonly children: Map<number, number>[] = [new Map()];
  /** `ids[node]` is the piece id ending at that node, or -1. */
  private readonly ids: number[] = [-1];

  insert(piece: string, id: number): void {
    let node = 0;
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      let next = this.children[node].get(c);
      if (next === undefined) {
        next = this.children.length;
        this.children.push(new Map());
        this.ids.push(-1);
        this.children[node].set(c, next);
      }
      node = next;
    }
    this.ids[node] = id;
  }

  child(node: number, c: number): number {
    return this.children[node].get(c) ?? -1;
  }

  id(node: number): number {
    return this.ids[node];
  }
}

/** The unigram language model of a SentencePiece file. */
export class UnigramModel {
  private readonly trie = new PieceTrie();
  private readonly scores: Float32Array;
  private readonly types: Uint8Array;
  private readonly utf8Lengths = new Map<number, number>();
  /** Lowest score of a NORMAL piece; unknown characters score below it. */
  readonly minScore: number;
  /** Highest score of a NORMAL piece; used for user-defined pieces. */
  readonly maxScore: number;
  /** Id of the UNKNOWN piece. */
  readonly unkId: number;

  constructor(pieces: readonly ModelPiece[]) {
    this.scores = new Float32Array(pieces.map((p) => p.score));
    this.types = new Uint8Array(pieces.map((p) => p.type));
    let min = Infinity, max = -Infinity, unk = -1;
    pieces.forEach((p, id) => {
      if (p.type === PieceType.NORMAL) {
        min = Math.min(min, p.score);
        max = Math.max(max, p.score);
      }
      if (p.type === PieceType.UNKNOWN) unk = id;
      if (p.type === PieceType.USER_DEFINED) {
        this.utf8Lengths.set(id, new TextEncoder().encode(p.piece).length);
      }
      if (p.type === PieceType.BYTE) throw new Error("byte-fallback pieces are not supported");
      if (
        p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED
      ) this.trie.insert(p.piece, id);
    });
    if (unk < 0) throw new Error("SentencePiece model has no unknown piece");
    this.minScore = min;
    this.maxScore = max;
    this.unkId = unk;
  }

  /** Segments normalized text (spaces already escaped as "▁") into the best-scoring pieces. */
  encode(normalized: string): Segment[] {
    const size = normalized.length;
    if (size === 0) return [];
    const unkScore = Math.fround(this.minScore - UNK_PENALTY);
    // Best path ending at each position: its score, where its last node starts, and that id.
    const bestScore = new Float32Array(size + 1);
    const startsAt = new Int32Array(size + 1).fill(-1);
    const bestId = new Int32Array(size + 1);
    const { trie, scores, types } = this;

    let start = 0;
    while (start < size) {
      const here = bestScore[start];
      const c0 = normalized.charCodeAt(start);
      // One character: two code units for a surrogate pair.
      const charLen = c0 >= 0xd800 && c0 <= 0xdbff && start + 1 < size ? 2 : 1;
      let hasSingle = false;
      let node = 0;
      for (let pos = start; pos < size; pos++) {
        node = trie.child(node, normalized.charCodeAt(pos));
        if (node < 0) break;
        const id = trie.id(node);
        if (id < 0) continue;
        const type = types[id];
        if (type === PieceType.UNUSED) continue;
        const end = pos + 1;
        const length = end - start;
        // User-defined pieces get a bonus so that they always win; the C++ code measures their
        // length in UTF-8 bytes and computes the bonus in double precision.
        const score = type === PieceType.USER_DEFINED
          ? this.utf8Lengths.get(id)! * this.maxScore - 0.1
          : scores[id];
        const candidate = Math.fround(score + here);
        if (startsAt[end] === -1 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          startsAt[end] = start;
          bestId[end] = id;
        }
        if (length === charLen) hasSingle = true;
      }
      if (!hasSingle) {
        const end = start + charLen;
        const candidate = Math.fround(unkScore + here);
        if (startsAt[end] === -1 || candidate > bestScore[end]) {
          bestScore[end] = candidate;
          startsAt[end] = start;
          bestId[end] = this.unkId;
        }
      }
      start += charLen;
    }

    const reversed: Segment[] = [];
    for (let end = size; end > 0; end = startsAt[end]) {
      reversed.push({ piece: normalized.slice(startsAt[end], end), id: bestId[end] });
    }
    // Merge runs of unknown pieces, as SentencePieceProcessor::Encode does.
    const out: Segment[] = [];
    for (let k = reversed.length - 1; k >= 0; k--) {
      const seg = reversed[k];
      const last = out[out.length - 1];
      if (last && last.id === this.unkId && seg.id === this.unkId) last.piece += seg.piece;
      else out.push(seg);
    }
    return out;
  }
}
