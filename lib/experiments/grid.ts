/**
 * The paper's experiment grid as data: what one training run (a {@link Cell}) is, where each run
 * lands in which table ({@link Entry}), and the presets `smoke`, `quick`, `cpu` and `paper` that
 * expand the tables into runs.
 *
 * A cell is one training run plus its evaluations; its identity ({@link cellId}) is a hash of
 * everything that changes the result and nothing else. In particular the table is not part of it:
 * the FISH-DIP run on CoNLL04 5 % with k = 1 %, m = 100 is the same run whether the low-resource
 * table, the k ablation or the m ablation asks for it, so it is trained once and read three times.
 *
 * ```ts
 * const plan = planPreset("quick", { dataDir: "../shared/data" });
 * for (const cell of shard(plan.cells, 1, 4)) console.log(cellId(cell), cellLabel(cell)); // shard 1 of 4
 * plan.entries.filter((e) => e.needs.length); // rows shown as "needs ontonotes"
 * ```
 *
 * @module
 */

import {
  type Availability,
  datasetAvailability,
  type DatasetName,
  DATASETS,
  nRule,
  subsetSize,
  type Task,
} from "./datasets.ts";

export { type DatasetName, DATASETS, nRule, subsetSize, type Task };

// ---------------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------------

/**
 * A method and its hyperparameters. Sparse methods share `k` (fraction of all parameters that
 * may change). Defaults of the paper's runs are in {@link METHOD_DEFAULTS}.
 */
export type MethodConfig =
  | { name: "full" }
  /** FISH-DIP: mask from the Fisher of the n highest-loss samples, refreshed every m steps. */
  | { name: "fishdip"; k: number; m: number; n: number | "rule" }
  /** FISH mask (Sung et al. 2021): computed once before training from n samples, then fixed. */
  | { name: "fish"; k: number; n: number | "all" }
  /** A fixed random mask of density k (a sanity baseline for the mask ablation). */
  | { name: "random"; k: number }
  /** LoRA on the attention query and value projections. */
  | { name: "lora"; rank: number; alpha: number; targets: string[] }
  /** Houlsby-style bottleneck adapters after attention and feed-forward. */
  | { name: "adapter"; bottleneck: number }
  /** Prefix tuning: `length` trainable key/value vectors per layer. */
  | { name: "prefix"; length: number };

/** The names of {@link MethodConfig}. */
export type MethodName = MethodConfig["name"];

/**
 * The methods' settings in the paper's runs. FISH-DIP's come from the reference scripts
 * (`--percentage 0.01 --reevaluate_after_steps 100`, n by the code's rule). FISH uses up to 1024
 * samples as in Sung et al.'s code, i.e. the whole training subset here. The PEFT settings are
 * the usual ones of the original papers (the FISH-DIP paper's are not known to us).
 */
export const METHOD_DEFAULTS: {
  full: MethodConfig;
  fishdip: Extract<MethodConfig, { name: "fishdip" }>;
  fish: MethodConfig;
  random: MethodConfig;
  lora: MethodConfig;
  adapter: MethodConfig;
  prefix: MethodConfig;
} = {
  full: { name: "full" },
  fishdip: { name: "fishdip", k: 0.01, m: 100, n: "rule" },
  fish: { name: "fish", k: 0.01, n: "all" },
  random: { name: "random", k: 0.01 },
  lora: { name: "lora", rank: 8, alpha: 16, targets: ["q", "v"] },
  adapter: { name: "adapter", bottleneck: 64 },
  prefix: { name: "prefix", length: 20 },
};

/** Column labels of the methods. */
export const METHOD_LABELS: Record<MethodName, string> = {
  full: "Full FT",
  fishdip: "FISH-DIP",
  fish: "FISH (fixed mask)",
  random: "Random mask",
  lora: "LoRA",
  adapter: "Adapters",
  prefix: "Prefix tuning",
};

/** FewRel N-way K-shot episode: N relations, K support and Q query examples per relation. */
export interface EpisodeSpec {
  ways: number;
  shots: number;
  queries: number;
}

/** One scored evaluation of a cell's final model. */
export interface EvalTarget {
  dataset: DatasetName;
  /** `dev` or `test`; for a FewRel episode `test` is its query set. */
  split: "dev" | "test";
  /**
   * Score only this many examples: a fixed subset, the same for every cell (the split shuffled
   * with Python's `random.seed(0)`, first N kept), so methods and seeds see the same examples.
   * Only the cpu/quick/smoke presets set it; tables state it.
   */
  subsample?: number;
}

