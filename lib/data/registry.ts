/**
 * The one dataset registry: every dataset a loader, preset or table names, with what it is (task,
 * TANL schema, label), where it lives (files, layout, whether `deno task download` fetches it),
 * how it loads, how large it is, what is scored, and its quirks as fields rather than tests on its
 * name (MultiWOZ's doubled lengths, the Brown test set scored beside WSJ, ADE's fold per seed,
 * FewRel's episodes and meta-training sources).
 *
 * Names are FISH-DIP's job names (`config.ini` sections), plus the two FewRel meta-training
 * sources. File layouts follow TANL/FISH-DIP (`augment/datasets_all.py`) for the licensed datasets
 * and the layout of the shared data folder (`conll03/`, `conll04/`, `ade/`, `fewrel/`) for the
 * others. Availability is a plain file check, so a user who brings a licensed copy in that layout
 * gets its rows run instead of "needs DATASET".
 *
 * ```ts
 * DATASETS.conll04.task;                                // "joint_er"
 * DATASETS.conll04.load("test", { dataDir: "../shared/data" }).examples.length; // 288
 * datasetAvailability("../shared/data").ontonotes.missing; // ["ontonotes/train.txt", ...]
 * ```
 *
 * @module
 */
import { dataDir } from "../config/paths.ts";
import type { DatasetSchema, Example, Task } from "./types.ts";
import type { LoadOptions } from "./io.ts";
import { CONLL03_SCHEMA, loadConll03, loadOntonotes, ONTONOTES_SCHEMA } from "./conll.ts";
import { CONLL04_SCHEMA, loadAde, loadAdeSchema, loadConll04 } from "./spert.ts";
import { ACE2005_SCHEMA, loadAce2005 } from "./ace2005.ts";
import { loadConll05Srl, loadConll05SrlBrown } from "./srl.ts";
import { loadMultiWoz, MULTIWOZ_SCHEMA } from "./multiwoz.ts";
import { fewRelEpisode, loadFewRelEval, loadFewRelMetaTrain } from "./fewrel.ts";

/** Every dataset the registry knows. */
export type DatasetName =
  | "conll03"
  | "ontonotes"
  | "conll04"
  | "ace2005_joint_er"
  | "conll05_srl"
  | "conll05_srl_brown"
  | "multi_woz"
  | "ade"
  | "fewrel"
  | "fewrel_train_wiki"
  | "fewrel_standin";

/** A dataset split. */
export type Split = "train" | "dev" | "test";

/** Options of a dataset's loader (and of `loadDataset`). */
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

/** What a loader returns: the split's examples (ids `split-index`, as TANL names them) and the schema. */
export interface LoadedSplit {
  schema: DatasetSchema;
  examples: Example[];
}

/** Everything the project knows about one dataset. */
export interface DatasetInfo {
  name: DatasetName;
  /** Label used in table rows and figures. */
  label: string;
  task: Task;
  /**
   * The TANL schema (entity and relation types) when it is fixed; absent when it is read with the
   * data (ADE's types file, CoNLL-2005's argument labels, FewRel's relations).
   */
  schema?: DatasetSchema;
  /** Reads one split. */
  load(split: Split, opts: LoadDatasetOptions): LoadedSplit;
  /** Files (relative to the data directory) that must exist for a run to use the dataset. */
  files: string[];
  /** The files of the whole dataset, for people (`data/README.md`, download messages). */
  layout: string;
  /** Whether `deno task download` fetches it (else: bring your own copy). */
  downloadable: boolean;
  /** Licensed (LDC) or too large to ship: users bring their own copy. */
  licensed: boolean;
  /** Training examples (sentences; SRL: predicates; DST: turns). Approximate where `approx`. */
  trainSize: number;
  /** Sizes are background knowledge of the published splits, not counted here. */
  approx?: boolean;
  /**
   * The split a cell scores, as in the reference configuration (`do_eval`/`do_predict`). For
   * FewRel episodes `test` is the episode's query set.
   */
  evalSplit: "dev" | "test";
  /** Examples in `evalSplit` (0: not scored as a split of its own). */
  evalSize: number;
  /** Metric keys printed by TANL for this dataset, in table order. */
  metrics: string[];
  /** Training fractions of the low-resource table (the reference scripts'). */
  fractions?: number[];
  /** Epochs of the reference scripts by training fraction (`scripts/*.sh`). */
  paperEpochs?: Record<number, number>;
  /**
   * The reference configuration's generation limit at evaluation (`max_seq_length_eval`);
   * absent: its `max_seq_length`.
   */
  paperEvalLength?: number;
  /** Input and output lengths are this multiple of a preset's (MultiWOZ's dialogue histories: 2). */
  lengthFactor?: number;
  /** Models trained on this dataset are also scored on these (WSJ SRL: the Brown test set). */
  alsoScoredOn?: DatasetName[];
  /** The load options of a run seed (ADE: the fold, `seed % 10` as in TANL). */
  seedOptions?: (seed: number) => Partial<LoadDatasetOptions>;
  /** FewRel meta-training: one pass over the set (the reference's `num_train_epochs = 1`). */
  metaTraining?: boolean;
  /** A stand-in for the reference's data, and what it replaces (printed under tables). */
  standIn?: { of: string; for: string };
  /**
   * The multi-task offline backbone that serves this dataset's rows in presets with per-dataset
   * backbones: trained on other datasets' TANL tasks, never on this dataset's labels or evaluation
   * sentences (`lib/pretrain/recipes.ts`, where a test checks that the recipe serves it).
   */
  offlineBackbone?: string;
}

