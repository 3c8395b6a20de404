/**
 * A static gradient mask, the family of SIFT (Song et al., 2023, "Sparse is Enough in
 * Fine-tuning Pre-trained Large Language Models", song-wx/SIFT) and SPEFT's best static setting
 * (Liu et al., ACL 2025, "Refining Salience-Aware Sparse Fine-Tuning Strategies for Language
 * Models", 0-ml/speft): before training, the gradient of the training loss is accumulated over
 * the first `warmupBatches` batches of the training data; the k entries with the largest score
 * form one global mask, fixed for the whole run.
 *
 * Source note, and where this port chooses:
 * - **Score.** Σ_b g_b² over the warm-up batches (g_b the gradient of batch b's mean loss): the
 *   squared-gradient salience, a batch-level Fisher like FISH's. SIFT ranks |g| of one batch (the
 *   same order as g² for one batch); SPEFT's "gradient" salience is |Σ_b g_b| (`score:
 *   "abs-sum"` here).
 * - **Batches.** SIFT uses the first backward pass only (`sift.py`: the first gradient picks the
 *   indices and is not applied); SPEFT accumulates `sparse_score_accumulation_examples` = 1024
 *   examples, ceil(1024 / batch) batches (32 at its GLUE scripts' batch of 32). The two disagree,
 *   and 32 batches would cost as much as a whole quick-preset run here, so the default is 8.
 * - **Which data.** The training set in its fixed order, in batches of the training batch size
 *   (the last one may be short), starting again from the first when there are fewer batches than
 *   `warmupBatches` (SPEFT restarts its data iterator). The trainer's shuffled order is not
 *   visible to a method; FISH-DIP's scoring pass uses the fixed order too.
 * - **Global top-k.** keep_num = int(total × k) over every backbone parameter (SPEFT's scripts
 *   pass `--sparse_global_topk`; SIFT allots int(k × numel) + 1 per tensor), ties by the smallest
 *   global index (`mask.ts`).
 * - **Dropout** off while scoring (as FISH-DIP's first mask and FISH: eval mode after loading).
 *
 * The accumulators are `Float32Array`s in JavaScript memory, as FISH-DIP's Fisher.
 *
 * @module
 */
import type { T5Inputs } from "../t5/model.ts";
import { keepCount, selectTopK } from "./mask.ts";
import { parameterShapes } from "./fishdip.ts";
import { FixedMaskMethod } from "./baselines.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import type { MethodContext, TrainableModel, TrainingSet } from "./types.ts";
import { COUNT, FRACTION } from "../config/flags.ts";

/** The static gradient mask's settings. */
export interface StaticGradConfig {
  /** Fraction of all entries kept (k). Default 0.01, FISH-DIP's k. */
  keepRatio: number;
  /** Batches whose gradients are accumulated. Default 8 (see the module notes). */
  warmupBatches: number;
  /** Batch size of the warm-up; default (null) the training batch size. */
  batchSize: number | null;
  /** "square": Σ g² (default); "abs-sum": |Σ g| (SPEFT's gradient salience). */
  score: "square" | "abs-sum";
  /** Dropout during the warm-up passes. Default false. */
  training: boolean;
}

/** Defaults (see the module notes for their sources). */
export const STATIC_GRAD_DEFAULTS: Readonly<StaticGradConfig> = Object.freeze({
  keepRatio: 0.01,
  warmupBatches: 8,
  batchSize: null,
  score: "square",
  training: false,
});

/**
 * The example indices of the first `count` batches of 0..n-1 in order, in batches of
 * `batchSize` (the last of a pass may be short), starting over after the last example.
 */
export function warmupBatchIndices(n: number, batchSize: number, count: number): number[][] {
  if (n < 1) throw new Error("warmupBatchIndices: no training examples");
  const perPass = Math.ceil(n / batchSize);
  return Array.from({ length: count }, (_, b) => {
    const start = (b % perPass) * batchSize;
    return Array.from({ length: Math.min(batchSize, n - start) }, (_, j) => start + j);
  });
}

/**
 * Σ_b g_b² (or |Σ_b g_b|) over the given batches, g_b the gradient of batch b's mean loss, as
 * float32 arrays keyed by parameter name (each square rounded to float32 before the add).
 */