/** The key under which a cell's metrics for `target` are stored: `conll04/test`. */
export function evalKey(target: Pick<EvalTarget, "dataset" | "split">): string {
  return `${target.dataset}/${target.split}`;
}

/** One training run and what it is scored on. */
export interface Cell {
  /** The dataset trained on (`fewrel` for episodes: the episode's support set). */
  dataset: DatasetName;
  task: Task;
  /** Fraction of the training split (`--train_subset`); absent for FewRel episodes. */
  fraction?: number;
  /** FewRel episode shape; `seed` is the episode index, as in the reference. */
  episode?: EpisodeSpec;
  method: MethodConfig;
  /** Adafactor as in the reference (lr 1e-2, scale_parameter, no momentum, linear decay to 0). */
  optimizer: { name: "adafactor"; lr: number };
  /** Low-resource subset / episode seed (`--episodes 1-3` gives seeds 1, 2, 3). */
  seed: number;
  epochs: number;
  /** Effective batch size (per-device × devices in the reference: 32). */
  batchSize: number;
  maxInputLength: number;
  maxOutputLength: number;
  /** Generation length limit at evaluation. */
  maxOutputLengthEval: number;
  /**
   * How training labels are padded. Absent (the reference): to `maxOutputLength`, and the pads
   * count in the loss as in TANL. `longest`: to the batch's longest target — on a CPU, 256
   * positions of padding per example would cost most of the step (and of wasm's 4 GiB heap).
   */
  padLabels?: "longest";
  /** `greedy` generation, or `rank` (FewRel: the candidate relation with the least NLL). */
  decoding: "greedy" | "rank";
  /** Backbone id: `t5-large` (paper) or `fishdip-t5-mini` (the offline backbone). */
  backbone: string;
  /** What the final model is scored on; empty for meta-training. */
  evaluate: EvalTarget[];
  /** The cell whose final weights initialise this one (FewRel: the meta-trained model). */
  init?: string;
  /** Keep the final weights (meta-training), for the cells that name this one in `init`. */
  saveCheckpoint?: boolean;
  /**
   * Stop after this many optimizer steps (the learning-rate schedule's length); absent: epochs ×
   * batches per epoch. The smoke and cpu presets set it: every run gets the same step budget
   * whatever its subset's size (one epoch of CoNLL-2003's 10 % is 176 steps of batch 8).
   */
  maxSteps?: number;
}

