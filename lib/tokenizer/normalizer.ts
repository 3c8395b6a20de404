/**
 * SentencePiece's text normalizer, driven by the model's precompiled character map.
 *
 * This mirrors `normalizer.cc` of SentencePiece (0.1.9x), the code behind T5's `nmt_nfkc` rule:
 *
 * 1. At each byte position, the longest key of the charsmap's darts-clone trie that prefixes the
 *    remaining UTF-8 input is replaced by its replacement string. With no match, one UTF-8
 *    character is copied (an invalid byte becomes U+FFFD and consumes one byte).
 * 2. With `remove_extra_whitespaces`, leading spaces are dropped, runs of spaces collapse to one
 *    and trailing spaces are removed. "Space" here means an ASCII space *after* step 1, so tabs,
 *    newlines, no-break and zero-width spaces (mapped to " " by the charsmap) collapse too.
 * 3. With `add_dummy_prefix` a space is put in front, and with `escape_whitespaces` every space
 *    becomes U+2581 ("▁").
 *
 * `String.prototype.normalize("NFKC")` is not used: the charsmap is the ground truth and differs
 * from plain NFKC (whitespace and control characters, for example).
 *
 * @module
 */

import type { NormalizerSpec } from "./sentencepiece_model.ts";

/** U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible stand-in for a space. */
export const SPACE_SYMBOL = "\u2581";

const SPACE = 0x20;
const SPACE_SYMBOL_BYTES = new Uint8Array([0xe2, 0x96, 0x81]);
const REPLACEMENT_BYTES = new Uint8Array([0xef, 0xbf, 0xbd]);

/**
 * Common-prefix search over a darts-clone double array (the format of `Darts::DoubleArray`).
 *
 * Each 32-bit unit packs: bit 8 = has a leaf child, bit 9 = offset scale, bits 10..31 = offset,
 * bits 0..7 = label (bit 31 is set on value units so they never match a label). A value unit
 * stores its value in the low 31 bits.
 */
export class DartsDoubleArray {
  constructor(private readonly units: Uint32Array) {}