export async function accumulateBatchGradients<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  batches: readonly (readonly number[])[],
  opts: { training: boolean; score: "square" | "abs-sum" },
): Promise<Map<string, Float32Array>> {
  const acc = new Map<string, Float32Array>();
  for (const [name, v] of model.parameters()) acc.set(name, new Float32Array(v.size));
  for (const batch of batches) {
    const { loss, grads } = model.lossAndGrads(data.collate(batch.map((i) => data.examples[i])), {
      training: opts.training,
    });
    try {
      for (const [name, a] of acc) {
        const g = grads.get(name);
        if (!g) throw new Error(`lossAndGrads returned no gradient for "${name}"`);
        const d = (await g.data()) as Float32Array;
        if (opts.score === "square") { for (let j = 0; j < a.length; j++) a[j] += Math.fround(d[j] * d[j]); }
        else for (let j = 0; j < a.length; j++) a[j] += d[j];
      }
    } finally {
      loss.dispose();
      for (const g of grads.values()) g.dispose();
    }
  }
  if (opts.score === "abs-sum") {
    for (const a of acc.values()) for (let j = 0; j < a.length; j++) a[j] = Math.abs(a[j]);
  }
  return acc;
}

/** The mask computation, for logs (the trainer times `prepare` itself). */
export interface StaticGradRecord {
  step: 0;
  kept: number;
  /** The batches the gradients came from (example indices). */
  batches: number[][];
  ms: number;
}

/** The static gradient mask: computed once in `prepare`, never refreshed. */
export class StaticGrad<E = unknown, B = unknown> extends FixedMaskMethod<E, B> {
  readonly name = "static-grad";
  readonly config: Readonly<StaticGradConfig>;
  readonly history: StaticGradRecord[] = [];

  constructor(config: Partial<StaticGradConfig> = {}) {
    super();
    this.config = Object.freeze({ ...STATIC_GRAD_DEFAULTS, ...config });
    if (!(Number.isInteger(this.config.warmupBatches) && this.config.warmupBatches >= 1)) {
      throw new Error(
        `static-grad: warmupBatches must be a whole number >= 1, got ${this.config.warmupBatches}`,
      );
    }
  }

  async prepare(ctx: MethodContext<E, B>): Promise<void> {
    const t0 = performance.now();
    const c = this.config;
    const batches = warmupBatchIndices(
      ctx.data.examples.length,
      c.batchSize ?? ctx.trainBatchSize,
      c.warmupBatches,
    );
    const scores = await accumulateBatchGradients(ctx.model, ctx.data, batches, {
      training: c.training,
      score: c.score,
    });
    let total = 0;
    for (const s of scores.values()) total += s.length;
    const mask = selectTopK(scores, parameterShapes(ctx.model.parameters()), keepCount(total, c.keepRatio));
    this.setMask(mask);
    this.history.push({ step: 0, kept: mask.keptCount, batches, ms: performance.now() - t0 });
  }
}

/** The static gradient mask in registry notation: k, and the number of warm-up batches. */
export interface StaticGradParams {
  k: number;
  warmupBatches: number;
}

/** The registry entry of the static gradient mask. */
export const STATIC_GRAD_METHOD: MethodSpec<StaticGradParams> = {
  label: "Static grad (SIFT/SPEFT)",
  kind: "mask",
  color: "#9c755f",
  description: "Static gradient mask (SIFT 2023, SPEFT 2025): top-k of Σ grad² over the first " +
    "warm-up batches, fixed",
  source: "song-wx/SIFT sift.py (first batch's |grad|), 0-ml/speft sparse_peft.py (1024 examples, " +
    "global top-k, mask_update_steps 0); scored by Σ grad² (FISH's salience at batch level); 8 " +
    "batches, since SIFT (1) and SPEFT (1024 examples) disagree; " +
    "k set to FISH-DIP's 1 %",
  resumable: true,
  defaults: Object.freeze({ k: 0.01, warmupBatches: 8 }),
  ranges: { k: FRACTION, warmupBatches: COUNT },
  create<E>(config: StaticGradParams, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(
      new StaticGrad<E, T5Inputs>({ keepRatio: config.k, warmupBatches: config.warmupBatches }),
      ctx,
    );
  },
};
