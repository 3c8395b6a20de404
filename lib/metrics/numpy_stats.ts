/**
 * numpy's `sum`, `mean` and `std` on float64 vectors, reproduced to the last bit.
 *
 * numpy adds with pairwise summation: below 8 values a plain loop, up to 128 values eight
 * interleaved partial sums combined as a tree, above that a recursive split. The reduction starts
 * from add's identity 0.0. Results averaged over seeds or entity types therefore match TANL's
 * printed numbers exactly, not just to rounding.
 *
 * @module
 */

const BLOCK = 128;

function pairwise(a: readonly number[], lo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i];
    return res;
  }
  if (n <= BLOCK) {
    const r = a.slice(lo, lo + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let k = 0; k < 8; k++) r[k] += a[lo + i + k];
    }
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[lo + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, lo, n2) + pairwise(a, lo + n2, n - n2);
}

/** `np.sum(np.array(xs))` for float64 values. */
export function npSum(xs: readonly number[]): number {
  return 0 + pairwise(xs, 0, xs.length);
}

/** `np.mean(np.array(xs))`; NaN for an empty array, as numpy (which also warns). */
export function npMean(xs: readonly number[]): number {
  return npSum(xs) / xs.length;
}

/** `np.std(np.array(xs))`: the population standard deviation (ddof 0). */
export function npStd(xs: readonly number[]): number {
  const mean = npMean(xs);
  const sq = xs.map((x) => {
    const d = x - mean;
    return d * d;
  });
  return Math.sqrt(npSum(sq) / xs.length);
}
