/**
 * FISH-DIP's scoring pass: the loss of every training example, without gradients. Two layouts:
 *
 * - **reference**: the examples in their order, `batchSize` at a time, each batch padded as the
 *   training set's `collate` pads it (the reference's `calculate_gradients`);
 * - **bucketed**: the same padded rows, regrouped. Each example keeps the exact row its reference
 *   batch gives it (its labels padded to that batch's longest target when pads count in the loss,
 *   so its loss is the one the reference pass computes), the rows are sorted by target, then
 *   source length and cut into batches of similar length up to a token budget, and the losses
 *   are put back in the examples' order. Inside a new batch a shorter row's source is padded
 *   with masked positions and its labels with −100 (ignored, and the decoder is causal), so its
 *   loss only changes by float rounding (summation order over padding that contributes zeros).
 *
 * A pass with dropout (FISH-DIP's refreshes run in training mode) draws its masks per batch
 * shape, so regrouping would give every example different noise and the top-n a different
 * choice; such passes, and batches that are not T5 arrays, keep the reference layout. Whether a
 * pass draws dropout the model tells through {@link ScoringHints}; a model that does not say is
 * taken to draw it in training mode.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { ModeOptions, TrainableModel, TrainingSet } from "./types.ts";

/** What a model may tell the scoring pass. */
export interface ScoringHints {
  /** True when a forward pass in this mode is deterministic (no dropout drawn). */
  deterministic?(opts: ModeOptions): boolean;
}

/** Options of {@link scorePerExample}. */
export interface ScoringOptions extends ModeOptions {
  /** The reference layout's batch size (FISH-DIP: 2 × the training batch). */
  batchSize: number;
  /**
   * `auto` (default): bucketed when the pass is deterministic and the batches are T5 arrays,
   * else the reference layout. `reference` always; `bucketed` also for passes with dropout (their
   * draws then differ from the reference layout's).
   */
  layout?: "auto" | "reference" | "bucketed";
  /** Most padded source + target positions in one bucketed batch. Default {@link SCORE_TOKEN_BUDGET}. */
  tokenBudget?: number;
  /** Most rows in one bucketed batch. Default {@link SCORE_MAX_ROWS}. */
  maxRows?: number;
}

/**
 * Padded positions (source + target, summed over rows) per bucketed batch. On t5-mini (wasm+blas,
 * one thread) throughput rises up to about this size and is flat beyond; a forward pass of this
 * many positions keeps well under 100 MB of activations.
 */
export const SCORE_TOKEN_BUDGET = 2048;
/** Most rows per bucketed batch (the cross-entropy's row chunks stay small). */
export const SCORE_MAX_ROWS = 64;

/** A batch as the T5 model takes it, with plain arrays (what `collate` builds). */
interface ArrayBatch {
  inputIds: number[][];
  attentionMask?: number[][];
  labels: number[][];
}

function isArrayBatch(b: unknown): b is ArrayBatch {
  if (typeof b !== "object" || b === null) return false;
  const x = b as Record<string, unknown>;
  const rows = (v: unknown) => Array.isArray(v) && v.every((r) => Array.isArray(r));
  return rows(x.inputIds) && rows(x.labels) && (x.attentionMask === undefined || rows(x.attentionMask)) &&
    x.decoderInputIds === undefined && x.decoderAttentionMask === undefined;
}

/** Per-example losses in the reference layout: in order, `batchSize` at a time. */
export async function scoreInOrder<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  batchSize: number,
  opts: ModeOptions,
): Promise<Float32Array> {
  const n = data.examples.length;
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const chunk = data.examples.slice(start, start + batchSize);
    await lossesInto(model, data.collate(chunk), chunk.length, opts, out, (j) => start + j);
  }
  return out;
}

/** Runs one batch and writes its losses to `out[at(row)]`. */
async function lossesInto<B>(
  model: TrainableModel<B>,
  batch: B,
  rows: number,
  opts: ModeOptions,
  out: Float32Array,
  at: (row: number) => number,
): Promise<void> {
  const l: tf.Tensor1D = model.perExampleLoss(batch, opts);
  try {
    if (l.shape[0] !== rows) {
      throw new Error(`perExampleLoss returned ${l.shape[0]} losses for ${rows} examples`);
    }
    const values = await l.data();
    for (let j = 0; j < rows; j++) out[at(j)] = values[j];
  } finally {
    l.dispose();
  }
}