/** JSON with object keys sorted at every level and `undefined` members dropped. */
export function canonicalJson(x: unknown): string {
  if (x === null || typeof x !== "object") {
    if (typeof x === "number" && !Number.isFinite(x)) throw new Error(`non-finite number in cell: ${x}`);
    return JSON.stringify(x);
  }
  if (Array.isArray(x)) return `[${x.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`;
  const keys = Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined).sort();
  return `{${
    keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((x as Record<string, unknown>)[k])}`).join(",")
  }}`;
}

/** 64-bit FNV-1a of a string's UTF-8 bytes, as 16 hex digits. Synchronous, so usable anywhere. */
export function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const b of new TextEncoder().encode(s)) {
    h ^= BigInt(b);
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

/**
 * A cell's stable identity: the FNV-1a hash of its canonical JSON. Key order and absent optional
 * fields do not matter; any change of value does.
 */
export function cellId(cell: Cell): string {
  return fnv1a64(canonicalJson(cell));
}

/** A short human-readable name for logs: `conll04 5% fishdip(k=0.01,m=100) s1`. */
export function cellLabel(cell: Cell): string {
  const data = cell.episode
    ? `${cell.dataset} ${cell.episode.ways}w${cell.episode.shots}s`
    : `${cell.dataset}${cell.fraction !== undefined ? ` ${+(cell.fraction * 100).toFixed(2)}%` : ""}`;
  const { name, ...rest } = cell.method;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(",");
  return `${data} ${name}${args ? `(${args})` : ""} s${cell.seed}${cell.saveCheckpoint ? " meta" : ""}`;
}

/** Training examples of a cell (subset size, or N·K support examples of an episode). */
export function trainExamples(cell: Cell): number {
  if (cell.episode) return cell.episode.ways * cell.episode.shots;
  return subsetSize(cell.fraction ?? 1, DATASETS[cell.dataset].trainSize);
}

/** The fewest epochs (at least one) that give `steps` optimizer steps on `examples` in batches of `batchSize`. */
export function epochsForSteps(steps: number, examples: number, batchSize: number): number {
  return Math.max(1, Math.ceil(steps / Math.ceil(examples / batchSize)));
}

/** Optimizer steps of a cell: epochs × ceil(examples / batch), at most `maxSteps`. */
export function trainSteps(cell: Cell): number {
  const steps = cell.epochs * Math.ceil(trainExamples(cell) / cell.batchSize);
  return cell.maxSteps !== undefined ? Math.min(steps, cell.maxSteps) : steps;
}

/** The n a FISH-DIP cell uses: its fixed n, or the reference rule for its subset and batch. */
export function regressingSamples(cell: Cell): number | undefined {
  if (cell.method.name !== "fishdip") return undefined;
  return cell.method.n === "rule" ? nRule(trainExamples(cell), cell.batchSize) : cell.method.n;
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/** The paper's tables. */
export type TableName =
  | "lowResource"
  | "fewShot"
  | "peft"
  | "ablationK"
  | "ablationM"
  | "ablationN"
  | "fixedVsDynamic";

/** All tables, in report order. */
export const TABLES: readonly TableName[] = [
  "lowResource",
  "fewShot",
  "peft",
  "ablationK",
  "ablationM",
  "ablationN",
  "fixedVsDynamic",
];

/** Titles of the tables. */
export const TABLE_TITLES: Record<TableName, string> = {
  lowResource: "Low-resource sequence labelling: full fine-tuning vs FISH vs FISH-DIP",
  fewShot: "Few-shot relation classification on FewRel (accuracy)",
  peft: "FISH-DIP vs parameter-efficient fine-tuning",
  ablationK: "Ablation: percentage k of trainable parameters",
  ablationM: "Ablation: mask refresh interval m (optimizer steps)",
  ablationN: "Ablation: number n of regressing samples",
  fixedVsDynamic: "Ablation: fixed vs dynamic mask",
};

/**
 * One table cell: the runs (one per seed) whose `metric` under `key` is averaged and shown at
 * (`row`, `column`). `needs` lists the datasets that are missing; such entries are shown as
 * "needs DATASET" and their cells are not run.
 */
export interface Entry {
  table: TableName;
  row: string;
  column: string;
  /** Evaluation key (see {@link evalKey}) and metric name read from each run. */
  key: string;
  metric: string;
  /** Grouping for figures (a dataset and metric), and the x value (fraction, k, m, n). */
  group: string;
  x?: number;
  method: MethodName;
  /** The scored runs, one per seed (FewRel: per episode). */
  cells: Cell[];
  /** Runs these depend on (FewRel meta-training), not scored by this entry. */
  requires?: Cell[];
  needs: DatasetName[];
  /** Notes printed under the table (eval subsample, stand-in data, etc.). */
  note?: string;
}

/** The presets. */
export type PresetName = "smoke" | "quick" | "cpu" | "paper";

/** All presets. */
export const PRESETS: readonly PresetName[] = ["smoke", "quick", "cpu", "paper"];

/**
 * Epochs of the reference scripts (`scripts/*.sh`), by dataset and training fraction; FewRel by
 * shots (1250 for 1-shot, 250 for 5-shot; meta-training 1 epoch).
 */
export const PAPER_EPOCHS: Partial<Record<DatasetName, Record<number, number>>> = {
  conll03: { 0.01: 250, 0.05: 200, 0.1: 200 },
  ontonotes: { 0.01: 100, 0.05: 80, 0.1: 80 },
  conll04: { 0.01: 1000, 0.05: 800, 0.1: 800 },
  ace2005_joint_er: { 0.01: 500, 0.05: 400, 0.1: 400 },
  conll05_srl: { 0.005: 200, 0.01: 160, 0.05: 160 },
  multi_woz: { 0.005: 500, 0.01: 400, 0.05: 400 },
};

/** FewRel episodic fine-tuning epochs by shots (reference `config.ini`). */
export const PAPER_FEWREL_EPOCHS: Record<number, number> = { 1: 1250, 5: 250 };

/** Training fractions of the low-resource table (reference scripts). */
export const FRACTIONS: Partial<Record<DatasetName, number[]>> = {
  conll03: [0.01, 0.05, 0.1],
  ontonotes: [0.01, 0.05, 0.1],
  conll04: [0.01, 0.05, 0.1],
  ace2005_joint_er: [0.01, 0.05, 0.1],
  conll05_srl: [0.005, 0.01, 0.05],
  multi_woz: [0.005, 0.01, 0.05],
  ade: [0.01, 0.05, 0.1],
};

