/**
 * One experiment cell from start to finish: backbone, low-resource subset (or few-shot episode),
 * TANL features, the method, training, and scoring on the cell's evaluation targets. This is the
 * trainer side of `deno task reproduce` (the bookkeeping side is `lib/experiments/runner.ts`).
 *
 * @module
 */
import { PythonRandom } from "../data/python_random.ts";
import { adeFoldForSeed, loadDataset, type LoadDatasetOptions } from "../data/mod.ts";
import { lowResourceSubset } from "../data/sampling.ts";
import type { DatasetSchema, Example } from "../data/types.ts";
import type { Cell, EvalTarget } from "../experiments/grid.ts";
import { evalKey } from "../experiments/grid.ts";
import type { CellResult, RunContext } from "../experiments/runner.ts";
import { type MaskSnapshot, maskSnapshots } from "../experiments/store.ts";
import { formatRelationInput, rankRelationCandidates } from "../formats/mod.ts";
import { fewShotScores } from "../metrics/mod.ts";
import { applyPeft, createMethod, type PeftConfig, type PeftModel } from "../methods/mod.ts";
import { t5Trainable } from "../methods/t5_adapter.ts";
import type { SparseMethod } from "../methods/types.ts";
import { exportT5Weights, type T5Inputs, type T5Model } from "../t5/model.ts";
import { t5ScoreTargets } from "../t5/generate.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { saveCheckpoint as saveHfCheckpoint } from "../checkpoint/checkpoint.ts";
import { type Backbone, loadBackbone } from "./backbone.ts";
import { evaluateGeneration } from "./evaluate.ts";
import { buildFeatures, collate, type Feature } from "./features.ts";
import { train } from "./trainer.ts";

/** Which dataset and options a cell's dataset name stands for. */
function datasetSource(name: Cell["dataset"]): Parameters<typeof loadDataset>[0] {
  // The FewRel meta-training sources load as FewRel's `train` split (train_wiki when present,
  // else the stand-in relations); see lib/data/fewrel.ts.
  return name === "fewrel_train_wiki" || name === "fewrel_standin" ? "fewrel" : name;
}

function loadOptions(cell: Cell, ctx: RunContext): LoadDatasetOptions {
  const opts: LoadDatasetOptions = { dataDir: ctx.dataDir };
  if (cell.dataset === "ade") opts.fold = adeFoldForSeed(cell.seed);
  if (cell.episode) opts.episode = { ...cell.episode, seed: cell.seed };
  return opts;
}

/** The training examples of a cell: the seeded low-resource subset, or the episode's support set. */
export function trainingExamples(
  cell: Cell,
  ctx: RunContext,
): { examples: Example[]; schema: DatasetSchema } {
  const d = loadDataset(datasetSource(cell.dataset), "train", loadOptions(cell, ctx));
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
  const d = loadDataset(datasetSource(target.dataset), target.split, loadOptions(cell, ctx));
  if (target.subsample === undefined || target.subsample >= d.examples.length) return d;
  const order = d.examples.map((_, i) => i);
  new PythonRandom(0).shuffle(order);
  return { examples: order.slice(0, target.subsample).map((i) => d.examples[i]), schema: d.schema };
}

/** The method object of a cell. */
export function methodFor(cell: Cell): SparseMethod<Feature, T5Inputs> {
  const m = cell.method;
  switch (m.name) {
    case "full":
      return createMethod("full") as SparseMethod<Feature, T5Inputs>;
    case "fishdip":
      return createMethod("fishdip", {
        keepRatio: m.k,
        refreshKeepRatio: m.k,
        refreshEvery: m.m,
        ...(m.n === "rule" ? {} : { minSamples: m.n, maxSamples: m.n }),
      }) as SparseMethod<Feature, T5Inputs>;
    case "fish":
      return createMethod("fish", {
        keepRatio: m.k,
        ...(m.n === "all" ? { numSamples: Number.MAX_SAFE_INTEGER } : { numSamples: m.n }),
      }) as SparseMethod<Feature, T5Inputs>;
    case "random":
      return createMethod("random", { keepRatio: m.k, seed: cell.seed }) as SparseMethod<Feature, T5Inputs>;
    case "lora":
    case "adapter":
    case "prefix":
      // The PEFT methods change the model (see peftConfigFor); their new parameters all train.
      return createMethod("full") as SparseMethod<Feature, T5Inputs>;
    default:
      throw new Error(`method "${(m as { name: string }).name}" is not implemented in this trainer`);
  }
}

/**
 * The parameter-efficient configuration of a LoRA / adapter / prefix cell (the grid's
 * hyperparameters over the method's published defaults, see `lib/methods/peft/`), else undefined.
 */
