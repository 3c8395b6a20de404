/**
 * Joint entity and relation extraction in SpERT's JSON format: CoNLL04 and ADE.
 *
 * A file is a JSON list of sentences `{tokens, entities: [{type, start, end}], relations:
 * [{type, head, tail}], orig_id}`; `end` is exclusive and `head`/`tail` index into `entities`.
 * This is TANL's `JointERDataset.load_data_single_split`; examples are named `split-index`, where
 * `split` is the file's split name (for ADE, TANL's `split_{fold}_train` / `split_{fold}_test`).
 *
 * Both datasets are downloadable (`deno task download conll04 ade`).
 *
 * @module
 */
import type { DatasetSchema, Entity, Example, LabelType } from "./types.ts";
import { labelTypes } from "./conll.ts";
import {
  badField,
  dataFile,
  DataFormatError,
  isIndex,
  isObject,
  isStringArray,
  type LoadOptions,
  readJson,
  requireExamples,
  show,
} from "./io.ts";

/** CoNLL04 with TANL's natural names. */
export const CONLL04_SCHEMA: DatasetSchema = {
  name: "conll04",
  task: "joint_er",
  entityTypes: labelTypes({ Loc: "location", Org: "organization", Peop: "person", Other: "other" }),
  relationTypes: labelTypes({
    Work_For: "works for",
    Kill: "kills",
    OrgBased_In: "organization based in",
    Live_In: "lives in",
    Located_In: "located in",
  }),
};

/** TANL's natural names for ADE's types (`ADEDataset`); the short names come from `ade_types.json`. */
export const ADE_NATURAL = {
  entities: { "Adverse-Effect": "disease", Drug: "drug" } as Record<string, string>,
  relations: { "Adverse-Effect": "effect" } as Record<string, string>,
};

/** ADE as TANL defines it (used when `ade_types.json` is absent, and to check it when present). */
export const ADE_SCHEMA: DatasetSchema = {
  name: "ade",
  task: "joint_er",
  entityTypes: labelTypes(ADE_NATURAL.entities),
  relationTypes: labelTypes(ADE_NATURAL.relations),
};

/** The fields an entity and a relation must have, and what each holds (for messages). */
const ENTITY_FIELDS = [
  ["type", "an entity type"],
  ["start", "a token index"],
  ["end", "a token index, exclusive"],
] as const;
const RELATION_FIELDS = [
  ["type", "a relation type"],
  ["head", "an entity index"],
  ["tail", "an entity index"],
] as const;

/**
 * Parses one SpERT JSON document (already `JSON.parse`d) into examples `split-index`.
 * Errors name `file` and the offending item's index.
 */
export function parseSpert(data: unknown, file: string, split: string, schema: DatasetSchema): Example[] {
  if (!Array.isArray(data)) throw new DataFormatError(file, "", "expected a JSON list of sentences");
  const eTypes = new Map(schema.entityTypes.map((t) => [t.short, t]));
  const rTypes = new Map(schema.relationTypes.map((t) => [t.short, t]));
  return data.map((x, i) => {
    const fail = (msg: string) => DataFormatError.atItem(file, i, msg);
    if (!isObject(x)) throw fail(`expected an object, got ${show(x)}`);
    const tokens = x.tokens;
    if (!isStringArray(tokens)) throw fail(badField(x, "tokens", "a list of strings"));
    if (!Array.isArray(x.entities)) throw fail(badField(x, "entities", "a list"));
    const entities: Entity[] = x.entities.map((y: unknown, j: number) => {
      if (!isObject(y)) throw fail(`entity ${j} is not an object: ${show(y)}`);
      for (const [key, what] of ENTITY_FIELDS) {
        if (y[key] === undefined) throw fail(`entity ${j}: ${badField(y, key, what)}`);
      }
      const type = lookup(eTypes, y.type, () => fail(`entity ${j}: unknown entity type ${show(y.type)}`));
      if (!isIndex(y.start) || !isIndex(y.end) || y.start >= y.end || y.end > tokens.length) {
        throw fail(
          `entity ${j}: span [${show(y.start)}, ${show(y.end)}) is not inside the ${tokens.length} tokens`,
        );
      }
      return { type, start: y.start, end: y.end };
    });
    const rawRelations = x.relations ?? [];
    if (!Array.isArray(rawRelations)) throw fail(`"relations" must be a list, got ${show(rawRelations)}`);
    const relations = rawRelations.map((y: unknown, j: number) => {
      if (!isObject(y)) throw fail(`relation ${j} is not an object: ${show(y)}`);
      for (const [key, what] of RELATION_FIELDS) {
        if (y[key] === undefined) throw fail(`relation ${j}: ${badField(y, key, what)}`);
      }
      const type = lookup(rTypes, y.type, () => fail(`relation ${j}: unknown relation type ${show(y.type)}`));
      for (const end of ["head", "tail"] as const) {
        const v = y[end];
        if (!isIndex(v) || v >= entities.length) {
          throw fail(`relation ${j}: ${end} ${show(v)} is not an index into the ${entities.length} entities`);
        }
      }
      return { type, head: y.head as number, tail: y.tail as number };
    });
    const ex: Example = { id: `${split}-${i}`, tokens, entities, relations };
    if (typeof x.orig_id === "string" || typeof x.orig_id === "number") ex.origId = x.orig_id;
    return ex;
  });
}