/** TANL's ADE fold for a run seed (episode): `seed % 10`, so episodes 1..10 cover every fold. */
export function adeFoldForSeed(seed: number): number {
  return ((seed % 10) + 10) % 10;
}

/** A loader whose schema is fixed. */
function fixed(schema: DatasetSchema, load: (split: Split, opts: LoadDatasetOptions) => Example[]) {
  return (split: Split, opts: LoadDatasetOptions): LoadedSplit => ({ schema, examples: load(split, opts) });
}

/**
 * FewRel's splits: an episode's support (`train`) or query set, else the meta-training set (`train`:
 * train_wiki when present, else the stand-in relations; see lib/data/fewrel.ts) or all of val_wiki.
 */
function loadFewRel(split: Split, opts: LoadDatasetOptions): LoadedSplit {
  if (opts.episode) {
    const ep = fewRelEpisode(opts.episode, opts);
    return { schema: ep.schema, examples: split === "train" ? ep.support : ep.query };
  }
  const r = split === "train" ? loadFewRelMetaTrain(opts) : loadFewRelEval(opts);
  return { schema: r.schema, examples: r.examples };
}

/**
 * The registry. Sizes of the shipped datasets were checked against `../shared/data/README.md`;
 * the licensed ones are the published figures of the TANL/DyGIE/He et al. preprocessings.
 */
