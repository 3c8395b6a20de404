/**
 * FewRel few-shot relation classification: loading, N-way K-shot episodes as TANL's
 * `FewRelEpisodic` draws them, and the meta-training set.
 *
 * Files (THUNLP's names, in `fewrel/` of the data directory): each maps a relation id to its
 * instances `{tokens, h: [name, id, [[positions]]], t: [...]}`; `pid2name.json` maps a Wikidata
 * relation id to `[name, description]`, and the name is the relation's natural name.
 *
 * **Entity spans** follow TANL's `load_data_by_relation_type`, including its quirk: of the first
 * mention's position list it takes `[p0, p1]` (or `[p0, p0]` for one position), so the span is
 * `[p0, p1 + 1)`, which covers only two tokens of a longer mention ("Cape Girardeau Bridge" at
 * [26, 27, 28] becomes "Cape Girardeau"). Pass `{ fullSpans: true }` for the whole mention.
 *
 * **Episodes.** `random.seed(e)`; `random.sample(relation ids, N)`; then for each chosen relation
 * `random.sample(its instances, K + Q)`: the first K are support (the episode's training set),
 * the remaining Q query (its test set). Episodes are drawn from `val_wiki.json` (TANL's
 * `FewRel_dev.json`), 16 relations x 700.
 *
 * **Meta-training without train_wiki.** TANL and FISH-DIP meta-train on the 64 relations of
 * `train_wiki.json` (FewRel 1.0 train). When that file is in the data directory it is used.
 * Otherwise (as on the project's offline machines) meta-training stands in with the FewRel 2.0
 * extra sets: `val_nyt` (Wikidata relations in NYT text), `val_semeval` and `val_pubmed`. Eight
 * of val_nyt's 25 relation ids also occur in val_wiki (P25, P40, P410, P412, P413, P463, P921,
 * P2094); they are left out, so meta-training and episode relations stay disjoint (checked by id,
 * and again by natural name). SemEval and PubMed relations are not in pid2name; their natural names
 * are derived from their ids (see {@link naturalRelationName}). This substitution changes what the
 * meta-trained model has seen and is a documented deviation from the paper's setting.
 *
 * @module
 */
import type { DatasetSchema, Example, LabelType } from "./types.ts";
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
import { PythonRandom } from "./python_random.ts";

/** TANL's stand-in entity types for relation classification: the head and the tail. */
export const FEWREL_ENTITY_TYPES: LabelType[] = [
  { short: "head", natural: "head" },
  { short: "tail", natural: "tail" },
];

/** Options of the FewRel loaders. */
export interface FewRelOptions extends LoadOptions {
  /** Use the whole first mention as the span, not TANL's two-position span. Default false. */
  fullSpans?: boolean;
}

/** The relation id -> `[name, description]` map of `fewrel/pid2name.json`. */
export function loadPid2Name(opts: LoadOptions = {}): Map<string, string> {
  const file = dataFile("fewrel/pid2name.json", "fewrel", true, opts);
  const data = readJson(file);
  if (!isObject(data)) {
    throw new DataFormatError(file.display, "", "expected an object relation id -> [name, description]");
  }
  const out = new Map<string, string>();
  for (const [pid, v] of Object.entries(data)) {
    if (!Array.isArray(v) || typeof v[0] !== "string") {
      throw DataFormatError.atItem(file.display, pid, `expected [name, description], got ${show(v)}`);
    }
    out.set(pid, v[0]);
  }
  return out;
}

/**
 * The natural name of a relation id: `pid2name[id][0]` for a Wikidata id; for the FewRel 2.0 sets
 * without one, a name from the id: SemEval `Component-Whole(e2,e1)` -> "whole component" (roles
 * in head-to-tail order; FewRel's head is SemEval's e1), PubMed `gene_found_in_organism` ->
 * "gene found in organism".
 */
