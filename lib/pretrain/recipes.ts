/**
 * Intermediate multi-task backbones: how each is made from the self-supervised `fishdip-t5-mini`,
 * and the leakage rule that decides which dataset's rows each may serve.
 *
 * The rule: a backbone used for a dataset's rows has never seen that dataset's labels, nor any of
 * its evaluation sentences. Two backbones are the fewest that give every dataset here a backbone
 * trained on supervised TANL tasks: the datasets are split in two groups, and each backbone is
 * trained on the labels of one group and serves the other. CoNLL04 is alone on one side, so the
 * backbone that serves it has seen both entity types (CoNLL-2003) and relations (ADE), and the one
 * that serves CoNLL-2003 and ADE has seen CoNLL04's entities and relations. Both learn FewRel's
 * relation-classification format from the meta-training relations, which the loader keeps disjoint
 * from the episodes' relations; the episodes' sentences (val_wiki) are removed like any other
 * evaluation sentence.
 *
 * The CoNLL04 rows start from that group's backbone trained twice as long (`...-long`, the same
 * mixture continued): at the cpu preset's budget it lifted full fine-tuning by 4.6-6.0 entity-F1 points
 * at every fraction, the sparse methods by at most 2 (its card has the figures).
 *
 * @module
 */
import { loadDataset } from "../data/mod.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import {
  renamedTypesObjective,
  sentenceKey,
  tanlObjective,
  vocabularyWords,
  withoutSentences,
} from "./tasks.ts";
import type { Objective } from "./tasks.ts";

/** A dataset whose rows a backbone may serve (the datasets of the offline tables). */
export type ServedDataset = "conll03" | "conll04" | "ade" | "fewrel";

/** A supervised source: a dataset's labelled sentences, or FewRel's meta-training relations. */
export type TaskSource = "conll03" | "conll04" | "ade" | "fewrel_meta";

/** How one intermediate backbone is trained. */
export interface BackboneRecipe {
  /** Its folder under `data/models/`. */
  name: string;
  /** The checkpoint it continues from (a folder under `data/models/`). */
  init: string;
  /** The datasets whose rows it serves: none of their labels or evaluation sentences is trained on. */
  serves: ServedDataset[];
  /** Share of batches per objective: span corruption, copy, and each supervised source. */
  weights: { span: number; copy: number } & Partial<Record<TaskSource, number>>;
  /** Examples per batch (every batch holds one objective). */
  batch: number;
  /** Inputs and targets of the supervised tasks are cut to this many tokens (EOS kept). */
  maxLength: number;
  /** Steps of this recipe (counted from the initial checkpoint's step 0 of this run). */
  steps: number;
  /**
   * Share of the entity and relation tasks' draws whose type names are replaced by random words
   * (`renamedTypesObjective`; default 0): a backbone that has learnt to write any name it is
   * given, not one dataset's inventory.
   */
  renameTypes?: number;
  /**
   * Seed of the run's draws (default 1): a recipe that continues another recipe's checkpoint on the
   * same mixture takes another seed, so that its batches are not the first run's again.
   */
  seed?: number;
}

/** The backbone trained on CoNLL04's labels; it serves the other datasets. */
const CONLL04: BackboneRecipe = {
  name: "fishdip-t5-mini-mt-conll04",
  init: "fishdip-t5-mini",
  serves: ["conll03", "ade", "fewrel"],
  weights: { span: 0.2, copy: 0, conll04: 0.5, fewrel_meta: 0.3 },
  batch: 16,
  maxLength: 128,
  steps: 1600,
};

/** The backbone that serves CoNLL04 (and FewRel): trained on the other group's labels. */
const CONLL03_ADE: BackboneRecipe = {
  name: "fishdip-t5-mini-mt-conll03-ade",
  init: "fishdip-t5-mini",
  serves: ["conll04", "fewrel"],
  weights: { span: 0.2, copy: 0, conll03: 0.35, ade: 0.25, fewrel_meta: 0.2 },
  batch: 16,
  maxLength: 128,
  steps: 1600,
};

/** The backbones of the offline tables, and variants of them. */
export const BACKBONE_RECIPES: Readonly<Record<string, BackboneRecipe>> = {
  "fishdip-t5-mini-mt-conll04": CONLL04,
  // The CoNLL04 backbone continued with every entity/relation draw's type names renamed at random,
  // because FISH-DIP fine-tuned from the CoNLL04 backbone writes CoNLL04's type names on ADE. Kept
  // so README's offline-track rows can be rerun: it scored lower for every method, so no grid uses it.
  "fishdip-t5-mini-mt-conll04-rn": {
    ...CONLL04,
    name: "fishdip-t5-mini-mt-conll04-rn",
    init: CONLL04.name,
    steps: 400,
    renameTypes: 1,
  },
  "fishdip-t5-mini-mt-conll03-ade": CONLL03_ADE,
  // The recipe of the backbone that serves CoNLL04, run twice as long (1,600 more steps of the same
  // mixture, other draws), because its supervised losses were still falling at 1,600 steps.
  "fishdip-t5-mini-mt-conll03-ade-long": {
    ...CONLL03_ADE,
    name: "fishdip-t5-mini-mt-conll03-ade-long",
    init: CONLL03_ADE.name,
    seed: 2,
  },
};