/** Everything that distinguishes one preset from another. */
export interface PresetSpec {
  name: PresetName;
  backbone: string;
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
  /** Seeds of the PEFT table and the ablations (the CPU presets use fewer). */
  ablationSeeds: number[];
  /** Evaluation subsets by dataset (absent: the whole split). */
  evalSubsample: Partial<Record<DatasetName, number>>;
  /** Step cap per run (smoke and cpu; see {@link Cell.maxSteps}). */
  maxSteps?: number;
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
const subsampleAll = (n: number): Partial<Record<DatasetName, number>> => ({
  conll03: n,
  ontonotes: n,
  conll04: n,
  ace2005_joint_er: n,
  conll05_srl: n,
  conll05_srl_brown: n,
  multi_woz: n,
  ade: n,
});

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
    // The grid of each ablation and the PEFT rows are our choice: the paper's values are not
    // known to us (digest 1.2); the reference scripts fix only k = 1 %, m = 100 and the n rule.
    kValues: [0.001, 0.005, 0.01, 0.02, 0.05],
    mValues: [25, 50, 100, 200, 400],
    nValues: [1, 3, 5, 10, 25],
    lowResource: ALL_LOW_RESOURCE.map((d) => ({ dataset: d, fractions: FRACTIONS[d]! })),
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
    ablationSeeds: [1, 2, 3],
    evalSubsample: {},
    maxInputLength: 256,
    maxOutputLength: 256,
  },
  cpu: {
    name: "cpu",
    padLabels: "longest",
    maxOutputLengthEval: 160,
    backbone: "fishdip-t5-mini",
    batchSize: 8,
    seeds: [1, 2, 3],
    dstSeeds: [1],
    // Five episodes (not ten): 10-way episodes score 500 candidates each, 85 s per cell.
    episodes: [1, 2, 3, 4, 5],
    epochs: { steps: 60 },
    maxSteps: 60,
    m: 10,
    kValues: [0.001, 0.005, 0.01, 0.02, 0.05],
    mValues: [3, 5, 10, 20, 40],
    nValues: [1, 3, 5, 10, 25],
    lowResource: [...ALL_LOW_RESOURCE, "ade" as const].map((d) => ({ dataset: d, fractions: FRACTIONS[d]! })),
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
    // 24,466 steps and 51,129 generated sentences (~15 h) with 100 steps per run, 3 seeds
    // everywhere, 10 episodes and subsets of 500: these three are what brought it to ~5 h.
    ablationSeeds: [1],
    evalSubsample: subsampleAll(100),
    maxInputLength: 256,
    maxOutputLength: 256,
  },
  quick: {
    name: "quick",
    padLabels: "longest",
    maxOutputLengthEval: 160,
    backbone: "fishdip-t5-mini",
    batchSize: 8,
    seeds: [1, 2],
    dstSeeds: [1],
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
    ablationSeeds: [1], // the ablations' second seed alone took 18 of the 73 minutes
    evalSubsample: subsampleAll(60),
    maxInputLength: 256,
    maxOutputLength: 256,
  },
  smoke: {
    name: "smoke",
    padLabels: "longest",
    maxOutputLengthEval: 64,
    backbone: "fishdip-t5-mini",
    batchSize: 4,
    seeds: [1],
    dstSeeds: [1],
    episodes: [1],
    epochs: { steps: 2 },
    maxSteps: 2,
    m: 1,
    kValues: [0.01, 0.05],
    mValues: [1, 2],
    nValues: [1, 3],
    lowResource: ALL_LOW_RESOURCE.map((d) => ({ dataset: d, fractions: [FRACTIONS[d]![0]] })),
    lowResourceMethods: ["full", "fishdip"],
    fewShot: FEWSHOT_ALL.slice(0, 1),
    fewShotMethods: ["fishdip"],
    meta: { dataset: "fewrel_standin", fraction: 0.001 },
    peft: [{ dataset: "conll04", fraction: 0.01 }],
    peftMethods: ["lora", "fishdip"],
    ablation: { dataset: "conll04", fraction: 0.01 },
    fixedVsDynamicMethods: ["fish", "fishdip"],
    ablationSeeds: [1],
    evalSubsample: subsampleAll(8),
    maxInputLength: 128,
    maxOutputLength: 128,
  },
};

/** Generation length at evaluation (reference: `max_seq_length_eval`, else `max_seq_length`). */
function evalLength(dataset: DatasetName, spec: PresetSpec): number {
  if (spec.name !== "paper") return spec.maxOutputLengthEval ?? spec.maxOutputLength;
  return ["conll03", "conll04", "ace2005_joint_er", "multi_woz", "ade"].includes(dataset) ? 512 : 256;
}

