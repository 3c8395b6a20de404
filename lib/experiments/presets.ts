/**
 * The presets `smoke`, `quick`, `cpu` and `paper`: everything that distinguishes one expansion of
 * the paper's tables into runs from another (backbone, batch, seeds, step budgets, which rows and
 * methods, evaluation subsets). `plan.ts` expands a preset into cells and table entries.
 *
 * @module
 */
import { type DatasetName, DATASETS } from "../data/registry.ts";
import type { MethodName } from "../methods/registry.ts";
import type { EpisodeSpec } from "./cells.ts";
import type { TableName } from "./plan.ts";

/** The presets. */
export type PresetName = "smoke" | "quick" | "cpu" | "paper";

/** All presets. */
export const PRESETS: readonly PresetName[] = ["smoke", "quick", "cpu", "paper"];

/** FewRel episodic fine-tuning epochs by shots (reference `config.ini`). */
export const PAPER_FEWREL_EPOCHS: Record<number, number> = { 1: 1250, 5: 250 };

/** Everything that distinguishes one preset from another. */
export interface PresetSpec {
  name: PresetName;
  /**
   * Where its report and committed records go (`results/LABEL/`, `raw/LABEL-runs.jsonl`) and what
   * its manifest calls it; default `name`. Set by {@link withStepBudget}, so a longer budget's
   * tables never overwrite the preset's own.
   */
  label?: string;
  /** The backbone of every cell, or of the datasets without an offline backbone (see next). */
  backbone: string;
  /**
   * Start each dataset's rows from its `offlineBackbone` (the dataset registry): the offline
   * presets' multi-task backbones, each trained without the labels and evaluation sentences of
   * the datasets it serves.
   */
  backbonePerDataset?: boolean;
  batchSize: number;
  /** Seeds of the low-resource runs (MultiWOZ: `dstSeeds`, as the reference runs it once). */
  seeds: number[];
  dstSeeds: number[];
  /** FewRel episode indices. */
  episodes: number[];
  /**
   * Epochs: the reference scripts' (`"paper"`), or enough epochs for about this many optimizer
   * steps per run (CPU presets: a fixed budget, since the reference's 1,000-8,800 steps of
   * batch 32 are out of reach on two cores).
   */
  epochs: "paper" | { steps: number };
  /** FISH-DIP refresh interval m. CPU presets scale it with their step budget (~10 refreshes). */
  m: number;
  /**
   * The batch size FISH-DIP's n rule counts batches of, when it differs from `batchSize`: the
   * CPU presets train with batch 8 but keep the reference's n (its batch is 32).
   */
  nBatch?: number;
  /**
   * FISH-DIP refreshes as the reference's process-wide step counter makes them: the i-th seed of a
   * setting (or episode) refreshes as if the earlier seeds' steps had been counted. `false`
   * restarts the count with every run.
   */
  referenceStepCounter?: boolean;
  kValues: number[];
  mValues: number[];
  nValues: number[];
  /** Low-resource table: the datasets and fractions (eval-only Brown rides on WSJ). */
  lowResource: { dataset: DatasetName; fractions: number[] }[];
  lowResourceMethods: MethodName[];
  fewShot: EpisodeSpec[];
  fewShotMethods: MethodName[];
  /** Meta-training data and the fraction of it used. */
  meta: { dataset: DatasetName; fraction: number };
  peft: { dataset: DatasetName; fraction: number }[];
  peftMethods: MethodName[];
  /** The one low-resource setting of the ablations. */
  ablation: { dataset: DatasetName; fraction: number };
  fixedVsDynamicMethods: MethodName[];
  /**
   * "Which sparse mask?" (beyond the paper): low-resource settings (seeds as `seeds`) and FewRel
   * episode shapes, each run with every method listed.
   */
  sparseMethods: {
    settings: { dataset: DatasetName; fraction: number }[];
    episodes: EpisodeSpec[];
    methods: MethodName[];
  };
  /** Seeds of the PEFT table and the ablations (the CPU presets use fewer). */
  ablationSeeds: number[];
  /** Evaluation subsets by dataset (absent: the whole split). */
  evalSubsample: Partial<Record<DatasetName, number>>;
  /** Step cap per run (smoke and cpu; see {@link Cell.maxSteps}). */
  maxSteps?: number;
  /**
   * Tables that run another step budget than `epochs` gives: each is planned as
   * {@link withStepBudget} plans it (m scaled alike), so its cells are those of
   * `deno task reproduce --steps N --only TABLE` and share their records.
   */
  tableSteps?: Partial<Record<TableName, number>>;
  /** Length limits: CPU presets keep the reference's; recorded per cell anyway. */
  maxInputLength: number;
  maxOutputLength: number;
  /** See {@link Cell.padLabels}: the CPU presets pad labels to the batch's longest target. */
  padLabels?: "longest";
  /**
   * Generation limit at evaluation for the CPU presets (default: `maxOutputLength`). A weak model
   * rarely stops by itself, so every evaluation batch decodes to this limit; 160 tokens cover
   * about 98 % of CoNLL04/ADE test targets and 99.9 % of CoNLL-2003 dev (T5 pieces with EOS).
   */
  maxOutputLengthEval?: number;
}