/** The labelled sentences a source contributes: never an evaluation split of a served dataset. */
function sourceExamples(
  source: TaskSource,
  dataDir?: string,
): { examples: Example[]; schema: DatasetSchema } {
  const opts = { dataDir };
  switch (source) {
    case "conll03": // dev and test are CoNLL-2003's evaluation splits
      return loadDataset("conll03", "train", opts);
    case "conll04": { // test is scored; dev is never used by the grid, so it trains the backbone
      const train = loadDataset("conll04", "train", opts), dev = loadDataset("conll04", "dev", opts);
      return { schema: train.schema, examples: [...train.examples, ...dev.examples] };
    }
    case "ade": { // all 4,272 sentences: a fold's train and test split partition them
      const train = loadDataset("ade", "train", { ...opts, fold: 0 });
      const test = loadDataset("ade", "test", { ...opts, fold: 0 });
      return { schema: train.schema, examples: [...train.examples, ...test.examples] };
    }
    case "fewrel_meta": // the meta-training relations, disjoint from the episodes' (see lib/data/fewrel.ts)
      return loadDataset("fewrel", "train", opts);
  }
}

/** Every sentence a served dataset may be scored on, per split, as match keys. */
export function evaluationSentences(
  served: readonly ServedDataset[],
  dataDir?: string,
): { keys: Set<string>; counts: Record<string, number> } {
  const keys = new Set<string>();
  const counts: Record<string, number> = {};
  const add = (label: string, examples: readonly Example[]) => {
    counts[label] = examples.length;
    for (const e of examples) keys.add(sentenceKey(e));
  };
  const opts = { dataDir };
  for (const d of served) {
    if (d === "conll03" || d === "conll04") {
      for (const split of ["dev", "test"] as const) {
        add(`${d}/${split}`, loadDataset(d, split, opts).examples);
      }
    } else if (d === "ade") {
      for (let fold = 0; fold < 10; fold++) {
        add(`ade/fold${fold}/test`, loadDataset("ade", "test", { ...opts, fold }).examples);
      }
    } else {
      add("fewrel/val_wiki", loadDataset("fewrel", "test", opts).examples); // every episode is drawn from it
    }
  }
  return { keys, counts };
}

/** Which source's labels a served dataset's labels are. */
const LABELS_OF: Record<ServedDataset, TaskSource | undefined> = {
  conll03: "conll03",
  conll04: "conll04",
  ade: "ade",
  fewrel: undefined, // the meta-training relations are other relations than the episodes'
};

/** Throws unless the recipe trains on no label of a dataset it serves. */
export function checkLeakageRule(recipe: BackboneRecipe): void {
  for (const d of recipe.serves) {
    const own = LABELS_OF[d];
    if (own && (recipe.weights[own] ?? 0) > 0) {
      throw new Error(`recipe ${recipe.name} serves ${d} but trains on its labels`);
    }
  }
}

/** The recipe's supervised objectives, each without the served datasets' evaluation sentences. */
export function recipeTasks(
  recipe: BackboneRecipe,
  tokenizer: T5Tokenizer,
  forbidden: ReadonlySet<string>,
  dataDir?: string,
): { objectives: { objective: Objective; weight: number }[]; report: Record<string, unknown> } {
  checkLeakageRule(recipe);
  const objectives: { objective: Objective; weight: number }[] = [];
  const report: Record<string, unknown> = {};
  let words: string[] | undefined;
  for (const source of ["conll03", "conll04", "ade", "fewrel_meta"] as const) {
    const weight = recipe.weights[source] ?? 0;
    if (weight <= 0) continue;
    const { examples, schema } = sourceExamples(source, dataDir);
    const { kept, dropped } = withoutSentences(examples, forbidden);
    const objective = tanlObjective(source, kept, schema, tokenizer, recipe.maxLength);
    const rename = schema.task === "relation_classification" ? 0 : recipe.renameTypes ?? 0;
    const truncated = objective.pairs.filter((p) =>
      p.inputs.length >= recipe.maxLength || p.targets.length >= recipe.maxLength
    ).length;
    report[source] = {
      examples: examples.length,
      dropped_as_evaluation_sentences: dropped,
      kept: kept.length,
      truncated_at_max_length: truncated,
      target_tokens: objective.pairs.reduce((a, p) =>
        a + p.targets.length, 0),
    };
    if (rename > 0) {
      words ??= vocabularyWords(tokenizer);
      (report[source] as Record<string, unknown>).renamed_types_share = rename;
      objectives.push({
        objective: renamedTypesObjective(objective, kept, schema, tokenizer, recipe.maxLength, rename, words),
        weight,
      });
    } else objectives.push({ objective, weight });
  }
  return { objectives, report };
}