/** The options of {@link planPreset}. */
export interface PlanOptions {
  /** Data directory for availability checks (`--data`; default `$FISHDIP_DATA` or `<repo>/data`). */
  dataDir?: string;
  /** Precomputed availability (tests); overrides `dataDir`. */
  availability?: Record<DatasetName, Availability>;
  /** Restrict to these tables (`--only`). */
  only?: TableName[];
  /** Override the backbone id (a user-supplied checkpoint). */
  backbone?: string;
}

/** A preset expanded: the table entries, and the unique runnable cells (dependencies first). */
export interface Plan {
  preset: PresetName;
  backbone: string;
  entries: Entry[];
  /** Unique cells whose data is present, meta-training cells before the cells they initialise. */
  cells: Cell[];
  /** Unique cells not run for lack of data, with the datasets they need. */
  blocked: { cell: Cell; needs: DatasetName[] }[];
}

function pct(f: number): string {
  return `${+(f * 100).toFixed(3)}%`;
}

/** Expands a preset into table entries and cells, marking the ones whose data is missing. */
export function planPreset(preset: PresetName | PresetSpec, opts: PlanOptions = {}): Plan {
  const spec = typeof preset === "string" ? PRESET_SPECS[preset] : preset;
  const backbone = opts.backbone ?? spec.backbone;
  const avail = opts.availability ?? datasetAvailability(opts.dataDir);
  const only = opts.only ? new Set(opts.only) : undefined;
  const entries: Entry[] = [];

  const epochsFor = (dataset: DatasetName, fraction: number | undefined, episode?: EpisodeSpec): number => {
    if (spec.epochs === "paper") {
      if (episode) return PAPER_FEWREL_EPOCHS[episode.shots];
      if (dataset === "fewrel_train_wiki" || dataset === "fewrel_standin") return 1;
      const e = PAPER_EPOCHS[dataset]?.[fraction!];
      if (e === undefined) throw new Error(`no reference epochs for ${dataset} at ${fraction}`);
      return e;
    }
    if (dataset === "fewrel_train_wiki" || dataset === "fewrel_standin") return 1; // one pass, as the reference
    const examples = episode
      ? episode.ways * episode.shots
      : subsetSize(fraction!, DATASETS[dataset].trainSize);
    return epochsForSteps(spec.epochs.steps, examples, spec.batchSize);
  };

  const methodConfig = (name: MethodName): MethodConfig => {
    if (name === "fishdip") return { ...METHOD_DEFAULTS.fishdip, m: spec.m };
    return structuredClone(METHOD_DEFAULTS[name]);
  };

  const evalTargets = (dataset: DatasetName): EvalTarget[] => {
    // The WSJ-trained SRL models are also scored on Brown (reference `conll05_srl_brown` job).
    const names: DatasetName[] = dataset === "conll05_srl" ? ["conll05_srl", "conll05_srl_brown"] : [dataset];
    return names.map((d) => ({ dataset: d, split: DATASETS[d].evalSplit, subsample: spec.evalSubsample[d] }));
  };

  const lowResourceCell = (
    dataset: DatasetName,
    fraction: number,
    method: MethodConfig,
    seed: number,
  ): Cell => ({
    dataset,
    task: DATASETS[dataset].task,
    fraction,
    method,
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs: epochsFor(dataset, fraction),
    batchSize: spec.batchSize,
    maxInputLength: dataset === "multi_woz" ? 2 * spec.maxInputLength : spec.maxInputLength,
    maxOutputLength: dataset === "multi_woz" ? 2 * spec.maxOutputLength : spec.maxOutputLength,
    maxOutputLengthEval: evalLength(dataset, spec),
    padLabels: spec.padLabels,
    decoding: "greedy",
    backbone,
    evaluate: evalTargets(dataset),
    maxSteps: spec.maxSteps,
  });

  const needsOf = (cells: Cell[]): DatasetName[] => {
    const need = new Set<DatasetName>();
    for (const c of cells) {
      for (const d of [c.dataset, ...c.evaluate.map((t) => t.dataset)]) if (!avail[d].available) need.add(d);
    }
    return [...need];
  };

  const subsampleNote = (dataset: DatasetName): string | undefined => {
    const n = spec.evalSubsample[dataset];
    return n !== undefined && n < DATASETS[dataset].evalSize
      ? `${DATASETS[dataset].label} ${DATASETS[dataset].evalSplit} scored on a fixed subset of ${n} examples`
      : undefined;
  };

  /** Rows of one metric of a dataset-fraction setting, one entry per method column. */
  const settingEntries = (
    table: TableName,
    setting: { dataset: DatasetName; fraction: number },
    methods: { column: string; method: MethodConfig; x?: number; row?: string }[],
    seeds: number[],
  ) => {
    const { dataset, fraction } = setting;
    for (const target of evalTargets(dataset)) {
      const info = DATASETS[target.dataset];
      for (const metric of info.metrics) {
        const metricLabel = metric.replace(/_/g, " ").replace("f1", "F1");
        for (const m of methods) {
          const cells = seeds.map((s) => lowResourceCell(dataset, fraction, m.method, s));
          entries.push({
            table,
            row: m.row ?? `${info.label} ${metricLabel}, ${pct(fraction)}`,
            column: m.row ? `${info.label} ${pct(fraction)} ${metricLabel}` : m.column,
            key: evalKey(target),
            metric,
            group: `${info.label} ${metricLabel}`,
            x: m.x ?? fraction,
            method: m.method.name,
            cells,
            needs: needsOf(cells),
            note: subsampleNote(target.dataset),
          });
        }
      }
    }
  };

  const want = (t: TableName) => !only || only.has(t);

  if (want("lowResource")) {
    for (const { dataset, fractions } of spec.lowResource) {
      const seeds = dataset === "multi_woz" ? spec.dstSeeds : spec.seeds;
      for (const fraction of fractions) {
        settingEntries(
          "lowResource",
          { dataset, fraction },
          spec.lowResourceMethods.map((name) => ({
            column: METHOD_LABELS[name],
            method: methodConfig(name),
          })),
          seeds,
        );
      }
    }
  }

  if (want("fewShot")) {
    const metaCell = (method: MethodConfig): Cell => ({
      dataset: spec.meta.dataset,
      task: "relation_classification",
      fraction: spec.meta.fraction,
      method,
      optimizer: { name: "adafactor", lr: 1e-2 },
      seed: 1,
      epochs: epochsFor(spec.meta.dataset, spec.meta.fraction),
      batchSize: spec.batchSize,
      maxInputLength: spec.maxInputLength,
      maxOutputLength: spec.maxOutputLength,
      maxOutputLengthEval: spec.maxOutputLength,
      padLabels: spec.padLabels,
      decoding: "rank",
      backbone,
      evaluate: [],
      saveCheckpoint: true,
      maxSteps: spec.maxSteps,
    });
    for (const ep of spec.fewShot) {
      for (const name of spec.fewShotMethods) {
        const method = methodConfig(name);
        const meta = metaCell(method);
        const cells = spec.episodes.map((seed): Cell => ({
          dataset: "fewrel",
          task: "relation_classification",
          episode: { ...ep },
          method,
          optimizer: { name: "adafactor", lr: 1e-2 },
          seed,
          epochs: epochsFor("fewrel", undefined, ep),
          batchSize: spec.batchSize,
          maxInputLength: spec.maxInputLength,
          maxOutputLength: spec.maxOutputLength,
          maxOutputLengthEval: spec.maxOutputLength,
          padLabels: spec.padLabels,
          decoding: "rank",
          backbone,
          evaluate: [{ dataset: "fewrel", split: "test" }],
          init: cellId(meta),
          maxSteps: spec.maxSteps,
        }));
        const needs = needsOf([meta, ...cells]);
        entries.push({
          table: "fewShot",
          row: `${ep.ways}-way ${ep.shots}-shot`,
          column: METHOD_LABELS[name],
          key: "fewrel/test",
          metric: "relation_f1",
          group: `${ep.ways}-way`,
          x: ep.shots,
          method: name,
          cells,
          requires: [meta],
          needs,
          note: spec.meta.dataset === "fewrel_standin"
            ? `meta-trained on ${pct(spec.meta.fraction)} of val_nyt+val_semeval+val_pubmed ` +
              `(train_wiki is not available); ${ep.queries} queries per class, ${spec.episodes.length} episodes`
            : `${ep.queries} queries per class, ${spec.episodes.length} episodes`,
        });
      }
    }
  }

  if (want("peft")) {
    for (const setting of spec.peft) {
      settingEntries(
        "peft",
        setting,
        spec.peftMethods.map((name) => ({ column: METHOD_LABELS[name], method: methodConfig(name) })),
        spec.ablationSeeds,
      );
    }
  }

  const fishdip = (patch: Partial<Extract<MethodConfig, { name: "fishdip" }>>): MethodConfig => ({
    ...METHOD_DEFAULTS.fishdip,
    m: spec.m,
    ...patch,
  });
  const ablation = (table: TableName, rows: { row: string; x: number; method: MethodConfig }[]) =>
    settingEntries(
      table,
      spec.ablation,
      rows.map((r) => ({ column: "", row: r.row, x: r.x, method: r.method })),
      spec.ablationSeeds,
    );
  if (want("ablationK")) {
    ablation("ablationK", spec.kValues.map((k) => ({ row: `k = ${pct(k)}`, x: k, method: fishdip({ k }) })));
  }
  if (want("ablationM")) {
    ablation("ablationM", spec.mValues.map((m) => ({ row: `m = ${m}`, x: m, method: fishdip({ m }) })));
  }
  if (want("ablationN")) {
    // The value the reference rule gives for this setting is the default run itself: reuse it.
    const examples = subsetSize(spec.ablation.fraction, DATASETS[spec.ablation.dataset].trainSize);
    const rule = nRule(examples, spec.batchSize);
    ablation(
      "ablationN",
      spec.nValues.map((n) =>
        n === rule
          ? { row: `n = ${n} (rule)`, x: n, method: fishdip({ n: "rule" }) }
          : { row: `n = ${n}`, x: n, method: fishdip({ n }) }
      ),
    );
  }
  if (want("fixedVsDynamic")) {
    const rowOf: Partial<Record<MethodName, string>> = {
      random: "Random mask (fixed)",
      fish: "FISH mask (fixed, all samples)",
      fishdip: "FISH-DIP (dynamic)",
    };
    ablation(
      "fixedVsDynamic",
      spec.fixedVsDynamicMethods.map((name, i) => ({
        row: rowOf[name] ?? METHOD_LABELS[name],
        x: i,
        method: methodConfig(name),
      })),
    );
  }

  // Unique cells in entry order, dependencies (meta-training) before their dependants.
  const seen = new Map<string, Cell>();
  const blocked = new Map<string, { cell: Cell; needs: DatasetName[] }>();
  for (const e of entries) {
    for (const c of [...(e.requires ?? []), ...e.cells]) {
      const id = cellId(c);
      const needs = needsOf([c]);
      if (c.init && !seen.has(c.init) && !blocked.has(c.init)) {
        throw new Error(`cell ${cellLabel(c)} depends on ${c.init}, which no earlier cell defines`);
      }
      if (c.init && blocked.has(c.init)) {
        needs.push(...blocked.get(c.init)!.needs.filter((d) => !needs.includes(d)));
      }
      if (needs.length) {
        if (!blocked.has(id)) blocked.set(id, { cell: c, needs });
      } else if (!seen.has(id)) seen.set(id, c);
    }
  }
  return { preset: spec.name, backbone, entries, cells: [...seen.values()], blocked: [...blocked.values()] };
}