function lookup(types: Map<string, LabelType>, key: unknown, fail: () => Error): LabelType {
  const t = typeof key === "string" ? types.get(key) : undefined;
  if (t === undefined) throw fail();
  return t;
}

/** Loads CoNLL04 `conll04/conll04_{split}.json` (922 / 231 / 288 sentences). */
export function loadConll04(split: "train" | "dev" | "test", opts: LoadOptions = {}): Example[] {
  const file = dataFile(`conll04/conll04_${split}.json`, "conll04", true, opts);
  const examples = parseSpert(readJson(file), file.display, split, CONLL04_SCHEMA);
  return requireExamples(examples, file.display, "conll04", split, "an empty list");
}

/**
 * The ADE schema: short names from `ade/ade_types.json` (SpERT's types file, in its order), natural
 * names from TANL's `ADEDataset` (`Adverse-Effect` -> `disease`, `Drug` -> `drug`; relation
 * `Adverse-Effect` -> `effect`). A type TANL does not name keeps SpERT's `verbose` name.
 * Without the types file, TANL's own lists are used.
 */
export function loadAdeSchema(opts: LoadOptions = {}): DatasetSchema {
  let file;
  try {
    file = dataFile("ade/ade_types.json", "ade", true, opts);
  } catch {
    return ADE_SCHEMA;
  }
  const types = readJson(file);
  const section = (key: "entities" | "relations", natural: Record<string, string>): LabelType[] => {
    const s = isObject(types) ? types[key] : undefined;
    if (!isObject(s)) throw new DataFormatError(file.display, "", `expected an object "${key}"`);
    return Object.entries(s).map(([short, v]) => ({
      short,
      natural: natural[short] ?? (isObject(v) && typeof v.verbose === "string" ? v.verbose : short),
    }));
  };
  return {
    name: "ade",
    task: "joint_er",
    entityTypes: section("entities", ADE_NATURAL.entities),
    relationTypes: section("relations", ADE_NATURAL.relations),
  };
}

/**
 * Loads one ADE fold as TANL does: `train` is `ade_split_{fold}_train.json`, `test` is
 * `ade_split_{fold}_test.json`, and `dev` is empty (ADE has no dev set; TANL returns `[]`). TANL
 * picks the fold as `seed % 10`, so episodes 1..10 visit every fold once; pass that as `fold`.
 * Ids are TANL's: `split_{fold}_train-{index}`.
 */
export function loadAde(
  split: "train" | "dev" | "test",
  opts: LoadOptions & { fold?: number } = {},
): Example[] {
  const fold = opts.fold ?? 0;
  if (!Number.isInteger(fold) || fold < 0 || fold > 9) {
    throw new RangeError(`ADE fold must be 0..9, got ${fold}`);
  }
  if (split === "dev") return [];
  const name = `split_${fold}_${split}`;
  const file = dataFile(`ade/ade_${name}.json`, "ade", true, opts);
  const examples = parseSpert(readJson(file), file.display, name, loadAdeSchema(opts));
  return requireExamples(examples, file.display, "ade", name, "an empty list");
}

/** Loads `ade/ade_full.json`, all 4,272 ADE sentences (ids `full-index`). */
export function loadAdeFull(opts: LoadOptions = {}): Example[] {
  const file = dataFile("ade/ade_full.json", "ade", true, opts);
  const examples = parseSpert(readJson(file), file.display, "full", loadAdeSchema(opts));
  return requireExamples(examples, file.display, "ade", "full", "an empty list");
}
