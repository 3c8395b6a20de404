/**
 * Relation classification (FewRel), TANL's `RelationClassificationInputFormat` and
 * `RelationClassificationOutputFormat`.
 *
 * The example's first two entities are the head and the tail, and its first relation is the gold
 * one. Input: the sentence with both entities bracketed, then
 * `The relationship between [ h ] and [ t ] is`; target: `relationship between [ h ] and [ t ] = NAME`.
 * FewRel episodes are scored by ranking: the candidate relation whose target has the lowest
 * sequence loss wins (TANL's `nll_inference`).
 *
 * @module
 */

import type { DatasetSchema, Example, LabelType } from "../data/types.ts";
import { countEntityRelation, entityTuple } from "./entity_relation.ts";
import { pyStrip } from "./python.ts";
import type { EntityRelationPrediction, TaskFormat } from "./types.ts";

/** TANL's `get_span`: the words of [start, end), skipping positions past the sentence. */
function span(words: readonly string[], start: number, end: number): string {
  const out: string[] = [];
  for (let i = start; i < end; i++) if (i < words.length) out.push(words[i]);
  return out.join(" ");
}

function headTail(example: Example): [[number, number], [number, number]] {
  if (example.entities.length < 2) throw new Error(`example ${example.id} needs a head and a tail entity`);
  const [h, t] = example.entities;
  return [[h.start, h.end], [t.start, t.end]];
}

/**
 * The relation-classification input.
 *
 * ```ts
 * // "[ Tolkien ] wrote [ The Lord of the Rings ] . The relationship between [ Tolkien ] and
 * //  [ The Lord of the Rings ] is"
 * ```
 */
export function formatRelationInput(example: Example): string {
  const words = example.tokens;
  const [h, t] = headTail(example);
  const [first, latter] = h[0] < t[0] ? [h, t] : [t, h];
  // Python slices; a slice whose end is before its start is empty in both languages.
  const join = (a: number, b?: number) => words.slice(a, b).join(" ");
  let s = join(0, first[0]) + ` [ ${span(words, first[0], first[1])} ] ` + join(first[1], latter[0]);
  s += ` [ ${span(words, latter[0], latter[1])} ] ` + join(latter[1]);
  s += ` The relationship between [ ${span(words, h[0], h[1])} ] and [ ${span(words, t[0], t[1])} ] is`;
  return pyStrip(s);
}

/** The relation-classification target for `relation` (by default the example's gold relation). */
export function formatRelationOutput(example: Example, relation?: LabelType): string {
  const [h, t] = headTail(example);
  const name = (relation ?? example.relations[0].type).natural;
  const words = example.tokens;
  return pyStrip(
    `relationship between [ ${span(words, h[0], h[1])} ] and [ ${span(words, t[0], t[1])} ] = ${name}`,
  );
}

/** TANL's `RelationClassificationOutputFormat.run_inference`: the text after the last `=`. */
export function parseRelation(outputSentence: string): string {
  const parts = outputSentence.split("=");
  return pyStrip(parts[parts.length - 1]);
}

/**
 * The generation path's prediction in joint ER form: no entities, one relation between the gold
 * head and tail (TANL leaves the error flags false).
 */
export function runRelationInference(outputSentence: string, example: Example): EntityRelationPrediction {
  const gold = example.relations[0];
  return {
    entities: [],
    relations: [[
      parseRelation(outputSentence),
      entityTuple(example, gold.head),
      entityTuple(example, gold.tail),
    ]],
    wrongReconstruction: false,
    labelError: false,
    entityError: false,
    formatError: false,
  };
}

/**
 * Scores a batch of targets for one input: one sequence loss per target (lower is more likely),
 * e.g. T5's mean token cross-entropy. Supplied by the model code.
 */
export type SequenceScorer = (input: string, targets: string[]) => Promise<number[]>;

/**
 * TANL's `nll_inference`: the candidate relation whose target sentence has the lowest loss.
 * Ties go to the earliest candidate (numpy's `argmin`).
 */
export async function rankRelationCandidates(
  example: Example,
  candidates: readonly LabelType[],
  score: SequenceScorer,
): Promise<LabelType> {
  if (candidates.length === 0) throw new Error("no candidate relations to rank");
  const targets = candidates.map((c) => formatRelationOutput(example, c));
  const losses = await score(formatRelationInput(example), targets);
  if (losses.length !== candidates.length) {
    throw new Error(`scorer returned ${losses.length} losses for ${candidates.length} targets`);
  }
  // numpy's argmin: the first NaN if there is one, else the first minimum.
  const nan = losses.findIndex(Number.isNaN);
  if (nan >= 0) return candidates[nan];
  let best = 0;
  for (let k = 1; k < losses.length; k++) if (losses[k] < losses[best]) best = k;
  return candidates[best];
}

/**
 * Relation classification, generation path (FewRel meta-training evaluation): counts as TANL's
 * joint ER counter with the predicted relation between the gold head and tail.
 */
export const relationClassificationFormat: TaskFormat<EntityRelationPrediction> = {
  name: "rel_output",
  formatInput: (example) => formatRelationInput(example),
  formatOutput: (example) => formatRelationOutput(example),
  parse: (output, example) => runRelationInference(output, example),
  evaluateExample: (output, example, schema: DatasetSchema) =>
    countEntityRelation(runRelationInference(output, example), example, schema),
};
