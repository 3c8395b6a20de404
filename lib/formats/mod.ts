/**
 * TANL's augmented natural language: building inputs and targets, and parsing outputs, for every
 * task of the project.
 *
 * ```ts
 * import { formatFor } from "./mod.ts";
 * const f = formatFor(schema.task);
 * const target = f.formatOutput(example, schema);
 * const counts = f.evaluateExample(target, example, schema); // all correct
 * ```
 *
 * @module
 */

import type { DatasetSchema } from "../data/types.ts";
import { dstFormat } from "./dst.ts";
import { entityRelationFormat } from "./entity_relation.ts";
import { relationClassificationFormat } from "./relation_classification.ts";
import { srlFormat } from "./srl.ts";
import type { EntityRelationPrediction, TaskFormat } from "./types.ts";

export * from "./types.ts";
export { augment, type Augmentation, augmentSentence, TANL_TOKENS } from "./augment.ts";
export { alignTokens, type ParsedOutput, parseOutputSentence } from "./parse.ts";
export {
  countEntityRelation,
  entityRelationAugmentations,
  entityRelationFormat,
  entityTuple,
  formatEntityRelationOutput,
  formatEntityRelationOutputWithDrops,
  formatPlainInput,
  relationTuple,
  runEntityRelationInference,
} from "./entity_relation.ts";
export { entityTypesFromExamples, formatSrlInput, srlFormat } from "./srl.ts";
export {
  beliefCorrect,
  dstFormat,
  formatBelief,
  MULTIWOZ_ONTOLOGY,
  NONE_SLOT_VALUE,
  parseBelief,
  splitBeliefItem,
} from "./dst.ts";
export {
  formatRelationInput,
  formatRelationOutput,
  parseRelation,
  rankRelationCandidates,
  relationClassificationFormat,
  runRelationInference,
  type SequenceScorer,
} from "./relation_classification.ts";

/** The format of each task, as TANL pairs them (NER and joint ER share one). */
export const FORMATS: {
  ner: TaskFormat<EntityRelationPrediction>;
  joint_er: TaskFormat<EntityRelationPrediction>;
  srl: TaskFormat<EntityRelationPrediction>;
  dst: TaskFormat<string[]>;
  relation_classification: TaskFormat<EntityRelationPrediction>;
} = {
  ner: entityRelationFormat,
  joint_er: entityRelationFormat,
  srl: srlFormat,
  dst: dstFormat,
  relation_classification: relationClassificationFormat,
};

/** The format for a dataset's task. */
export function formatFor<T extends DatasetSchema["task"]>(task: T): (typeof FORMATS)[T] {
  return FORMATS[task];
}
