/**
 * TANL's `JointEROutputFormat`, which NER, joint entity–relation extraction and SRL all share.
 *
 * Output: every entity becomes `[ words | type ]`; for joint ER each relation is attached to its
 * head entity as `| relation = tail words`, in the order of the example's relation list. NER is the
 * same format with no relation types (so any relation tag is a label error); SRL annotates its
 * arguments the same way and marks the predicate in the input only.
 *
 * @module
 */

import type { DatasetSchema, Example } from "../data/types.ts";
import { augment, type Augmentation } from "./augment.ts";
import { parseOutputSentence } from "./parse.ts";
import { TupleSet } from "./python.ts";
import type { Counts, EntityRelationPrediction, EntityTuple, RelationTuple, TaskFormat } from "./types.ts";

/** The augmentations TANL builds for an example: type tag, then relation tags of the head. */
export function entityRelationAugmentations(example: Example): Augmentation[] {
  // Relations are grouped by head index. TANL keys them by the entity object, which is the same
  // thing for every loader here: entities that compare equal in Python (same id, span and type)
  // never both head relations.
  const byHead = example.entities.map(() => [] as string[][]);
  for (const r of example.relations) {
    const tail = example.entities[r.tail];
    byHead[r.head].push([r.type.natural, example.tokens.slice(tail.start, tail.end).join(" ")]);
  }
  return example.entities.map((e, k) => ({
    tags: [[e.type.natural], ...byHead[k]],
    start: e.start,
    end: e.end,
  }));
}

/**
 * The target sentence, and the gold spans `augment_sentence` had to drop because they cross
 * another span (TANL drops them silently apart from a log line).
 */
export function formatEntityRelationOutputWithDrops(example: Example): {
  sentence: string;
  dropped: Augmentation[];
} {
  return augment(example.tokens, entityRelationAugmentations(example));
}

/**
 * The target sentence for NER / joint ER / SRL.
 *
 * ```ts
 * // "[ Tolkien | person | born in = here ] was born [ here | location ]"
 * ```
 */
export function formatEntityRelationOutput(example: Example): string {
  return formatEntityRelationOutputWithDrops(example).sentence;
}

/** TANL's `PlainInputFormat`: the tokens joined by spaces. */
export function formatPlainInput(example: Example): string {
  return example.tokens.join(" ");
}

/** TANL's `Entity.to_tuple()`. */
export function entityTuple(example: Example, k: number): EntityTuple {
  const e = example.entities[k];
  return [e.type.natural, e.start, e.end];
}

/** TANL's `Relation.to_tuple()`. */
export function relationTuple(example: Example, k: number): RelationTuple {
  const r = example.relations[k];
  return [r.type.natural, entityTuple(example, r.head), entityTuple(example, r.tail)];
}

/**
 * TANL's `JointEROutputFormat.run_inference`: entities and relations of known types, and the four
 * error flags.
 *
 * Entities whose first tag is missing or has an `=` are a format error; unknown types are a label
 * error; both are dropped. A relation's tail is resolved to the predicted entity with exactly that
 * surface name that is nearest to the head and not already used for an identical relation; with
 * no entity of that name the relation is dropped as an entity error.
 */
