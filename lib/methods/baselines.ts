/**
 * The baselines FISH-DIP is compared with that fit the sparse-mask interface: full fine-tuning,
 * the fixed FISH mask, and a fixed random mask. (LoRA, adapters and prefix tuning change the
 * model rather than the gradient and live elsewhere.)
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { keepCount, type MaskStats, randomMask, seededUniform, selectTopK, type SparseMask } from "./mask.ts";
import { accumulateFisher, parameterShapes } from "./fishdip.ts";
import { type DeviceMask, maskOnBackend, MaskSlot, selectTopKOnBackend } from "./device_mask.ts";
import { fisherSumsOnBackend } from "./scoring_fisher.ts";
import type { GradientNeeds, MethodContext, SparseMethod } from "./types.ts";
import type { T5Inputs } from "../t5/model.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import { COUNT, FRACTION } from "../config/flags.ts";

/** Every parameter trains (no mask). */
export class FullFinetuning<E = unknown, B = unknown> implements SparseMethod<E, B> {
  readonly name = "full";
  readonly mask = null;
  prepare(_ctx: MethodContext<E, B>): Promise<void> {
    return Promise.resolve();
  }
  beforeStep(_step: number, _ctx: MethodContext<E, B>): Promise<boolean> {
    return Promise.resolve(false);
  }
  maskGradients(_grads: Map<string, tf.Tensor>): void {}
  restoreMask(mask: SparseMask | null): void {
    if (mask !== null) {
      throw new Error("FullFinetuning: a checkpoint with a mask does not belong to full fine-tuning");
    }
  }
  dispose(): void {}
}

/**
 * FISH Mask (Sung, Nair & Raffel, NeurIPS 2021), `run_glue_sparse_update.py` in
 * varunnair18/FISH @ b5bff1e: the Fisher (grad², `--mask_method label-square`) of the first
 * `numSamples` examples of a shuffled batch-size-1 data loader (`--num_samples`, 1024 in the
 * README's command), one global top-k mask computed once before training and never changed.
 */
export interface FishConfig {
  /** Fraction of entries kept (`--keep_ratio`). Default 0.01, FISH-DIP's k, for a like-for-like baseline. */
  keepRatio: number;
  /** Examples in the Fisher (`--num_samples`). FISH's README: 1024. */
  numSamples: number;
  /** Seed of the shuffle that picks the examples (torch's shuffle order cannot be reproduced). */
  seed: number;
  /** "square" (FISH's scripts) or "absolute". */
  gradType: "square" | "absolute";
  /** Dropout while computing the Fisher. FISH: false (eval mode after loading). */
  training: boolean;
  /** Sums, top-k and mask on the backend (device_mask.ts); `auto`: on webgpu only. Same entries either way. */
  maskOnBackend: "auto" | boolean;
}

/** FISH's defaults, with k set to FISH-DIP's 1 %. */
export const FISH_DEFAULTS: Readonly<FishConfig> = Object.freeze({
  keepRatio: 0.01,
  numSamples: 1024,
  seed: 0,
  gradType: "square",
  training: false,
  maskOnBackend: "auto",
});

/** The first `count` of a seeded Fisher–Yates shuffle of 0..n-1. */
export function shuffledPrefix(n: number, count: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = seededUniform(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, Math.min(count, n));
}

/**
 * What the fixed-mask methods share: a mask computed once in `prepare` (by the subclass), never
 * refreshed, applied to every gradient, and taken back from a checkpoint on resume.
 */
export abstract class FixedMaskMethod<E, B> implements SparseMethod<E, B> {
  abstract readonly name: string;
  private readonly slot = new MaskSlot("fixed mask");

  /** The mask as index lists; a backend mask throws until {@link exportMask} (see `SparseMethod`). */
  get mask(): SparseMask | null {
    return this.slot.sparse;
  }
  get maskStats(): MaskStats | null {
    return this.slot.stats;
  }
  exportMask(): Promise<SparseMask | null> {
    return this.slot.export();
  }
  abstract prepare(ctx: MethodContext<E, B>): Promise<void>;
  /** Replaces the mask in force (disposing the previous one). */
  protected setMask(mask: SparseMask | DeviceMask | null): void {
    this.slot.replace(mask);
  }
  beforeStep(_step: number, _ctx: MethodContext<E, B>): Promise<boolean> {
    return Promise.resolve(false);
  }
  maskGradients(grads: Map<string, tf.Tensor>): void {
    if (!this.slot.current) throw new Error(`${this.name}: maskGradients before prepare()`);
    this.slot.apply(grads);
  }
  /** Nothing but the mask reads a step's gradients. */
  gradientNeeds(): GradientNeeds | null {
    return this.slot.needs();
  }
  restoreMask(mask: SparseMask | null): void {
    this.setMask(mask);
  }
  dispose(): void {
    this.slot.dispose();
  }
}

/** The fixed FISH mask. */
export class FixedFish<E = unknown, B = unknown> extends FixedMaskMethod<E, B> {
  readonly name = "fish";
  readonly config: Readonly<FishConfig>;
  /** The examples the Fisher used (after `prepare`). */
  selected: number[] = [];

