/**
 * The small interface every sparse fine-tuning method is written against, so that FISH-DIP, the
 * fixed FISH mask, a random mask and full fine-tuning are interchangeable behind one trainer
 * (as Hugging Face PEFT's tuners are), and so that they can be unit-tested on a toy model.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { MaskStats, SparseMask } from "./mask.ts";

/** Forward-pass mode: `training` turns dropout on. */
export interface ModeOptions {
  training: boolean;
}

/**
 * What a method needs from a model. `B` is the model's batch type (for T5: token ids, masks and
 * labels; see `t5_trainable.ts`).
 */
export interface TrainableModel<B> {
  /** Every trainable parameter by name, in a fixed order (the global order of mask indices). */
  parameters(): Map<string, tf.Variable>;
  /**
   * One loss per example of `batch` (shape [batch size]), without gradients. For FISH-DIP this is
   * the mean token cross-entropy of each example, pads counted as the reference does.
   */
  perExampleLoss(batch: B, opts: ModeOptions): tf.Tensor1D;
  /**
   * The mean loss of `batch` and its gradient for every parameter (same names, shapes and order as
   * {@link parameters}). With `needs`, the gradients outside it may come back as zeros (a model
   * may skip computing them). The caller disposes `loss` and every gradient.
   */
  lossAndGrads(
    batch: B,
    opts: ModeOptions,
    needs?: GradientNeeds,
  ): { loss: tf.Scalar; grads: Map<string, tf.Tensor> };
}

/**
 * Which gradient entries a step can use when a mask keeps only some: gradients outside it are
 * zeroed by the mask anyway, so a model may skip computing them and the masked gradients are the
 * same.
 */
export interface GradientNeeds {
  /** Parameters with at least one kept entry. */
  params: ReadonlySet<string>;
  /**
   * For matrices whose kept entries lie in some of their rows only: those rows, sorted. A
   * parameter absent here needs every row.
   */
  rows: ReadonlyMap<string, Int32Array>;
}

/** The training subset, and how to turn examples into a batch. */
export interface TrainingSet<E, B> {
  /** The examples in their fixed order (the scoring pass visits them in this order). */
  examples: readonly E[];
  /**
   * Builds one batch. With pads counted in the loss, an example's loss depends on its padded
   * length: pad to a fixed length (FISH-DIP pads every example to `max_seq_length`) if per-example
   * losses must not depend on which examples share a batch.
   */
  collate(examples: readonly E[]): B;
}

/** Everything a method may use before and during training. */
export interface MethodContext<E, B> {
  model: TrainableModel<B>;
  data: TrainingSet<E, B>;
  /**
   * The training batch size as Hugging Face's `Trainer` sees it (per-device batch × GPUs: 32 in
   * FISH-DIP's scripts). FISH-DIP's number of Fisher samples is computed from it.
   */
  trainBatchSize: number;
  /** The run's planned optimizer steps (the learning-rate schedule's length), when a trainer runs it. */
  totalSteps?: number;
}

/** A sparse fine-tuning method: decides, per step, which gradient entries reach the optimizer. */
export interface SparseMethod<E = unknown, B = unknown> {
  /** Registry name (`fishdip`, `fish`, `random`, `full`). */
  readonly name: string;
  /**
   * The mask in force as index lists, or null when every entry is trained. A method whose mask
   * lives on the backend (FISH-DIP on webgpu) throws here until {@link exportMask} has read it back.
   */
  readonly mask: SparseMask | null;
  /** Counts of the mask in force without reading it back (absent: {@link mask} gives them). */
  readonly maskStats?: MaskStats | null;
  /** The mask as index lists, read back from the backend if it lives there (absent: {@link mask}). */
  exportMask?(): Promise<SparseMask | null>;
  /** Called once before optimizer step 1 (FISH-DIP and FISH compute their first mask here). */
  prepare(ctx: MethodContext<E, B>): Promise<void>;
  /**
   * Called at the start of optimizer step `step` (1-based, before its forward/backward pass).
   * Returns true when the mask was recomputed.
   */
  beforeStep(step: number, ctx: MethodContext<E, B>): Promise<boolean>;
  /** Masks the gradients in place (replacing and disposing the map's tensors). */
  maskGradients(grads: Map<string, tf.Tensor>): void;
  /**
   * The gradient entries the next step's {@link maskGradients} lets through, when nothing else
   * reads the gradients (absent or null: every entry is needed).
   */
  gradientNeeds?(): GradientNeeds | null;
  /**
   * Takes back the mask of a checkpoint instead of computing one in {@link prepare} (resuming a
   * killed run at the step it was saved). The method owns the mask afterwards.
   */
  restoreMask(mask: SparseMask | null): void;
  /** Frees the method's backend tensors. */
  dispose(): void;
}

/** The counts of a method's mask, without a read of a backend mask (null: every entry trains). */
export function maskStatsOf(method: SparseMethod<never, never>): MaskStats | null {
  return method.maskStats !== undefined ? method.maskStats : method.mask;
}

/** A method's mask as index lists (for checkpoints), read back from the backend if it lives there. */
export async function exportMaskOf(method: SparseMethod<never, never>): Promise<SparseMask | null> {
  return method.exportMask ? await method.exportMask() : method.mask;
}
