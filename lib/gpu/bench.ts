/**
 * Timing the FISH-DIP training step, a mask refresh and greedy decoding on one T5 shape, with a
 * time limit, on whatever backend is active (meant for webgpu on a real GPU).
 *
 * The step is `sparseTrainStep` (forward, loss, backward, mask, global-norm clip, Adafactor) with
 * a FISH-DIP mask at k = 1 %; the refresh is `FishDip.prepare` / `beforeStep` (scoring pass over
 * the training set, n per-sample gradients, global top-k). Weights and tokens are random and
 * seeded, as in `../shared/bench/torch_t5_step.py`, which times the same step in PyTorch.
 *
 * Parts run in order (refresh, steps, phases, second refresh, decoding); a part starts only when
 * the time left is likely to hold it, and what was skipped is listed in the result. One part
 * already running cannot be cut short, so a caller wanting a hard bound keeps a watchdog.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { FishDip } from "../methods/fishdip.ts";
import { sparseTrainStep } from "../methods/step.ts";
import { t5Trainable } from "../methods/t5_trainable.ts";
import type { MethodContext } from "../methods/types.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { clipGradNorm } from "../optim/clip.ts";
import { linearDecayLr } from "../optim/schedule.ts";
import { COMPARATOR_SHAPES, parseT5Config, t5ParameterCount } from "../t5/config.ts";
import { t5Generate } from "../t5/generate.ts";
import { createT5, type T5Inputs, t5Loss } from "../t5/model.ts";
import { countReadbacks, type ReadbackCounts } from "../backend/gpu_readbacks.ts";

/** A shape in the comparator's names (vocabulary 32128 unless given). */
export type GpuShape = Readonly<Record<"d_model" | "d_ff" | "d_kv" | "num_heads" | "num_layers", number>>;

/**
 * Named shapes: `tiny` is the fixtures' (for proving the check on a software adapter), the others
 * are the comparator's; t5-base and t5-large are the published T5 v1.0 shapes.
 */
export const GPU_SHAPES: Readonly<Record<string, GpuShape>> = {
  tiny: { d_model: 64, d_ff: 128, d_kv: 16, num_heads: 4, num_layers: 2 },
  ...(COMPARATOR_SHAPES as Record<string, GpuShape>),
  "t5-base": { d_model: 768, d_ff: 3072, d_kv: 64, num_heads: 12, num_layers: 12 },
  "t5-large": { d_model: 1024, d_ff: 4096, d_kv: 64, num_heads: 16, num_layers: 24 },
};