  constructor(config: Partial<FishConfig> = {}) {
    super();
    this.config = Object.freeze({ ...FISH_DEFAULTS, ...config });
  }
  async prepare(ctx: MethodContext<E, B>): Promise<void> {
    const c = this.config;
    this.selected = shuffledPrefix(ctx.data.examples.length, c.numSamples, c.seed);
    if (maskOnBackend(c.maskOnBackend)) {
      const sums = fisherSumsOnBackend(ctx.model, ctx.data, this.selected, {
        training: c.training,
        gradType: c.gradType,
      });
      try {
        let total = 0;
        for (const s of sums.values()) total += s.size;
        this.setMask((await selectTopKOnBackend(sums, keepCount(total, c.keepRatio))).mask);
      } finally {
        tf.dispose([...sums.values()]);
      }
      return;
    }
    const fisher = await accumulateFisher(ctx.model, ctx.data, this.selected, {
      training: c.training,
      gradType: c.gradType,
    });
    let total = 0;
    for (const s of fisher.values()) total += s.length;
    this.setMask(selectTopK(fisher, parameterShapes(ctx.model.parameters()), keepCount(total, c.keepRatio)));
  }
}

/**
 * A fixed, uniformly random mask of exactly int(total × k) entries over all parameters (FISH's
 * `create_mask_random` draws `torch.rand` scores and takes the global top-k; any uniform choice of
 * that many entries has the same distribution).
 */
export interface RandomMaskConfig {
  /** Fraction of entries kept. Default 0.01 (FISH-DIP's k). */
  keepRatio: number;
  /** Seed of the draw. */
  seed: number;
}

/** Random-mask defaults. */
export const RANDOM_MASK_DEFAULTS: Readonly<RandomMaskConfig> = Object.freeze({ keepRatio: 0.01, seed: 0 });

/** The fixed random mask. */
export class RandomMaskMethod<E = unknown, B = unknown> extends FixedMaskMethod<E, B> {
  readonly name = "random";
  readonly config: Readonly<RandomMaskConfig>;
  constructor(config: Partial<RandomMaskConfig> = {}) {
    super();
    this.config = Object.freeze({ ...RANDOM_MASK_DEFAULTS, ...config });
  }
  prepare(ctx: MethodContext<E, B>): Promise<void> {
    const shapes = parameterShapes(ctx.model.parameters());
    let total = 0;
    for (const s of shapes.values()) total += s.reduce((a, b) => a * b, 1);
    this.setMask(randomMask(shapes, keepCount(total, this.config.keepRatio), this.config.seed));
    return Promise.resolve();
  }
}

/** The registry entry of full fine-tuning (no hyperparameters). */
export const FULL_METHOD: MethodSpec<Record<never, never>> = {
  label: "Full FT",
  kind: "mask",
  color: "#4e79a7",
  description: "Full fine-tuning: every parameter trains",
  source: "no mask; same optimizer and schedule as FISH-DIP",
  resumable: true,
  defaults: Object.freeze({}),
  create<E>(_config: Record<never, never>, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(new FullFinetuning<E, T5Inputs>(), ctx);
  },
};

/** The fixed FISH mask in the paper's notation: k, and n samples in the Fisher (`all`: the whole subset). */
export interface FishParams {
  k: number;
  n: number | "all";
}

/** The registry entry of the fixed FISH mask. */
export const FISH_METHOD: MethodSpec<FishParams> = {
  label: "FISH (fixed mask)",
  kind: "mask",
  color: "#f28e2b",
  description: "FISH mask (Sung et al. 2021): computed once before training from n samples, then fixed",
  source: "varunnair18/FISH run_glue_sparse_update.py @ b5bff1e (label-square, up to 1024 samples: " +
    "the whole training subset here); k set to FISH-DIP's 1 %",
  resumable: true,
  defaults: Object.freeze({ k: 0.01, n: "all" }),
  ranges: { k: FRACTION, n: COUNT },
  create<E>(config: FishParams, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(
      new FixedFish<E, T5Inputs>({
        keepRatio: config.k,
        numSamples: config.n === "all" ? Number.MAX_SAFE_INTEGER : config.n,
      }),
      ctx,
    );
  },
};

/** The registry entry of the fixed random mask (density k, drawn with the run's seed). */
export const RANDOM_METHOD: MethodSpec<{ k: number }> = {
  label: "Random mask",
  kind: "mask",
  color: "#bab0ac",
  description: "A fixed random mask of density k (a sanity baseline for the mask ablation)",
  source: "FISH create_mask_random (uniform scores, global top-k); k set to FISH-DIP's 1 %",
  resumable: true,
  defaults: Object.freeze({ k: 0.01 }),
  ranges: { k: FRACTION },
  create<E>(config: { k: number }, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(new RandomMaskMethod<E, T5Inputs>({ keepRatio: config.k, seed: ctx.seed }), ctx);
  },
};