export function runEntityRelationInference(
  outputSentence: string,
  example: Example,
  schema: DatasetSchema,
): EntityRelationPrediction {
  let labelError = false, entityError = false, formatError = false;
  if (count(outputSentence, "[") !== count(outputSentence, "]")) formatError = true;

  const entityTypes = new Set(schema.entityTypes.map((t) => t.natural));
  // TANL passes relation_types=None for NER datasets, read as an empty set, as an empty list is.
  const relationTypes = new Set(schema.relationTypes.map((t) => t.natural));

  const { entities: raw, wrongReconstruction } = parseOutputSentence(example.tokens, outputSentence);

  const byName = new Map<string, EntityTuple[]>();
  const entities = new TupleSet<EntityTuple>();
  const rawRelations: [string, EntityTuple, string][] = [];

  for (const { name, tags, start, end } of raw) {
    if (tags.length === 0 || tags[0].length > 1) {
      formatError = true;
      continue;
    }
    const type = tags[0][0];
    if (!entityTypes.has(type)) {
      labelError = true;
      continue;
    }
    const entity: EntityTuple = [type, start, end];
    entities.add(entity);
    if (!byName.has(name)) byName.set(name, []);
    byName.get(name)!.push(entity);
    for (const tag of tags.slice(1)) {
      if (tag.length !== 2) formatError = true;
      else if (relationTypes.has(tag[0])) rawRelations.push([tag[0], entity, tag[1]]);
      else labelError = true;
    }
  }

  const relations = new TupleSet<RelationTuple>();
  for (const [type, head, tailName] of rawRelations) {
    const named = byName.get(tailName);
    if (named === undefined) {
      entityError = true;
      continue;
    }
    const [, hs, he] = head;
    const distance = (x: EntityTuple) => Math.min(Math.abs(x[1] - he), Math.abs(hs - x[2]));
    // Stable sort by distance, as Python's sorted with a key.
    const candidates = [...named].sort((x, y) => distance(x) - distance(y));
    for (const c of candidates) {
      if (relations.add([type, head, c])) break;
    }
  }

  return {
    entities: entities.sorted(),
    relations: relations.sorted(),
    wrongReconstruction,
    labelError,
    entityError,
    formatError,
  };
}

/**
 * TANL's `JointERDataset.evaluate_example`: counts of gold, predicted and correct entities (typed
 * and untyped) and relations, the error flags, and the same counts per entity and relation type
 * (for macro scores).
 */
export function countEntityRelation(
  prediction: EntityRelationPrediction,
  example: Example,
  schema: DatasetSchema,
): Counts {
  const predicted = new TupleSet(prediction.entities);
  const predictedRelations = new TupleSet(prediction.relations);
  const gold = new TupleSet(example.entities.map((_, k) => entityTuple(example, k)));
  const goldRelations = new TupleSet(example.relations.map((_, k) => relationTuple(example, k)));
  const untyped = (s: TupleSet<EntityTuple>) => s.map(([, a, b]) => [a, b] as const);
  const predictedNoType = untyped(predicted), goldNoType = untyped(gold);

  const counts: Counts = {
    num_sentences: 1,
    wrong_reconstructions: prediction.wrongReconstruction ? 1 : 0,
    label_error: prediction.labelError ? 1 : 0,
    entity_error: prediction.entityError ? 1 : 0,
    format_error: prediction.formatError ? 1 : 0,
    gt_entities: gold.size,
    predicted_entities: predicted.size,
    correct_entities: predicted.intersect(gold).size,
    gt_entities_no_type: goldNoType.size,
    predicted_entities_no_type: predictedNoType.size,
    correct_entities_no_type: goldNoType.intersect(predictedNoType).size,
    gt_relations: goldRelations.size,
    predicted_relations: predictedRelations.size,
    correct_relations: predictedRelations.intersect(goldRelations).size,
  };
  for (const { natural } of schema.entityTypes) {
    const p = predicted.filter((e) => e[0] === natural), g = gold.filter((e) => e[0] === natural);
    counts[`predicted_entities::${natural}`] = p.size;
    counts[`gt_entities::${natural}`] = g.size;
    counts[`correct_entities::${natural}`] = p.intersect(g).size;
  }
  for (const { natural } of schema.relationTypes) {
    const p = predictedRelations.filter((r) => r[0] === natural);
    const g = goldRelations.filter((r) => r[0] === natural);
    counts[`predicted_relations::${natural}`] = p.size;
    counts[`gt_relations::${natural}`] = g.size;
    counts[`correct_relations::${natural}`] = p.intersect(g).size;
  }
  return counts;
}

function count(s: string, ch: string): number {
  let n = 0;
  for (let i = s.indexOf(ch); i >= 0; i = s.indexOf(ch, i + 1)) n++;
  return n;
}

/**
 * NER and joint entity–relation extraction (CoNLL-2003, OntoNotes, CoNLL04, ACE2005): plain input,
 * TANL's joint ER output.
 */
export const entityRelationFormat: TaskFormat<EntityRelationPrediction> = {
  name: "joint_er",
  formatInput: (example) => formatPlainInput(example),
  formatOutput: (example) => formatEntityRelationOutput(example),
  parse: runEntityRelationInference,
  evaluateExample: (output, example, schema) =>
    countEntityRelation(runEntityRelationInference(output, example, schema), example, schema),
};