const ALL_LOW_RESOURCE: DatasetName[] = [
  "conll03",
  "ontonotes",
  "conll04",
  "ace2005_joint_er",
  "conll05_srl",
  "multi_woz",
];
const FEWSHOT_ALL: EpisodeSpec[] = [
  { ways: 5, shots: 1, queries: 5 },
  { ways: 5, shots: 5, queries: 5 },
  { ways: 10, shots: 1, queries: 5 },
  { ways: 10, shots: 5, queries: 5 },
];
/** Every mask method and the strongest PEFT one, for the "which sparse mask?" table. */
const SPARSE_ALL: MethodName[] = [
  "full",
  "fishdip",
  "fish",
  "spiel",
  "static-grad",
  "pafi",
  "random",
  "lora",
];

/** An evaluation subset of `n` examples for every dataset scored as a split of its own. */
const subsampleAll = (n: number): Partial<Record<DatasetName, number>> =>
  Object.fromEntries(Object.values(DATASETS).filter((d) => d.evalSize > 0).map((d) => [d.name, n]));

/**
 * What the offline presets share: each dataset's rows from its offline backbone, labels padded to the
 * batch's longest target, the reference's length limits (smoke halves them).
 */
const OFFLINE = {
  padLabels: "longest",
  backbone: "fishdip-t5-mini",
  backbonePerDataset: true,
  dstSeeds: [1],
  maxInputLength: 256,
  maxOutputLength: 256,
} as const satisfies Partial<PresetSpec>;

/** What the two CPU presets add: batch 8 with the reference's n (its batch is 32), generation capped at 160. */
const CPU_BUDGET = { ...OFFLINE, maxOutputLengthEval: 160, batchSize: 8, nBatch: 32 } as const;

/**
 * The presets' settings.
 *
 * - `paper`: the reference scripts exactly (t5-large, batch 32, seeds 1-3, MultiWOZ seed 1,
 *   FewRel 10 episodes after meta-training on train_wiki, no evaluation subsets). Needs a GPU.
 * - `cpu`: every table our data allows, on the offline backbone, in about five hours on two cores
 *   (estimated from the quick preset's measured 1.61 s per optimizer step, 0.21 s per generated
 *   evaluation sentence and 0.17 s per FewRel candidate scored: 142 cells, 8,520 steps, 10,000
 *   sentences, 12,500 candidates): batch 8, 60 steps per run, m = 10, 3 seeds for the low-resource
 *   table and one for PEFT and the ablations, 5 FewRel episodes, evaluation subsets of 100.
 * - `quick`: the README's main command (~35 min on two cores): fewer rows, 2 seeds (ablations and PEFT 1),
 *   2 FewRel episodes, ~30 steps, m = 10.
 * - `smoke`: one or two runs per table with a handful of steps (CI).
 */
