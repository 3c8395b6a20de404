/**
 * Dataset-level scores from per-sentence counters, with the keys TANL's `evaluate_dataset` returns.
 *
 * Joint ER datasets report every key; NER and SRL datasets (TANL's `NERDataset`) only the `entity_*`
 * keys other than `entity_error`; relation classification (`FewRelFull`) only `relation_*`; DST only
 * `joint_accuracy`. Precision/recall/F1 are micro averages over the split; with `macro` the entity
 * scores are also averaged over the schema's entity types, as TANL's `macro=True`.
 *
 * @module
 */

import type { DatasetSchema, Example } from "../data/types.ts";
import { type Counts, formatFor } from "../formats/mod.ts";
import { npMean } from "./numpy_stats.ts";
import { precisionRecallF1 } from "./prf.ts";

/** Options of {@link evaluateDataset}. */
export interface EvaluateOptions {
  /** Add `entity_macro_precision/recall/f1` (TANL's `macro=True`; its evaluation uses false). */
  macro?: boolean;
}

/** Adds counters key by key (Python's `Counter +=`; a missing key counts as 0). */
export function sumCounts(all: Iterable<Counts>): Counts {
  const total: Counts = {};
  for (const c of all) for (const [k, v] of Object.entries(c)) total[k] = (total[k] ?? 0) + v;
  return total;
}

/**
 * TANL's `JointERDataset.evaluate_dataset` given the summed counters: error rates, entity and
 * relation precision/recall/F1, untyped entity scores and, with `macro`, entity macro scores.
 */
export function entityRelationScores(
  total: Counts,
  schema: DatasetSchema,
  { macro = false }: EvaluateOptions = {},
): Record<string, number> {
  const get = (k: string) => total[k] ?? 0;
  const n = get("num_sentences");
  const entity = precisionRecallF1(get("correct_entities"), get("predicted_entities"), get("gt_entities"));
  const noType = precisionRecallF1(
    get("correct_entities_no_type"),
    get("predicted_entities_no_type"),
    get("gt_entities_no_type"),
  );
  const relation = precisionRecallF1(
    get("correct_relations"),
    get("predicted_relations"),
    get("gt_relations"),
  );
  const res: Record<string, number> = {
    wrong_reconstruction: get("wrong_reconstructions") / n,
    label_error: get("label_error") / n,
    entity_error: get("entity_error") / n,
    format_error: get("format_error") / n,
    entity_precision: entity.precision,
    entity_recall: entity.recall,
    entity_f1: entity.f1,
    relation_precision: relation.precision,
    relation_recall: relation.recall,
    relation_f1: relation.f1,
    entity_precision_no_type: noType.precision,
    entity_recall_no_type: noType.recall,
    entity_f1_no_type: noType.f1,
  };
  if (macro) {
    const byType = schema.entityTypes.map(({ natural }) =>
      precisionRecallF1(
        get(`correct_entities::${natural}`),
        get(`predicted_entities::${natural}`),
        get(`gt_entities::${natural}`),
      )
    );
    res.entity_macro_precision = npMean(byType.map((s) => s.precision));
    res.entity_macro_recall = npMean(byType.map((s) => s.recall));
    res.entity_macro_f1 = npMean(byType.map((s) => s.f1));
  }
  return res;
}

function pick(res: Record<string, number>, keep: (k: string) => boolean): Record<string, number> {
  return Object.fromEntries(Object.entries(res).filter(([k]) => keep(k)));
}

/**
 * Scores `predictions[i]` (output sentences) against `examples[i]`, as TANL's `evaluate_dataset`
 * with its generation step replaced by the given outputs. With no examples the rates are NaN
 * (TANL divides by zero and raises). FewRel episodes are scored by ranking instead: see
 * `fewShotScores`.
 *
 * ```ts
 * const gold = examples.map((e) => formatFor(schema.task).formatOutput(e, schema));
 * evaluateDataset(gold, examples, schema).entity_f1 // 1
 * ```
 */
export function evaluateDataset(
  predictions: readonly string[],
  examples: readonly Example[],
  schema: DatasetSchema,
  options: EvaluateOptions = {},
): Record<string, number> {
  if (predictions.length !== examples.length) {
    throw new Error(`${predictions.length} predictions for ${examples.length} examples`);
  }
  const format = formatFor(schema.task);
  const total = sumCounts(examples.map((e, i) => format.evaluateExample(predictions[i], e, schema)));
  switch (schema.task) {
    case "dst":
      return { joint_accuracy: jointGoalAccuracy(total) };
    case "ner":
    case "srl":
      return pick(
        entityRelationScores(total, schema, options),
        (k) => k.startsWith("entity") && k !== "entity_error",
      );
    case "relation_classification":
      return pick(entityRelationScores(total, schema, options), (k) => k.startsWith("relation"));
    case "joint_er":
      return entityRelationScores(total, schema, options);
  }
}

/** TANL's MultiWOZ `joint_accuracy`: turns whose whole predicted state is right, over all turns. */
export function jointGoalAccuracy(total: Counts): number {
  return (total.correct_state ?? 0) / (total.num_sentences ?? 0);
}
