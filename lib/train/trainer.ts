/**
 * The training loop shared by every method: epochs of shuffled batches, one sparse step each
 * (method hook → forward/backward → mask → clip → Adafactor with linear decay), a progress line,
 * JSON-lines logs, periodic atomic checkpoints and exact resumption.
 *
 * Reproducibility: the order of examples in epoch e is a pure function of (seed, e) (Python's
 * `random` shuffle seeded with `seed·100003 + e`), and dropout is reseeded from (seed, step) at
 * every step, so the same seed, data and backend give identical numbers, and a resumed run
 * continues exactly where the killed one was. (Hugging Face's `Trainer` draws its order from
 * torch's generator, which cannot be reproduced here; the order is equally uniform.)
 *
 * Checkpoints: `runDir/checkpoint-<step>/` holds the weights (safetensors), the optimizer state,
 * the method's mask and the loop state with the files' checksums (training_checkpoint.ts); a kill
 * at any moment leaves a complete checkpoint, and a resume falls back from a corrupt newest one to
 * the one before.
 *
 * @module
 */
import { PythonRandom } from "../data/python_random.ts";
import type { MaskStats } from "../methods/mask.ts";
import { EarlyStop, sparseTrainStep } from "../methods/step.ts";
import {
  exportMaskOf,
  maskStatsOf,
  type MethodContext,
  type SparseMethod,
  type TrainableModel,
} from "../methods/types.ts";
import { Adafactor, type AdafactorConfig } from "../optim/adafactor.ts";
import { chunk } from "./features.ts";
import { type Progress, progressBar, silentProgress } from "./progress.ts";
import { removeStaleTemps, trimLog } from "./run_dir.ts";
import {
  loadNewestCheckpoint,
  type LoopState,
  saveTrainingCheckpoint,
  TrainingCheckpointError,
} from "./training_checkpoint.ts";

export { latestCheckpoint } from "./training_checkpoint.ts";

/** Settings of one training run; defaults are FISH-DIP's. */
export interface TrainConfig {
  /** Passes over the training set (the reference scripts use 100–1250). */
  epochs: number;
  /** Effective batch size (FISH-DIP: 8 per device × 4 GPUs = 32). */
  batchSize: number;
  /** Stop after this many optimizer steps (also the schedule's length). Default: epochs × batches. */
  maxSteps?: number;
  /** Seed of the data order and dropout. */
  seed: number;
  /** Peak learning rate of the linear decay (FISH-DIP: Adafactor at 1e-2). */
  lr?: number;
  /** Global gradient-norm clip (Hugging Face's `max_grad_norm`, 1.0). */
  maxGradNorm?: number;
  /** Other Adafactor settings (defaults: FISH-DIP's). */
  adafactor?: Partial<AdafactorConfig>;
  /** Folder for `log.jsonl` and checkpoints; none: nothing is written. */
  runDir?: string;
  /** Write a checkpoint every this many steps (and at the end). 0: only at the end. Default 0. */
  checkpointEvery?: number;
  /**
   * Also write one when this many seconds have passed since the last (or since the start), so that
   * a kill loses at most about this much training whatever a step costs. Default: none.
   */
  checkpointSeconds?: number;
  /** Continue from the newest checkpoint in `runDir`, if any. */
  resume?: boolean;
  /** Keep this many newest checkpoints (default 2: a resume falls back to the older if the newer is corrupt). */
  keepCheckpoints?: number;
  /**
   * FISH-DIP's early stop: training ends after `patience` consecutive steps with a loss below
   * `threshold` (reference: 20 steps below 1e-6); the schedule still spans the planned steps, as in
   * Hugging Face's Trainer. `false` trains every planned step. Default: the reference's.
   */
  earlyStop?: { threshold: number; patience: number } | false;
}

/** One line of `log.jsonl`. */
export type LogRecord =
  | {
    kind: "step";
    step: number;
    epoch: number;
    loss: number;
    lr: number;
    /** Absent when the step did not read the norm back (webgpu's default) or clipping is off. */
    gradNorm?: number;
    ms: number;
  }
  | {
    kind: "mask";
    step: number;
    kept: number;
    /** Selected entries per parameter (only non-zero counts). */
    perParam: Record<string, number>;
    ms: number;
  }
  | { kind: "resume"; step: number }
  | { kind: "early_stop"; step: number }
  | { kind: "end"; steps: number; trainSeconds: number; maskSeconds: number };

