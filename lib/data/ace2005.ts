/**
 * ACE 2005 joint entity and relation extraction, in the JSON-lines files of DyGIE's preprocessing
 * (`ace2005_joint_er/{split}.json`), read as TANL's `ACE2005REDataset` does.
 *
 * Each line is one document: `sentences` (lists of tokens), `ner` (per sentence, `[start, end,
 * type]` with `end` inclusive) and `relations` (per sentence, `[start1, end1, start2, end2, type]`),
 * all token offsets counted from the start of the document. Only sentences with at least one
 * entity become examples, named `split-document-sentence`; a sentence is dropped when a relation
 * endpoint matches more than one entity span (the same span typed twice), because the relation
 * could not say which entity it means. ACE 2005 is LDC-licensed: bring your own copy.
 *
 * @module
 */
import type { DatasetSchema, Entity, Example, Relation } from "./types.ts";
import { labelTypes } from "./conll.ts";
import {
  badField,
  dataFile,
  DataFormatError,
  isIndex,
  isObject,
  isStringArray,
  type LoadOptions,
  parseJson,
  readText,
  requireExamples,
  show,
  textLines,
} from "./io.ts";

/** ACE 2005 with TANL's natural names. */
export const ACE2005_SCHEMA: DatasetSchema = {
  name: "ace2005_joint_er",
  task: "joint_er",
  entityTypes: labelTypes({
    PER: "person",
    LOC: "location",
    ORG: "organization",
    VEH: "vehicle",
    GPE: "geographical entity",
    WEA: "weapon",
    FAC: "facility",
  }),
  relationTypes: labelTypes({
    PHYS: "located in",
    ART: "artifact",
    "ORG-AFF": "employer",
    "GEN-AFF": "affiliation",
    "PER-SOC": "social",
    "PART-WHOLE": "part of",
  }),
};

/** Parses DyGIE JSON lines (the text of one file) into examples. */
export function parseAce2005(text: string, file: string, split: string): Example[] {
  const eTypes = new Map(ACE2005_SCHEMA.entityTypes.map((t) => [t.short, t]));
  const rTypes = new Map(ACE2005_SCHEMA.relationTypes.map((t) => [t.short, t]));
  const examples: Example[] = [];
  const lines = textLines(text);
  for (let j = 0; j < lines.length; j++) {
    const fail = (msg: string) => DataFormatError.atLine(file, j + 1, msg);
    if (lines[j].trim() === "") throw fail("empty line (expected one JSON document per line)");
    const doc = parseJson(lines[j], file, j);
    if (!isObject(doc)) throw fail("expected a JSON object");
    const { sentences, ner, relations } = doc;
    if (!Array.isArray(sentences) || !sentences.every(isStringArray)) {
      throw fail(
        sentences === undefined
          ? badField(doc, "sentences", "a list of token lists")
          : `"sentences" must be a list of token lists`,
      );
    }
    for (const [key, v] of [["ner", ner], ["relations", relations]] as const) {
      if (v === undefined) {
        throw fail(badField(doc, key, `a list with one list per sentence (${sentences.length})`));
      }
      if (!Array.isArray(v) || v.length !== sentences.length || !v.every(Array.isArray)) {
        throw fail(`"${key}" must be a list with one list per sentence (${sentences.length})`);
      }
    }
    const nerLists = ner as unknown[][], relLists = relations as unknown[][];
    let offset = 0;
    sentences.forEach((tokens, i) => {
      const where = `sentence ${i}`;
      if (nerLists[i].length > 0) {
        const entities: Entity[] = nerLists[i].map((y, k) => {
          if (!Array.isArray(y) || y.length !== 3 || !isIndex(y[0]) || !isIndex(y[1])) {
            throw fail(`${where}: entity ${k} must be [start, end, type], got ${show(y)}`);
          }
          const type = eTypes.get(y[2]);
          if (type === undefined) throw fail(`${where}: entity ${k}: unknown entity type ${show(y[2])}`);
          const start = y[0] - offset, end = y[1] - offset + 1;
          if (start < 0 || end <= start || end > tokens.length) {
            throw fail(
              `${where}: entity ${k} ${show(y)} is outside the sentence (tokens ${offset}..${
                offset + tokens.length - 1
              })`,
            );
          }
          return { type, start, end };
        });
        const rels: Relation[] = [];
        let skip = false;
        for (const [k, y] of relLists[i].entries()) {
          if (!Array.isArray(y) || y.length !== 5 || !y.slice(0, 4).every(isIndex)) {
            throw fail(`${where}: relation ${k} must be [start1, end1, start2, end2, type], got ${show(y)}`);
          }
          const find = (s: number, e: number) =>
            entities.flatMap((x, idx) => (x.start === s - offset && x.end === e - offset + 1 ? [idx] : []));
          const heads = find(y[0], y[1]), tails = find(y[2], y[3]);
          if (heads.length > 1 || tails.length > 1) {
            skip = true;
            break;
          }
          if (heads.length === 0 || tails.length === 0) {
            throw fail(
              `${where}: relation ${k} ${show(y)}: its ${
                heads.length === 0 ? "head" : "tail"
              } is not an entity span`,
            );
          }
          const type = rTypes.get(y[4]);
          if (type === undefined) throw fail(`${where}: relation ${k}: unknown relation type ${show(y[4])}`);
          rels.push({ type, head: heads[0], tail: tails[0] });
        }
        if (!skip) examples.push({ id: `${split}-${j}-${i}`, tokens, entities, relations: rels });
      }
      offset += tokens.length;
    });
  }
  return examples;
}

/** Loads `ace2005_joint_er/{split}.json` (DyGIE JSON lines). */
export function loadAce2005(split: "train" | "dev" | "test", opts: LoadOptions = {}): Example[] {
  const file = dataFile(`ace2005_joint_er/${split}.json`, "ace2005_joint_er", false, opts);
  return requireExamples(
    parseAce2005(readText(file), file.display, split),
    file.display,
    "ace2005_joint_er",
    split,
    "no document with an entity-bearing sentence",
  );
}