export const PRESET_SPECS: Record<PresetName, PresetSpec> = {
  paper: {
    name: "paper",
    backbone: "t5-large",
    batchSize: 32,
    seeds: [1, 2, 3],
    dstSeeds: [1],
    episodes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    epochs: "paper",
    m: 100,
    referenceStepCounter: true,
    // The grid of each ablation and the PEFT rows are our choice: the paper's values are not
    // known to us (digest 1.2); the reference scripts fix only k = 1 %, m = 100 and the n rule.
    kValues: [0.001, 0.005, 0.01, 0.02, 0.05],
    mValues: [25, 50, 100, 200, 400],
    nValues: [1, 3, 5, 10, 25],
    lowResource: ALL_LOW_RESOURCE.map((d) => ({ dataset: d, fractions: DATASETS[d].fractions! })),
    lowResourceMethods: ["full", "fish", "fishdip"],
    fewShot: FEWSHOT_ALL,
    fewShotMethods: ["full", "fishdip"],
    meta: { dataset: "fewrel_train_wiki", fraction: 1 },
    peft: [
      { dataset: "conll03", fraction: 0.01 },
      { dataset: "conll04", fraction: 0.01 },
      { dataset: "ace2005_joint_er", fraction: 0.01 },
      { dataset: "conll05_srl", fraction: 0.005 },
    ],
    peftMethods: ["full", "lora", "adapter", "prefix", "fishdip"],
    ablation: { dataset: "conll04", fraction: 0.05 },
    fixedVsDynamicMethods: ["random", "fish", "fishdip"],
    sparseMethods: {
      settings: [0.01, 0.05].flatMap((fraction) => [
        { dataset: "conll03" as const, fraction },
        { dataset: "conll04" as const, fraction },
      ]),
      episodes: FEWSHOT_ALL.slice(0, 1),
      methods: SPARSE_ALL,
    },
    ablationSeeds: [1, 2, 3],
    evalSubsample: {},
    maxInputLength: 256,
    maxOutputLength: 256,
  },
  cpu: {
    name: "cpu",
    ...CPU_BUDGET,
    seeds: [1, 2, 3],
    // Five episodes (not ten): 10-way episodes score 500 candidates each, 85 s per cell.
    episodes: [1, 2, 3, 4, 5],
    epochs: { steps: 60 },
    maxSteps: 60,
    m: 10,
    kValues: [0.001, 0.005, 0.01, 0.02, 0.05],
    mValues: [3, 5, 10, 20, 40],
    nValues: [1, 3, 5, 10, 25],
    lowResource: [...ALL_LOW_RESOURCE, "ade" as const].map((d) => ({
      dataset: d,
      fractions: DATASETS[d].fractions!,
    })),
    lowResourceMethods: ["full", "fish", "fishdip"],
    fewShot: FEWSHOT_ALL,
    fewShotMethods: ["full", "fishdip"],
    meta: { dataset: "fewrel_standin", fraction: 0.1 },
    peft: [
      { dataset: "conll03", fraction: 0.01 },
      { dataset: "conll04", fraction: 0.01 },
      { dataset: "ace2005_joint_er", fraction: 0.01 },
      { dataset: "conll05_srl", fraction: 0.005 },
    ],
    peftMethods: ["full", "lora", "adapter", "prefix", "fishdip"],
    ablation: { dataset: "conll04", fraction: 0.05 },
    fixedVsDynamicMethods: ["random", "fish", "fishdip"],
    sparseMethods: {
      settings: (["conll03", "conll04", "ade"] as const).flatMap((dataset) =>
        [0.01, 0.05].map((fraction) => ({ dataset, fraction }))
      ),
      episodes: FEWSHOT_ALL.slice(0, 1),
      methods: SPARSE_ALL,
    },
    // 24,466 steps and 51,129 generated sentences (~15 h) with 100 steps per run, 3 seeds
    // everywhere, 10 episodes and subsets of 500: these three are what brought it to ~5 h.
    ablationSeeds: [1],
    evalSubsample: subsampleAll(100),
  },
  quick: {
    name: "quick",
    ...CPU_BUDGET,
    seeds: [1, 2],
    // Two episodes, and CoNLL04 at 1 % and 5 % only: 10 % (its FISH-DIP cells 2-3 min each) and a
    // third episode took 11 of the 45 minutes of the previous calibration.
    episodes: [1, 2],
    epochs: { steps: 30 },
    // m = 10 on a 30-step run: three masks; m = 5 spent most of the cells' time refreshing (73 min in all).
    m: 10,
    kValues: [0.002, 0.01, 0.05],
    mValues: [5, 10, 20],
    nValues: [1, 3, 10],
    lowResource: [
      { dataset: "conll03", fractions: [0.01] },
      { dataset: "ontonotes", fractions: [0.01] },
      { dataset: "conll04", fractions: [0.01, 0.05] },
      { dataset: "ace2005_joint_er", fractions: [0.01] },
      { dataset: "conll05_srl", fractions: [0.005] },
      { dataset: "multi_woz", fractions: [0.005] },
    ],
    lowResourceMethods: ["full", "fishdip"],
    fewShot: FEWSHOT_ALL.slice(0, 2),
    fewShotMethods: ["full", "fishdip"],
    meta: { dataset: "fewrel_standin", fraction: 0.02 },
    peft: [{ dataset: "conll04", fraction: 0.01 }],
    peftMethods: ["full", "lora", "adapter", "prefix", "fishdip"],
    ablation: { dataset: "conll04", fraction: 0.05 },
    fixedVsDynamicMethods: ["fish", "fishdip"],
    // One row in the main command; the cpu preset has them all.
    sparseMethods: { settings: [{ dataset: "conll04", fraction: 0.01 }], episodes: [], methods: SPARSE_ALL },
    ablationSeeds: [1], // the ablations' second seed alone took 18 of the 73 minutes
    evalSubsample: subsampleAll(60),
  },
  smoke: {
    name: "smoke",
    ...OFFLINE,
    maxOutputLengthEval: 64,
    batchSize: 4,
    seeds: [1],
    episodes: [1],
    epochs: { steps: 2 },
    maxSteps: 2,
    m: 1,
    kValues: [0.01, 0.05],
    mValues: [1, 2],
    nValues: [1, 3],
    lowResource: ALL_LOW_RESOURCE.map((d) => ({ dataset: d, fractions: [DATASETS[d].fractions![0]] })),
    lowResourceMethods: ["full", "fishdip"],
    fewShot: FEWSHOT_ALL.slice(0, 1),
    fewShotMethods: ["fishdip"],
    meta: { dataset: "fewrel_standin", fraction: 0.001 },
    peft: [{ dataset: "conll04", fraction: 0.01 }],
    peftMethods: ["lora", "fishdip"],
    ablation: { dataset: "conll04", fraction: 0.01 },
    fixedVsDynamicMethods: ["fish", "fishdip"],
    sparseMethods: {
      settings: [{ dataset: "conll04", fraction: 0.01 }],
      episodes: [],
      methods: ["spiel", "static-grad", "pafi"],
    },
    ablationSeeds: [1],
    evalSubsample: subsampleAll(8),
    maxInputLength: 128,
    maxOutputLength: 128,
  },
};

