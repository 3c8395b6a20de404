/**
 * One experiment cell from start to finish: backbone, low-resource subset (or few-shot episode),
 * TANL features, the method, training, and scoring on the cell's evaluation targets. This is the
 * trainer side of `deno task reproduce` (the bookkeeping side is `runner.ts`).
 *
 * @module
 */
import { PythonRandom } from "../data/python_random.ts";
import {
  DataFormatError,
  type DatasetName,
  DATASETS,
  loadDataset,
  type LoadDatasetOptions,
} from "../data/mod.ts";
import { lowResourceSubset } from "../data/sampling.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import { type Cell, evalKey, type EvalTarget } from "../experiments/cells.ts";
import { type MaskSnapshot, maskSnapshots } from "../experiments/store.ts";
import { formatRelationInput, rankRelationCandidates } from "../formats/mod.ts";
import { fewShotScores } from "../metrics/mod.ts";
import { createMethod, type MethodSetup, methodSpec } from "../methods/registry.ts";
import { maskStatsOf } from "../methods/types.ts";
import { exportT5Weights, type T5Model } from "../t5/model.ts";
import { t5ScoreTargets } from "../t5/generate.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { type Backbone, loadBackbone } from "../train/backbone.ts";
import { evaluateGeneration } from "../train/evaluate.ts";
import { buildFeatures, collate, type Feature } from "../train/features.ts";
import { train } from "../train/trainer.ts";
import { TrainingCheckpointError } from "../train/training_checkpoint.ts";
import type { CellResult, RunContext } from "./runner.ts";

/** The load options of a cell: its data folder, the dataset's options for its seed (ADE's fold), its episode. */
function loadOptions(cell: Cell, ctx: RunContext): LoadDatasetOptions {
  const opts: LoadDatasetOptions = {
    dataDir: ctx.dataDir,
    ...DATASETS[cell.dataset].seedOptions?.(cell.seed),
  };
  if (cell.episode) opts.episode = { ...cell.episode, seed: cell.seed };
  return opts;
}

/**
 * A split with no example trains nothing or scores 0.00 as if measured; either way the number
 * would be wrong, so it is an error naming the dataset's files.
 */
function nonEmpty<T extends { examples: Example[] }>(d: T, dataset: DatasetName, split: string): T {
  if (!d.examples.length) {
    throw new DataFormatError(
      DATASETS[dataset].layout,
      "",
      `the ${split} split of ${dataset} has no examples`,
    );
  }
  return d;
}

/** The training examples of a cell: the seeded low-resource subset, or the episode's support set. */
export function trainingExamples(
  cell: Cell,
  ctx: RunContext,
): { examples: Example[]; schema: DatasetSchema } {
  const d = nonEmpty(loadDataset(cell.dataset, "train", loadOptions(cell, ctx)), cell.dataset, "train");
  const examples = cell.fraction !== undefined && cell.fraction < 1
    ? lowResourceSubset(d.examples, cell.fraction, cell.seed)
    : d.examples;
  return { examples, schema: d.schema };
}

/**
 * An evaluation target's examples: the split, or a fixed subsample of it (shuffled with Python's
 * `random.seed(0)`, first N kept), the same for every method and seed.
 */
export function evaluationExamples(
  target: EvalTarget,
  cell: Cell,
  ctx: RunContext,
): { examples: Example[]; schema: DatasetSchema } {
  const d = nonEmpty(
    loadDataset(target.dataset, target.split, loadOptions(cell, ctx)),
    target.dataset,
    target.split,
  );
  if (target.subsample === undefined || target.subsample >= d.examples.length) return d;
  const order = d.examples.map((_, i) => i);
  new PythonRandom(0).shuffle(order);
  return { examples: order.slice(0, target.subsample).map((i) => d.examples[i]), schema: d.schema };
}

function padRow(ids: number[], cell: Pick<Cell, "maxOutputLength">): number[] {
  return ids.concat(new Array(Math.max(0, cell.maxOutputLength - ids.length)).fill(0));
}

