/**
 * Averaging results over episodes (seeds), as TANL's `get_avg_results`: numpy mean and
 * population standard deviation of every key of the first episode's results.
 *
 * @module
 */

import { npMean, npStd } from "./numpy_stats.ts";

/** Mean and population standard deviation (numpy's `std`, ddof 0). */
export interface MeanStd {
  mean: number;
  std: number;
}

/** What {@link averageOverSeeds} returns. */
export interface SeedAverage {
  numEpisodes: number;
  scores: Record<string, MeanStd>;
}

/**
 * Averages per-episode score dictionaries. Keys are those of the first episode; a key missing
 * from another episode is skipped, as TANL's `try/except` skips it.
 *
 * ```ts
 * averageOverSeeds([{ entity_f1: 0.5 }, { entity_f1: 0.7 }]).scores.entity_f1 // { mean: 0.6, std: 0.1 }
 * ```
 */
export function averageOverSeeds(results: readonly Record<string, number>[]): SeedAverage {
  const scores: Record<string, MeanStd> = {};
  if (results.length === 0) return { numEpisodes: 0, scores };
  for (const key of Object.keys(results[0])) {
    if (!results.every((r) => typeof r[key] === "number")) continue;
    const xs = results.map((r) => r[key]);
    scores[key] = { mean: npMean(xs), std: npStd(xs) };
  }
  return { numEpisodes: results.length, scores };
}
