/**
 * FISH-DIP (Das et al., EMNLP 2023): sample-aware dynamic sparse fine-tuning.
 *
 * Exactly as `fish_dip.py` (psunlpgroup/FISH-DIP @ a8aa5ae) does it:
 *
 * 1. **Scoring.** Every training example's loss is computed without gradients, in order, in
 *    batches of 2 × the training batch size (`calculate_gradients`). The reference takes
 *    `torch.mean` of the unreduced token losses over *all* label positions (an ignored −100
 *    position counts as 0 in the mean); TANL pads labels with 0, never −100, so this equals the
 *    mean over counted positions that `TrainableModel.perExampleLoss` is asked for.
 * 2. **Top-n.** n = clamp(int(0.1 × number of training *batches*), 3, 25), then at most N − 1
 *    (`np.argpartition(losses, -min(n, N-1))[-min(n, N-1):]`); with N = 1 the slice `[-0:]` keeps
 *    the single example. The n highest-loss examples are chosen (ties: lower index first, NaN
 *    counts as highest; numpy's argpartition order is unspecified, so this rule is ours).
 * 3. **Fisher.** Each chosen example alone (batch of one): forward with labels, backward,
 *    accumulate grad² per parameter (grad_type "square"; "absolute" = |grad|). Examples are
 *    accumulated in increasing index order (float32 sums; the reference's order is argpartition's).
 * 4. **Mask.** Global top keep_num = int(total × k) entries over all parameters
 *    (`create_mask_gradient`); see `mask.ts` for the selection and its tie rule.
 * 5. **Schedule.** The first mask is computed before step 1 with `percentage` (k) and the model in
 *    eval mode (HF's `from_pretrained` leaves dropout off); then at every optimizer step s with
 *    s % m == 0 (`reevaluate_after_steps`, m = 100), *before* that step's forward/backward, with
 *    `subsequent_param_percentage` and the model in train mode (the Trainer has called
 *    `model.train()`). The new mask applies to that step's gradient.
 * 6. **Masking.** After backward, every gradient is multiplied by its mask, before gradient-norm
 *    clipping and Adafactor (see `step.ts`).
 *
 * The Fisher accumulators are plain `Float32Array`s in JavaScript memory (one per parameter,
 * filled from each per-example gradient with `await data()`), not backend tensors: on wasm this
 * keeps a full-size copy of the model out of the 4 GiB heap. Each `x*x` is rounded to float32
 * before the float32 add, as torch computes `grads[name] += torch.square(param.grad)`.
 *
 * On webgpu (`maskOnBackend`) the sums, the top-k and the mask stay on the GPU instead
 * (device_mask.ts): the same entries are kept, and a refresh reads back the scoring losses and a
 * few small count vectors, never a gradient, a Fisher sum or the mask.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { T5Inputs } from "../t5/model.ts";
import { keepCount, type MaskStats, selectTopK, type SparseMask } from "./mask.ts";
import { accumulateFisherOnBackend, FISHER_ON_BACKEND_BYTES, fisherSumsOnBackend } from "./scoring_fisher.ts";
import { type DeviceMask, maskOnBackend, MaskSlot, selectTopKOnBackend } from "./device_mask.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import type {
  GradientNeeds,
  MethodContext,
  ModeOptions,
  SparseMethod,
  TrainableModel,
  TrainingSet,
} from "./types.ts";
import { COUNT, FRACTION } from "../config/flags.ts";
import { scorePerExample, type ScoringHints } from "./scoring.ts";

/** FISH-DIP's hyperparameters (command-line names of `fish_dip.py` in the comments). */
export interface FishDipConfig {
  /** k for the initial mask (`--percentage`). Scripts: 0.01. */
  keepRatio: number;
  /** k for every refreshed mask (`--subsequent_param_percentage`). Scripts: 0.01. */
  refreshKeepRatio: number;
  /** m: refresh at optimizer steps m, 2m, ... (`--reevaluate_after_steps`). Scripts and default: 100. */
  refreshEvery: number;
  /** n = clamp(int(sampleFraction × #batches), minSamples, maxSamples). Code: 0.1. */
  sampleFraction: number;
  /** Code: 3. */
  minSamples: number;
  /** Code: 25. */
  maxSamples: number;
  /** Scoring-pass batch size; default (null) 2 × the training batch size, as the code. */
  scoreBatchSize: number | null;
  /**
   * Batch size in n's formula (n counts *batches*); default (null) the context's training batch
   * size. Set 32 (FISH-DIP's 8 per GPU × 4 GPUs) to keep the reference's n while training with a
   * smaller batch.
   */
  nBatchSize: number | null;
  /**
   * Steps already counted before this run: refreshes fall where `(offset + step) % m == 0`. The
   * reference's step counter is a process-wide global that runs on across the seeds (episodes) of
   * one job, so its later seeds refresh at shifted steps; 0 restarts the count with every run.
   */
  stepOffset: number;
  /** Fisher accumulation: "square" (`--method square`, the scripts' choice) or "absolute". */
  gradType: "square" | "absolute";
  /** Dropout during the initial mask's passes. Reference: false (eval mode after loading). */
  initialTraining: boolean;
  /** Dropout during refreshes. Reference: true (the Trainer's train mode) [inferred]. */
  refreshTraining: boolean;
  /**
   * Keep the Fisher sums, the top-k and the mask on the backend (device_mask.ts); `auto`: on
   * webgpu only. Either way the same entries are kept.
   */
  maskOnBackend: "auto" | boolean;
}