/**
 * How FewRel's candidate outputs are scored: their labels, and the ranking score from each row's
 * mean loss. The reference pads every candidate to the maximum output length with pads counted.
 * A model trained without full-length padding (`padLabels: "longest"`) never learnt the pad
 * positions, so counting them would favour the shortest relation name; with pads learnt, the
 * mean over the padded length ranks as the sum of the real tokens' losses, so that sum it is.
 */
export function candidateLabels(
  ids: number[][],
  cell: Pick<Cell, "padLabels" | "maxOutputLength">,
): { labels: number[][]; score: (means: number[]) => number[] } {
  if (cell.padLabels !== "longest") {
    return { labels: ids.map((t) => padRow(t, cell)), score: (means) => means };
  }
  const longest = Math.max(...ids.map((t) => t.length));
  return {
    labels: ids.map((t) => t.concat(new Array(longest - t.length).fill(-100))),
    score: (means) => means.map((m, i) => m * ids[i].length),
  };
}

/** A FewRel episode's query set scored as the reference does: each candidate relation ranked by its NLL. */
export async function scoreFewRel(
  model: T5Model,
  tokenizer: T5Tokenizer,
  examples: Example[],
  schema: DatasetSchema,
  cell: Cell,
): Promise<Record<string, number>> {
  const predicted = [];
  for (const ex of examples) {
    const input = tokenizer.encode(formatRelationInput(ex), { maxLength: cell.maxInputLength });
    predicted.push(
      await rankRelationCandidates(ex, schema.relationTypes, async (_input, targets) => {
        const ids = targets.map((t) => tokenizer.encode(t, { maxLength: cell.maxOutputLength }));
        const { labels, score } = candidateLabels(ids, cell);
        return score(await t5ScoreTargets(model, { inputIds: ids.map(() => input), labels }));
      }),
    );
  }
  return fewShotScores(predicted, examples);
}

/** Seconds of training between the checkpoints of a resumable cell (`RunContext.trainDir`). */
const CELL_CHECKPOINT_SECONDS = 300;

/** The options of {@link runCell}. */
export interface RunCellOptions {
  /** An already loaded backbone (not disposed here); default: load `cell.backbone`. */
  backbone?: Backbone;
  quiet?: boolean;
  /** Checkpoints and `log.jsonl` go here (see `TrainConfig.runDir`). */
  runDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
}

/**
 * Trains and evaluates one cell; the {@link CellRunner} of `deno task reproduce`. When the grid's
 * checkpoints of the cell (`ctx.trainDir`) cannot be resumed from (saved by code that planned
 * another number of steps, or damaged beyond the fallback to the older one), they are removed and
 * the cell starts again, with a message saying why.
 */
export async function runCell(cell: Cell, ctx: RunContext, opts: RunCellOptions = {}): Promise<CellResult> {
  try {
    return await trainAndEvaluate(cell, ctx, opts);
  } catch (e) {
    const gridCheckpoints = ctx.trainDir !== undefined && opts.runDir === undefined &&
      opts.backbone === undefined;
    if (!(e instanceof TrainingCheckpointError) || !gridCheckpoints) throw e;
    ctx.log(`cannot continue from ${ctx.trainDir} (${e.message}); removed it, starting the cell again`);
    await Deno.remove(ctx.trainDir!, { recursive: true });
    return await trainAndEvaluate(cell, ctx, opts);
  }
}

