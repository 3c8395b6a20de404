/**
 * Small comparison helpers shared by the optimizer and method tests (not part of the public API).
 *
 * @module
 */
import { readSafetensors, type TensorEntry } from "../lib/checkpoint/safetensors.ts";

/** Largest |a_i - b_i|, and the largest |b_i| (the reference's scale). */
export function maxDiff(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { abs: number; scale: number; rel: number } {
  if (a.length !== b.length) throw new Error(`maxDiff: lengths ${a.length} and ${b.length} differ`);
  let abs = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= abs)) abs = d; // NaN propagates
    const m = Math.abs(b[i]);
    if (m > scale) scale = m;
  }
  return { abs, scale, rel: scale > 0 ? abs / scale : abs };
}

/** Sum, sum of squares, sum of |x| and max |x| in float64: the fixtures' `@stats` layout. */
export { stats } from "./t5_fixtures.ts";

/** Reads a safetensors file into a map of entries (thin wrapper for tests). */
export async function readTensors(path: string): Promise<Map<string, TensorEntry>> {
  return (await readSafetensors(path)).tensors;
}
