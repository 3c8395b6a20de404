/**
 * Test support: reads the TANL reference fixtures (`<fixtures>/tanl/*.json`, made by TANL's own
 * dataset classes) into this project's `Example` and `DatasetSchema`, so the formats and metrics
 * can be checked against them without the dataset loaders.
 *
 * @module
 */

import { fixturesDir } from "../lib/config/paths.ts";
import type { DatasetSchema, Example, LabelType } from "../lib/data/types.ts";

/** TANL's parse record for one output sentence, as the fixtures store it. */
export interface ParseRecord {
  parse_output_sentence: {
    entities: [string, string[][], number, number][];
    wrong_reconstruction: boolean;
  };
  run_inference: {
    predicted_entities: [string, number, number][];
    predicted_relations: [string, [string, number, number], [string, number, number]][];
    wrong_reconstruction: boolean;
    label_error: boolean;
    entity_error: boolean;
    format_error: boolean;
  };
  evaluate_example: Record<string, number>;
}

/** One sentence of a fixture file. */
export interface FixtureSentence {
  index: number;
  id: string;
  tokens: string[];
  gold_entities: { type: string; type_short: string; start: number; end: number; text: string }[];
  gold_relations: { type: string; type_short: string; head: number; tail: number }[];
  input: string;
  target: string;
  gold_target_parse: ParseRecord;
}

/** One hand-made wrong output of a fixture file. */
export interface CorruptedPrediction {
  index: number;
  kind: string;
  prediction: string;
  parse: ParseRecord;
}

/** A whole fixture file, with the example and schema built from it. */
export interface TanlFixture {
  file: string;
  dataset: string;
  split: string;
  entity_types: Record<string, string>;
  relation_types: Record<string, string> | null;
  sentences: FixtureSentence[];
  corrupted_predictions: CorruptedPrediction[];
  dataset_scores: Record<string, { macro_false: Record<string, number>; macro_true: Record<string, number> }>;
  schema: DatasetSchema;
  /** The examples, by sentence `index`. */
  examples: Map<number, Example>;
}

const types = (m: Record<string, string> | null): LabelType[] =>
  Object.entries(m ?? {}).map(([short, natural]) => ({ short, natural }));

/** The fixture files present in `<fixtures>/tanl/`, sorted by name. */
export function tanlFixtureFiles(): string[] {
  const dir = `${fixturesDir()}/tanl`;
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => `${dir}/${e.name}`)
    .sort();
}

/** Reads one fixture file. TANL passes `relation_types=None` for NER datasets: task "ner". */
export function loadTanlFixture(path: string): TanlFixture {
  const raw = JSON.parse(Deno.readTextFileSync(path));
  const schema: DatasetSchema = {
    name: raw.dataset,
    task: raw.relation_types === null ? "ner" : "joint_er",
    entityTypes: types(raw.entity_types),
    relationTypes: types(raw.relation_types),
  };
  const examples = new Map<number, Example>();
  for (const s of raw.sentences as FixtureSentence[]) {
    examples.set(s.index, {
      id: s.id,
      tokens: s.tokens,
      entities: s.gold_entities.map((e) => ({
        type: { short: e.type_short, natural: e.type },
        start: e.start,
        end: e.end,
      })),
      relations: s.gold_relations.map((r) => ({
        type: { short: r.type_short, natural: r.type },
        head: r.head,
        tail: r.tail,
      })),
    });
  }
  return { ...raw, file: path.slice(path.lastIndexOf("/") + 1), schema, examples };
}
