/**
 * A user's own dataset: training (and optionally dev and test) files in CoNLL, JSON-lines or
 * SpERT format, with the label types read from the data.
 *
 * TANL's model reads and writes natural-language type names (`person`, `works for`). A user's type
 * `PER` or `works_for` becomes its lower-cased self with `_` and `-` as spaces (`per`, `works
 * for`) unless a `--type-names` file maps it: `{"PER": "person"}`, or with both kinds of type
 * `{"entities": {"PER": "person"}, "relations": {"works_for": "works for"}}`. A name the map gives
 * for a type the data does not have is reported (a typo would otherwise go unnoticed; one file may
 * serve several datasets), and two types may not share a natural name (the output could not tell
 * them apart).
 *
 * ```ts
 * const data = loadUserDataset({ train: "my/train.conll", dev: "my/dev.conll" });
 * data.schema.entityTypes; // [{ short: "PER", natural: "per" }, ...] in order of first use
 * data.train.length;       // sentences
 * const gold = loadUserFile("my/test.jsonl", { schema: data.schema }); // types checked against it
 * ```
 *
 * @module
 */
import { DataFormatError, isObject, parseJson, pySplit, show, textLines } from "./io.ts";
import type { DatasetSchema, Example, LabelType, Task } from "./types.ts";
import {
  parseUserRecords,
  type RawRecord,
  readUtf8,
  type TagScheme,
  USER_FORMATS,
  type UserFormat,
} from "./user_formats.ts";

export * from "./user_formats.ts";

/** Natural names given by the user, per kind of type (see the module notes). */
export interface TypeNames {
  entities: Record<string, string>;
  relations: Record<string, string>;
}

/** What {@link loadUserDataset} reads. */
export interface UserDatasetFiles {
  train: string;
  dev?: string;
  test?: string;
  /** Default: from the training file's extension ({@link formatFromPath}). */
  format?: UserFormat;
  /** A JSON file of natural names, or the names themselves. */
  typeNames?: string | Partial<TypeNames> | Record<string, string>;
  /** The schema's name in logs (default `user`). */
  name?: string;
}

/** A loaded user dataset. */
export interface UserDataset {
  schema: DatasetSchema;
  train: Example[];
  dev?: Example[];
  test?: Example[];
  format: UserFormat;
  /** Per file, the CoNLL tag scheme detected. */
  schemes: Record<string, TagScheme>;
  /** Things a user should know that are not errors (a type never seen in training, ...). */
  notes: string[];
}

/** TANL-style natural name of a type: lower case, `_` and `-` as spaces. */
export function defaultNaturalName(type: string): string {
  return type.toLowerCase().replace(/[_-]+/g, " ").replace(/\s+/g, " ").trim();
}

/**
 * The format a path's extension suggests: `.jsonl` JSON lines, `.json` SpERT, `.conll`, `.bio`,
 * `.iob`, `.tsv` or `.txt` CoNLL columns; otherwise undefined.
 */
export function formatFromPath(path: string): UserFormat | undefined {
  const ext = path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (ext === "jsonl") return "jsonl";
  if (ext === "json") return "spert";
  if (ext && ["conll", "bio", "iob", "iob2", "bioes", "tsv", "txt"].includes(ext)) return "conll";
  return undefined;
}

function resolveFormat(path: string, format?: string): UserFormat {
  if (format !== undefined) {
    if (!(USER_FORMATS as readonly string[]).includes(format)) {
      throw new Error(`unknown format "${format}": expected ${USER_FORMATS.join(", ")}`);
    }
    return format as UserFormat;
  }
  const f = formatFromPath(path);
  if (!f) throw new Error(`${path}: cannot tell the format from the name; pass --format conll|jsonl|spert`);
  return f;
}

/** Reads a `--type-names` JSON file (or takes the object) as {@link TypeNames}. */
export function readTypeNames(src: string | Partial<TypeNames> | Record<string, string>): TypeNames {
  const file = typeof src === "string" ? src : "type names";
  const data = typeof src === "string" ? parseJson(readUtf8(src), src) : src;
  const section = (v: unknown, key: string): Record<string, string> => {
    if (!isObject(v)) {
      throw new DataFormatError(file, "", `${key} must be an object of "TYPE": "natural name"`);
    }
    for (const [k, name] of Object.entries(v)) {
      if (typeof name !== "string" || name.trim() === "") {
        throw new DataFormatError(
          file,
          "",
          `${key} "${k}": the natural name must be a string, got ${show(name)}`,
        );
      }
    }
    return v as Record<string, string>;
  };
  if (!isObject(data)) throw new DataFormatError(file, "", `expected a JSON object, got ${show(data)}`);
  if (isObject(data.entities) || isObject(data.relations)) {
    return {
      entities: section(data.entities ?? {}, "entities"),
      relations: section(data.relations ?? {}, "relations"),
    };
  }
  const flat = section(data, "the file");
  return { entities: flat, relations: flat };
}

interface Seen {
  type: string;
  where: string;
}

