/**
 * Precision, recall and F1 per entity and relation type, beside the overall (micro) scores: what
 * a user scoring predictions on their own data wants to see first, since a low overall F1 is
 * usually one or two types the model has not learnt.
 *
 * The counts are TANL's (`countEntityRelation`: typed spans compared as sets, relations by type,
 * head and tail), so the overall rows equal `evaluateDataset`'s `entity_*` and `relation_*`.
 *
 * @module
 */
import type { DatasetSchema, Example } from "../data/types.ts";
import { type Counts, formatFor } from "../formats/mod.ts";
import { sumCounts } from "./evaluate_dataset.ts";
import { precisionRecallF1 } from "./prf.ts";

/** One row of a per-type score table. */
export interface TypeScore {
  kind: "entity" | "relation";
  /** The type as the data writes it (`PER`), or `all` for the overall row. */
  type: string;
  /** The natural name the model writes (`person`); `all` for the overall row. */
  natural: string;
  gold: number;
  predicted: number;
  correct: number;
  precision: number;
  recall: number;
  f1: number;
}

/** Scores of a set of predictions: overall entity (and relation) rows, and one row per type. */
export interface TypeScores {
  sentences: number;
  entities: TypeScore;
  /** Absent when the schema has no relation types. */
  relations?: TypeScore;
  /** Entity types, then relation types, in schema order. */
  byType: TypeScore[];
}

function row(
  kind: TypeScore["kind"],
  type: string,
  natural: string,
  total: Counts,
  suffix: string,
): TypeScore {
  const key = kind === "entity" ? "entities" : "relations";
  const correct = total[`correct_${key}${suffix}`] ?? 0;
  const predicted = total[`predicted_${key}${suffix}`] ?? 0;
  const gold = total[`gt_${key}${suffix}`] ?? 0;
  return { kind, type, natural, gold, predicted, correct, ...precisionRecallF1(correct, predicted, gold) };
}

/** Per-type and overall scores from summed TANL counters. */
export function typeScoresFromCounts(total: Counts, schema: DatasetSchema): TypeScores {
  const out: TypeScores = {
    sentences: total.num_sentences ?? 0,
    entities: row("entity", "all", "all", total, ""),
    byType: [
      ...schema.entityTypes.map((t) => row("entity", t.short, t.natural, total, `::${t.natural}`)),
      ...schema.relationTypes.map((t) => row("relation", t.short, t.natural, total, `::${t.natural}`)),
    ],
  };
  if (schema.relationTypes.length > 0) out.relations = row("relation", "all", "all", total, "");
  return out;
}

/**
 * Scores output sentences against gold examples, per type and overall (entity and relation tasks).
 *
 * ```ts
 * const gold = examples.map((e) => formatFor(schema.task).formatOutput(e, schema));
 * typeScores(gold, examples, schema).entities.f1 // 1
 * ```
 */
export function typeScores(
  predictions: readonly string[],
  examples: readonly Example[],
  schema: DatasetSchema,
): TypeScores {
  if (predictions.length !== examples.length) {
    throw new Error(`${predictions.length} predictions for ${examples.length} examples`);
  }
  if (schema.task !== "ner" && schema.task !== "joint_er") {
    throw new Error(`per-type scores are for entity and relation tasks, not ${schema.task}`);
  }
  const f = formatFor(schema.task);
  return typeScoresFromCounts(
    sumCounts(examples.map((e, i) => f.evaluateExample(predictions[i], e, schema))),
    schema,
  );
}

/** The scores as a plain-text table (percentages), overall rows last. */
export function typeScoresTable(s: TypeScores): string {
  const rows = [...s.byType, s.entities, ...(s.relations ? [s.relations] : [])];
  const name = (
    r: TypeScore,
  ) => (r.type === "all" ? `all ${r.kind === "entity" ? "entities" : "relations"}` : r.type);
  const w = Math.max(4, ...rows.map((r) => name(r).length));
  const pct = (x: number) => (100 * x).toFixed(2).padStart(9);
  const num = (x: number, n: number) => String(x).padStart(n);
  const head = `${"type".padEnd(w)}  ${
    "kind".padEnd(8)
  } precision    recall        f1   gold  predicted  correct`;
  const lines = rows.map((r) =>
    `${name(r).padEnd(w)}  ${r.kind.padEnd(8)} ${pct(r.precision)} ${pct(r.recall)} ${pct(r.f1)} ` +
    `${num(r.gold, 6)} ${num(r.predicted, 10)} ${num(r.correct, 8)}`
  );
  return [head, ...lines].join("\n");
}