/**
 * Seconds per step, per generated sentence and per FewRel candidate measured on a 2-core machine
 * (the quick preset's run on the offline backbone; per mask example, from the first cpu-preset
 * cells, scaled to that step rate). Only their ratios matter: they weigh cells
 * against each other when {@link shard} balances shards, and they are constants, not the local
 * store's rates, so that every machine of a SLURM array computes the same partition.
 */
export const NOMINAL_RATES: WorkRates = { step: 1.61, generated: 0.207, candidate: 0.169, mask: 0.09 };

/**
 * The `i`-th of `n` shards (1-based, as `--shard i/N`, SLURM array indices and `--workers`),
 * balanced by estimated time: cells are grouped with the cell they take their weights from (a
 * FewRel meta-training cell and its episodes must run on one machine), and the groups are dealt,
 * longest first, to the shard with the least work so far (ties: lowest shard, then cell id). The
 * partition depends only on `cells`, so machines agree as long as they plan the same grid (same
 * preset, `--only` and data); every cell lands in exactly one shard. (Hashing ids instead split
 * the cpu preset 86 min against 3.7 h over two shards, since one group holds every FewRel cell.)
 */
export function shard(cells: Cell[], i: number, n: number): Cell[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 1 || i > n) {
    throw new Error(`bad shard ${i}/${n}: need integers 1 <= i <= N`);
  }
  const rootOf = (c: Cell) => c.init ?? cellId(c);
  const groups = Map.groupBy(cells, rootOf);
  const byCost = [...groups].map(([root, g]) => ({ root, cost: estimateSeconds(g, NOMINAL_RATES) ?? 0 }))
    .sort((a, b) => b.cost - a.cost || (a.root < b.root ? -1 : a.root > b.root ? 1 : 0));
  const load = new Array<number>(n).fill(0);
  const owner = new Map<string, number>();
  for (const { root, cost } of byCost) {
    const j = load.indexOf(Math.min(...load));
    load[j] += cost;
    owner.set(root, j);
  }
  return cells.filter((c) => owner.get(rootOf(c)) === i - 1);
}

