/**
 * The datasets the paper's tables use, as the experiment grid sees them: task, the files a run
 * needs, split sizes (for subset sizes, the n rule and cost estimates) and which split is scored.
 *
 * File layouts follow TANL/FISH-DIP (`augment/datasets_all.py`) for the licensed datasets, and the
 * layout of the shared data folder (`conll03/`, `conll04/`, `ade/`, `fewrel/`) for the others.
 * Availability is a plain file check, so a user who brings a licensed copy in that layout gets
 * its rows run instead of "needs DATASET".
 *
 * @module
 */

import { dataDir } from "../config/paths.ts";

/** The five sequence-labelling tasks of the paper (TANL names). */
export type Task = "ner" | "joint_er" | "srl" | "dst" | "relation_classification";

/**
 * Every dataset a preset may name: lib/data's names (FISH-DIP's job names, so a runner passes
 * `cell.dataset` to `loadDataset`), plus the two FewRel meta-training sources, which both load as
 * `loadDataset("fewrel", "train")` (train_wiki when present, else the stand-in relations).
 */
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

/** What the grid knows about one dataset. */
export interface DatasetInfo {
  name: DatasetName;
  /** Label used in table rows and figures. */
  label: string;
  task: Task;
  /** Files (relative to the data directory) that must exist for a run to use the dataset. */
  files: string[];
  /** Training examples (sentences; SRL: predicates; DST: turns). Approximate where `approx`. */
  trainSize: number;
  /**
   * The split a cell scores, as in the reference configuration (`do_eval`/`do_predict`). For
   * FewRel episodes `test` is the episode's query set (as `loadDataset("fewrel", "test", {episode})`).
   */
  evalSplit: "dev" | "test";
  /** Examples in `evalSplit`. */
  evalSize: number;
  /** Metric keys printed by TANL for this dataset, in table order. */
  metrics: string[];
  /** Licensed (LDC) or too large to ship: users bring their own copy. */
  licensed: boolean;
  /** Sizes are background knowledge of the published splits, not counted here. */
  approx?: boolean;
}

/**
 * The registry. Sizes of the shipped datasets were checked against `../shared/data/README.md`;
 * the licensed ones are the published figures of the TANL/DyGIE/He et al. preprocessings.
 */