export function naturalRelationName(id: string, pid2name: Map<string, string>): string {
  const name = pid2name.get(id);
  if (name !== undefined) return name;
  const semeval = /^([A-Za-z]+)-([A-Za-z]+)\((e1,e2|e2,e1)\)$/.exec(id);
  if (semeval) {
    const [a, b] = [semeval[1].toLowerCase(), semeval[2].toLowerCase()];
    return semeval[3] === "e1,e2" ? `${a} ${b}` : `${b} ${a}`;
  }
  return id.replaceAll("_", " ").toLowerCase();
}

/** One FewRel file grouped by relation, in the file's order. */
export interface FewRelByRelation {
  /** Relation id -> its examples. */
  byRelation: Map<string, Example[]>;
  /** The relation types in the file's order. */
  relationTypes: LabelType[];
  /** The file the examples came from, for messages (absent when built by other code). */
  file?: string;
}

function span(pos: unknown, fullSpans: boolean): { start: number; end: number } | null {
  if (!Array.isArray(pos) || !Array.isArray(pos[0]) || pos[0].length === 0 || !pos[0].every(isIndex)) {
    return null;
  }
  const first = pos[0] as number[];
  if (fullSpans) return { start: first[0], end: first[first.length - 1] + 1 };
  const p = first.length === 1 ? [first[0], first[0]] : first;
  return { start: p[0], end: p[1] + 1 };
}

/**
 * Parses one FewRel file (already `JSON.parse`d): examples named `split-i`, numbered across
 * relations in file order (`startIndex` continues a numbering over several files). Each example
 * has the head and tail entities and one relation between them.
 */
export function parseFewRel(
  data: unknown,
  file: string,
  split: string,
  pid2name: Map<string, string>,
  opts: { fullSpans?: boolean; startIndex?: number } = {},
): FewRelByRelation {
  if (!isObject(data)) {
    throw new DataFormatError(file, "", "expected an object relation id -> list of instances");
  }
  const [headType, tailType] = FEWREL_ENTITY_TYPES;
  const byRelation = new Map<string, Example[]>();
  const relationTypes: LabelType[] = [];
  let i = opts.startIndex ?? 0;
  for (const [rel, instances] of Object.entries(data)) {
    // JSON.parse puts integer-like keys first, which would change the order Python sees.
    if (/^(0|[1-9]\d*)$/.test(rel)) {
      throw DataFormatError.atItem(file, rel, "relation ids must not be plain integers");
    }
    if (!Array.isArray(instances)) throw DataFormatError.atItem(file, rel, "expected a list of instances");
    const type: LabelType = { short: rel, natural: naturalRelationName(rel, pid2name) };
    relationTypes.push(type);
    byRelation.set(
      rel,
      instances.map((x: unknown, k: number): Example => {
        const fail = (msg: string) =>
          new DataFormatError(file, `relation ${JSON.stringify(rel)}, item ${k}`, msg);
        if (!isObject(x)) throw fail(`expected {tokens, h, t}, got ${show(x)}`);
        if (!isStringArray(x.tokens)) throw fail(badField(x, "tokens", "a list of strings"));
        const h = Array.isArray(x.h) ? span(x.h[2], opts.fullSpans ?? false) : null;
        const t = Array.isArray(x.t) ? span(x.t[2], opts.fullSpans ?? false) : null;
        for (const [name, s] of [["h", h], ["t", t]] as const) {
          if (x[name] === undefined) throw fail(badField(x, name, "[name, id, [[token positions]]]"));
          if (s === null || s.end > x.tokens.length || s.end <= s.start) {
            throw fail(
              `"${name}" must be [name, id, [[token positions]]] inside the tokens, got ${show(x[name])}`,
            );
          }
        }
        return {
          id: `${split}-${i++}`,
          tokens: x.tokens,
          entities: [{ type: headType, ...h! }, { type: tailType, ...t! }],
          relations: [{ type, head: 0, tail: 1 }],
        };
      }),
    );
  }
  return { byRelation, relationTypes, file };
}

