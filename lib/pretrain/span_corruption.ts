/**
 * Pretraining objectives on token ids: T5's span corruption (exactly the noise-span algorithm of
 * `t5.data.preprocessors.random_spans_noise_mask`) and a whole-sentence copy/denoise objective
 * (TANL's targets are mostly a copy of the input, so the backbone must learn to copy).
 *
 * All randomness comes from {@link Rng}, whose whole state is one 32-bit number, so a resumed
 * pretraining run continues the same stream.
 *
 * ```ts
 * import { Rng, spanCorrupt } from "./span_corruption.ts";
 * const rng = new Rng(1);
 * const ids = Array.from({ length: 40 }, (_, i) => 10 + i);
 * const { inputs, targets } = spanCorrupt(ids, rng, (i) => 32099 - i, 1);
 * ```
 *
 * @module
 */

/** A small seeded generator (mulberry32): fast, and its state is a single uint32 to checkpoint. */
export class Rng {
  /** The generator state; save it to resume the stream. */
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/**
 * T5's `_random_segmentation`: splits `numItems` into `numSegments` positive lengths, uniformly
 * over the ways to place the `numSegments - 1` cut points among the `numItems - 1` gaps.
 */
export function randomSegmentation(numItems: number, numSegments: number, rng: Rng): number[] {
  // first_in_segment = shuffle(arange(numItems - 1) < numSegments - 1), padded with a 0 in front.
  const first = rng.shuffle(Array.from({ length: numItems - 1 }, (_, i) => (i < numSegments - 1 ? 1 : 0)));
  const lengths = new Array<number>(numSegments).fill(0);
  let seg = 0;
  lengths[0] = 1;
  for (const f of first) {
    seg += f;
    lengths[seg]++;
  }
  return lengths;
}

/**
 * T5's `random_spans_noise_mask(length, noise_density, mean_noise_span_length)`: a boolean mask
 * with round(length·density) noise tokens in round(noise/mean) spans, the spans alternating with
 * non-noise spans and the sequence starting with a non-noise span (so it ends with noise).
 */
export function randomSpansNoiseMask(
  length: number,
  rng: Rng,
  noiseDensity = 0.15,
  meanNoiseSpanLength = 3.0,
): boolean[] {
  if (length < 2) return new Array<boolean>(length).fill(false);
  // T5 computes in float32 and rounds half to even (tf.round): float32(30) * float32(0.15) is
  // exactly 4.5 and rounds to 4 (Math.round would give 5).
  let numNoise = roundHalfEven(Math.fround(Math.fround(length) * Math.fround(noiseDensity)));
  numNoise = Math.min(Math.max(numNoise, 1), length - 1);
  const numSpans = Math.max(roundHalfEven(Math.fround(numNoise / Math.fround(meanNoiseSpanLength))), 1);
  const numNonNoise = length - numNoise;
  const noiseLengths = randomSegmentation(numNoise, numSpans, rng);
  const nonNoiseLengths = randomSegmentation(numNonNoise, numSpans, rng);
  const mask: boolean[] = [];
  for (let s = 0; s < numSpans; s++) {
    for (let i = 0; i < nonNoiseLengths[s]; i++) mask.push(false);
    for (let i = 0; i < noiseLengths[s]; i++) mask.push(true);
  }
  return mask;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * T5's `noise_span_to_unique_sentinel`: each run of masked tokens becomes one sentinel (the first
 * run `sentinel(0)`, the next `sentinel(1)`, ...); unmasked tokens are kept.
 */
export function spansToSentinels(
  ids: readonly number[],
  mask: readonly boolean[],
  sentinel: (i: number) => number,
): number[] {
  const out: number[] = [];
  let n = 0;
  for (let i = 0; i < ids.length; i++) {
    if (!mask[i]) out.push(ids[i]);
    else if (i === 0 || !mask[i - 1]) out.push(sentinel(n++));
  }
  return out;
}

/** An (input, target) pair of token ids, each ending with EOS. */
export interface Seq2SeqIds {
  inputs: number[];
  targets: number[];
}

/**
 * Span corruption on `ids` (no EOS yet): inputs keep the clean tokens with each noise span
 * replaced by a sentinel; targets are the noise spans, each behind its sentinel. Both get EOS.
 * `sentinel(i)` is the id of `<extra_id_i>` (T5: vocab size − 1 − i).
 */
export function spanCorrupt(
  ids: readonly number[],
  rng: Rng,
  sentinel: (i: number) => number,
  eosId: number,
  noiseDensity = 0.15,
  meanNoiseSpanLength = 3.0,
): Seq2SeqIds {
  const mask = randomSpansNoiseMask(ids.length, rng, noiseDensity, meanNoiseSpanLength);
  const inputs = spansToSentinels(ids, mask, sentinel);
  const targets = spansToSentinels(ids, mask.map((m) => !m), sentinel);
  inputs.push(eosId);
  targets.push(eosId);
  return { inputs, targets };
}

/** Options of {@link copyDenoise}. */
export interface CopyOptions {
  /** Chance that each input token is deleted (the target keeps it). Default 0. */
  dropRate?: number;
  /** Chance that each input token is swapped with its right neighbour. Default 0. */
  swapRate?: number;
}

/**
 * The copy objective: target = the clean token sequence, input = the same sequence, optionally
 * lightly corrupted (tokens deleted or swapped) so that the decoder learns to write the clean
 * sentence in order while reading it through cross-attention, as TANL's output does.
 */
export function copyDenoise(
  ids: readonly number[],
  rng: Rng,
  eosId: number,
  opts: CopyOptions = {},
): Seq2SeqIds {
  const drop = opts.dropRate ?? 0, swap = opts.swapRate ?? 0;
  const inp = ids.filter(() => drop === 0 || rng.next() >= drop);
  if (swap > 0) {
    for (let i = 0; i + 1 < inp.length; i++) {
      if (rng.next() < swap) {
        [inp[i], inp[i + 1]] = [inp[i + 1], inp[i]];
        i++;
      }
    }
  }
  return { inputs: [...(inp.length ? inp : ids), eosId], targets: [...ids, eosId] };
}

/** A padded batch: inputs padded with `padId` plus a 0/1 mask; labels padded with −100 (ignored). */
export interface PaddedBatch {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
  /** Label positions that count (for tokens/s and loss weighting). */
  targetTokens: number;
  /** Real (non-pad) input tokens. */
  inputTokens: number;
}

/** Pads a list of pairs into one batch (to the longest row on each side). */
export function padPairs(pairs: readonly Seq2SeqIds[], padId: number): PaddedBatch {
  const S = Math.max(...pairs.map((p) => p.inputs.length));
  const T = Math.max(...pairs.map((p) => p.targets.length));
  let targetTokens = 0, inputTokens = 0;
  const inputIds = pairs.map((p) => [...p.inputs, ...new Array<number>(S - p.inputs.length).fill(padId)]);
  const attentionMask = pairs.map((p) => {
    inputTokens += p.inputs.length;
    return [...new Array<number>(p.inputs.length).fill(1), ...new Array<number>(S - p.inputs.length).fill(0)];
  });
  const labels = pairs.map((p) => {
    targetTokens += p.targets.length;
    return [...p.targets, ...new Array<number>(T - p.targets.length).fill(-100)];
  });
  return { inputIds, attentionMask, labels, targetTokens, inputTokens };
}