/** The reference's values (scripts/*.sh and `fish_dip.py` defaults). */
export const FISHDIP_DEFAULTS: Readonly<FishDipConfig> = Object.freeze({
  keepRatio: 0.01,
  refreshKeepRatio: 0.01,
  refreshEvery: 100,
  sampleFraction: 0.1,
  minSamples: 3,
  maxSamples: 25,
  scoreBatchSize: null,
  nBatchSize: null,
  stepOffset: 0,
  gradType: "square",
  initialTraining: false,
  refreshTraining: true,
  maskOnBackend: "auto",
});

/**
 * How many examples feed the Fisher: n = min(max(int(fraction × ceil(N / batch)), min), max),
 * then min(n, N − 1), except N = 1 → 1 (the reference's `[-0:]` slice keeps everything).
 */
export function numFisherSamples(
  numExamples: number,
  trainBatchSize: number,
  cfg: Pick<FishDipConfig, "sampleFraction" | "minSamples" | "maxSamples"> = FISHDIP_DEFAULTS,
): number {
  if (numExamples < 1) throw new Error("numFisherSamples: no training examples");
  const batches = Math.ceil(numExamples / trainBatchSize); // len(DataLoader), last batch kept
  const n = Math.min(Math.max(Math.trunc(cfg.sampleFraction * batches), cfg.minSamples), cfg.maxSamples);
  const k = Math.min(n, numExamples - 1);
  return k === 0 ? numExamples : k;
}

/**
 * Indices of the `count` largest losses, in increasing index order. Ties: the lower index wins;
 * NaN counts as the largest value (numpy sorts NaN last).
 */
export function topLossIndices(losses: ArrayLike<number>, count: number): number[] {
  if (count > losses.length) throw new Error(`topLossIndices: ${count} of ${losses.length}`);
  const key = (i: number) => (Number.isNaN(losses[i]) ? Infinity : losses[i]);
  const order = Array.from({ length: losses.length }, (_, i) => i);
  order.sort((a, b) => {
    const ka = key(a), kb = key(b);
    if (ka !== kb) return ka > kb ? -1 : 1;
    if (Number.isNaN(losses[a]) !== Number.isNaN(losses[b])) return Number.isNaN(losses[a]) ? -1 : 1;
    return a - b;
  });
  return order.slice(0, count).sort((a, b) => a - b);
}

/**
 * Per-example losses of the whole training set, in order, without gradients: each example's loss
 * is the one its batch of `batchSize` (in order) gives it; deterministic passes run length-bucketed
 * at a larger batch (`scoring.ts`).
 */
export function scoreExamples<E, B>(
  model: TrainableModel<B> & ScoringHints,
  data: TrainingSet<E, B>,
  batchSize: number,
  opts: ModeOptions,
): Promise<Float32Array> {
  return scorePerExample(model, data, { ...opts, batchSize });
}

/**
 * The empirical Fisher diagonal over the chosen examples: Σ_i grad_i² (or Σ |grad_i|), each
 * example alone, as float32 arrays keyed by parameter name. The sums are kept on the backend for
 * models up to {@link FISHER_ON_BACKEND_BYTES} (scoring_fisher.ts), in JavaScript memory above
 * ({@link accumulateFisherInMemory}); the two give the same bits.
 */
