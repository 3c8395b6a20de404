/**
 * Supervised TANL tasks as pretraining objectives, for intermediate multi-task training of the
 * offline backbone (T5 v1.0 was itself pre-trained on a mixture of span corruption and supervised
 * tasks): each task is a fixed list of (input, target) token-id pairs, formatted exactly as the
 * fine-tuning runs format them (TANL's augmented natural language), drawn uniformly.
 *
 * The leakage guard lives here too. A backbone serves some datasets' rows; it must never see those
 * datasets' labels (the recipe's tasks may not include them) nor any of their evaluation sentences
 * (every training sentence whose {@link matchKey} equals one of theirs is dropped, in the tasks
 * and in the span-corruption corpus alike), and the counts are kept for the model card.
 *
 * @module
 */
import type { DatasetSchema, Example } from "../data/types.ts";
import { formatFor } from "../formats/mod.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { matchKey } from "./corpus.ts";
import { type TokenSource } from "./data.ts";
import type { Rng, Seq2SeqIds } from "./span_corruption.ts";

/** One source of training pairs the pretraining loop can draw from. */
export interface Objective {
  /** Name in logs (`span`, `copy`, `conll04`, ...). */
  name: string;
  /** One example. */
  sample(rng: Rng): Seq2SeqIds;
}

/** TANL's input form of a sentence, the key the leakage guard compares. */
export function sentenceKey(e: Example): string {
  return matchKey(e.tokens.join(" "));
}

/** The examples whose sentence is not in `forbidden`, and how many were dropped. */
export function withoutSentences(
  examples: readonly Example[],
  forbidden: ReadonlySet<string>,
): { kept: Example[]; dropped: number } {
  const kept = examples.filter((e) => !forbidden.has(sentenceKey(e)));
  return { kept, dropped: examples.length - kept.length };
}

/**
 * A supervised task: the examples' TANL inputs and targets, tokenised with truncation to
 * `maxLength` (EOS kept last), drawn uniformly.
 */
export function tanlObjective(
  name: string,
  examples: readonly Example[],
  schema: DatasetSchema,
  tokenizer: T5Tokenizer,
  maxLength: number,
): Objective & { pairs: Seq2SeqIds[] } {
  if (examples.length === 0) throw new Error(`task ${name}: no examples`);
  const format = formatFor(schema.task);
  const pairs = examples.map((e) => ({
    inputs: tokenizer.encode(format.formatInput(e, schema), { maxLength }),
    targets: tokenizer.encode(format.formatOutput(e, schema), { maxLength }),
  }));
  return { name, pairs, sample: (rng) => pairs[rng.int(pairs.length)] };
}

/**
 * Whole lower-case words of the vocabulary (pieces `▁word` of 3 to 12 letters): the names
 * {@link renamedTypesObjective} draws from. Taken from the tokenizer, so they need no corpus and
 * each is one piece.
 */
export function vocabularyWords(tokenizer: T5Tokenizer): string[] {
  const words: string[] = [];
  for (let id = 0; id < tokenizer.pieceCount; id++) {
    const m = /^\u2581([a-z]{3,12})$/.exec(tokenizer.idToPiece(id));
    if (m) words.push(m[1]);
  }
  return words;
}

/**
 * `base`'s task (built by {@link tanlObjective} from the same `examples`) with, on a `share` of draws, every entity and relation type of the drawn example
 * renamed to a random word of `words` (one word per type, the same wherever the type occurs in
 * the example), formatted and tokenised on the fly.
 *
 * Why: a backbone trained on one dataset's labels learns to write only that dataset's type names,
 * and a sparse update of 1 % of its weights then cannot teach it another dataset's (ADE fine-tuned
 * from the CoNLL04 backbone writes CoNLL04's `person` and `works for`). Trained to write whatever
 * name a type is given, it learns TANL's brackets, spans and relation tags without a fixed
 * inventory of names.
 */
export function renamedTypesObjective(
  base: Objective & { pairs: Seq2SeqIds[] },
  examples: readonly Example[],
  schema: DatasetSchema,
  tokenizer: T5Tokenizer,
  maxLength: number,
  share: number,
  words: readonly string[],
): Objective {
  if (schema.task !== "ner" && schema.task !== "joint_er") {
    throw new Error(
      `task ${base.name}: type names are renamed only for ner and joint_er, not ${schema.task}`,
    );
  }
  if (base.pairs.length !== examples.length) {
    throw new Error(`task ${base.name}: ${base.pairs.length} pairs for ${examples.length} examples`);
  }
  if (words.length < 2) throw new Error(`task ${base.name}: at least 2 words are needed to rename types`);
  const format = formatFor(schema.task);
  return {
    name: base.name,
    sample(rng) {
      // One draw decides, so the stream advances the same way whatever the share.
      const rename = rng.next() < share;
      const i = rng.int(examples.length);
      if (!rename) return base.pairs[i];
      const e = examples[i];
      const names = new Map<string, string>();
      const renamed = (t: { short: string; natural: string }) => {
        if (!names.has(t.natural)) names.set(t.natural, words[rng.int(words.length)]);
        return { short: t.short, natural: names.get(t.natural)! };
      };
      const copy: Example = {
        ...e,
        entities: e.entities.map((x) => ({ ...x, type: renamed(x.type) })),
        relations: e.relations.map((r) => ({ ...r, type: renamed(r.type) })),
      };
      return {
        inputs: tokenizer.encode(format.formatInput(copy, schema), { maxLength }),
        targets: tokenizer.encode(format.formatOutput(copy, schema), { maxLength }),
      };
    },
  };
}

/**
 * A corpus source without the sentences whose text (line i of `lines` is sentence i) is in
 * `forbidden`; returns the source unchanged when none is.
 */
export function filterTokenSource(
  src: TokenSource,
  lines: readonly string[],
  forbidden: ReadonlySet<string>,
): { source: TokenSource; dropped: number } {
  const n = src.offsets.length - 1;
  if (lines.length !== n) {
    throw new Error(`corpus source ${src.name}: ${lines.length} text lines for ${n} token sequences`);
  }
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (!forbidden.has(matchKey(lines[i]))) keep.push(i);
  if (keep.length === n) return { source: src, dropped: 0 };
  let total = 0;
  for (const i of keep) total += src.offsets[i + 1] - src.offsets[i];
  const ids = new Uint16Array(total), offsets = new Uint32Array(keep.length + 1);
  let at = 0;
  keep.forEach((i, j) => {
    ids.set(src.ids.subarray(src.offsets[i], src.offsets[i + 1]), at);
    at += src.offsets[i + 1] - src.offsets[i];
    offsets[j + 1] = at;
  });
  return { source: { name: src.name, ids, offsets }, dropped: n - keep.length };
}