/** Parses `--shard i/N` (`"2/4"`). */
export function parseShard(s: string): { i: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--shard expects i/N (for example 2/4), got ${JSON.stringify(s)}`);
  const i = Number(m[1]), n = Number(m[2]);
  shard([], i, n);
  return { i, n };
}

/**
 * Examples a cell's mask passes through the model: FISH-DIP scores the whole training subset and
 * takes n per-sample gradients for the initial mask and at every m-th step; the fixed FISH mask
 * does that once (n = all: a gradient per example). Forward-only scoring at batch 16 and batch-1
 * gradients cost about the same per example here, so they are counted alike. This work grows with
 * the subset while the step budget does not (CoNLL-2003 10 %: 1,400 examples scored 7 times).
 */
export function maskExamples(cell: Cell): number {
  const N = trainExamples(cell), m = cell.method;
  if (m.name === "fishdip") {
    const refreshes = 1 + Math.floor(trainSteps(cell) / m.m);
    return refreshes * (N + (regressingSamples(cell) ?? 0));
  }
  if (m.name === "fish") return N + (m.n === "all" ? N : Math.min(m.n, N));
  return 0;
}

/**
 * A rough amount of work per cell, to size presets before timing them: training examples seen
 * (epochs × subset), examples passed through for masks ({@link maskExamples}), and examples
 * generated at evaluation (FewRel: N·Q queries × N candidates scored by NLL). Multiply by
 * measured seconds per example of the backbone.
 */
export function estimateWork(cells: Cell[]): {
  trainExamples: number;
  evalExamples: number;
  steps: number;
  generated: number;
  candidates: number;
  mask: number;
} {
  let trainN = 0, generated = 0, candidates = 0, steps = 0, mask = 0;
  for (const c of cells) {
    trainN += c.epochs * trainExamples(c);
    steps += trainSteps(c);
    mask += maskExamples(c);
    for (const t of c.evaluate) {
      if (c.episode) candidates += c.episode.ways * c.episode.queries * c.episode.ways;
      else generated += Math.min(t.subsample ?? Infinity, DATASETS[t.dataset].evalSize);
    }
  }
  return { trainExamples: trainN, evalExamples: generated + candidates, steps, generated, candidates, mask };
}

/** Seconds per optimizer step, per generated evaluation sentence, per FewRel candidate scored and per mask example. */
export interface WorkRates {
  step: number;
  generated: number;
  candidate: number;
  /** Seconds per example passed through for a mask (see {@link maskExamples}). */
  mask?: number;
}

/**
 * The rates of finished runs (their cells and timings): training seconds without the mask's
 * over steps, evaluation seconds over sentences generated, and over FewRel candidates scored,
 * mask seconds over mask examples. A rate with no finished run of its kind is `undefined`.
 */
export function measuredRates(
  runs: { cell: Cell; timings: { train: number; eval: number; mask?: number } }[],
): Partial<WorkRates> {
  let steps = 0, train = 0, gen = 0, genS = 0, cand = 0, candS = 0, maskN = 0, maskS = 0;
  for (const r of runs) {
    const w = estimateWork([r.cell]);
    const m = r.timings.mask ?? 0;
    steps += w.steps;
    train += r.timings.train - m;
    if (w.mask && r.timings.mask !== undefined) (maskN += w.mask, maskS += m);
    if (r.cell.episode) (cand += w.candidates, candS += r.timings.eval);
    else if (w.generated) (gen += w.generated, genS += r.timings.eval);
  }
  return {
    step: steps ? train / steps : undefined,
    generated: gen ? genS / gen : undefined,
    candidate: cand ? candS / cand : undefined,
    mask: maskN ? maskS / maskN : undefined,
  };
}

/** Estimated seconds of `cells` at `rates`; `undefined` when a rate the cells need is unknown. */
export function estimateSeconds(cells: Cell[], rates: Partial<WorkRates>): number | undefined {
  const w = estimateWork(cells);
  const part = (n: number, rate: number | undefined) => (n === 0 ? 0 : rate === undefined ? NaN : n * rate);
  const s = part(w.steps, rates.step) + part(w.generated, rates.generated) +
    part(w.candidates, rates.candidate) + part(w.mask, rates.mask);
  return Number.isNaN(s) ? undefined : s;
}

/** The tables present in a plan, in report order. */
export function tablesOf(plan: Plan): TableName[] {
  const present = new Set(plan.entries.map((e) => e.table));
  return TABLES.filter((t) => present.has(t));
}
