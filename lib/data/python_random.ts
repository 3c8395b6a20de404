/**
 * The parts of CPython's `random` module that decide which examples TANL and FISH-DIP train on,
 * reproduced bit for bit: `random.seed(int)`, `getrandbits`, `_randbelow`, `shuffle`, `sample`
 * and `random()`, plus Python's `round` (halves to even).
 *
 * The generator is MT19937 seeded with `init_by_array` over the 32-bit words of `abs(seed)`, least
 * significant first (CPython's `random_seed` in `_randommodule.c`). `shuffle` and `sample` use
 * `_randbelow_with_getrandbits`: draw `n.bit_length()` bits and reject values `>= n`. The same
 * sequences come out of every CPython from 3.6 to 3.13 (the fixture `sampling/
 * python_random_shuffle.json` pins them); FISH-DIP ran on 3.8.
 *
 * ```ts
 * const rng = new PythonRandom(1);
 * const idx = rng.shuffle([...Array(922).keys()]); // == Python's random.seed(1); random.shuffle(idx)
 * ```
 *
 * @module
 */

const N = 624;
const M = 397;

/** A `random.Random` instance: CPython's Mersenne Twister and the methods built on it. */
export class PythonRandom {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  /** Seeds like `random.Random(seed)`; integers only (a `number` must be a safe integer). */
  constructor(seed: number | bigint) {
    this.seed(seed);
  }

  /** `random.seed(a)` for an integer `a`: `init_by_array` of the 32-bit words of `abs(a)`. */
  seed(a: number | bigint): void {
    if (typeof a === "number" && !Number.isSafeInteger(a)) {
      throw new RangeError(`seed must be an integer (a safe integer when given as a number), got ${a}`);
    }
    let n = BigInt(a);
    if (n < 0n) n = -n;
    const key: number[] = [];
    while (n > 0n) {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1, j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // (mt[i] ^ (prev * 1664525)) + key[j] + j, modulo 2^32 (the sum stays below 2^34: exact).
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) >>> 0) + key[j] + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) >>> 0) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000; // MSB is 1, assuring a non-zero initial array
    this.index = N;
  }

  /** The next 32-bit output of MT19937 (`genrand_uint32`). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= N) {
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      const y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.random()`: a float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random.getrandbits(k)` for 0 <= k <= 32, as a number. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 32) {
      throw new RangeError(`getrandbits: k must be 0..32, got ${k}`);
    }
    if (k === 0) return 0;
    return this.nextUint32() >>> (32 - k);
  }

  /**
   * `random._randbelow(n)`: uniform in [0, n) by rejection on `n.bit_length()` random bits.
   * Limited to n <= 2^32 (one 32-bit word), far beyond any dataset size here.
   */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new RangeError(`randbelow: n must be 1..2^32, got ${n}`);
    }
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.randrange(n)` for one positive argument (`_randbelow(n)`). */
  randrange(n: number): number {
    return this.randbelow(n);
  }

  /** `random.shuffle(x)`, in place (Fisher-Yates from the end); returns `x`. */
  shuffle<T>(x: T[]): T[] {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }

  /**
   * `random.sample(population, k)`: k distinct items in selection order. CPython picks one of two
   * algorithms by comparing n with the size of a k-element set, and they consume random numbers
   * differently, so both are reproduced: a partial Fisher-Yates over a copy of the list when
   * `n <= setsize`, else rejection of repeated indices drawn from the whole population.
   */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError("Sample larger than population or is negative");
    }
    const result: T[] = new Array(k);
    let setsize = 21; // size of a small set minus size of an empty list
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4)); // table size for big sets
    if (n <= setsize) {
      const pool = population.slice();
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1]; // move the non-selected item into the vacancy
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }
}

/** `int.bit_length()` for a positive integer up to 2^53. */
function bitLength(n: number): number {
  let k = 0;
  while (n >= 1) {
    n = Math.floor(n / 2);
    k++;
  }
  return k;
}

/**
 * Python's `round(x)` (no digits) for a float: the nearest integer, halves to the even one. This is
 * exact for every double (`x - floor(x)` is exact), so `round(0.25 * 922)` = `round(230.5)` = 230,
 * where `Math.round` gives 231.
 */
export function pythonRound(x: number): number {
  if (!Number.isFinite(x)) throw new RangeError(`cannot round ${x} to an integer`);
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