/** Loads `fewrel/{name}.json` (`val_wiki`, `train_wiki`, `val_nyt`, ...) grouped by relation. */
export function loadFewRelFile(
  name: string,
  split: string,
  opts: FewRelOptions & { startIndex?: number; pid2name?: Map<string, string> } = {},
): FewRelByRelation {
  const file = dataFile(`fewrel/${name}.json`, "fewrel", true, opts);
  const pid2name = opts.pid2name ?? loadPid2Name(opts);
  const grouped = parseFewRel(readJson(file), file.display, split, pid2name, opts);
  requireExamples([...grouped.byRelation.values()].flat(), file.display, "fewrel", split, "no instances");
  return grouped;
}

/** A schema for relation classification over the given relation types. */
export function fewRelSchema(relationTypes: LabelType[]): DatasetSchema {
  return { name: "fewrel", task: "relation_classification", entityTypes: FEWREL_ENTITY_TYPES, relationTypes };
}

/** The evaluation relations: all of `val_wiki.json` (TANL's `FewRel_dev`), ids `dev-i`. */
export function loadFewRelEval(opts: FewRelOptions = {}): { examples: Example[]; schema: DatasetSchema } {
  const { byRelation, relationTypes } = loadFewRelFile("val_wiki", "dev", opts);
  return { examples: [...byRelation.values()].flat(), schema: fewRelSchema(relationTypes) };
}

/** Where the meta-training set came from. */
export interface MetaTrainSet {
  examples: Example[];
  schema: DatasetSchema;
  /** The files used, and the relation ids left out because they are episode relations. */
  sources: string[];
  excluded: string[];
}

/**
 * The meta-training set, ids `train-i`: `train_wiki.json` when present (the paper's setting), else
 * `val_nyt` (without the relations shared with val_wiki) + `val_semeval` + `val_pubmed`. Throws if
 * any meta-training relation (by id or natural name) is also a val_wiki relation.
 */
export function loadFewRelMetaTrain(opts: FewRelOptions = {}): MetaTrainSet {
  const pid2name = loadPid2Name(opts);
  const evalSet = loadFewRelFile("val_wiki", "dev", { ...opts, pid2name });
  const evalIds = new Set(evalSet.byRelation.keys());
  const evalNames = new Set(evalSet.relationTypes.map((t) => t.natural));
  let hasTrainWiki = true;
  try {
    dataFile("fewrel/train_wiki.json", "fewrel", true, opts);
  } catch {
    hasTrainWiki = false;
  }
  const sources = hasTrainWiki ? ["train_wiki"] : ["val_nyt", "val_semeval", "val_pubmed"];
  const examples: Example[] = [];
  const relationTypes: LabelType[] = [];
  const excluded: string[] = [];
  for (const source of sources) {
    const part = loadFewRelFile(source, "train", { ...opts, pid2name, startIndex: examples.length });
    for (const type of part.relationTypes) {
      if (evalIds.has(type.short)) {
        excluded.push(type.short);
        continue;
      }
      if (evalNames.has(type.natural)) {
        throw new Error(
          `fewrel: meta-training relation ${type.short} has an episode relation's name "${type.natural}"`,
        );
      }
      relationTypes.push(type);
      examples.push(...part.byRelation.get(type.short)!);
    }
  }
  // Renumber so that ids stay `train-0..n-1` after leaving relations out.
  const renumbered = examples.map((e, i) => ({ ...e, id: `train-${i}` }));
  return { examples: renumbered, schema: fewRelSchema(relationTypes), sources, excluded };
}

/** An N-way K-shot episode. */
export interface Episode {
  /** The N relation types in the order `random.sample` chose them (the candidates for ranking). */
  relationTypes: LabelType[];
  /** N x K support examples (the episode's training set), relation by relation. */
  support: Example[];
  /** N x Q query examples (the episode's test set). */
  query: Example[];
  schema: DatasetSchema;
}

/** What an episode is drawn with: N (`ways`), K (`shots`), Q (`queries`, default 5) and the seed. */
export interface EpisodeSpec {
  ways: number;
  shots: number;
  queries?: number;
  seed: number | bigint;
}