export async function accumulateFisher<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  indices: readonly number[],
  opts: ModeOptions & { gradType?: "square" | "absolute" },
): Promise<Map<string, Float32Array>> {
  let bytes = 0;
  for (const v of model.parameters().values()) bytes += 4 * v.size;
  // Summing on the backend skips a copy per parameter per example, at the price of a model-sized
  // buffer there (a wasm heap holds 4 GiB in all), so large models keep their sums in JavaScript.
  return bytes <= FISHER_ON_BACKEND_BYTES
    ? await accumulateFisherOnBackend(model, data, indices, opts)
    : await accumulateFisherInMemory(model, data, indices, opts);
}

/** {@link accumulateFisher} with the sums in JavaScript memory: one gradient copy per parameter per example. */
export async function accumulateFisherInMemory<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  indices: readonly number[],
  opts: ModeOptions & { gradType?: "square" | "absolute" },
): Promise<Map<string, Float32Array>> {
  const params = model.parameters();
  const acc = new Map<string, Float32Array>();
  for (const [name, v] of params) acc.set(name, new Float32Array(v.size));
  const absolute = opts.gradType === "absolute";
  for (const i of [...indices].sort((a, b) => a - b)) {
    const { loss, grads } = model.lossAndGrads(data.collate([data.examples[i]]), { training: opts.training });
    try {
      for (const [name, a] of acc) {
        const g = grads.get(name);
        if (!g) throw new Error(`lossAndGrads returned no gradient for "${name}"`);
        const d = (await g.data()) as Float32Array;
        if (absolute) { for (let j = 0; j < a.length; j++) a[j] += Math.abs(d[j]); }
        else for (let j = 0; j < a.length; j++) a[j] += Math.fround(d[j] * d[j]);
      }
    } finally {
      loss.dispose();
      for (const g of grads.values()) g.dispose();
    }
  }
  return acc;
}

/** Shapes of a model's parameters, in its order. */
export function parameterShapes(params: Map<string, tf.Variable>): Map<string, number[]> {
  return new Map([...params].map(([n, v]) => [n, [...v.shape]]));
}

/** One mask computation, for logs and tests. */
export interface MaskRecord {
  /** 0 for the initial mask, else the optimizer step it was computed before. */
  step: number;
  /** Indices of the examples whose gradients formed the Fisher. */
  selected: number[];
  /** The scoring pass's losses (all examples). */
  losses: Float32Array;
  /** Entries kept. */
  kept: number;
  /** Entries kept by both this and the previous mask (undefined for the first). */
  overlapWithPrevious?: number;
  /** Rounds of the top-k's search when it ran on the backend (each one small read). */
  searchRounds?: number;
  /** Wall time of the computation, ms. */
  ms: number;
}

/** The FISH-DIP method (see the module notes for the exact procedure). */
export class FishDip<E = unknown, B = unknown> implements SparseMethod<E, B> {
  readonly name = "fishdip";
  readonly config: Readonly<FishDipConfig>;
  /** Every mask computation so far, in order. */
  readonly history: MaskRecord[] = [];
  private readonly slot = new MaskSlot("FishDip");

  constructor(config: Partial<FishDipConfig> = {}) {
    this.config = Object.freeze({ ...FISHDIP_DEFAULTS, ...config });
    if (!(this.config.refreshEvery >= 1)) throw new Error("FishDip: refreshEvery must be >= 1");
  }

  /** The mask in force as index lists; a backend mask throws until {@link exportMask} (see `SparseMethod`). */
  get mask(): SparseMask | null {
    return this.slot.sparse;
  }

  get maskStats(): MaskStats | null {
    return this.slot.stats;
  }

  exportMask(): Promise<SparseMask | null> {
    return this.slot.export();
  }

