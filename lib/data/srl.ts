/**
 * Semantic role labelling on CoNLL-2005 (WSJ and Brown), in the one-line-per-predicate files TANL
 * reads (`CoNLL2005-SRL/conll05.{split}.txt`, `CoNLL2005-SRL-Brown/conll05.test.txt`):
 *
 * ```text
 * 7 The cat sat on the mat . ||| B-ARG1 I-ARG1 B-V B-ARGM-LOC I-ARGM-LOC I-ARGM-LOC O
 * ```
 *
 * The first whitespace token of the sentence field is dropped (the predicate's index in He et al.'s
 * format). FISH-DIP's copy of the loader expects a third `|||` field and ignores it
 * (`line.split('|||')[0:-1]`), TANL's expects exactly two; both forms are accepted here. Tags are
 * read as TANL's `convert_bio_to_entities` does: `B-X` opens a span, `I-X` extends the open span
 * whatever its type, `O` leaves it open; the `B-V` span is the predicate (bracketed in the input,
 * not annotated in the output). `ARG0` is "first argument", `ARG1` "second argument", every other
 * role keeps its label. The schema's entity types are those seen in the loaded split, as TANL
 * rebuilds them. The WSJ and Brown words are LDC-licensed: bring your own files.
 *
 * @module
 */
import type { DatasetSchema, Entity, Example, LabelType } from "./types.ts";
import {
  dataFile,
  DataFormatError,
  type LoadOptions,
  pySplit,
  pyStrip,
  readText,
  requireExamples,
  shortLine,
  textLines,
} from "./io.ts";

/** TANL's natural names for SRL roles; other roles keep their label. */
export const SRL_NATURAL: Record<string, string> = {
  ARG0: "first argument",
  ARG1: "second argument",
  V: "predicate",
};

/** Parses the text of a CoNLL-2005 SRL file; the schema lists the roles seen, in order. */
export function parseConll05Srl(
  text: string,
  file: string,
  split: string,
  name = "conll05_srl",
): { examples: Example[]; schema: DatasetSchema } {
  const types = new Map<string, LabelType>();
  const typeOf = (short: string): LabelType => {
    let t = types.get(short);
    if (t === undefined) types.set(short, t = { short, natural: SRL_NATURAL[short] ?? short });
    return t;
  };
  const examples = textLines(text).map((line, i): Example => {
    const fail = (msg: string) => DataFormatError.atLine(file, i + 1, msg);
    const fields = line.split("|||");
    if (fields.length !== 2 && fields.length !== 3) {
      throw fail(
        `expected "INDEX TOKENS ||| TAGS" (optionally followed by "|||"), found ${fields.length - 1} ` +
          `"|||": ${shortLine(line)}`,
      );
    }
    const tokens = pySplit(pyStrip(fields[0])).slice(1);
    const tags = pySplit(pyStrip(fields[1]));
    // An empty sentence would be a training example with nothing to label (a line cut short?).
    if (tokens.length === 0) throw fail(`no tokens after the predicate index: ${shortLine(line)}`);
    if (tags.length !== tokens.length) {
      throw fail(
        `${tags.length} tags for ${tokens.length} tokens (after dropping the leading predicate index)`,
      );
    }
    const entities: Entity[] = [];
    let current: { start: number; end: number } | null = null;
    let predicate: { start: number; end: number } | undefined;
    tags.forEach((tag, k) => {
      if (tag.startsWith("B-") && tag.length > 2) {
        const short = tag.slice(2);
        if (short === "V") {
          current = predicate = { start: k, end: k + 1 };
        } else {
          const e: Entity = { type: typeOf(short), start: k, end: k + 1 };
          entities.push(e);
          current = e;
        }
      } else if (tag.startsWith("I-") && tag.length > 2) {
        if (current === null) {
          throw fail(`tag ${k} ${JSON.stringify(tag)} continues a span that was never opened`);
        }
        current.end = k + 1;
      } else if (tag !== "O") {
        throw fail(`tag ${k} ${JSON.stringify(tag)} is not O, B-ROLE or I-ROLE`);
      }
    });
    const ex: Example = { id: `${split}-${i}`, tokens, entities, relations: [] };
    if (predicate) ex.predicate = predicate;
    return ex;
  });
  return { examples, schema: { name, task: "srl", entityTypes: [...types.values()], relationTypes: [] } };
}

/** Loads CoNLL-2005 WSJ SRL, `CoNLL2005-SRL/conll05.{split}.txt`. */
export function loadConll05Srl(
  split: "train" | "dev" | "test",
  opts: LoadOptions = {},
): { examples: Example[]; schema: DatasetSchema } {
  const file = dataFile(`CoNLL2005-SRL/conll05.${split}.txt`, "conll05_srl", false, opts);
  return nonEmptySrl(
    parseConll05Srl(readText(file), file.display, split, "conll05_srl"),
    file.display,
    split,
  );
}

/** Loads the CoNLL-2005 Brown test set, `CoNLL2005-SRL-Brown/conll05.{split}.txt` (normally `test`). */
export function loadConll05SrlBrown(
  split: "train" | "dev" | "test" = "test",
  opts: LoadOptions = {},
): { examples: Example[]; schema: DatasetSchema } {
  const file = dataFile(`CoNLL2005-SRL-Brown/conll05.${split}.txt`, "conll05_srl_brown", false, opts);
  return nonEmptySrl(
    parseConll05Srl(readText(file), file.display, split, "conll05_srl_brown"),
    file.display,
    split,
  );
}

function nonEmptySrl(
  r: { examples: Example[]; schema: DatasetSchema },
  file: string,
  split: string,
): { examples: Example[]; schema: DatasetSchema } {
  requireExamples(r.examples, file, r.schema.name, split, "no lines in the file");
  return r;
}
