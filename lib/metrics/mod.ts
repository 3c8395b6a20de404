/**
 * Scores: TANL's micro/macro precision, recall and F1 for entities and relations (and SRL
 * arguments), MultiWOZ joint goal accuracy, FewRel N-way K-shot accuracy, and averages over seeds.
 *
 * @module
 */

export { precisionRecallF1, type PRF } from "./prf.ts";
export { npMean, npStd, npSum } from "./numpy_stats.ts";
export {
  entityRelationScores,
  evaluateDataset,
  type EvaluateOptions,
  jointGoalAccuracy,
  sumCounts,
} from "./evaluate_dataset.ts";
export { fewShotAccuracy, fewShotScores } from "./few_shot.ts";
export {
  type TypeScore,
  type TypeScores,
  typeScores,
  typeScoresFromCounts,
  typeScoresTable,
} from "./per_type.ts";
export { averageOverSeeds, type MeanStd, type SeedAverage } from "./seeds.ts";
