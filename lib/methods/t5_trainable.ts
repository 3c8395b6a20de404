/**
 * Plugs the T5 model (`lib/t5/model.ts`) into the method interface: a batch is a `T5Inputs`
 * (ids, masks, labels), the per-example loss is `t5PerExampleLoss` (mean over each row's label
 * positions, pads counted unless `ignorePadLabels`), and gradients come from `t5AccumulatedGrads`
 * (one pass, or slices of the batch whose gradients are summed when it would not fit) over every
 * parameter (tied duplicates appear once, as in Hugging Face's `named_parameters()`), or, for a
 * masked step, over the parameters and output-projection rows its mask keeps (`GradientNeeds`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  t5AccumulatedGrads,
  type T5Inputs,
  type T5Model,
  t5PerExampleLoss,
  t5ValueAndGrads,
} from "../t5/model.ts";
import type { GradientNeeds, ModeOptions, TrainableModel } from "./types.ts";
import type { ScoringHints } from "./scoring.ts";

/** Options of {@link t5Trainable}. */
export interface T5TrainableOptions {
  /** Ignore pad-id labels in losses. Default false: TANL/FISH-DIP count them. */
  ignorePadLabels?: boolean;
  /**
   * Activation memory a gradient pass may keep; larger batches are split into slices whose
   * gradients are summed (`t5AccumulatedGrads`). Default `DEFAULT_PASS_BYTES` (2 GiB).
   */
  passBytes?: number;
}

/**
 * A {@link TrainableModel} view of a T5 model. It tells the scoring pass (`scoring.ts`) that a
 * pass is deterministic in evaluation mode, or in training mode when the dropout rate is 0.
 */
export function t5Trainable(
  model: T5Model,
  opts: T5TrainableOptions = {},
): TrainableModel<T5Inputs> & ScoringHints {
  const ignorePadLabels = opts.ignorePadLabels ?? false, passBytes = opts.passBytes;
  return {
    parameters: (): Map<string, tf.Variable> => model.params,
    perExampleLoss: (batch: T5Inputs, m: ModeOptions) =>
      t5PerExampleLoss(model, batch, { training: m.training, ignorePadLabels }),
    lossAndGrads: (batch: T5Inputs, m: ModeOptions, needs?: GradientNeeds) => {
      const opts = { training: m.training, ignorePadLabels, passBytes };
      // (A mask that keeps nothing at all leaves no source for tfjs's gradients: compute them all.)
      if (!needs || needs.params.size === 0) return t5AccumulatedGrads(model, batch, opts);
      // Only the needed parameters are sources of the backward pass (tfjs then skips the others'
      // weight gradients), and the output projection computes only the needed rows of its own.
      const names = [...model.params.keys()].filter((n) => needs.params.has(n));
      const head = model.lmHeadWeightName();
      const headGradRows = needs.params.has(head) ? needs.rows.get(head) : new Int32Array(0);
      const out = t5AccumulatedGrads(
        model,
        batch,
        { ...opts, headGradRows },
        (f) => t5ValueAndGrads(model, f, names),
      );
      // Every parameter, in the model's order, zeros where nothing was needed.
      const grads = new Map<string, tf.Tensor>();
      for (const [n, v] of model.params) grads.set(n, out.grads.get(n) ?? tf.zerosLike(v));
      return { loss: out.loss, grads };
    },
    deterministic: (m: ModeOptions) => !m.training || model.config.dropout_rate === 0,
  };
}