  /**
   * Computes a mask from the current model: scoring pass, top-n, Fisher, global top-k; on the
   * backend when `maskOnBackend` says so (the same entries either way).
   */
  async computeMask(
    ctx: MethodContext<E, B>,
    keepRatio: number,
    training: boolean,
    step: number,
  ): Promise<SparseMask | DeviceMask> {
    const t0 = performance.now();
    const c = this.config;
    const { model, data } = ctx;
    const n = numFisherSamples(data.examples.length, c.nBatchSize ?? ctx.trainBatchSize, c);
    const losses = await scoreExamples(model, data, c.scoreBatchSize ?? 2 * ctx.trainBatchSize, { training });
    const selected = topLossIndices(losses, n);
    let mask: SparseMask | DeviceMask, searchRounds: number | undefined;
    if (maskOnBackend(c.maskOnBackend)) {
      const sums = fisherSumsOnBackend(model, data, selected, { training, gradType: c.gradType });
      try {
        let total = 0;
        for (const s of sums.values()) total += s.size;
        ({ mask, rounds: searchRounds } = await selectTopKOnBackend(sums, keepCount(total, keepRatio)));
      } finally {
        tf.dispose([...sums.values()]);
      }
    } else {
      const fisher = await accumulateFisher(model, data, selected, { training, gradType: c.gradType });
      let total = 0;
      for (const s of fisher.values()) total += s.length;
      mask = selectTopK(fisher, parameterShapes(model.parameters()), keepCount(total, keepRatio));
    }
    this.history.push({
      step,
      selected,
      losses,
      kept: mask.keptCount,
      overlapWithPrevious: await this.slot.overlapWith(mask),
      ...(searchRounds === undefined ? {} : { searchRounds }),
      ms: performance.now() - t0,
    });
    return mask;
  }

  async prepare(ctx: MethodContext<E, B>): Promise<void> {
    this.slot.replace(await this.computeMask(ctx, this.config.keepRatio, this.config.initialTraining, 0));
  }

  async beforeStep(step: number, ctx: MethodContext<E, B>): Promise<boolean> {
    if ((this.config.stepOffset + step) % this.config.refreshEvery !== 0) return false;
    this.slot.replace(
      await this.computeMask(ctx, this.config.refreshKeepRatio, this.config.refreshTraining, step),
    );
    return true;
  }

  maskGradients(grads: Map<string, tf.Tensor>): void {
    this.slot.apply(grads);
  }
  /** Nothing but the mask reads a step's gradients (the Fisher takes its own). */
  gradientNeeds(): GradientNeeds | null {
    return this.slot.needs();
  }

  /** A checkpoint's mask stays index lists until the next refresh (they apply on any backend). */
  restoreMask(mask: SparseMask | null): void {
    this.slot.replace(mask);
  }

  dispose(): void {
    this.slot.dispose();
  }
}

/** FISH-DIP in the paper's notation: k, m, and n (a number, or the reference code's rule). */
export interface FishDipParams {
  /** Fraction of all parameters in the mask. */
  k: number;
  /** Refresh interval in optimizer steps. */
  m: number;
  /** Regressing samples: a fixed n, or `rule` (see {@link numFisherSamples}). */
  n: number | "rule";
  /**
   * The batch size the rule counts batches of (absent: the run's). The reference's is 32 (8 per
   * GPU × 4), so a run with a smaller batch sets 32 here to keep the reference's n.
   */
  nBatch?: number;
  /** Steps of the same job before this run (the reference's global step counter; absent: 0). */
  stepOffset?: number;
}

/** The {@link FishDip} settings of paper-notation `k`, `m` and `n` (a fixed n is both bounds of the rule). */
export function fishDipSettings(p: FishDipParams): Partial<FishDipConfig> {
  return {
    keepRatio: p.k,
    refreshKeepRatio: p.k,
    refreshEvery: p.m,
    ...(p.n === "rule" ? {} : { minSamples: p.n, maxSamples: p.n }),
    ...(p.nBatch === undefined ? {} : { nBatchSize: p.nBatch }),
    ...(p.stepOffset === undefined ? {} : { stepOffset: p.stepOffset }),
  };
}

/** The registry entry (`registry.ts`). */
export const FISHDIP_METHOD: MethodSpec<FishDipParams> = {
  label: "FISH-DIP",
  kind: "mask",
  color: "#e15759",
  description: "FISH-DIP: mask from the Fisher of the n highest-loss samples, refreshed every m steps",
  source: "psunlpgroup/FISH-DIP fish_dip.py @ a8aa5ae and scripts/*.sh (--percentage 0.01 " +
    "--reevaluate_after_steps 100; n = clamp(int(0.1 · #batches), 3, 25), the code's rule)",
  resumable: true,
  defaults: Object.freeze({ k: 0.01, m: 100, n: "rule" }),
  ranges: { k: FRACTION, m: COUNT, n: COUNT },
  create<E>(config: FishDipParams, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(new FishDip<E, T5Inputs>(fishDipSettings(config)), ctx);
  },
};