/**
 * The schema of a user's records: entity and relation types in order of first use (training
 * files first), natural names from `names` or {@link defaultNaturalName}. The task is `joint_er`
 * when the data has relations, else `ner`.
 */
export function userSchema(
  files: { file: string; records: RawRecord[] }[],
  names: TypeNames = { entities: {}, relations: {} },
  name = "user",
): DatasetSchema {
  const entities = new Map<string, Seen>(), relations = new Map<string, Seen>();
  for (const { file, records } of files) {
    for (const r of records) {
      for (const e of r.entities ?? []) {
        if (!entities.has(e.type)) entities.set(e.type, { type: e.type, where: `${file}:${e.line}` });
      }
      for (const x of r.relations) {
        if (!relations.has(x.type)) relations.set(x.type, { type: x.type, where: `${file}:${x.line}` });
      }
    }
  }
  const named = (seen: Map<string, Seen>, given: Record<string, string>, kind: string): LabelType[] => {
    const byNatural = new Map<string, Seen>();
    return [...seen.values()].map(({ type, where }) => {
      // A name the user gives is kept as written (spaces tidied); only derived names are lower-cased.
      const natural = given[type] !== undefined
        ? given[type].trim().replace(/\s+/g, " ")
        : defaultNaturalName(type);
      const other = byNatural.get(natural);
      if (other) {
        throw new Error(
          `${kind} types "${other.type}" (${other.where}) and "${type}" (${where}) would both be ` +
            `called "${natural}"; give them different names with --type-names`,
        );
      }
      if (/[[\]|=]/.test(natural)) {
        throw new Error(
          `${kind} type "${type}" (${where}): its name "${natural}" uses [ ] | or =, ` +
            `which TANL's output format reserves; rename it with --type-names`,
        );
      }
      byNatural.set(natural, { type, where });
      return { short: type, natural };
    });
  };
  return {
    name,
    task: relations.size > 0 ? "joint_er" : "ner",
    entityTypes: named(entities, names.entities, "entity"),
    relationTypes: named(relations, names.relations, "relation"),
  };
}

/**
 * The types `names` gives a natural name to that `schema` does not have: likely typos, reported so
 * a misspelt key does not silently leave its type with the default name.
 */
export function unusedTypeNames(names: TypeNames, schema: DatasetSchema): string[] {
  const has = (types: LabelType[], k: string) => types.some((t) => t.short === k);
  // A flat file names both kinds at once: a key is used if either kind has it.
  if (names.entities === names.relations) {
    return Object.keys(names.entities).filter((k) =>
      !has(schema.entityTypes, k) && !has(schema.relationTypes, k)
    );
  }
  return [
    ...Object.keys(names.entities).filter((k) => !has(schema.entityTypes, k)),
    ...Object.keys(names.relations).filter((k) => !has(schema.relationTypes, k)),
  ];
}

/**
 * Resolves records' type strings against `schema`. A type the schema lacks is an error at its
 * line; records without annotation (`entities` absent, prediction input) get no entities.
 */
export function recordsToExamples(
  records: RawRecord[],
  schema: DatasetSchema,
  file: string,
  split: string,
): Example[] {
  const eTypes = new Map(schema.entityTypes.map((t) => [t.short, t]));
  const rTypes = new Map(schema.relationTypes.map((t) => [t.short, t]));
  const lookup = (types: Map<string, LabelType>, type: string, line: number, kind: string) => {
    const t = types.get(type);
    if (t) return t;
    throw DataFormatError.atLine(
      file,
      line,
      `unknown ${kind} type ${JSON.stringify(type)} (the model's ${kind} types: ${
        [...types.keys()].join(", ") || "none"
      })`,
    );
  };
  return records.map((r, i): Example => {
    const ex: Example = {
      id: `${split}-${i}`,
      tokens: r.tokens,
      entities: (r.entities ?? []).map((e) => ({
        type: lookup(eTypes, e.type, e.line, "entity"),
        start: e.start,
        end: e.end,
      })),
      relations: r.relations.map((x) => ({
        type: lookup(rTypes, x.type, x.line, "relation"),
        head: x.head,
        tail: x.tail,
      })),
    };
    if (r.id !== undefined) ex.origId = r.id;
    return ex;
  });
}

/** Sentences with a token TANL's output format would misread: it uses `[ ] | =` as markup. */
function markupNote(file: string, records: RawRecord[]): string[] {
  const bad = records.filter((r) => r.tokens.some((t) => /[[\]|=]/.test(t)));
  if (bad.length === 0) return [];
  return [
    `${bad.length} sentence(s) of ${file} have a token with [ ] | or = (first at line ${bad[0].line}); ` +
    `TANL's output format uses these as markup, so spans next to them may be misread`,
  ];
}

/**
 * Loads a user's training file and optional dev and test files (see the module notes). Every
 * file must carry annotation; the schema is read from all of them, and a type that only dev or
 * test uses is reported in `notes` (the model cannot learn it).
 */