export function peftConfigFor(cell: Cell): PeftConfig | undefined {
  const m = cell.method;
  switch (m.name) {
    case "lora":
      return { name: "lora", rank: m.rank, alpha: m.alpha, targets: [...m.targets] };
    case "adapter":
      return { name: "adapter", bottleneck: m.bottleneck };
    case "prefix":
      return { name: "prefix", length: m.length };
    default:
      return undefined;
  }
}

function padRow(ids: number[], cell: Cell): number[] {
  return ids.concat(new Array(Math.max(0, cell.maxOutputLength - ids.length)).fill(0));
}

async function scoreFewRel(
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
      await rankRelationCandidates(
        ex,
        schema.relationTypes,
        async (_input, targets) =>
          await t5ScoreTargets(model, {
            inputIds: targets.map(() => input),
            // Padded to the maximum output length with pads counted, as the reference ranks.
            labels: targets.map((t) =>
              padRow(tokenizer.encode(t, { maxLength: cell.maxOutputLength }), cell)
            ),
          }),
      ),
    );
  }
  return fewShotScores(predicted, examples);
}

/** Trains and evaluates one cell; the {@link CellRunner} of `deno task reproduce`. */
export async function runCell(
  cell: Cell,
  ctx: RunContext,
  opts: {
    /** An already loaded backbone (not disposed here); default: load `cell.backbone`. */
    backbone?: Backbone;
    quiet?: boolean;
    /** Checkpoints and `log.jsonl` go here (see `TrainConfig.runDir`). */
    runDir?: string;
    checkpointEvery?: number;
    resume?: boolean;
  } = {},
): Promise<CellResult> {
  const backbone = opts.backbone ?? await loadBackbone(ctx.initCheckpoint ?? cell.backbone, {
    dataDir: ctx.dataDir,
    dropoutSeed: cell.seed,
  });
  const { model, tokenizer } = backbone;
  const method = methodFor(cell);
  let peft: PeftModel | undefined;
  try {
    // LoRA / adapters / prefix: hooks on the frozen backbone, and only their parameters train.
    const peftConfig = peftConfigFor(cell);
    if (peftConfig) peft = applyPeft(model, peftConfig, { seed: cell.seed });
    const { examples, schema } = trainingExamples(cell, ctx);
    const features = buildFeatures(examples, schema, tokenizer, {
      maxInputLength: cell.maxInputLength,
      maxOutputLength: cell.maxOutputLength,
    });
    const what = peft ? `${peft.method} (${peft.parameterCount} new parameters, no mask)` : method.name;
    ctx.log(`training on ${features.length} examples (${schema.name}), method ${what}`);
    const t0 = performance.now();
    const run = await train({
      model: peft?.trainable ?? t5Trainable(model),
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
        runDir: opts.runDir,
        checkpointEvery: opts.checkpointEvery,
        resume: opts.resume,
        // FISH-DIP's Adafactor, except where a PEFT method's zero-initialised parameters need
        // unscaled steps (PEFT_METHODS[name].adafactor; see lib/methods/peft/mod.ts).
        ...(peft ? { adafactor: { ...peft.adafactor } } : {}),
      },
      progress: opts.quiet ? false : undefined,
      reseed: (s) => model.setDropoutSeed(s),
    });
    const trainSeconds = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    const metrics: CellResult["metrics"] = {};
    for (const target of cell.evaluate) {
      const ev = evaluationExamples(target, cell, ctx);
      ctx.log(`evaluating on ${evalKey(target)} (${ev.examples.length} examples)`);
      metrics[evalKey(target)] = cell.decoding === "rank"
        ? await scoreFewRel(model, tokenizer, ev.examples, ev.schema, cell)
        : (await evaluateGeneration(model, tokenizer, ev.examples, ev.schema, {
          maxInputLength: cell.maxInputLength,
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
      await saveHfCheckpoint(
        ctx.checkpointDir,
        new Map([...weights].map(([n, w]) => [n, { shape: [...model.param(n).shape], data: w }])),
        model.config as unknown as Record<string, unknown>,
        { tokenizer: `${backbone.dir}/spiece.model` },
      );
      checkpoint = ctx.checkpointDir;
    }
    return {
      metrics,
      timings: { train: trainSeconds, eval: evalSeconds, mask: run.maskSeconds },
      steps: run.steps,
      losses: run.losses,
      masks: method.mask === null && (cell.method.name === "full" || peft) ? undefined : masks,
      checkpoint,
    };
  } finally {
    peft?.dispose(); // removes the hooks: a shared backbone is the base model again
    method.dispose();
    if (!opts.backbone) model.dispose();
  }
}
