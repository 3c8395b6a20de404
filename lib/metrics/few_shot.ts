/**
 * N-way K-shot relation classification accuracy (FewRel episodes), as TANL's `FewRelEpisodic`.
 *
 * Each query has one gold and one predicted relation (the lowest-loss candidate, see
 * `rankRelationCandidates`), so the reported `relation_precision`, `relation_recall` and
 * `relation_f1` all equal the accuracy (F1 up to TANL's formula's rounding).
 *
 * @module
 */

import type { Example, LabelType } from "../data/types.ts";
import { precisionRecallF1 } from "./prf.ts";

/** Whether two relation types are equal as TANL's `RelationType` dataclasses compare. */
function sameType(a: LabelType, b: LabelType): boolean {
  return a.short === b.short && a.natural === b.natural;
}

/** Fraction of queries whose predicted relation is the gold one. */
export function fewShotAccuracy(predicted: readonly LabelType[], queries: readonly Example[]): number {
  return fewShotScores(predicted, queries).relation_precision;
}

/** TANL's episodic scores: `relation_precision`, `relation_recall`, `relation_f1`. */
export function fewShotScores(
  predicted: readonly LabelType[],
  queries: readonly Example[],
): { relation_precision: number; relation_recall: number; relation_f1: number } {
  if (predicted.length !== queries.length) {
    throw new Error(`${predicted.length} predictions for ${queries.length} queries`);
  }
  let correct = 0, gold = 0;
  queries.forEach((q, i) => {
    // TANL's gold set is {r.type for r in relations}: one type per FewRel query.
    const types = q.relations.map((r) => r.type).filter((t, k, all) =>
      all.findIndex((u) => sameType(u, t)) === k
    );
    gold += types.length;
    if (types.some((t) => sameType(t, predicted[i]))) correct++;
  });
  const s = precisionRecallF1(correct, predicted.length, gold);
  return { relation_precision: s.precision, relation_recall: s.recall, relation_f1: s.f1 };
}