export function loadUserDataset(files: UserDatasetFiles): UserDataset {
  const format = resolveFormat(files.train, files.format);
  const parts = (["train", "dev", "test"] as const).flatMap((split) => {
    const path = files[split];
    if (path === undefined) return [];
    const parsed = parseUserRecords(readUtf8(path), path, format, { requireTags: true });
    if (parsed.records.length === 0) throw new DataFormatError(path, "", "no sentences");
    const missing = parsed.records.find((r) => r.entities === undefined);
    if (missing) {
      throw DataFormatError.atLine(path, missing.line, `no "entities" (every sentence needs them)`);
    }
    return [{ split, file: path, ...parsed }];
  });
  const names = files.typeNames === undefined ? undefined : readTypeNames(files.typeNames);
  const schema = userSchema(parts, names, files.name ?? "user");
  const trainTypes = new Set(parts[0].records.flatMap((r) => [
    ...(r.entities ?? []).map((e) => e.type),
    ...r.relations.map((x) => x.type),
  ]));
  const notes = parts.flatMap((p) => markupNote(p.file, p.records));
  const unused = names ? unusedTypeNames(names, schema) : [];
  if (unused.length > 0) {
    notes.push(
      `--type-names names ${unused.map((k) => `"${k}"`).join(", ")}, which the data does not use ` +
        `(a typo? its types: ${
          [...schema.entityTypes, ...schema.relationTypes].map((t) => t.short).join(", ")
        })`,
    );
  }
  for (const t of [...schema.entityTypes, ...schema.relationTypes]) {
    if (!trainTypes.has(t.short)) {
      notes.push(
        `type "${t.short}" occurs in dev/test but never in ${files.train}: the model cannot learn it`,
      );
    }
  }
  const out: UserDataset = { schema, train: [], format, schemes: {}, notes };
  for (const p of parts) {
    out[p.split] = recordsToExamples(p.records, schema, p.file, p.split);
    if (p.scheme) out.schemes[p.file] = p.scheme;
  }
  return out;
}

/** A file to predict on, read with a known schema. */
export interface UserInput {
  examples: Example[];
  /** Whether the file carries gold annotation (then it can be scored). */
  gold: boolean;
  /** Line where each example starts. */
  lines: number[];
  /** Original ids (JSON `id`), by example. */
  ids: (string | undefined)[];
  format: UserFormat | "txt";
}

/**
 * Reads a file to predict on: `.txt` is one sentence a line, split on whitespace (blank lines
 * skipped); `.jsonl` needs only `tokens`; CoNLL and SpERT as in training. When the file carries
 * annotation, every sentence must, and its types must be the schema's.
 */
export function loadUserFile(
  path: string,
  opts: { schema: DatasetSchema; format?: UserFormat | "txt" },
): UserInput {
  const format = opts.format ?? (path.toLowerCase().endsWith(".txt") ? "txt" : resolveFormat(path));
  const text = readUtf8(path);
  const records: RawRecord[] = format === "txt"
    ? textLines(text).flatMap((line, i) => {
      const tokens = pySplit(line);
      return tokens.length > 0 ? [{ tokens, relations: [], line: i + 1 }] : [];
    })
    : parseUserRecords(text, path, format).records;
  if (records.length === 0) throw new DataFormatError(path, "", "no sentences");
  const gold = records[0].entities !== undefined;
  const odd = records.find((r) => (r.entities !== undefined) !== gold);
  if (odd) {
    throw DataFormatError.atLine(
      path,
      odd.line,
      `${gold ? "no" : "has"} "entities", unlike line ${records[0].line}: annotate every sentence or none`,
    );
  }
  return {
    examples: recordsToExamples(records, opts.schema, path, "input"),
    gold,
    lines: records.map((r) => r.line),
    ids: records.map((r) => r.id),
    format,
  };
}

/** A schema as JSON (what runs, saved models and deltas record). */
export function schemaToJson(schema: DatasetSchema): Record<string, unknown> {
  return {
    name: schema.name,
    task: schema.task,
    entityTypes: schema.entityTypes.map((t) => ({ short: t.short, natural: t.natural })),
    relationTypes: schema.relationTypes.map((t) => ({ short: t.short, natural: t.natural })),
  };
}

const TASKS: readonly Task[] = ["ner", "joint_er", "srl", "dst", "relation_classification"];

/** Reads {@link schemaToJson}'s JSON back, checking its shape; `where` names its source in errors. */
export function schemaFromJson(x: unknown, where: string): DatasetSchema {
  const fail = (msg: string) => new Error(`${where}: not a label schema (${msg})`);
  if (!isObject(x)) throw fail(`got ${show(x)}`);
  if (typeof x.task !== "string" || !(TASKS as readonly string[]).includes(x.task)) throw fail("task");
  const types = (v: unknown, key: string): LabelType[] => {
    if (!Array.isArray(v)) throw fail(key);
    return v.map((t) => {
      if (!isObject(t) || typeof t.short !== "string" || typeof t.natural !== "string") throw fail(key);
      return { short: t.short, natural: t.natural };
    });
  };
  return {
    name: typeof x.name === "string" ? x.name : "user",
    task: x.task as Task,
    entityTypes: types(x.entityTypes, "entityTypes"),
    relationTypes: types(x.relationTypes, "relationTypes"),
  };
}