const EPISODE_HINT = "ask for fewer ways, shots or queries, or use a file with more instances per relation";

/**
 * Checks, before any episode is drawn, that `grouped` can supply N-way K-shot episodes with Q
 * queries: at least N relations with K + Q instances each. Otherwise a {@link DataFormatError}
 * names the file, N, K, Q, how many relations qualify and which fall short, where drawing would
 * only fail at some episode with Python's "sample larger than population".
 *
 * Enough qualifying relations do not make every seed work when some relations are short: the
 * reference draws the N relations among all of them, so a seed may still pick a short one, and
 * {@link sampleEpisode} names it then.
 */
export function checkEpisodeFeasible(grouped: FewRelByRelation, spec: Omit<EpisodeSpec, "seed">): void {
  const queries = spec.queries ?? 5, need = spec.shots + queries;
  const counts = [...grouped.byRelation].map(([id, xs]) => ({ id, n: xs.length }));
  const short = counts.filter((c) => c.n < need);
  const qualify = counts.length - short.length;
  if (qualify >= spec.ways) return;
  const listed = short.slice(0, 8).map((c) => `${c.id} (${c.n})`).join(", ") +
    (short.length > 8 ? `, ... ${short.length - 8} more` : "");
  throw new DataFormatError(
    grouped.file ?? "the FewRel data",
    "",
    `${spec.ways}-way ${spec.shots}-shot episodes with ${queries} queries need ${spec.ways} relations ` +
      `with at least ${need} instances (K + Q) each, but ${qualify} of the file's ${counts.length} ` +
      `relations qualify` + (short.length > 0 ? ` (instances of the others: ${listed})` : ""),
    EPISODE_HINT,
  );
}

/**
 * Samples an episode from grouped examples exactly as TANL's `FewRelEpisodic` with
 * `random.seed(seed)`: `random.sample(list(keys), ways)`, then `random.sample(examples, shots +
 * queries)` per relation, first `shots` to support. Data that cannot supply the episode is an
 * error naming the file (see {@link checkEpisodeFeasible}).
 */
export function sampleEpisode(grouped: FewRelByRelation, spec: EpisodeSpec): Episode {
  const queries = spec.queries ?? 5;
  checkEpisodeFeasible(grouped, spec);
  const rng = new PythonRandom(spec.seed);
  // Among all relations, short ones included, as the reference draws (the same draws on valid data).
  const ids = rng.sample([...grouped.byRelation.keys()], spec.ways);
  const support: Example[] = [], query: Example[] = [];
  for (const id of ids) {
    const instances = grouped.byRelation.get(id)!;
    if (instances.length < spec.shots + queries) {
      throw new DataFormatError(
        grouped.file ?? "the FewRel data",
        "",
        `episode seed ${spec.seed} draws relation ${id}, which has ${instances.length} instances, fewer ` +
          `than K + Q = ${spec.shots + queries}; relations are drawn among all ` +
          `${grouped.byRelation.size} (as the reference does), so each needs that many`,
        EPISODE_HINT,
      );
    }
    const drawn = rng.sample(instances, spec.shots + queries);
    support.push(...drawn.slice(0, spec.shots));
    query.push(...drawn.slice(spec.shots));
  }
  const byId = new Map(grouped.relationTypes.map((t) => [t.short, t]));
  const relationTypes = ids.map((id) => byId.get(id)!);
  return { relationTypes, support, query, schema: fewRelSchema(relationTypes) };
}

/**
 * The episode FISH-DIP's run `seed` (1..10) trains and tests on: drawn from `val_wiki.json`, 5
 * queries per relation by default.
 *
 * ```ts
 * const ep = fewRelEpisode({ ways: 5, shots: 1, seed: 1 }); // 5 support, 25 query examples
 * ```
 */
export function fewRelEpisode(spec: EpisodeSpec, opts: FewRelOptions = {}): Episode {
  return sampleEpisode(loadFewRelFile("val_wiki", "dev", opts), spec);
}
