/**
 * Low-resource training subsets exactly as TANL's `BaseDataset.__init__` draws them (and so
 * FISH-DIP, which runs it with the episode number as the seed):
 *
 * ```python
 * random.seed(seed)
 * indices = list(range(N)); random.shuffle(indices)
 * effective_size = round(train_subset * N)     # Python's round: halves to even
 * dataset[i] = examples[indices[i]] for i < effective_size
 * ```
 *
 * A "1%" subset is therefore a uniformly random 1% of the examples (sentences, SRL predicates,
 * dialogue turns), the same for the same seed, and the 1% subset is a prefix of the 5% and 10%
 * subsets of that seed. Evaluation splits are never subsampled.
 *
 * @module
 */
import { PythonRandom, pythonRound } from "./python_random.ts";

/** `indices` after `random.seed(seed); random.shuffle(indices)` with `indices = range(n)`. */
export function shuffledIndices(n: number, seed: number | bigint): number[] {
  const indices = Array.from({ length: n }, (_, i) => i);
  return new PythonRandom(seed).shuffle(indices);
}

/**
 * `round(fraction * n)` as Python computes it: on the float product, halves to even
 * (`subsetSize(0.25, 922)` = 230; `subsetSize(0.05, 14041)` = round(702.0500000000001) = 702).
 */
export function subsetSize(fraction: number, n: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be in [0, 1], got ${fraction}`);
  return pythonRound(fraction * n);
}

/**
 * The low-resource training subset TANL / FISH-DIP trains on: the first `round(fraction * N)`
 * examples in the order `random.seed(seed); random.shuffle(range(N))` gives. The order is kept
 * (it is the order TANL's dataset presents them in).
 *
 * ```ts
 * import { loadConll04 } from "./spert.ts";
 * const train = loadConll04("train");
 * const onePercent = lowResourceSubset(train, 0.01, 1); // 9 sentences, as FISH-DIP's episode 1
 * ```
 */
export function lowResourceSubset<T>(examples: readonly T[], fraction: number, seed: number | bigint): T[] {
  const size = subsetSize(fraction, examples.length);
  return shuffledIndices(examples.length, seed).slice(0, size).map((i) => examples[i]);
}
