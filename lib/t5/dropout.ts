/**
 * Dropout that draws exactly tfjs's masks, faster.
 *
 * `tf.dropout(x, rate, undefined, seed)` builds its multiplier from `tf.randomUniform`, which
 * calls seedrandom's Alea generator through two closures per element and then runs three more
 * elementwise kernels (add the keep probability, floor, divide by it). On wasm that costs about
 * 16 ns an element, and a T5 pass in training mode draws a mask for every attention matrix and
 * every hidden state: on t5-mini (batch 8, 128 + 64 tokens) about 18M elements, about a quarter
 * of a training step and more than a third of a forward pass in training mode (FISH-DIP's scoring
 * pass at a refresh), measured on a shared machine.
 *
 * {@link dropoutMultiplier} seeds the same generator (seedrandom's Alea, from the same seed
 * string), steps its recurrence in one tight loop and applies the same float32 arithmetic, so
 * every multiplier is bit for bit the one `tf.dropout` uses (tested against it), and so is the
 * product: results of a run do not change, only its speed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import seedrandom from "seedrandom";

/** Alea's state: three fractions in [0, 1) and a carry. */
interface AleaState {
  c: number;
  s0: number;
  s1: number;
  s2: number;
}

/** 2^-32: Alea's carry scale. */
const CARRY_SCALE = 2.3283064365386963e-10;
/** Alea's multiplier. */
const MULTIPLIER = 2091639;

/**
 * Alea's state after seeding with `seed` as tfjs seeds it (`seed.toString()`, as
 * `UniformRandom` does).
 */
function seededState(seed: number): AleaState {
  return seedrandom.alea(seed.toString(), { state: true }).state() as AleaState;
}

/** 2^32: Alea's draws are whole multiples of 1 / 2^32. */
const TWO_32 = 4294967296;

/**
 * The smallest draw that `tf.dropout` keeps, as a multiple of 2^-32: the keep test on a draw u,
 * fround(fround(u) + keep) >= 1, only grows with u, and Alea's draws are whole multiples of
 * 2^-32, so comparing a draw with the smallest such multiple that passes is the same test.
 * Exported for tests.
 */
export function keepThreshold(keep: number): number {
  const keeps = (k: number) => Math.fround(Math.fround(k / TWO_32) + keep) >= 1;
  let lo = 0, hi = TWO_32; // keeps(hi): the draw 1 always keeps; keeps(0) never (keep < 1)
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (keeps(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo / TWO_32;
}

/**
 * The multiplier `tf.dropout(x, rate, undefined, seed)` applies to x, as float32 values: for
 * the i-th draw u (a float32, as `randomUniform` stores it), floor(u + keep) / keep in float32,
 * with keep = 1 − rate rounded to float32: 1 / keep where the draw keeps the element, else 0.
 */
export function dropoutMultiplierValues(size: number, rate: number, seed: number): Float32Array {
  if (!(rate > 0 && rate < 1)) throw new Error(`dropout rate must be in (0, 1), got ${rate}`);
  const keep = Math.fround(1 - rate);
  const scale = Math.fround(1 / keep);
  const threshold = keepThreshold(keep);
  const out = new Float32Array(size);
  let { c, s0, s1, s2 } = seededState(seed);
  for (let i = 0; i < size; i++) {
    const t = MULTIPLIER * s0 + c * CARRY_SCALE;
    s0 = s1;
    s1 = s2;
    // Alea's `t | 0`: t lies in [0, 2^21], where floor is the same and compiles faster.
    c = Math.floor(t);
    s2 = t - c;
    out[i] = s2 >= threshold ? scale : 0;
  }
  return out;
}

/** {@link dropoutMultiplierValues} as a tensor of `shape`. */
export function dropoutMultiplier(shape: readonly number[], rate: number, seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(dropoutMultiplierValues(size, rate, seed), [...shape], "float32");
}

/**
 * `tf.dropout(x, rate, undefined, seed)`, the same values and gradient (x times a constant
 * multiplier), with the multiplier drawn by {@link dropoutMultiplier}. Rate 0 returns a clone, as
 * `tf.dropout` does.
 */
export function seededDropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  if (rate === 0) return x.clone();
  return tf.tidy(() => tf.mul(x, dropoutMultiplier(x.shape, rate, seed))) as T;
}
