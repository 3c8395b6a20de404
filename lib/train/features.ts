/**
 * From examples to token ids: TANL's `compute_features`, and batches for T5.
 *
 * TANL tokenises every input and target with `max_length` truncation (EOS kept last) and pads
 * both to the maximum length with the pad id 0. Because labels are padded with 0 rather than
 * −100, the pad positions count in the loss: the padded length is part of the objective. We keep
 * that behaviour (`padLabelsTo: "max"`), and offer `"longest"` (pad to the batch's longest row)
 * for CPU runs where 256 positions of padding would dominate the cost; the choice is recorded in
 * every run's config.
 *
 * @module
 */
import type { DatasetSchema, Example } from "../data/types.ts";
import { formatFor } from "../formats/mod.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";

/** One example as token ids. */
export interface Feature {
  /** The example's id (`train-27`). */
  id: string;
  /** Index of the example in the list it came from. */
  index: number;
  inputIds: number[];
  labelIds: number[];
}

/** Lengths used when tokenising; the defaults are FISH-DIP's `max_seq_length` 256. */
export interface FeatureOptions {
  maxInputLength?: number;
  maxOutputLength?: number;
}

/** The strings the model reads and writes for each example (TANL's input and target). */
export function formatExamples(
  examples: readonly Example[],
  schema: DatasetSchema,
): { inputs: string[]; targets: string[] } {
  const f = formatFor(schema.task);
  return {
    inputs: examples.map((e) => f.formatInput(e, schema)),
    targets: examples.map((e) => f.formatOutput(e, schema)),
  };
}

/**
 * Encodes with truncation to `maxLength` (EOS kept last). For dialogue state tracking the history
 * grows at the front of the dialogue, so TANL's `truncate_first_n_tokens` keeps the *last* pieces:
 * `fromLeft` drops pieces from the start instead of the end.
 */
export function encodeTruncated(
  tokenizer: T5Tokenizer,
  text: string,
  maxLength: number,
  fromLeft: boolean,
): number[] {
  if (!fromLeft) return tokenizer.encode(text, { maxLength });
  const ids = tokenizer.encode(text);
  return ids.length <= maxLength ? ids : ids.slice(ids.length - maxLength); // ends with EOS still
}

/** Tokenises examples into features, truncating to the maximum lengths (EOS kept last). */
export function buildFeatures(
  examples: readonly Example[],
  schema: DatasetSchema,
  tokenizer: T5Tokenizer,
  opts: FeatureOptions = {},
): Feature[] {
  const maxIn = opts.maxInputLength ?? 256, maxOut = opts.maxOutputLength ?? 256;
  const { inputs, targets } = formatExamples(examples, schema);
  return examples.map((e, i) => ({
    id: e.id,
    index: i,
    inputIds: encodeTruncated(tokenizer, inputs[i], maxIn, schema.task === "dst"),
    labelIds: encodeTruncated(tokenizer, targets[i], maxOut, schema.task === "dst"),
  }));
}

/** How a batch is padded. */
export interface CollateOptions {
  /** Pad labels to this length (TANL: the maximum output length) or to the batch's longest. */
  padLabelsTo?: number | "longest";
  /** Pad inputs to this length or to the batch's longest (masked either way). */
  padInputsTo?: number | "longest";
  padId?: number;
}

/** A batch ready for the T5 loss: plain arrays, labels padded with the pad id. */
export interface Batch {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
  /** Indices of the features in this batch. */
  indices: number[];
}

function padTo(rows: number[][], to: number | "longest", padId: number): number[][] {
  const longest = Math.max(1, ...rows.map((r) => r.length));
  const L = to === "longest" ? longest : Math.max(to, longest);
  return rows.map((r) => r.concat(new Array(L - r.length).fill(padId)));
}

/** Pads a list of features into one batch. */
export function collate(features: readonly Feature[], opts: CollateOptions = {}): Batch {
  const padId = opts.padId ?? 0;
  const inputIds = padTo(features.map((f) => f.inputIds), opts.padInputsTo ?? "longest", padId);
  return {
    inputIds,
    attentionMask: inputIds.map((r, i) => r.map((_, j) => (j < features[i].inputIds.length ? 1 : 0))),
    labels: padTo(features.map((f) => f.labelIds), opts.padLabelsTo ?? "longest", padId),
    indices: features.map((f) => f.index),
  };
}

/** Splits `order` into consecutive batches of `batchSize` (the last one may be smaller). */
export function chunk<T>(order: readonly T[], batchSize: number): T[][] {
  if (!(batchSize >= 1)) throw new Error(`batch size must be at least 1, got ${batchSize}`);
  const out: T[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}
