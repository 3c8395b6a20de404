/**
 * One optimizer step of sparse fine-tuning, in the reference's order (FISH-DIP's
 * `SparseUpdateTrainer.training_step` inside Hugging Face's `Trainer` loop, v4.20):
 *
 * 1. the method's per-step hook (FISH-DIP refreshes its mask at steps m, 2m, ...);
 * 2. forward + backward on the batch (train mode);
 * 3. gradients multiplied by the mask;
 * 4. global gradient-norm clipping at `maxGradNorm` (1.0);
 * 5. Adafactor with lr = baseLr × linear decay factor (1 at step 1, 1/T at step T).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Adafactor } from "../optim/adafactor.ts";
import { clipGradNorm } from "../optim/clip.ts";
import { linearDecayLr } from "../optim/schedule.ts";
import type { MethodContext, SparseMethod } from "./types.ts";

/** Arguments of {@link sparseTrainStep}. */
export interface TrainStepArgs<E, B> {
  /** Optimizer step, 1-based. */
  step: number;
  /** Total optimizer steps of the run (for the linear schedule). */
  totalSteps: number;
  batch: B;
  ctx: MethodContext<E, B>;
  method: SparseMethod<E, B>;
  optimizer: Adafactor;
  /** Peak learning rate. Default: the optimizer's `lr` (FISH-DIP: 1e-2). */
  baseLr?: number;
  /** HF `max_grad_norm`; default 1.0; 0 or less disables clipping. */
  maxGradNorm?: number;
  /** Warm-up steps of the schedule; default 0 (HF default). */
  warmupSteps?: number;
  /**
   * Read the gradient norm back as a number. Default: true, except on webgpu, where every read
   * waits for the GPU queue and the loss is the one number a step must return; the norm then
   * stays a device value that clipping uses and the result's `gradNorm` is NaN.
   */
  readGradNorm?: boolean;
}

/** What one step did. */
export interface TrainStepResult {
  loss: number;
  /**
   * Global gradient norm after masking, before clipping. NaN when clipping is off or when the
   * norm was not read back (`readGradNorm`: by default on webgpu).
   */
  gradNorm: number;
  lr: number;
  /** Whether the method recomputed its mask before this step. */
  refreshed: boolean;
}

/**
 * Runs one step (see the module notes). Reads the loss back, and the gradient norm unless
 * `readGradNorm` is off (webgpu's default: one 4-byte download per step).
 */
export async function sparseTrainStep<E, B>(a: TrainStepArgs<E, B>): Promise<TrainStepResult> {
  const refreshed = await a.method.beforeStep(a.step, a.ctx);
  // The gradients the mask zeroes need not be computed (same masked gradients, less work).
  const needs = a.method.gradientNeeds?.() ?? undefined;
  const { loss, grads } = a.ctx.model.lossAndGrads(a.batch, { training: true }, needs);
  try {
    a.method.maskGradients(grads);
    const maxNorm = a.maxGradNorm ?? 1.0;
    const norm = maxNorm > 0 ? clipGradNorm(grads, maxNorm) : null;
    const base = a.baseLr ?? a.optimizer.config.lr;
    if (base === null) throw new Error("sparseTrainStep: no base learning rate");
    const lr = linearDecayLr(base, a.step, a.totalSteps, a.warmupSteps ?? 0);
    a.optimizer.step(grads, { lr });
    const lossV = (await loss.data())[0];
    const readNorm = a.readGradNorm ?? tf.getBackend() !== "webgpu";
    const gradNorm = norm && readNorm ? (await norm.data())[0] : NaN;
    norm?.dispose();
    return { loss: lossV, gradNorm, lr, refreshed };
  } finally {
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  }
}

/**
 * FISH-DIP's optional early stop (`SparseUpdateTrainer.training_step`): after each step's loss,
 * count consecutive steps with loss < 1e-6 (reset otherwise); at 20 the Trainer stops after that
 * step's optimizer update. In the reference the counter is a module global, never reset between
 * episodes; create one instance per run to reproduce that, or one per episode to avoid it.
 */
export class EarlyStop {
  /** Consecutive steps below the threshold so far. */
  count = 0;
  constructor(readonly threshold = 1e-6, readonly patience = 20) {}
  /** Records a step's loss; returns true when training should stop after this step. */
  update(loss: number): boolean {
    if (loss < this.threshold) this.count++;
    else this.count = 0;
    return this.count >= this.patience;
  }
}