  /**
   * Returns the value and byte length of the longest key that is a prefix of `key[start..end)`
   * (length 0 when none).
   */
  longestPrefix(key: Uint8Array, start: number, end: number): { value: number; length: number } {
    const units = this.units;
    let value = 0, length = 0;
    let unit = units[0];
    let nodePos = offsetOf(unit);
    for (let i = start; i < end; i++) {
      const c = key[i];
      nodePos ^= c;
      unit = units[nodePos];
      // label(): low 8 bits plus bit 31; a mismatch ends the search.
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      nodePos ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        // Longer matches come later, so the last one seen is the longest (normalizer.cc keeps
        // the longest result of commonPrefixSearch).
        value = units[nodePos] & 0x7fffffff;
        length = i + 1 - start;
      }
    }
    return { value, length };
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

/** Byte length of the UTF-8 character starting at `buf[i]`, or 0 when it is malformed. */
function validUtf8Length(buf: Uint8Array, i: number, end: number): number {
  const b0 = buf[i];
  if (b0 < 0x80) return 1;
  let len: number, min: number, cp: number;
  if ((b0 & 0xe0) === 0xc0) [len, min, cp] = [2, 0x80, b0 & 0x1f];
  else if ((b0 & 0xf0) === 0xe0) [len, min, cp] = [3, 0x800, b0 & 0x0f];
  else if ((b0 & 0xf8) === 0xf0) [len, min, cp] = [4, 0x10000, b0 & 0x07];
  else return 0;
  if (i + len > end) return 0;
  for (let k = 1; k < len; k++) {
    const b = buf[i + k];
    if ((b & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/** A growable byte buffer, to avoid building strings one character at a time. */
class ByteSink {
  buf = new Uint8Array(256);
  length = 0;
  push(b: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
  }
  append(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    if (this.length + n > this.buf.length) this.grow(n);
    this.buf.set(src.subarray(start, end), this.length);
    this.length += n;
  }
  endsWith(tail: Uint8Array): boolean {
    if (this.length < tail.length) return false;
    for (let k = 0; k < tail.length; k++) {
      if (this.buf[this.length - tail.length + k] !== tail[k]) return false;
    }
    return true;
  }
  private grow(n: number): void {
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** SentencePiece's normalizer for one model (see the module comment for the steps). */
export class SentencePieceNormalizer {
  private readonly trie: DartsDoubleArray | null;
  private readonly replacements: Uint8Array;

  /** User-defined symbols by first byte, each as UTF-8 bytes; matched before the charsmap. */
  private readonly userDefined = new Map<number, Uint8Array[]>();

  /**
   * @param spec the model's normalizer settings
   * @param userDefinedSymbols USER_DEFINED pieces, which SentencePiece copies through unnormalized
   */
  constructor(readonly spec: NormalizerSpec, userDefinedSymbols: readonly string[] = []) {
    for (const sym of userDefinedSymbols) {
      const b = encoder.encode(sym);
      if (b.length === 0) continue;
      const list = this.userDefined.get(b[0]) ?? [];
      list.push(b);
      this.userDefined.set(b[0], list);
    }
    const blob = spec.precompiledCharsmap;
    if (blob.length === 0) {
      // An identity normalizer (no rules), as SentencePiece does for `identity`.
      this.trie = null;
      this.replacements = new Uint8Array(0);
      return;
    }
    if (blob.length < 4) throw new Error("precompiled_charsmap is too short");
    const trieSize = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length) {
      throw new Error(`precompiled_charsmap: bad trie size ${trieSize} for ${blob.length} bytes`);
    }
    // Copy so that the Uint32Array is aligned regardless of where the blob sits.
    const trieBytes = blob.slice(4, 4 + trieSize);
    this.trie = new DartsDoubleArray(new Uint32Array(trieBytes.buffer, 0, trieSize / 4));
    this.replacements = blob.subarray(4 + trieSize);
  }

  /**
   * Returns the normalized replacement of the longest rule at `input[i..]` as
   * `[bytesSource, start, end, consumed]` (a view into either the replacements blob or the input).
   */
  private prefix(input: Uint8Array, i: number, end: number): [Uint8Array, number, number, number] {
    // A user-defined symbol (longest match) is kept verbatim, as SentencePiece's PrefixMatcher does.
    const candidates = this.userDefined.get(input[i]);
    if (candidates) {
      let best = 0;
      for (const sym of candidates) {
        if (sym.length <= best || i + sym.length > end) continue;
        let k = 0;
        while (k < sym.length && input[i + k] === sym[k]) k++;
        if (k === sym.length) best = k;
      }
      if (best > 0) return [input, i, i + best, best];
    }
    if (this.trie) {
      const { value, length } = this.trie.longestPrefix(input, i, end);
      if (length > 0) {
        // Replacement strings are NUL-terminated inside the blob.
        let stop = value;
        while (stop < this.replacements.length && this.replacements[stop] !== 0) stop++;
        return [this.replacements, value, stop, length];
      }
    }
    const n = validUtf8Length(input, i, end);
    if (n === 0) return [REPLACEMENT_BYTES, 0, 3, 1];
    return [input, i, i + n, n];
  }

  /** Normalizes UTF-8 bytes and returns UTF-8 bytes (spaces escaped per the spec). */
  normalizeBytes(input: Uint8Array): Uint8Array {
    const spec = this.spec;
    const out = new ByteSink();
    const end = input.length;
    let i = 0;
    const removeExtra = spec.removeExtraWhitespaces;
    const space = spec.escapeWhitespaces ? SPACE_SYMBOL_BYTES : new Uint8Array([SPACE]);
    const addSpace = () => out.append(space);

    // Leading whitespace (after normalization) is skipped entirely.
    if (removeExtra) {
      while (i < end) {
        const [src, s, e, consumed] = this.prefix(input, i, end);
        if (!(e - s === 1 && src[s] === SPACE)) break;
        i += consumed;
      }
    }
    if (i >= end) return new Uint8Array(0);

    if (spec.addDummyPrefix) addSpace();

    let prevSpace = removeExtra;
    while (i < end) {
      const [src, s0, e, consumed] = this.prefix(input, i, end);
      let s = s0;
      if (prevSpace && removeExtra) {
        while (s < e && src[s] === SPACE) s++;
      }
      if (s < e) {
        for (let k = s; k < e; k++) {
          if (spec.escapeWhitespaces && src[k] === SPACE) out.append(SPACE_SYMBOL_BYTES);
          else out.push(src[k]);
        }
        prevSpace = src[e - 1] === SPACE;
      }
      i += consumed;
      if (!removeExtra) prevSpace = false;
    }

    // Trailing whitespace is removed (this also undoes a dummy prefix on an all-space string).
    if (removeExtra) {
      while (out.endsWith(space)) out.length -= space.length;
    }
    return out.buf.slice(0, out.length);
  }

  /** Normalizes a string: `normalize("  Hello\tworld")` is `"▁Hello▁world"` for T5. */
  normalize(text: string): string {
    return decoder.decode(this.normalizeBytes(encoder.encode(text)));
  }
}
