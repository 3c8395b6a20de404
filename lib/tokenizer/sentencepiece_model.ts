/**
 * Reads a SentencePiece `ModelProto` (the `spiece.model` file) without any protobuf library.
 *
 * Only the fields the tokenizer needs are decoded; everything else is skipped by wire type, so
 * files written by newer SentencePiece versions (extra fields) still load. Field numbers follow
 * `sentencepiece_model.proto`:
 *
 * - `ModelProto.pieces` (1): `SentencePiece { piece: string = 1; score: float = 2; type = 3 }`
 * - `ModelProto.trainer_spec` (2): `model_type` (3), `treat_whitespace_as_suffix` (24),
 *   `byte_fallback` (35)
 * - `ModelProto.normalizer_spec` (3): `name` (1), `precompiled_charsmap` (2), `add_dummy_prefix`
 *   (3, default true), `remove_extra_whitespaces` (4, default true), `escape_whitespaces` (5,
 *   default true)
 *
 * @module
 */

/**
 * A file that is not a usable SentencePiece model (garbage, truncated, or missing what a model
 * needs). The message is `not a SentencePiece model: PATH: REASON`; `hint` says what to do.
 */
export class SentencePieceModelError extends Error {
  readonly hint = "replace the spiece.model named above with an intact copy (download the model again, " +
    "or copy the tokenizer it was trained with)";
  constructor(readonly path: string, readonly reason: string) {
    super(`not a SentencePiece model: ${path}: ${reason}`);
    this.name = "SentencePieceModelError";
  }
}

/** `SentencePiece.Type` from the proto (NORMAL is the default when the field is absent). */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** One vocabulary entry. */
export interface ModelPiece {
  /** The piece text, with U+2581 standing for a space. */
  piece: string;
  /** Log probability (a float32 in the file; kept exactly as a float32 value). */
  score: number;
  /** One of {@link PieceType}. */
  type: number;
}

