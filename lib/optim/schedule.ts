/**
 * The learning-rate schedule FISH-DIP trains with: Hugging Face's default `Trainer` scheduler.
 *
 * `fish_dip.py` passes `optimizers=(adafactor, None)`, so transformers v4.20's `Trainer` builds
 * `get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=T)` (its
 * default `lr_scheduler_type` is "linear" and `warmup_steps` 0). That is a `LambdaLR` whose factor
 * at `current_step` is
 *
 * ```text
 * current_step < W:  current_step / max(1, W)
 * otherwise:         max(0, (T - current_step) / max(1, T - W))
 * ```
 *
 * `current_step` is the number of optimizer steps already taken: the Trainer calls
 * `optimizer.step()` and then `lr_scheduler.step()`, so optimizer step t (counting from 1) runs with
 * factor (T - (t - 1)) / T: 1 on the first step, 1/T on the last, never 0 during training.
 *
 * ```ts
 * for (let t = 1; t <= T; t++) opt.step(grads, { lr: 1e-2 * linearScheduleFactor(t - 1, T) });
 * ```
 *
 * @module
 */

/**
 * Hugging Face's `get_linear_schedule_with_warmup` factor for `currentStep` optimizer steps
 * already taken (0 before the first step), `numTrainingSteps` in all, `numWarmupSteps` warm-up.
 */
export function linearScheduleFactor(
  currentStep: number,
  numTrainingSteps: number,
  numWarmupSteps = 0,
): number {
  if (currentStep < numWarmupSteps) return currentStep / Math.max(1, numWarmupSteps);
  return Math.max(0, (numTrainingSteps - currentStep) / Math.max(1, numTrainingSteps - numWarmupSteps));
}

/**
 * The learning rate for optimizer step `step` (1-based, as FISH-DIP's `total_steps` counter after
 * its increment): `baseLr × linearScheduleFactor(step - 1, totalSteps, warmupSteps)`.
 */
export function linearDecayLr(baseLr: number, step: number, totalSteps: number, warmupSteps = 0): number {
  if (!Number.isInteger(step) || step < 1) {
    throw new Error(`linearDecayLr: step must be an integer >= 1, got ${step}`);
  }
  return baseLr * linearScheduleFactor(step - 1, totalSteps, warmupSteps);
}

/**
 * Hugging Face `Trainer`'s number of optimizer steps for a run given by epochs (v4.20,
 * `max_steps` unset, no gradient accumulation): `ceil(numExamples / batchSize)` batches per epoch
 * (the dataloader keeps the last partial batch) times `ceil(numEpochs)`.
 */
export function totalTrainingSteps(numExamples: number, batchSize: number, numEpochs: number): number {
  if (numExamples <= 0 || batchSize <= 0) throw new Error("totalTrainingSteps: empty data or batch size");
  // v4.20: num_update_steps_per_epoch = max(len(dataloader) // grad_accum, 1);
  // max_steps = math.ceil(num_train_epochs * num_update_steps_per_epoch).
  return Math.ceil(numEpochs * Math.max(Math.ceil(numExamples / batchSize), 1));
}