/** What to time on one shape. */
export interface ShapeBenchOptions {
  shape: string;
  batch: number;
  srcLen: number;
  tgtLen: number;
  /** Timed steps, after `warmup` untimed ones. */
  steps: number;
  warmup: number;
  /** Examples in the synthetic training set a refresh scores (FISH-DIP then takes n = 3 of them). */
  refreshExamples: number;
  /** Sources decoded at once, and the output length (counting the start token). */
  genBatch: number;
  genMaxLength: number;
  /** Seconds for the whole shape. */
  timeLimitS: number;
  /**
   * Activation bytes one gradient pass may keep before the batch is split into slices
   * (`t5AccumulatedGrads`); a GPU with tens of GiB should run the batch whole.
   */
  passBytes: number;
  vocab?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Seconds per phase of one instrumented step (each phase waits for the device before the next). */
export interface StepPhases {
  forward_loss: number;
  backward: number;
  mask: number;
  clip: number;
  adafactor: number;
}

/** Everything measured on one shape; absent fields were skipped (see `skipped`) or failed. */
export interface ShapeBenchResult {
  shape: string;
  dims: GpuShape;
  params: number;
  batch: number;
  srcLen: number;
  tgtLen: number;
  tokensPerStep: number;
  createS?: number;
  /** The first mask (shaders compile here, so it is slower than later refreshes). */
  refreshFirstS?: number;
  /** A later refresh in training mode, as FISH-DIP runs every m steps. */
  refreshS?: number;
  refreshExamples: number;
  fisherSamples?: number;
  refreshReadbacks?: ReadbackCounts;
  stepTimesS: number[];
  stepMedianS?: number;
  tokensPerS?: number;
  lossFirst?: number;
  lossLast?: number;
  stepReadbacks?: ReadbackCounts;
  phasesS?: StepPhases;
  generate?: { batch: number; maxLength: number; seconds: number; sentencesPerS: number };
  /** webgpu: the most GPU buffer bytes tfjs held (in use plus pooled) at the points sampled. */
  gpuAllocatedPeakBytes?: number;
  skipped: string[];
  error?: string;
  seconds: number;
}

/** Seeded ids in [2, vocab), as the comparator feeds (random tokens, fixed lengths). */
export function randomIds(rows: number, len: number, vocab: number, seed: number): number[][] {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return Array.from(
    { length: rows },
    () => Array.from({ length: len }, () => 2 + Math.floor(next() * (vocab - 2))),
  );
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Row {
  ids: number[];
  labels: number[];
}

function collate(rows: readonly Row[]): T5Inputs {
  return {
    inputIds: rows.map((r) => r.ids),
    attentionMask: rows.map((r) => r.ids.map(() => 1)),
    labels: rows.map((r) => r.labels),
  };
}

/** Waits for the device: a read of a tiny reduction flushes and drains the queue behind it. */
async function sync(t: tf.Tensor): Promise<void> {
  const s = tf.tidy(() => t.flatten().slice(0, 1).sum());
  await s.data();
  s.dispose();
}

/** Times one shape (see the module notes). Never throws: an error ends the shape and is recorded. */
export async function benchShape(o: ShapeBenchOptions): Promise<ShapeBenchResult> {
  const t0 = performance.now();
  const deadline = t0 + o.timeLimitS * 1000;
  const left = () => (deadline - performance.now()) / 1000;
  const log = o.log ?? (() => {});
  const dims = GPU_SHAPES[o.shape];
  if (!dims) throw new Error(`unknown shape "${o.shape}": one of ${Object.keys(GPU_SHAPES).join(", ")}`);
  const config = parseT5Config({ ...dims, vocab_size: o.vocab ?? 32128, dropout_rate: 0 });
  const r: ShapeBenchResult = {
    shape: o.shape,
    dims,
    params: t5ParameterCount(config),
    batch: o.batch,
    srcLen: o.srcLen,
    tgtLen: o.tgtLen,
    tokensPerStep: o.batch * (o.srcLen + o.tgtLen),
    refreshExamples: Math.max(o.refreshExamples, o.batch),
    stepTimesS: [],
    skipped: [],
    seconds: 0,
  };
  const label = `${o.shape} b${o.batch} ${o.srcLen}+${o.tgtLen}`;
  const sampleGpu = () => {
    const held = gpuBytesHeld();
    if (held) r.gpuAllocatedPeakBytes = Math.max(r.gpuAllocatedPeakBytes ?? 0, held.allocated);
  };
  let model: ReturnType<typeof createT5> | undefined;
  let method: FishDip<Row, T5Inputs> | undefined;
  let optimizer: Adafactor | undefined;
  try {
    let t = performance.now();
    model = createT5(config, { seed: 0 });
    await sync(model.params.values().next().value!);
    r.createS = (performance.now() - t) / 1000;
    log(`${label}: ${(r.params / 1e6).toFixed(1)} M parameters, created in ${r.createS.toFixed(1)} s`);
    const ids = randomIds(r.refreshExamples, o.srcLen, config.vocab_size, 2);
    const labels = randomIds(r.refreshExamples, o.tgtLen, config.vocab_size, 3);
    const examples: Row[] = ids.map((x, i) => ({ ids: x, labels: labels[i] }));
    const ctx: MethodContext<Row, T5Inputs> = {
      model: t5Trainable(model, { passBytes: o.passBytes }),
      data: { examples, collate },
      trainBatchSize: o.batch,
    };
    // nBatchSize 32 keeps the reference's n (3 for fewer than 320 examples) whatever the batch.
    method = new FishDip<Row, T5Inputs>({ nBatchSize: 32 });
    optimizer = new Adafactor(model.params);
    const batch = collate(examples.slice(0, o.batch));

    // The first mask: also compiles most shaders.
    let counter = countReadbacks();
    t = performance.now();
    try {
      await method.prepare(ctx);
    } finally {
      r.refreshReadbacks = counter.stop();
    }
    r.refreshFirstS = (performance.now() - t) / 1000;
    sampleGpu();
    r.fisherSamples = method.history[0]?.selected.length;
    log(
      `${label}: first mask (refresh) ${
        r.refreshFirstS.toFixed(2)
      } s, ${r.refreshReadbacks.downloads} downloads`,
    );

    // Steps: at least one timed step once a warm-up has run, more while the time allows.
    let step = 0;
    const losses: number[] = [];
    const runStep = async () => {
      step++;
      const ts = performance.now();
      const res = await sparseTrainStep({
        step,
        totalSteps: 1000,
        batch,
        ctx,
        method: method!,
        optimizer: optimizer!,
      });
      losses.push(res.loss);
      sampleGpu();
      return (performance.now() - ts) / 1000;
    };
    for (let i = 0; i < o.warmup + o.steps; i++) {
      const last = r.stepTimesS.at(-1) ?? 0;
      if (i > o.warmup && left() < 2 * last) {
        r.skipped.push(`steps ${i - o.warmup + 1}..${o.steps} (time limit)`);
        break;
      }
      if (i === o.warmup) {
        counter = countReadbacks();
        try {
          r.stepTimesS.push(await runStep());
        } finally {
          r.stepReadbacks = counter.stop();
        }
      } else {
        const dt = await runStep();
        if (i >= o.warmup) r.stepTimesS.push(dt);
        else log(`${label}: warm-up step ${dt.toFixed(3)} s`);
      }
    }
    if (r.stepTimesS.length) {
      r.stepMedianS = median(r.stepTimesS);
      r.tokensPerS = r.tokensPerStep / r.stepMedianS;
      r.lossFirst = losses[0];
      r.lossLast = losses.at(-1);
      log(
        `${label}: step median ${r.stepMedianS.toFixed(3)} s of ${r.stepTimesS.length}, ` +
          `${r.tokensPerS.toFixed(0)} tokens/s, loss ${losses[0].toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}`,
      );
    }

    // One step again with the device drained after each phase.
    if (r.stepMedianS !== undefined && left() > 2 * r.stepMedianS) {
      step++;
      r.phasesS = await instrumentedStep(model, ctx, method, optimizer, batch, step);
      log(
        `${label}: phases ` +
          Object.entries(r.phasesS).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ") + " s",
      );
    } else r.skipped.push("phases (time limit)");

    // A refresh in training mode, as every m-th step runs it.
    if (left() > 1.5 * r.refreshFirstS) {
      t = performance.now();
      await method.beforeStep(method.config.refreshEvery, ctx);
      r.refreshS = (performance.now() - t) / 1000;
      sampleGpu();
      log(`${label}: refresh ${r.refreshS.toFixed(2)} s`);
    } else r.skipped.push("second refresh (time limit)");

    // Greedy decoding: a warm-up of 3 positions, then one timed batch (random weights rarely
    // emit EOS, so every row runs to the full length).
    if (left() > 10) {
      const src = randomIds(o.genBatch, o.srcLen, config.vocab_size, 4);
      await t5Generate(model, src, { maxLength: 3 });
      if (left() > 5) {
        t = performance.now();
        await t5Generate(model, src, { maxLength: o.genMaxLength });
        const seconds = (performance.now() - t) / 1000;
        sampleGpu();
        r.generate = {
          batch: o.genBatch,
          maxLength: o.genMaxLength,
          seconds,
          sentencesPerS: o.genBatch / seconds,
        };
        log(`${label}: greedy decoding ${r.generate.sentencesPerS.toFixed(2)} sentences/s`);
      } else r.skipped.push("decoding (time limit)");
    } else r.skipped.push("decoding (time limit)");
  } catch (e) {
    r.error = e instanceof Error ? e.message : String(e);
    log(`${label}: failed: ${r.error}`);
  } finally {
    sampleGpu();
    method?.dispose();
    optimizer?.dispose();
    model?.dispose();
    r.seconds = (performance.now() - t0) / 1000;
  }
  return r;
}

/**
 * `sparseTrainStep`'s work, phase by phase, each followed by a device drain. The forward and loss
 * are timed on their own (a pass without gradients); backward is the gradient pass minus that.
 */
async function instrumentedStep(
  model: ReturnType<typeof createT5>,
  ctx: MethodContext<Row, T5Inputs>,
  method: FishDip<Row, T5Inputs>,
  optimizer: Adafactor,
  batch: T5Inputs,
  step: number,
): Promise<StepPhases> {
  let t = performance.now();
  const fwd = t5Loss(model, batch, { training: true });
  await fwd.data();
  fwd.dispose();
  const forward_loss = (performance.now() - t) / 1000;
  t = performance.now();
  const { loss, grads } = ctx.model.lossAndGrads(batch, { training: true });
  try {
    await loss.data();
    const both = (performance.now() - t) / 1000;
    // A small gradient stands in for all of them: the read drains the queue behind it.
    const probe = () => [...grads.values()].reduce((a, b) => (b.size < a.size ? b : a));
    t = performance.now();
    method.maskGradients(grads);
    await sync(probe());
    const mask = (performance.now() - t) / 1000;
    t = performance.now();
    const norm = clipGradNorm(grads, 1.0);
    await norm.data();
    norm.dispose();
    const clip = (performance.now() - t) / 1000;
    t = performance.now();
    optimizer.step(grads, { lr: linearDecayLr(optimizer.config.lr ?? 1e-2, step, 1000, 0) });
    await sync([...model.params.values()].reduce((a, b) => (b.size < a.size ? b : a)));
    const adafactor = (performance.now() - t) / 1000;
    return { forward_loss, backward: Math.max(0, both - forward_loss), mask, clip, adafactor };
  } finally {
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  }
}

interface PoolLike {
  freeBuffers?: Map<string, { destroy(): void; size: number }[]>;
  numFreeBuffers?: number;
  numBytesAllocated?: number;
  numBytesUsed?: number;
}

function bufferPool(): PoolLike | undefined {
  return (tf.backend() as unknown as { bufferManager?: PoolLike }).bufferManager;
}

/** webgpu: bytes of GPU buffers tfjs holds (in use plus pooled for reuse); undefined elsewhere. */
export function gpuBytesHeld(): { allocated: number; used: number } | undefined {
  const p = bufferPool();
  if (p?.numBytesAllocated === undefined) return undefined;
  return { allocated: p.numBytesAllocated, used: p.numBytesUsed ?? 0 };
}

/**
 * webgpu: destroys the buffers tfjs pools for reuse. Its pool keys buffers by exact size and never
 * shrinks, so after a large model it can hold tens of GiB that the next shape (or a PyTorch
 * process on the same GPU) needs. Returns the bytes freed.
 */
export function releaseGpuPool(): number {
  const p = bufferPool();
  if (!p?.freeBuffers) return 0;
  let freed = 0;
  for (const list of p.freeBuffers.values()) {
    // Empty each list but keep the keys: tfjs skips bookkeeping on release when the map is empty.
    for (const b of list.splice(0)) {
      freed += b.size;
      b.destroy();
    }
  }
  p.numFreeBuffers = 0;
  if (p.numBytesAllocated !== undefined) p.numBytesAllocated -= freed;
  return freed;
}
