/**
 * The structures that parsing an output sentence produces, shared by every output format.
 *
 * They mirror TANL's tuples so that predictions compare with gold exactly as in Python: an entity
 * is `(natural type, start, end)`, a relation is `(natural type, head entity, tail entity)`.
 *
 * @module
 */

import type { DatasetSchema, Example } from "../data/types.ts";

/** TANL's entity tuple `(type.natural, start, end)`; `end` is exclusive. */
export type EntityTuple = readonly [type: string, start: number, end: number];

/** TANL's relation tuple `(type.natural, head tuple, tail tuple)`. */
export type RelationTuple = readonly [type: string, head: EntityTuple, tail: EntityTuple];

/**
 * One bracketed span as `parse_output_sentence` returns it, already aligned to the gold tokens.
 * `tags` are the `|`-separated groups after the name, each split on ` = `
 * (`[["person"], ["kills", "Lincoln"]]`).
 */
export interface RawEntity {
  name: string;
  tags: string[][];
  start: number;
  end: number;
}

/** The four error flags of TANL's `JointEROutputFormat.run_inference`. */
export interface ErrorFlags {
  /** The output's words, without annotations, differ from the sentence (spaces ignored). */
  wrongReconstruction: boolean;
  /** An entity or relation type that the schema does not know. */
  labelError: boolean;
  /** A relation whose tail names no predicted entity. */
  entityError: boolean;
  /** Unbalanced brackets, an entity without a type, or a relation tag of the wrong length. */
  formatError: boolean;
}

/** What the entity/relation formats (NER, joint ER, SRL) parse from an output sentence. */
export interface EntityRelationPrediction extends ErrorFlags {
  /** Distinct predicted entities, in Python's sorted order. */
  entities: EntityTuple[];
  /** Distinct predicted relations, in Python's sorted order. */
  relations: RelationTuple[];
}

/**
 * TANL's per-sentence `Counter`. Per-type keys are written `predicted_entities::person`, standing
 * for TANL's tuple key `('predicted_entities', 'person')`.
 */
export type Counts = Record<string, number>;

/** The interface every task's format implements: build the strings, read them back, count. */
export interface TaskFormat<P> {
  /** TANL's name for the output format (`joint_er`, `multi_woz`, `rel_output`). */
  readonly name: string;
  /** The model's input sentence. */
  formatInput(example: Example, schema: DatasetSchema): string;
  /** The target sentence in augmented natural language. */
  formatOutput(example: Example, schema: DatasetSchema): string;
  /** The structures an output sentence states about `example`. */
  parse(outputSentence: string, example: Example, schema: DatasetSchema): P;
  /** TANL's per-sentence counters for `outputSentence` against the gold `example`. */
  evaluateExample(outputSentence: string, example: Example, schema: DatasetSchema): Counts;
}
