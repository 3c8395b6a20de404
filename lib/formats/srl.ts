/**
 * Semantic role labelling (CoNLL-2005), TANL's `SRLInput` with the joint ER output format.
 *
 * The predicate is bracketed in the input (`will be [ taken ] from`) and not annotated in the
 * output; the arguments are annotated like NER entities (`[ this week | ARGM-TMP ]`) and scored
 * like NER. TANL builds the SRL schema's entity types from the evaluated split itself, so roles
 * that split never uses are label errors.
 *
 * @module
 */

import type { Example, LabelType } from "../data/types.ts";
import {
  countEntityRelation,
  formatEntityRelationOutput,
  runEntityRelationInference,
} from "./entity_relation.ts";
import { TANL_TOKENS } from "./augment.ts";
import type { EntityRelationPrediction, TaskFormat } from "./types.ts";

/**
 * TANL's `SRLInput`: the sentence with `[` and `]` around the predicate.
 *
 * ```ts
 * // "The economy 's temperature will be [ taken ] from several vantage points this week ."
 * ```
 */
export function formatSrlInput(example: Example): string {
  if (!example.predicate) throw new Error(`SRL example ${example.id} has no predicate`);
  const { start, end } = example.predicate;
  const words = [...example.tokens];
  // Insert the closing bracket first so that `start` still points at the predicate.
  words.splice(end, 0, TANL_TOKENS.end);
  words.splice(start, 0, TANL_TOKENS.begin);
  return words.join(" ");
}

/**
 * The SRL schema's entity types as TANL builds them from the loaded split:
 * `{e.type.natural: e.type for example in examples for e in example.entities}`, i.e. one type per
 * natural name, in order of first use (the order macro averages run in).
 */
export function entityTypesFromExamples(examples: readonly Example[]): LabelType[] {
  const byNatural = new Map<string, LabelType>();
  for (const ex of examples) for (const e of ex.entities) byNatural.set(e.type.natural, e.type);
  return [...byNatural.values()];
}

/** SRL: bracketed-predicate input, argument spans in the output, NER-style scoring. */
export const srlFormat: TaskFormat<EntityRelationPrediction> = {
  name: "joint_er",
  formatInput: formatSrlInput,
  formatOutput: (example) => formatEntityRelationOutput(example),
  parse: runEntityRelationInference,
  evaluateExample: (output, example, schema) =>
    countEntityRelation(runEntityRelationInference(output, example, schema), example, schema),
};
