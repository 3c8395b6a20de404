/**
 * What one training run of the paper's grid is (a {@link Cell}), its identity, and what follows
 * from it without running anything: its label, training examples, steps and FISH-DIP's n.
 *
 * A cell is one training run plus its evaluations; its identity ({@link cellId}) is a hash of
 * everything that changes the result and nothing else. In particular the table is not part of it:
 * the FISH-DIP run on CoNLL04 5 % with k = 1 %, m = 100 is the same run whether the low-resource
 * table, the k ablation or the m ablation asks for it, so it is trained once and read three times.
 *
 * @module
 */
import { type DatasetName, DATASETS } from "../data/registry.ts";
import { subsetSize } from "../data/sampling.ts";
import type { Task } from "../data/types.ts";
import { numFisherSamples } from "../methods/fishdip.ts";
import type { MethodConfig } from "../methods/registry.ts";

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
  /** The method and its hyperparameters (lib/methods/registry.ts). */
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
  /** Input length limit at evaluation (reference: `max_seq_length_eval`); absent: `maxInputLength`. */
  maxInputLengthEval?: number;
  /**
   * How training labels are padded. Absent (the reference): to `maxOutputLength`, and the pads
   * count in the loss as in TANL. `longest`: to the batch's longest target — on a CPU, 256
   * positions of padding per example would cost most of the step (and of wasm's 4 GiB heap).
   */
  padLabels?: "longest";
  /** `greedy` generation, or `rank` (FewRel: the candidate relation with the least NLL). */
  decoding: "greedy" | "rank";
  /** Backbone id: `t5-large` (paper), or an offline backbone under `data/models/`. */
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

/** The n a FISH-DIP cell asks for: its fixed n, or the reference rule for its subset and batch. */
export function regressingSamples(cell: Cell): number | undefined {
  if (cell.method.name !== "fishdip") return undefined;
  if (cell.method.n !== "rule") return cell.method.n;
  const examples = trainExamples(cell);
  return examples === 0 ? 0 : numFisherSamples(examples, cell.method.nBatch ?? cell.batchSize);
}