export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  conll03: {
    name: "conll03",
    offlineBackbone: "fishdip-t5-mini-mt-conll04",
    label: "CoNLL03",
    task: "ner",
    schema: CONLL03_SCHEMA,
    load: fixed(CONLL03_SCHEMA, loadConll03),
    files: ["conll03/train.txt", "conll03/dev.txt"],
    layout: "conll03/{train,dev,test}.txt",
    downloadable: false,
    licensed: false,
    trainSize: 14041,
    // The reference config runs do_eval only: CoNLL03 is scored on dev (eng.testa).
    evalSplit: "dev",
    evalSize: 3250,
    metrics: ["entity_f1"],
    fractions: [0.01, 0.05, 0.1],
    paperEpochs: { 0.01: 250, 0.05: 200, 0.1: 200 },
    paperEvalLength: 512,
  },
  ontonotes: {
    name: "ontonotes",
    label: "OntoNotes",
    task: "ner",
    schema: ONTONOTES_SCHEMA,
    load: fixed(ONTONOTES_SCHEMA, loadOntonotes),
    files: ["ontonotes/train.txt", "ontonotes/dev.txt"],
    layout: "ontonotes/{train,dev,test}.txt",
    downloadable: false,
    licensed: true,
    trainSize: 59924,
    approx: true,
    evalSplit: "dev",
    evalSize: 8528,
    metrics: ["entity_f1"],
    fractions: [0.01, 0.05, 0.1],
    paperEpochs: { 0.01: 100, 0.05: 80, 0.1: 80 },
  },
  conll04: {
    name: "conll04",
    offlineBackbone: "fishdip-t5-mini-mt-conll03-ade-long",
    label: "CoNLL04",
    task: "joint_er",
    schema: CONLL04_SCHEMA,
    load: fixed(CONLL04_SCHEMA, loadConll04),
    files: ["conll04/conll04_train.json", "conll04/conll04_test.json"],
    layout: "conll04/conll04_{train,dev,test}.json",
    downloadable: true,
    licensed: false,
    trainSize: 922,
    evalSplit: "test",
    evalSize: 288,
    metrics: ["entity_f1", "relation_f1"],
    fractions: [0.01, 0.05, 0.1],
    paperEpochs: { 0.01: 1000, 0.05: 800, 0.1: 800 },
    paperEvalLength: 512,
  },
  ace2005_joint_er: {
    name: "ace2005_joint_er",
    label: "ACE05",
    task: "joint_er",
    schema: ACE2005_SCHEMA,
    load: fixed(ACE2005_SCHEMA, loadAce2005),
    files: ["ace2005_joint_er/train.json", "ace2005_joint_er/test.json"],
    layout: "ace2005_joint_er/{train,dev,test}.json",
    downloadable: false,
    licensed: true,
    trainSize: 10051,
    approx: true,
    evalSplit: "test",
    evalSize: 2050,
    metrics: ["entity_f1", "relation_f1"],
    fractions: [0.01, 0.05, 0.1],
    paperEpochs: { 0.01: 500, 0.05: 400, 0.1: 400 },
    paperEvalLength: 512,
  },
  conll05_srl: {
    name: "conll05_srl",
    label: "CoNLL05 WSJ",
    task: "srl",
    load: loadConll05Srl,
    files: ["CoNLL2005-SRL/conll05.train.txt", "CoNLL2005-SRL/conll05.test.txt"],
    layout: "CoNLL2005-SRL/conll05.{train,dev,test}.txt",
    downloadable: false,
    licensed: true,
    trainSize: 90750,
    approx: true,
    evalSplit: "test",
    evalSize: 5267,
    metrics: ["entity_f1"],
    fractions: [0.005, 0.01, 0.05],
    paperEpochs: { 0.005: 200, 0.01: 160, 0.05: 160 },
    // The reference's `conll05_srl_brown` job scores the WSJ-trained models on Brown too.
    alsoScoredOn: ["conll05_srl_brown"],
  },
  conll05_srl_brown: {
    name: "conll05_srl_brown",
    label: "CoNLL05 Brown",
    task: "srl",
    load: loadConll05SrlBrown,
    // Evaluation only: the WSJ-trained models are scored on the Brown test set.
    files: ["CoNLL2005-SRL-Brown/conll05.test.txt"],
    layout: "CoNLL2005-SRL-Brown/conll05.test.txt",
    downloadable: false,
    licensed: true,
    trainSize: 0,
    approx: true,
    evalSplit: "test",
    evalSize: 804,
    metrics: ["entity_f1"],
  },
  multi_woz: {
    name: "multi_woz",
    label: "MultiWOZ 2.1",
    task: "dst",
    schema: MULTIWOZ_SCHEMA,
    load: fixed(MULTIWOZ_SCHEMA, loadMultiWoz),
    files: [
      "multi_woz_2.1/multi_woz_2.1_train_5_domain.json",
      "multi_woz_2.1/multi_woz_2.1_test_5_domain.json",
    ],
    layout: "multi_woz_2.1/multi_woz_2.1_{train,dev,test}_5_domain.json",
    downloadable: false,
    licensed: true,
    trainSize: 54971,
    approx: true,
    evalSplit: "test",
    evalSize: 7368,
    metrics: ["joint_accuracy"],
    fractions: [0.005, 0.01, 0.05],
    paperEpochs: { 0.005: 500, 0.01: 400, 0.05: 400 },
    paperEvalLength: 512,
    // Dialogue histories are long: the reference doubles both length limits for DST.
    lengthFactor: 2,
  },
  ade: {
    name: "ade",
    offlineBackbone: "fishdip-t5-mini-mt-conll04",
    label: "ADE (extra)",
    task: "joint_er",
    load: (split, opts) => ({ schema: loadAdeSchema(opts), examples: loadAde(split, opts) }),
    // Not in the paper; run on CPU as a second joint-ER dataset we can ship. The fold is
    // `seed % 10` as in TANL, so all ten folds are required.
    files: Array.from(
      { length: 10 },
      (_, i) => [`ade/ade_split_${i}_train.json`, `ade/ade_split_${i}_test.json`],
    ).flat(),
    layout: "ade/ade_split_{0..9}_{train,test}.json, ade/ade_types.json",
    downloadable: true,
    licensed: false,
    trainSize: 3845,
    evalSplit: "test",
    evalSize: 427,
    metrics: ["entity_f1", "relation_f1"],
    fractions: [0.01, 0.05, 0.1],
    paperEvalLength: 512,
    seedOptions: (seed) => ({ fold: adeFoldForSeed(seed) }),
  },
  fewrel: {
    name: "fewrel",
    offlineBackbone: "fishdip-t5-mini-mt-conll04",
    label: "FewRel",
    task: "relation_classification",
    load: loadFewRel,
    // Episodes are drawn from FewRel 1.0 val_wiki, as in the reference (`FewRel_dev.json`).
    files: ["fewrel/val_wiki.json", "fewrel/pid2name.json"],
    layout: "fewrel/{val_wiki,val_nyt,val_semeval,val_pubmed,pid2name}.json (+ optional train_wiki.json)",
    downloadable: true,
    licensed: false,
    trainSize: 11200,
    evalSplit: "test",
    evalSize: 0,
    metrics: ["relation_f1"],
  },
  fewrel_train_wiki: {
    name: "fewrel_train_wiki",
    label: "FewRel train_wiki",
    task: "relation_classification",
    // Both meta-training sources load as FewRel's `train` split (train_wiki when present).
    load: loadFewRel,
    // The reference meta-trains on the 64 train_wiki relations; not shipped here.
    files: ["fewrel/train_wiki.json", "fewrel/pid2name.json"],
    layout: "fewrel/train_wiki.json, fewrel/pid2name.json",
    downloadable: false,
    licensed: true,
    trainSize: 44800,
    evalSplit: "dev",
    evalSize: 0,
    metrics: [],
    metaTraining: true,
  },
  fewrel_standin: {
    name: "fewrel_standin",
    offlineBackbone: "fishdip-t5-mini-mt-conll04",
    label: "FewRel val_nyt+val_semeval+val_pubmed",
    task: "relation_classification",
    load: loadFewRel,
    // Stand-in meta-training relations (disjoint from val_wiki's), used when train_wiki is absent.
    files: [
      "fewrel/val_nyt.json",
      "fewrel/val_semeval.json",
      "fewrel/val_pubmed.json",
      "fewrel/pid2name.json",
    ],
    layout: "fewrel/{val_nyt,val_semeval,val_pubmed,pid2name}.json",
    downloadable: true,
    licensed: false,
    // Upper bound: lib/data drops val_nyt relations that are also val_wiki relations.
    trainSize: 2500 + 8851 + 1000,
    approx: true,
    evalSplit: "dev",
    evalSize: 0,
    metrics: [],
    metaTraining: true,
    standIn: { of: "val_nyt+val_semeval+val_pubmed", for: "train_wiki" },
  },
};

/** Every dataset name, in registry order. */
export const DATASET_NAMES: readonly DatasetName[] = Object.keys(DATASETS) as DatasetName[];

/** Whether `name` is a dataset of the registry. */
export function isDatasetName(name: string): name is DatasetName {
  return Object.hasOwn(DATASETS, name);
}

/** Whether a dataset's files are present, and which are not. */
export interface Availability {
  available: boolean;
  missing: string[];
}

/**
 * Checks every dataset's files under the data directory (`--data`, `$FISHDIP_DATA`, `<repo>/data`).
 *
 * ```ts
 * const avail = datasetAvailability("../shared/data");
 * avail.conll04.available; // true
 * avail.ontonotes.missing; // ["ontonotes/train.txt", "ontonotes/dev.txt"]
 * ```
 */
export function datasetAvailability(dir?: string): Record<DatasetName, Availability> {
  const root = dataDir(dir);
  const out = {} as Record<DatasetName, Availability>;
  for (const info of Object.values(DATASETS)) {
    const missing = info.files.filter((f) => !exists(`${root}/${f}`));
    out[info.name] = { available: missing.length === 0, missing };
  }
  return out;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
