/**
 * The structures every dataset is loaded into, and every output format writes and parses.
 *
 * They follow TANL's `input_example.py`: an example is a tokenised sentence with typed spans
 * (entities, or SRL arguments) and typed links between them (relations). Types carry both the
 * dataset's short name (`Peop`) and the natural-language name the model reads and writes
 * (`person`), because TANL's augmented formats use natural names.
 *
 * @module
 */

/** An entity or relation type: the dataset's label and its natural-language name. */
export interface LabelType {
  /** The label as written in the dataset (`Peop`, `Work_For`, `ARG0`). */
  short: string;
  /** The name the model reads and writes (`person`, `works for`, `first argument`). */
  natural: string;
}

/** A typed token span; `end` is exclusive. */
export interface Entity {
  type: LabelType;
  start: number;
  end: number;
}

/** A typed link between two entities of the same example, by index into `entities`. */
export interface Relation {
  type: LabelType;
  head: number;
  tail: number;
}

/** One training or evaluation example, for any of the project's tasks. */
export interface Example {
  /** `split-index`, as TANL names them (`train-27`). */
  id: string;
  /** The sentence's words (for DST: the dialogue history's words). */
  tokens: string[];
  /** Entities (NER, joint ER, relation classification) or arguments (SRL). */
  entities: Entity[];
  /** Relations between entities (joint ER; the single gold relation for FewRel). */
  relations: Relation[];
  /** SRL: the predicate span, bracketed in the input and not annotated in the output. */
  predicate?: { start: number; end: number };
  /** DST: the belief state as `domain slot value` strings (TRADE's `domain-slot-value` with - -> space). */
  belief?: string[];
  /** DST: the same belief state as TRADE writes it, `domain-slot-value` (TANL's target is built from these). */
  beliefRaw?: string[];
  /** The dataset's own identifier of the sentence, when it has one (SpERT's `orig_id`). */
  origId?: string | number;
}

/** The five sequence-labelling tasks of the paper (TANL names). */
export type Task = "ner" | "joint_er" | "srl" | "dst" | "relation_classification";

/** What a dataset declares about itself: its name, task and label inventories. */
export interface DatasetSchema {
  name: string;
  task: Task;
  entityTypes: LabelType[];
  relationTypes: LabelType[];
}