/**
 * `spec` with `steps` optimizer steps per run instead of its own budget (`deno task reproduce
 * --steps N`), FISH-DIP's m and the m ablation's values scaled by the same factor (at least 1), so
 * a run refreshes its mask as often as the preset's do: the cpu preset's 60 steps and m = 10 become
 * the reference's m = 100 at 600 steps. Labelled `NAME-Nsteps` (the preset itself at its own
 * budget, unless some of its tables have their own: every table gets `steps`). Only for presets
 * with a step budget; `paper` runs the reference's epochs.
 */
export function withStepBudget(spec: PresetSpec, steps: number): PresetSpec {
  if (spec.epochs === "paper") {
    throw new Error(
      `preset ${spec.name} runs the reference's epochs; a step budget applies to the offline presets`,
    );
  }
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`steps must be a positive integer, got ${steps}`);
  }
  if (steps === spec.epochs.steps && !spec.tableSteps) return spec; // its own budget: its own report
  const scale = steps / spec.epochs.steps;
  const scaled = (m: number) => Math.max(1, Math.round(m * scale));
  return {
    ...spec,
    tableSteps: undefined,
    label: `${spec.name}-${steps}steps`,
    epochs: { steps },
    maxSteps: spec.maxSteps === undefined ? undefined : steps,
    m: scaled(spec.m),
    mValues: [...new Set(spec.mValues.map(scaled))],
  };
}
