/**
 * "Is the pretrained backbone worth having?" (issue #6): full fine-tuning from the backbone vs
 * from a random initialisation of the same shape and vocabulary, same data, steps and seeds,
 * scored on the test split. This module holds the experiment as data ({@link downstreamCell})
 * and the summary table ({@link downstreamTable}); `scripts/eval_backbone.ts` runs it.
 *
 * @module
 */
import { type DatasetName, DATASETS } from "../data/registry.ts";
import { subsetSize } from "../data/sampling.ts";
import { type Cell, epochsForSteps } from "../experiments/cells.ts";

/** One downstream setting: a dataset, the share of its training split, and a test subsample. */
export interface DownstreamSetting {
  dataset: DatasetName;
  fraction: number;
  /** Score a fixed subset of this many test sentences (absent: the whole test split). */
  testSubsample?: number;
}

/**
 * The settings: CoNLL04 with 10 % of train and CoNLL-2003 with 1 %. CoNLL04's test split
 * (288 sentences) is scored whole; CoNLL-2003's 3,453 test sentences would take about 15 minutes
 * of greedy decoding per run on two cores, so a fixed subset of 500 is scored (the cpu preset's
 * evaluation subset size).
 */
export const DOWNSTREAM_SETTINGS: DownstreamSetting[] = [
  { dataset: "conll04", fraction: 0.1 },
  { dataset: "conll03", fraction: 0.01, testSubsample: 500 },
];

/** Training budget of every run (same for both initialisations). */
export interface DownstreamBudget {
  steps: number;
  batchSize: number;
  /** Input and label length; labels padded to it with pads counted, as in TANL. */
  maxLength: number;
  /** Generation limit at evaluation. */
  maxLengthEval: number;
}

/** 100 steps of batch 8 at 128 tokens: about 3 minutes per run on two cores (t5-mini). */
export const DOWNSTREAM_BUDGET: DownstreamBudget = {
  steps: 100,
  batchSize: 8,
  maxLength: 128,
  maxLengthEval: 160,
};

/** The full fine-tuning cell of one setting and seed (the seed draws the subset and the dropout). */
export function downstreamCell(
  setting: DownstreamSetting,
  seed: number,
  backbone: string,
  budget: DownstreamBudget = DOWNSTREAM_BUDGET,
): Cell {
  const info = DATASETS[setting.dataset];
  return {
    dataset: setting.dataset,
    task: info.task,
    fraction: setting.fraction,
    method: { name: "full" },
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs: epochsForSteps(budget.steps, subsetSize(setting.fraction, info.trainSize), budget.batchSize),
    maxSteps: budget.steps,
    batchSize: budget.batchSize,
    maxInputLength: budget.maxLength,
    maxOutputLength: budget.maxLength,
    maxOutputLengthEval: budget.maxLengthEval,
    decoding: "greedy",
    backbone,
    evaluate: [{ dataset: setting.dataset, split: "test", subsample: setting.testSubsample }],
  };
}

/** One run's record (a line of `downstream_results.jsonl`). */
export interface DownstreamRecord {
  init: string;
  seed: number;
  dataset: DatasetName;
  fraction: number;
  steps: number;
  batch: number;
  test_subsample: number | null;
  metrics: Record<string, Record<string, number>>;
  first_loss?: number;
  last_losses?: number[];
  seconds: number;
}

/** "mean ± sample std" of `xs` times `scale`, with `digits` decimals. */
function meanStd(xs: number[], scale = 100, digits = 1): string {
  if (!xs.length) return "-";
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${(scale * m).toFixed(digits)} ± ${(scale * sd).toFixed(digits)}`;
}

/**
 * The model card's table: one row per dataset and initialisation, mean ± sample std (in %) over
 * the seeds, of entity F1, relation F1, reconstruction rate and format errors, plus the mean of
 * the last ten training losses. A metric a dataset does not have shows as "-".
 */
export function downstreamTable(records: DownstreamRecord[]): string {
  const groups = new Map<string, DownstreamRecord[]>();
  for (const r of records) {
    const key = `${r.dataset}\t${r.fraction}\t${r.init}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const lines = [
    "| dataset (train share) | test sentences | init | seeds | entity F1 % | relation F1 % | reconstruction % | format errors % | final train loss |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  const keys = [...groups.keys()].sort();
  for (const key of keys) {
    const rs = groups.get(key)!.sort((a, b) => a.seed - b.seed);
    const [dataset, fraction, init] = key.split("\t");
    const m = rs.map((r) => Object.values(r.metrics)[0] ?? {});
    const col = (name: string) => m.every((x) => name in x) ? meanStd(m.map((x) => x[name])) : "-";
    const losses = rs.map((r) => r.last_losses?.length ? r.last_losses : []).filter((l) => l.length);
    const loss = losses.length
      ? meanStd(losses.map((l) => l.reduce((a, b) => a + b, 0) / l.length), 1, 2)
      : "-";
    lines.push(
      `| ${dataset} (${+(Number(fraction) * 100).toFixed(2)}%) | ${
        rs[0].test_subsample ?? "all"
      } | ${init} | ${rs.map((r) => r.seed).join(",")} | ${col("entity_f1")} | ${col("relation_f1")} | ${
        col("reconstruction_rate")
      } | ${col("format_error")} | ${loss} |`,
    );
  }
  return lines.join("\n");
}