/** The normalizer settings of a model. */
export interface NormalizerSpec {
  /** Rule name, e.g. `nmt_nfkc`. */
  name: string;
  /** Compiled rules: 4-byte trie size, darts-clone trie, then NUL-separated replacement strings. */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** The decoded parts of a `ModelProto`. */
export interface SentencePieceModel {
  pieces: ModelPiece[];
  normalizer: NormalizerSpec;
  /** `TrainerSpec.model_type`: 1 unigram (default), 2 BPE, 3 word, 4 char. */
  modelType: number;
  treatWhitespaceAsSuffix: boolean;
  byteFallback: boolean;
}

/** A cursor over protobuf wire-format bytes. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  /** Reads a base-128 varint; values above 2^53 are not needed here and lose precision. */
  varint(): number {
    let result = 0, scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error("protobuf: truncated varint");
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error("protobuf: length-delimited field overruns message");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Skips a fixed-width value, refusing one cut off by the end of the message. */
  private fixed(width: number): void {
    if (this.pos + width > this.end) throw new Error(`protobuf: truncated fixed${8 * width}`);
    this.pos += width;
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw new Error("protobuf: truncated fixed32");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        break;
      case 1:
        this.fixed(8);
        break;
      case 2:
        this.bytes();
        break;
      case 5:
        this.fixed(4);
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wireType}`);
    }
  }

  /** Iterates over `[fieldNumber, wireType]` until the end of the message. */
  *fields(): Generator<[number, number]> {
    while (this.pos < this.end) {
      const key = this.varint();
      // Field number 0 is invalid in protobuf; seeing it means the bytes are not a message.
      if (key < 8) throw new Error(`protobuf: invalid field number 0 at byte ${this.pos}`);
      yield [Math.floor(key / 8), key & 7];
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function sub(buf: Uint8Array): Reader {
  return new Reader(buf);
}

function parsePiece(buf: Uint8Array, id: number): ModelPiece {
  const r = sub(buf);
  const out: ModelPiece = { piece: "", score: 0, type: PieceType.NORMAL };
  for (const [field, wt] of r.fields()) {
    if (field === 1 && wt === 2) {
      const bytes = r.bytes();
      try {
        out.piece = utf8.decode(bytes);
      } catch {
        throw new Error(`piece ${id} is not valid UTF-8`);
      }
    } else if (field === 2 && wt === 5) out.score = r.float32();
    else if (field === 3 && wt === 0) out.type = r.varint();
    else r.skip(wt);
  }
  // SentencePiece itself refuses both when it loads a model.
  if (out.piece === "") throw new Error(`piece ${id} is empty`);
  if (!(Object.values(PieceType) as number[]).includes(out.type)) {
    throw new Error(`piece ${id} ("${out.piece}") has unknown type ${out.type}`);
  }
  return out;
}

function parseNormalizer(buf: Uint8Array): NormalizerSpec {
  const r = sub(buf);
  // Defaults are the proto's declared defaults, which apply when a field is absent.
  const out: NormalizerSpec = {
    name: "",
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  for (const [field, wt] of r.fields()) {
    if (field === 1 && wt === 2) out.name = utf8.decode(r.bytes());
    else if (field === 2 && wt === 2) out.precompiledCharsmap = r.bytes().slice();
    else if (field === 3 && wt === 0) out.addDummyPrefix = r.varint() !== 0;
    else if (field === 4 && wt === 0) out.removeExtraWhitespaces = r.varint() !== 0;
    else if (field === 5 && wt === 0) out.escapeWhitespaces = r.varint() !== 0;
    else r.skip(wt);
  }
  return out;
}

/**
 * Decodes the bytes of a `spiece.model` file; `path` names it in errors. Throws
 * {@link SentencePieceModelError} for anything that is not a complete model.
 *
 * ```ts
 * const model = parseSentencePieceModel(await Deno.readFile("data/t5/spiece.model"));
 * model.pieces.length; // 32000
 * ```
 */
export function parseSentencePieceModel(bytes: Uint8Array, path = "<bytes>"): SentencePieceModel {
  try {
    return parseModel(bytes);
  } catch (e) {
    throw new SentencePieceModelError(path, (e as Error).message);
  }
}

function parseModel(bytes: Uint8Array): SentencePieceModel {
  const r = new Reader(bytes);
  let hasTrainerSpec = false, hasNormalizerSpec = false;
  const model: SentencePieceModel = {
    pieces: [],
    normalizer: parseNormalizer(new Uint8Array(0)),
    modelType: 1,
    treatWhitespaceAsSuffix: false,
    byteFallback: false,
  };
  for (const [field, wt] of r.fields()) {
    if (field === 1 && wt === 2) model.pieces.push(parsePiece(r.bytes(), model.pieces.length));
    else if (field === 2 && wt === 2) {
      hasTrainerSpec = true;
      const t = sub(r.bytes());
      for (const [f, w] of t.fields()) {
        if (f === 3 && w === 0) model.modelType = t.varint();
        else if (f === 24 && w === 0) model.treatWhitespaceAsSuffix = t.varint() !== 0;
        else if (f === 35 && w === 0) model.byteFallback = t.varint() !== 0;
        else t.skip(w);
      }
    } else if (field === 3 && wt === 2) {
      hasNormalizerSpec = true;
      model.normalizer = parseNormalizer(r.bytes());
    } else r.skip(wt);
  }
  if (model.pieces.length === 0) throw new Error("no pieces found");
  // Protobuf writes fields in number order, so every model SentencePiece writes (and the reduced
  // vocabularies of lib/pretrain/vocab.ts, which copy these fields) has its pieces first, then
  // trainer_spec, then normalizer_spec. A file cut off anywhere in the pieces, even exactly
  // between two, therefore lacks both specs; without this check it would load as a smaller
  // vocabulary whose missing ids only fail later, inside the model.
  if (!hasTrainerSpec) {
    throw new Error(
      `no trainer_spec after its ${model.pieces.length} pieces: the file is truncated (${bytes.length} bytes)`,
    );
  }
  if (!hasNormalizerSpec) {
    throw new Error(`no normalizer_spec: the file is truncated (${bytes.length} bytes)`);
  }
  return model;
}
