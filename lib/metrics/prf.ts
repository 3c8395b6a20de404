/**
 * Precision, recall and F1 exactly as TANL's `get_precision_recall_f1` computes them.
 *
 * @module
 */

/** Precision, recall and F1 of one count triple. */
export interface PRF {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * TANL's formula: zero when nothing is predicted / gold / correct, and F1 written as
 * `2 / (1/p + 1/r)` (kept literally, since it can round differently from `2pr / (p + r)`).
 *
 * ```ts
 * precisionRecallF1(2, 2, 3) // { precision: 1, recall: 0.666…, f1: 0.8 }
 * ```
 */
export function precisionRecallF1(correct: number, predicted: number, gold: number): PRF {
  if (!(0 <= correct && correct <= predicted && correct <= gold)) {
    throw new Error(`inconsistent counts: correct ${correct}, predicted ${predicted}, gold ${gold}`);
  }
  const precision = predicted > 0 ? correct / predicted : 0;
  const recall = gold > 0 ? correct / gold : 0;
  const f1 = correct > 0 ? 2 / (1 / precision + 1 / recall) : 0;
  return { precision, recall, f1 };
}
