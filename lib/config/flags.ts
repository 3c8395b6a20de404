/**
 * Numbers from the command line, checked against the range their meaning allows. `Number()` alone
 * takes `""` as 0 and `2` as a fraction, so `--fraction 2` trained on everything and `--k 0` on
 * nothing; here a value outside its range stops the command as a usage error that names the flag.
 *
 * ```ts
 * import { FRACTION, parseNumberFlag } from "./flags.ts";
 * parseNumberFlag("--fraction", "0.05", FRACTION); // 0.05
 * ```
 *
 * @module
 */
import { UsageError } from "./cli.ts";

/** What a numeric setting may be: whole or not, and its bounds. */
export interface NumberRange {
  /** A whole number only. */
  integer?: boolean;
  /** Lower bound, included unless `minExclusive`. */
  min?: number;
  minExclusive?: boolean;
  /** Upper bound, included. */
  max?: number;
}

/** A share of something: (0, 1]. */
export const FRACTION: NumberRange = Object.freeze({ min: 0, minExclusive: true, max: 1 });
/** A count of at least one (epochs, steps, examples, a batch). */
export const COUNT: NumberRange = Object.freeze({ integer: true, min: 1 });
/** A whole number of at least zero (a seed). */
export const NON_NEGATIVE_INTEGER: NumberRange = Object.freeze({ integer: true, min: 0 });
/** A number above zero (a scale). */
export const POSITIVE: NumberRange = Object.freeze({ min: 0, minExclusive: true });

/** The range in words: "a whole number of at least 1", "a number in (0, 1]". */
export function describeRange(r: NumberRange): string {
  const kind = r.integer ? "a whole number" : "a number";
  if (r.min !== undefined && r.max !== undefined) {
    return `${kind} in ${r.minExclusive ? "(" : "["}${r.min}, ${r.max}]`;
  }
  if (r.min !== undefined) return `${kind} ${r.minExclusive ? "above" : "of at least"} ${r.min}`;
  if (r.max !== undefined) return `${kind} of at most ${r.max}`;
  return kind;
}

/** Whether `x` is inside `r`. */
export function inRange(x: number, r: NumberRange): boolean {
  if (!Number.isFinite(x) || (r.integer && !Number.isInteger(x))) return false;
  if (r.min !== undefined && (r.minExclusive ? x <= r.min : x < r.min)) return false;
  return r.max === undefined || x <= r.max;
}

/** `value` of `flag` as a number inside `range`; a {@link UsageError} naming the flag otherwise. */
export function parseNumberFlag(flag: string, value: string | undefined, range: NumberRange = {}): number {
  const x = value === undefined || value.trim() === "" ? NaN : Number(value);
  if (!inRange(x, range)) {
    throw new UsageError(`${flag} must be ${describeRange(range)}, got ${JSON.stringify(value ?? "")}`);
  }
  return x;
}