/** One example's row as its reference batch pads it, with trailing masked source positions cut. */
interface Row {
  index: number;
  ids: number[];
  mask: number[];
  labels: number[];
}

/**
 * Every example's row as the reference layout pads it, or undefined when a batch is not T5
 * arrays. Only trailing masked source positions are dropped: attended pads (a batch without a
 * mask attends to every position) stay.
 */
function referenceRows<E, B>(data: TrainingSet<E, B>, batchSize: number): Row[] | undefined {
  const rows: Row[] = [];
  for (let start = 0; start < data.examples.length; start += batchSize) {
    const b: unknown = data.collate(data.examples.slice(start, start + batchSize));
    if (!isArrayBatch(b)) return undefined;
    b.inputIds.forEach((ids, j) => {
      const mask = b.attentionMask?.[j] ?? ids.map(() => 1);
      let len = ids.length;
      while (len > 0 && mask[len - 1] === 0) len--;
      rows.push({ index: start + j, ids: ids.slice(0, len), mask: mask.slice(0, len), labels: b.labels[j] });
    });
  }
  return rows;
}

/**
 * Groups rows sorted by length into batches whose padded size (rows × (longest source + longest
 * target)) stays within `budget` positions and `maxRows` rows; a row alone may exceed the budget.
 */
export function lengthBuckets<R extends { ids: unknown[]; labels: unknown[] }>(
  rows: readonly R[],
  budget: number,
  maxRows: number,
): R[][] {
  // Target length first: the output projection over the vocabulary, paid per target position
  // (ignored ones included), is most of a pass's work.
  const sorted = [...rows].sort((a, b) => a.labels.length - b.labels.length || a.ids.length - b.ids.length);
  const out: R[][] = [];
  let cur: R[] = [], src = 0, tgt = 0;
  for (const r of sorted) {
    const s = Math.max(src, r.ids.length), t = Math.max(tgt, r.labels.length);
    if (cur.length > 0 && (cur.length >= maxRows || (cur.length + 1) * (s + t) > budget)) {
      out.push(cur);
      cur = [], src = 0, tgt = 0;
    }
    cur.push(r);
    src = Math.max(src, r.ids.length), tgt = Math.max(tgt, r.labels.length);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** A batch of rows: sources padded with masked pad ids, labels with −100 (ignored). */
function bucketBatch(rows: readonly Row[], padId = 0): ArrayBatch {
  const S = Math.max(1, ...rows.map((r) => r.ids.length)), T = Math.max(...rows.map((r) => r.labels.length));
  const fill = <X>(r: X[], n: number, v: X) => r.length === n ? r : r.concat(new Array(n - r.length).fill(v));
  return {
    inputIds: rows.map((r) => fill(r.ids, S, padId)),
    attentionMask: rows.map((r) => fill(r.mask, S, 0)),
    labels: rows.map((r) => fill(r.labels, T, -100)),
  };
}

/** Per-example losses of the whole training set, in order, without gradients (see the module notes). */
export async function scorePerExample<E, B>(
  model: TrainableModel<B> & ScoringHints,
  data: TrainingSet<E, B>,
  opts: ScoringOptions,
): Promise<Float32Array> {
  const layout = opts.layout ?? "auto";
  const mode = { training: opts.training };
  const deterministic = model.deterministic?.(mode) ?? !opts.training;
  if (layout === "reference" || (layout === "auto" && !deterministic)) {
    return scoreInOrder(model, data, opts.batchSize, mode);
  }
  const rows = referenceRows(data, opts.batchSize);
  if (!rows) return scoreInOrder(model, data, opts.batchSize, mode);
  const out = new Float32Array(data.examples.length);
  const buckets = lengthBuckets(rows, opts.tokenBudget ?? SCORE_TOKEN_BUDGET, opts.maxRows ?? SCORE_MAX_ROWS);
  for (const bucket of buckets) {
    await lossesInto(model, bucketBatch(bucket) as B, bucket.length, mode, out, (j) => bucket[j].index);
  }
  return out;
}