export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  conll03: {
    name: "conll03",
    label: "CoNLL03",
    task: "ner",
    files: ["conll03/train.txt", "conll03/dev.txt"],
    trainSize: 14041,
    // The reference config runs do_eval only: CoNLL03 is scored on dev (eng.testa).
    evalSplit: "dev",
    evalSize: 3250,
    metrics: ["entity_f1"],
    licensed: false,
  },
  ontonotes: {
    name: "ontonotes",
    label: "OntoNotes",
    task: "ner",
    files: ["ontonotes/train.txt", "ontonotes/dev.txt"],
    trainSize: 59924,
    evalSplit: "dev",
    evalSize: 8528,
    metrics: ["entity_f1"],
    licensed: true,
    approx: true,
  },
  conll04: {
    name: "conll04",
    label: "CoNLL04",
    task: "joint_er",
    files: ["conll04/conll04_train.json", "conll04/conll04_test.json"],
    trainSize: 922,
    evalSplit: "test",
    evalSize: 288,
    metrics: ["entity_f1", "relation_f1"],
    licensed: false,
  },
  ace2005_joint_er: {
    name: "ace2005_joint_er",
    label: "ACE05",
    task: "joint_er",
    files: ["ace2005_joint_er/train.json", "ace2005_joint_er/test.json"],
    trainSize: 10051,
    evalSplit: "test",
    evalSize: 2050,
    metrics: ["entity_f1", "relation_f1"],
    licensed: true,
    approx: true,
  },
  conll05_srl: {
    name: "conll05_srl",
    label: "CoNLL05 WSJ",
    task: "srl",
    files: ["CoNLL2005-SRL/conll05.train.txt", "CoNLL2005-SRL/conll05.test.txt"],
    trainSize: 90750,
    evalSplit: "test",
    evalSize: 5267,
    metrics: ["entity_f1"],
    licensed: true,
    approx: true,
  },
  conll05_srl_brown: {
    name: "conll05_srl_brown",
    label: "CoNLL05 Brown",
    task: "srl",
    // Evaluation only: the WSJ-trained models are scored on the Brown test set.
    files: ["CoNLL2005-SRL-Brown/conll05.test.txt"],
    trainSize: 0,
    evalSplit: "test",
    evalSize: 804,
    metrics: ["entity_f1"],
    licensed: true,
    approx: true,
  },
  multi_woz: {
    name: "multi_woz",
    label: "MultiWOZ 2.1",
    task: "dst",
    files: [
      "multi_woz_2.1/multi_woz_2.1_train_5_domain.json",
      "multi_woz_2.1/multi_woz_2.1_test_5_domain.json",
    ],
    trainSize: 54971,
    evalSplit: "test",
    evalSize: 7368,
    metrics: ["joint_accuracy"],
    licensed: true,
    approx: true,
  },
  ade: {
    name: "ade",
    label: "ADE (extra)",
    task: "joint_er",
    // Not in the paper; run on CPU as a second joint-ER dataset we can ship. The fold is
    // `seed % 10` as in TANL (lib/data `adeFoldForSeed`), so all ten folds are required.
    files: Array.from(
      { length: 10 },
      (_, i) => [`ade/ade_split_${i}_train.json`, `ade/ade_split_${i}_test.json`],
    ).flat(),
    trainSize: 3845,
    evalSplit: "test",
    evalSize: 427,
    metrics: ["entity_f1", "relation_f1"],
    licensed: false,
  },
  fewrel: {
    name: "fewrel",
    label: "FewRel",
    task: "relation_classification",
    // Episodes are drawn from FewRel 1.0 val_wiki, as in the reference (`FewRel_dev.json`).
    files: ["fewrel/val_wiki.json", "fewrel/pid2name.json"],
    trainSize: 11200,
    evalSplit: "test",
    evalSize: 0,
    metrics: ["relation_f1"],
    licensed: false,
  },
  fewrel_train_wiki: {
    name: "fewrel_train_wiki",
    label: "FewRel train_wiki",
    task: "relation_classification",
    // The reference meta-trains on the 64 train_wiki relations; not shipped here.
    files: ["fewrel/train_wiki.json", "fewrel/pid2name.json"],
    trainSize: 44800,
    evalSplit: "dev",
    evalSize: 0,
    metrics: [],
    licensed: true,
  },
  fewrel_standin: {
    name: "fewrel_standin",
    label: "FewRel val_nyt+val_semeval+val_pubmed",
    task: "relation_classification",
    // Stand-in meta-training relations (disjoint from val_wiki's), used when train_wiki is absent.
    files: [
      "fewrel/val_nyt.json",
      "fewrel/val_semeval.json",
      "fewrel/val_pubmed.json",
      "fewrel/pid2name.json",
    ],
    // Upper bound: lib/data drops val_nyt relations that are also val_wiki relations.
    trainSize: 2500 + 8851 + 1000,
    approx: true,
    evalSplit: "dev",
    evalSize: 0,
    metrics: [],
    licensed: false,
  },
};

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

/**
 * Python's `round` for non-negative values (round half to even), as used by the reference for
 * `round(train_subset * N)`: 0.5 % of 1,000 is 5 but `round(2.5)` is 2.
 */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  // Products like 0.005 * 500 are not exact in binary; treat ties within 1e-9 as ties.
  if (Math.abs(d - 0.5) < 1e-9) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/** Training examples of a low-resource subset: `round(fraction * N)` as in `BaseDataset`. */
export function subsetSize(fraction: number, trainSize: number): number {
  return pyRound(fraction * trainSize);
}

/**
 * FISH-DIP's number of regressing samples n (`calculate_gradients`):
 * `min(max(int(0.1 * batches), 3), 25)` with `batches = ceil(examples / batch)`, capped at
 * `examples - 1` by the `argpartition` call (all samples when there is only one).
 */
export function nRule(examples: number, batchSize: number): number {
  const batches = Math.ceil(examples / batchSize);
  const n = Math.min(Math.max(Math.floor(0.1 * batches), 3), 25);
  return examples <= 1 ? examples : Math.min(n, examples - 1);
}
