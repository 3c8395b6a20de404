/**
 * Datasets: one registry over the loaders, and TANL's low-resource sampling.
 *
 * ```ts
 * import { loadDataset, lowResourceSubset } from "./mod.ts";
 * const { examples, schema } = loadDataset("conll04", "train", { dataDir: "../shared/data" });
 * const train = lowResourceSubset(examples, 0.01, 1); // FISH-DIP's 1% subset, episode 1
 * ```
 *
 * Names are FISH-DIP's job names (`config.ini` sections). Files are read from the data directory
 * (`dataDir`, else `$FISHDIP_DATA`, else `<repo>/data`); its layout is described in
 * `data/README.md`. A missing file raises `MissingDataError` saying how to get it; a malformed one
 * raises `DataFormatError` naming the file and line. Nothing is read at import time.
 *
 * @module
 */
import type { DatasetSchema, Example } from "./types.ts";
import type { LoadOptions } from "./io.ts";
import { CONLL03_SCHEMA, loadConll03, loadOntonotes, ONTONOTES_SCHEMA } from "./conll.ts";
import { CONLL04_SCHEMA, loadAde, loadAdeSchema, loadConll04 } from "./spert.ts";
import { ACE2005_SCHEMA, loadAce2005 } from "./ace2005.ts";
import { loadConll05Srl, loadConll05SrlBrown } from "./srl.ts";
import { loadMultiWoz, MULTIWOZ_SCHEMA } from "./multiwoz.ts";
import { fewRelEpisode, loadFewRelEval, loadFewRelMetaTrain } from "./fewrel.ts";

export type { DatasetSchema, Entity, Example, LabelType, Relation } from "./types.ts";
export { DataFormatError, type LoadOptions } from "./io.ts";
export { lowResourceSubset, shuffledIndices, subsetSize } from "./sampling.ts";
export { PythonRandom, pythonRound } from "./python_random.ts";
export { type Episode, fewRelEpisode, loadFewRelMetaTrain, sampleEpisode } from "./fewrel.ts";
export { CONLL03_SCHEMA, CONLL04_SCHEMA, ONTONOTES_SCHEMA };
export { ACE2005_SCHEMA, MULTIWOZ_SCHEMA };

/** The datasets the registry knows, by FISH-DIP's job name. */
export const DATASET_NAMES = [
  "conll03",
  "ontonotes",
  "conll04",
  "ade",
  "ace2005_joint_er",
  "conll05_srl",
  "conll05_srl_brown",
  "multi_woz",
  "fewrel",
] as const;

/** One of {@link DATASET_NAMES}. */
export type DatasetName = typeof DATASET_NAMES[number];

/** A dataset split. */
export type Split = "train" | "dev" | "test";

/** What each dataset is and whether `deno task download` can fetch it. */
export const DATASET_INFO: Record<
  DatasetName,
  { task: DatasetSchema["task"]; downloadable: boolean; layout: string }
> = {
  conll03: { task: "ner", downloadable: false, layout: "conll03/{train,dev,test}.txt" },
  ontonotes: { task: "ner", downloadable: false, layout: "ontonotes/{train,dev,test}.txt" },
  conll04: { task: "joint_er", downloadable: true, layout: "conll04/conll04_{train,dev,test}.json" },
  ade: {
    task: "joint_er",
    downloadable: true,
    layout: "ade/ade_split_{0..9}_{train,test}.json, ade/ade_types.json",
  },
  ace2005_joint_er: {
    task: "joint_er",
    downloadable: false,
    layout: "ace2005_joint_er/{train,dev,test}.json",
  },
  conll05_srl: { task: "srl", downloadable: false, layout: "CoNLL2005-SRL/conll05.{train,dev,test}.txt" },
  conll05_srl_brown: { task: "srl", downloadable: false, layout: "CoNLL2005-SRL-Brown/conll05.test.txt" },
  multi_woz: {
    task: "dst",
    downloadable: false,
    layout: "multi_woz_2.1/multi_woz_2.1_{train,dev,test}_5_domain.json",
  },
  fewrel: {
    task: "relation_classification",
    downloadable: true,
    layout: "fewrel/{val_wiki,val_nyt,val_semeval,val_pubmed,pid2name}.json (+ optional train_wiki.json)",
  },
};

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions extends LoadOptions {
  /** ADE: the fold 0..9 (TANL uses `seed % 10`, see {@link adeFoldForSeed}). Default 0. */
  fold?: number;
  /**
   * FewRel: an N-way K-shot episode; `train` is then its support set and `dev`/`test` its query
   * set (as TANL's `FewRelEpisodic`). Without it, `train` is the meta-training set and
   * `dev`/`test` all of val_wiki.
   */
  episode?: { ways: number; shots: number; queries?: number; seed: number | bigint };
  /** FewRel: whole-mention spans instead of TANL's two-position spans. */
  fullSpans?: boolean;
}

/** A loaded split: its examples (ids `split-index` as TANL names them) and the dataset's schema. */
export interface LoadedDataset {
  name: DatasetName;
  split: Split;
  schema: DatasetSchema;
  examples: Example[];
}

/** TANL's ADE fold for a run seed (episode): `seed % 10`, so episodes 1..10 cover every fold. */
export function adeFoldForSeed(seed: number): number {
  return ((seed % 10) + 10) % 10;
}

/**
 * Loads one split of a dataset.
 *
 * ```ts
 * const dev = loadDataset("conll03", "dev");            // 3,250 sentences
 * const ade = loadDataset("ade", "train", { fold: 3 }); // TANL's split_3_train
 * const ep = loadDataset("fewrel", "test", { episode: { ways: 5, shots: 1, seed: 1 } }); // 25 queries
 * ```
 */
export function loadDataset(name: DatasetName, split: Split, opts: LoadDatasetOptions = {}): LoadedDataset {
  const done = (schema: DatasetSchema, examples: Example[]): LoadedDataset => ({
    name,
    split,
    schema,
    examples,
  });
  switch (name) {
    case "conll03":
      return done(CONLL03_SCHEMA, loadConll03(split, opts));
    case "ontonotes":
      return done(ONTONOTES_SCHEMA, loadOntonotes(split, opts));
    case "conll04":
      return done(CONLL04_SCHEMA, loadConll04(split, opts));
    case "ade":
      return done(loadAdeSchema(opts), loadAde(split, opts));
    case "ace2005_joint_er":
      return done(ACE2005_SCHEMA, loadAce2005(split, opts));
    case "conll05_srl": {
      const r = loadConll05Srl(split, opts);
      return done(r.schema, r.examples);
    }
    case "conll05_srl_brown": {
      const r = loadConll05SrlBrown(split, opts);
      return done(r.schema, r.examples);
    }
    case "multi_woz":
      return done(MULTIWOZ_SCHEMA, loadMultiWoz(split, opts));
    case "fewrel": {
      if (opts.episode) {
        const ep = fewRelEpisode(opts.episode, opts);
        return done(ep.schema, split === "train" ? ep.support : ep.query);
      }
      const r = split === "train" ? loadFewRelMetaTrain(opts) : loadFewRelEval(opts);
      return done(r.schema, r.examples);
    }
    default:
      throw new RangeError(`unknown dataset ${JSON.stringify(name)} (known: ${DATASET_NAMES.join(", ")})`);
  }
}