async function trainAndEvaluate(cell: Cell, ctx: RunContext, opts: RunCellOptions): Promise<CellResult> {
  const backbone = opts.backbone ?? await loadBackbone(ctx.initCheckpoint ?? cell.backbone, {
    dataDir: ctx.dataDir,
    dropoutSeed: cell.seed,
  });
  const { model, tokenizer } = backbone;
  let setup: MethodSetup<Feature> | undefined;
  try {
    // Mask methods train the backbone's parameters; LoRA / adapters / prefix install hooks on the
    // frozen backbone, and only their new parameters train.
    setup = createMethod<Feature>(cell.method, { model, seed: cell.seed });
    const { method } = setup;
    const { examples, schema } = trainingExamples(cell, ctx);
    const features = buildFeatures(examples, schema, tokenizer, {
      maxInputLength: cell.maxInputLength,
      maxOutputLength: cell.maxOutputLength,
    });
    ctx.log(`training on ${features.length} examples (${schema.name}), method ${setup.summary}`);
    // A resumable method's training keeps checkpoints in the grid's folder for this cell, so that a
    // kill costs at most a few minutes of it; the others start again.
    const resumable = opts.runDir === undefined && ctx.trainDir !== undefined &&
      methodSpec(cell.method.name).resumable;
    const runDir = opts.runDir ?? (resumable ? ctx.trainDir : undefined);
    const t0 = performance.now();
    const run = await train({
      model: setup.trainable,
      method,
      examples: features,
      // Labels padded to the maximum output length (pads count in the loss, as in TANL), or to
      // the batch's longest target on the CPU presets (cell.padLabels).
      collate: (fs) => collate(fs, { padLabelsTo: cell.padLabels ?? cell.maxOutputLength }),
      config: {
        epochs: cell.epochs,
        batchSize: cell.batchSize,
        maxSteps: cell.maxSteps,
        seed: cell.seed,
        runDir,
        checkpointEvery: opts.checkpointEvery,
        checkpointSeconds: resumable ? CELL_CHECKPOINT_SECONDS : undefined,
        resume: opts.resume ?? resumable,
        // FISH-DIP's Adafactor, except where a PEFT method's zero-initialised parameters need
        // unscaled steps (its PeftBuilder's adafactor; see lib/methods/peft/mod.ts).
        adafactor: { ...setup.adafactor },
      },
      progress: opts.quiet ? false : undefined,
      reseed: (s) => model.setDropoutSeed(s),
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    if (run.resumedFrom !== undefined) ctx.log(`continued from the checkpoint of step ${run.resumedFrom}`);

    const t1 = performance.now();
    const metrics: CellResult["metrics"] = {};
    for (const target of cell.evaluate) {
      const ev = evaluationExamples(target, cell, ctx);
      ctx.log(`evaluating on ${evalKey(target)} (${ev.examples.length} examples)`);
      metrics[evalKey(target)] = cell.decoding === "rank"
        ? await scoreFewRel(model, tokenizer, ev.examples, ev.schema, cell)
        : (await evaluateGeneration(model, tokenizer, ev.examples, ev.schema, {
          maxInputLength: cell.maxInputLengthEval ?? cell.maxInputLength,
          maxOutputLength: cell.maxOutputLengthEval,
        })).metrics;
    }
    const evalSeconds = (performance.now() - t1) / 1000;

    const sizes = new Map([...model.params].map(([n, v]) => [n, v.size]));
    const masks: MaskSnapshot[] = run.masks.flatMap((m, i) =>
      maskSnapshots(
        new Map([...sizes].map(([n, size]) => [n, { size, kept: { length: m.perParam[n] ?? 0 } }])),
        i,
        m.step,
      )
    );
    let checkpoint: string | undefined;
    if (cell.saveCheckpoint) {
      const weights = await exportT5Weights(model);
      await saveCheckpoint(
        ctx.checkpointDir,
        new Map([...weights].map(([n, w]) => [n, { shape: [...model.param(n).shape], data: w }])),
        model.config as unknown as Record<string, unknown>,
        { tokenizer: `${backbone.dir}/spiece.model` },
      );
      checkpoint = ctx.checkpointDir;
    }
    return {
      metrics,
      // A resumed run's training time is that of every process (the trainer's, from its checkpoint).
      timings: {
        train: run.resumedFrom === undefined ? trainSeconds : run.trainSeconds,
        eval: evalSeconds,
        mask: run.maskSeconds,
      },
      steps: run.steps,
      losses: run.losses,
      // No mask history for methods that never mask (full fine-tuning, the PEFT methods).
      masks: maskStatsOf(method) === null ? undefined : masks,
      checkpoint,
      resumedFrom: run.resumedFrom,
    };
  } finally {
    setup?.dispose(); // removes any hooks: a shared backbone is the base model again
    if (!opts.backbone) model.dispose();
  }
}