/** What a finished run reports. */
export interface TrainResult {
  steps: number;
  /**
   * Loss of every step of the run: a resumed run reports those before its checkpoint too, as the
   * checkpoint saved them (a checkpoint of an older version has none: then only this process's).
   */
  losses: { step: number; loss: number }[];
  /** Seconds spent in training steps, of which in mask computations (a resumed run: all processes'). */
  trainSeconds: number;
  maskSeconds: number;
  /** The checkpoint's step when this process resumed a run. */
  resumedFrom?: number;
  /** Every mask in force during the run: the step it took effect and its per-parameter counts. */
  masks: { step: number; perParam: Record<string, number> }[];
  /** The step at which the early stop ended training, if it did. */
  stoppedEarly?: number;
}

/** What the loop trains. */
export interface TrainArgs<E, B> {
  model: TrainableModel<B>;
  /** E is taken from `examples`: a method built for any example type (`createMethod`'s default) fits. */
  method: SparseMethod<NoInfer<E>, B>;
  examples: readonly E[];
  collate: (examples: readonly E[]) => B;
  config: TrainConfig;
  /** Progress display; default a progress bar on stderr. */
  progress?: Progress | false;
  /** Called after every step (for notebooks and custom logging). */
  onStep?: (r: { step: number; loss: number; lr: number; refreshed: boolean }) => void;
  /** Stops the loop after the step in progress (for tests of interruption). */
  signal?: AbortSignal;
  /**
   * Reseeds the model's dropout; called before every step with a seed derived from (seed, step),
   * so that a resumed run draws the same dropout masks as an uninterrupted one.
   */
  reseed?: (seed: number) => void;
  /** Where a resume reports a checkpoint it had to skip (default `console.warn`). */
  warn?: (message: string) => void;
}

/** The per-epoch example order: a shuffle seeded by (seed, epoch), as Python's `random` does it. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  new PythonRandom(seed * 100003 + epoch).shuffle(order);
  return order;
}

/** Total optimizer steps of a run. */
export function totalSteps(numExamples: number, cfg: TrainConfig): number {
  const perEpoch = Math.ceil(numExamples / cfg.batchSize);
  const all = perEpoch * cfg.epochs;
  return cfg.maxSteps !== undefined ? Math.min(cfg.maxSteps, all) : all;
}

/** Per-parameter counts of a mask (non-zero only), for logs and the mask-movement figure. */
export function maskCounts(mask: MaskStats | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!mask) return out;
  for (const [name, n] of mask.keptPerParam()) if (n > 0) out[name] = n;
  return out;
}

/**
 * Trains `model` on `examples` with `method` (see the module notes). Resumes from the newest
 * checkpoint of `config.runDir` when `config.resume` is set.
 */
