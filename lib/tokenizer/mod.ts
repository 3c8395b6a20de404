/**
 * The T5 tokenizer in pure TypeScript: SentencePiece (model file reader, normalizer, unigram
 * Viterbi) plus Hugging Face's slow `T5Tokenizer` behaviour on top.
 *
 * ```ts
 * import { T5Tokenizer } from "./lib/tokenizer/mod.ts";
 * const tok = await T5Tokenizer.load(); // <data dir>/t5/spiece.model
 * const { inputIds, attentionMask } = tok.batchEncode(["Hello world", "a"]);
 * ```
 *
 * @module
 */

export {
  type BatchEncodeOptions,
  type BatchEncoding,
  type DecodeOptions,
  type EncodeOptions,
  SPIECE_RELATIVE_PATH,
  T5_EXTRA_IDS,
  T5Tokenizer,
} from "./t5_tokenizer.ts";
export { DartsDoubleArray, SentencePieceNormalizer, SPACE_SYMBOL } from "./normalizer.ts";
export { type Segment, UnigramModel } from "./unigram.ts";
export {
  type ModelPiece,
  type NormalizerSpec,
  parseSentencePieceModel,
  PieceType,
  type SentencePieceModel,
  SentencePieceModelError,
} from "./sentencepiece_model.ts";
