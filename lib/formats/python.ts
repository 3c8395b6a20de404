/**
 * Python string and ordering semantics that TANL's code relies on.
 *
 * TANL splits and strips with Python's `str.split()` / `str.strip()`, whose idea of whitespace is
 * not JavaScript's `\s` (Python adds U+001C–U+001F and U+0085; JavaScript adds U+FEFF), and it sorts
 * tuples with Python's lexicographic order, comparing strings by code point. Reproducing these
 * keeps parses identical on any text a model can emit.
 *
 * @module
 */

/** The characters for which Python's `str.isspace()` is true. */
const PY_WS =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${PY_WS}]+`);
const WS_EDGES = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, "g");

/**
 * Python's `s.split()` with no separator: split on runs of whitespace, drop empty pieces.
 *
 * ```ts
 * pySplit("  a \u0085 b ") // ["a", "b"]
 * ```
 */
export function pySplit(s: string): string[] {
  return s.split(WS_RUN).filter((t) => t.length > 0);
}

/** Python's `s.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(WS_EDGES, "");
}

/**
 * Python's slice `s[start:end]` on a string, with negative indices counted from the end and
 * out-of-range indices clamped (JavaScript's `slice` agrees except that it is given numbers only).
 */
export function pySlice(s: string, start: number, end: number): string {
  const n = s.length;
  const norm = (i: number) => (i < 0 ? Math.max(0, n + i) : Math.min(i, n));
  const a = norm(start), b = norm(end);
  return b > a ? s.slice(a, b) : "";
}

/** A value Python can order: numbers, strings, and (nested) tuples of them. */
export type PyOrderable = number | string | readonly PyOrderable[];

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  // Code-point order, as Python's; UTF-16 order differs only around astral characters.
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(), y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0)!, cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** Python's `<` on numbers, strings and tuples, as a comparator for `Array.prototype.sort`. */
export function pyCompare(a: PyOrderable, b: PyOrderable): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = pyCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  throw new TypeError(`cannot order ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
}

/**
 * A set of tuples with Python's value semantics (`{("person", 0, 3)}`), keyed by JSON.
 * Insertion order is kept, which is what `for x in list` over the inserted values would see.
 */
export class TupleSet<T extends PyOrderable> {
  #items = new Map<string, T>();

  constructor(items: Iterable<T> = []) {
    for (const x of items) this.add(x);
  }

  /** Adds `x`; returns false when an equal tuple was already present. */
  add(x: T): boolean {
    const k = JSON.stringify(x);
    if (this.#items.has(k)) return false;
    this.#items.set(k, x);
    return true;
  }

  has(x: T): boolean {
    return this.#items.has(JSON.stringify(x));
  }

  get size(): number {
    return this.#items.size;
  }

  /** The members, in Python's sorted order (what `sorted(s)` gives). */
  sorted(): T[] {
    return [...this.#items.values()].sort(pyCompare);
  }

  /** `self & other`. */
  intersect(other: TupleSet<T>): TupleSet<T> {
    return new TupleSet([...this.#items.values()].filter((x) => other.has(x)));
  }

  /** `{f(x) for x in self}`. */
  map<U extends PyOrderable>(f: (x: T) => U): TupleSet<U> {
    return new TupleSet([...this.#items.values()].map(f));
  }

  /** `{x for x in self if f(x)}`. */
  filter(f: (x: T) => boolean): TupleSet<T> {
    return new TupleSet([...this.#items.values()].filter(f));
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.#items.values();
  }
}