export async function train<E, B>(args: TrainArgs<E, B>): Promise<TrainResult> {
  const { model, method, examples, config } = args;
  if (examples.length === 0) throw new Error("train: the training set is empty");
  const params = model.parameters();
  const optimizer = new Adafactor(params, { ...(config.adafactor ?? {}), lr: config.lr ?? 1e-2 });
  const total = totalSteps(examples.length, config);
  const ctx: MethodContext<E, B> = {
    model,
    data: { examples, collate: args.collate },
    trainBatchSize: config.batchSize,
    totalSteps: total,
  };
  const perEpoch = Math.ceil(examples.length / config.batchSize);
  const runDir = config.runDir;
  if (runDir) {
    await Deno.mkdir(runDir, { recursive: true });
    await removeStaleTemps(runDir); // a killed run's half-written checkpoint
  }

  let state: LoopState = { step: 0, seed: config.seed, total, masks: [] };
  let resumed = false;
  if (config.resume && runDir) {
    const loaded = await loadNewestCheckpoint(runDir, params, optimizer, args.warn ?? console.warn).catch(
      (e) => {
        optimizer.dispose();
        throw e;
      },
    );
    if (loaded) {
      const ckpt = loaded.path;
      if (loaded.state.seed !== config.seed || loaded.state.total !== total) {
        optimizer.dispose();
        throw new TrainingCheckpointError(
          `${ckpt}: saved with seed ${loaded.state.seed} and ${loaded.state.total} steps, ` +
            `but this run has seed ${config.seed} and ${total} steps; use another --run-dir`,
        );
      }
      method.restoreMask(loaded.mask);
      state = loaded.state;
      resumed = true;
      // The steps after the checkpoint are trained again below: their old lines would repeat.
      await trimLog(`${runDir}/log.jsonl`, state.step);
    }
  }
  const log = runDir ? await Deno.open(`${runDir}/log.jsonl`, { create: true, append: true }) : undefined;
  const enc = new TextEncoder();
  const write = async (r: LogRecord) => {
    if (log) await log.write(enc.encode(JSON.stringify(r) + "\n"));
  };
  if (resumed) await write({ kind: "resume", step: state.step });

  const progress = args.progress === false
    ? silentProgress
    : args.progress ?? progressBar(`train ${method.name}`, total, { unit: "steps" });
  if (resumed) progress.advance(state.step);
  const losses: TrainResult["losses"] = resumed ? [...(state.losses ?? [])] : [];
  let trainSeconds = resumed ? state.trainSeconds ?? 0 : 0,
    maskSeconds = resumed ? state.maskSeconds ?? 0 : 0;
  const resumedFrom = resumed ? state.step : undefined;
  let lastCheckpoint = performance.now();
  const checkpoint = async () => {
    // A run resumed from a checkpoint without losses (an older version's) cannot list them all.
    const complete = losses.length === state.step ? losses : undefined;
    Object.assign(state, { losses: complete, trainSeconds, maskSeconds });
    await saveTrainingCheckpoint(
      runDir!,
      params,
      optimizer,
      await exportMaskOf(method),
      state,
      config.keepCheckpoints ?? 2,
    );
    lastCheckpoint = performance.now();
  };
  const recordMask = async (step: number, ms: number) => {
    // Counts only: a mask on the backend is read back for checkpoints, not for logs.
    const stats = maskStatsOf(method);
    const perParam = maskCounts(stats);
    state.masks.push({ step, perParam });
    await write({ kind: "mask", step, kept: stats?.keptCount ?? 0, perParam, ms });
  };

  try {
    if (!resumed) {
      args.reseed?.(config.seed * 1_000_003);
      const t0 = performance.now();
      await method.prepare(ctx);
      const ms = performance.now() - t0;
      maskSeconds += ms / 1000;
      trainSeconds += ms / 1000;
      await recordMask(0, ms);
    }
    const every = config.checkpointEvery ?? 0;
    const earlyStop = config.earlyStop === false
      ? undefined
      : new EarlyStop(config.earlyStop?.threshold, config.earlyStop?.patience);
    if (earlyStop) earlyStop.count = state.belowThreshold ?? 0;
    while (state.step < total && state.stoppedEarly === undefined) {
      const epoch = Math.floor(state.step / perEpoch);
      const inEpoch = state.step % perEpoch;
      const batchIdx = chunk(epochOrder(examples.length, config.seed, epoch), config.batchSize)[inEpoch];
      const batch = args.collate(batchIdx.map((i) => examples[i]));
      const step = state.step + 1;
      args.reseed?.(config.seed * 1_000_003 + step);
      const t0 = performance.now();
      const r = await sparseTrainStep({
        step,
        totalSteps: total,
        batch,
        ctx,
        method,
        optimizer,
        baseLr: config.lr ?? 1e-2,
        maxGradNorm: config.maxGradNorm ?? 1.0,
      });
      const ms = performance.now() - t0;
      trainSeconds += ms / 1000;
      state.step = step;
      losses.push({ step, loss: r.loss });
      if (earlyStop?.update(r.loss)) state.stoppedEarly = step;
      state.belowThreshold = earlyStop?.count;
      if (r.refreshed) {
        const last = (method as { history?: { ms: number }[] }).history?.at(-1)?.ms ?? 0;
        maskSeconds += last / 1000;
        await recordMask(step, last);
      }
      const gradNorm = Number.isNaN(r.gradNorm) ? {} : { gradNorm: r.gradNorm };
      await write({ kind: "step", step, epoch, loss: r.loss, lr: r.lr, ...gradNorm, ms });
      progress.advance(1, `loss ${r.loss.toFixed(4)}`);
      args.onStep?.({ step, loss: r.loss, lr: r.lr, refreshed: r.refreshed });
      if (state.stoppedEarly !== undefined) await write({ kind: "early_stop", step });
      const due = (every > 0 && step % every === 0) ||
        (config.checkpointSeconds !== undefined &&
          performance.now() - lastCheckpoint >= 1000 * config.checkpointSeconds);
      if (runDir && due && step < total && state.stoppedEarly === undefined) await checkpoint();
      if (args.signal?.aborted) break;
    }
    if (runDir && (state.step === total || state.stoppedEarly !== undefined)) await checkpoint();
    progress.done();
    await write({ kind: "end", steps: state.step, trainSeconds, maskSeconds });
  } finally {
    optimizer.dispose();
    log?.close();
  }
  return {
    steps: state.step,
    losses,
    trainSeconds,
    maskSeconds,
    masks: state.masks,
    stoppedEarly: state.stoppedEarly,
    resumedFrom,
  };
}
