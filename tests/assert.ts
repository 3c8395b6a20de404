/**
 * A small stand-in for `jsr:@std/assert`, which cannot be fetched on machines without JSR access.
 *
 * `deno.json` maps the `@std/assert` specifier to this file, so tests are written against the
 * standard library's names and semantics. A user with JSR access can point the mapping at
 * `jsr:@std/assert@1` and every test keeps working unchanged.
 *
 * Only the functions the project uses are provided; each mirrors the behaviour of its namesake in
 * `@std/assert` 1.x (including the error class and the message format's essentials).
 *
 * @module
 */

/** Error thrown by every assertion in this module (same name as `@std/assert`'s). */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function format(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Map || v instanceof Set) {
    return `${v.constructor.name}(${JSON.stringify([...v], replacer)})`;
  }
  try {
    return Deno.inspect(v, { depth: 8, iterableLimit: 50, strAbbreviateSize: 300 });
  } catch {
    return String(v);
  }
}

function replacer(_k: string, v: unknown) {
  return typeof v === "bigint" ? `${v}n` : v;
}

/** Deep structural equality with the semantics of `@std/assert`'s `equal`. */
export function equal(a: unknown, b: unknown): boolean {
  const seen = new Map<unknown, unknown>();
  function compare(a: unknown, b: unknown): boolean {
    if (Object.is(a, b)) return true;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") {
      return false;
    }
    if (a instanceof Date && b instanceof Date) return Object.is(a.getTime(), b.getTime());
    if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (seen.get(a) === b) return true;
    seen.set(a, b);
    if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
      const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
      return true;
    }
    if (a instanceof Map && b instanceof Map) {
      if (a.size !== b.size) return false;
      for (const [k, v] of a) {
        if (!b.has(k) || !compare(v, b.get(k))) return false;
      }
      return true;
    }
    if (a instanceof Set && b instanceof Set) {
      if (a.size !== b.size) return false;
      for (const v of a) {
        if (b.has(v)) continue;
        let found = false;
        for (const w of b) if (compare(v, w)) found = true;
        if (!found) return false;
      }
      return true;
    }
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    if (ka.length !== kb.length) return false;
    for (const k of ka) {
      if (!Object.hasOwn(b as object, k)) return false;
      if (!compare((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
        return false;
      }
    }
    return true;
  }
  return compare(a, b);
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be true");
}

/** Asserts that `actual` and `expected` are deeply equal. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(
    `Values are not equal${suffix}\n\n    [Diff] Actual / Expected\n\n-   ${format(actual)}\n+   ${
      format(expected)
    }\n`,
  );
}

/** Asserts that `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(`Expected actual: ${format(actual)} not to be: ${format(expected)}${suffix}`);
}

/** Asserts strict equality (`Object.is`). */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (Object.is(actual, expected)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(
    `Values are not strictly equal${suffix}\n\n-   ${format(actual)}\n+   ${format(expected)}\n`,
  );
}

/**
 * Asserts that two numbers are within `tolerance` of each other. As in `@std/assert`, the default
 * tolerance is 1e-7 and it is absolute.
 */
export function assertAlmostEquals(actual: number, expected: number, tolerance = 1e-7, msg?: string): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (delta <= tolerance) return;
  const suffix = msg ? `: ${msg}` : ".";
  const f = (n: number) => (Number.isInteger(n) ? n : n.toExponential());
  throw new AssertionError(
    `Expected actual: "${f(actual)}" to be close to "${f(expected)}": delta "${f(delta)}" is greater than "${
      f(tolerance)
    }"${suffix}`,
  );
}

/** Asserts that `actual` is neither null nor undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(msg ?? `Expected actual: "${actual}" to not be null or undefined.`);
  }
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (actual > expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} > ${format(expected)}`);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual >= expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} >= ${format(expected)}`);
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (actual < expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} < ${format(expected)}`);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual <= expected) return;
  throw new AssertionError(msg ?? `Expect ${format(actual)} <= ${format(expected)}`);
}

/** Asserts that `actual` includes `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (actual.includes(expected)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(`Expected actual: "${actual}" to contain: "${expected}"${suffix}`);
}

/** Asserts that `actual` matches the regular expression. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(`Expected actual: "${actual}" to match: "${expected}"${suffix}`);
}

/** Asserts that the array-like `actual` includes every element of `expected` (deep equality). */
export function assertArrayIncludes<T>(actual: ArrayLike<T>, expected: ArrayLike<T>, msg?: string): void {
  const missing: T[] = [];
  for (let i = 0; i < expected.length; i++) {
    let found = false;
    for (let j = 0; j < actual.length; j++) {
      if (equal(expected[i], actual[j])) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(expected[i]);
  }
  if (missing.length === 0) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(
    `Expected actual: "${format(actual)}" to include: "${format(expected)}"${suffix}\nmissing: ${
      format(missing)
    }`,
  );
}

/** Asserts that `obj` is an instance of `type`. */
export function assertInstanceOf<T extends abstract new (...args: never[]) => unknown>(
  actual: unknown,
  expectedType: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  if (actual instanceof expectedType) return;
  throw new AssertionError(msg ?? `Expected object to be an instance of "${expectedType.name}".`);
}

/** Always throws: marks code that must not be reached. */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${msg ? `: ${msg}` : "."}`);
}

/** Always throws: marks a branch that must never run (as `@std/assert`'s `unreachable`). */
export function unreachable(msg?: string): never {
  throw new AssertionError(msg ?? "Unreachable");
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function checkError<E extends Error>(
  e: unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  const suffix = msg ? `: ${msg}` : ".";
  if (ErrorClass) {
    if (!(e instanceof ErrorClass)) {
      throw new AssertionError(
        `Expected error to be instance of "${ErrorClass.name}", but was "${
          (e as Error)?.constructor?.name ?? typeof e
        }"${suffix}\n${(e as Error)?.message ?? e}`,
      );
    }
    if (msgIncludes !== undefined && !String((e as Error).message).includes(msgIncludes)) {
      throw new AssertionError(
        `Expected error message to include ${JSON.stringify(msgIncludes)}, but got ${
          JSON.stringify((e as Error).message)
        }${suffix}`,
      );
    }
  }
  return e as E;
}

/**
 * Asserts that `fn` throws. With an error class (and optionally a message substring) the thrown
 * value must match; the error is returned.
 */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClassOrMsg?: ErrorClass<E> | string,
  msgIncludes?: string,
  msg?: string,
): E | unknown {
  const ErrorClass = typeof errorClassOrMsg === "function" ? errorClassOrMsg : undefined;
  if (typeof errorClassOrMsg === "string") msg = errorClassOrMsg;
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(`Expected function to throw${msg ? `: ${msg}` : "."}`);
}

/** Asserts that the promise returned by `fn` rejects; like {@link assertThrows} for async code. */
export function assertRejects(fn: () => PromiseLike<unknown>, msg?: string): Promise<unknown>;
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E>;
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClassOrMsg?: ErrorClass<E> | string,
  msgIncludes?: string,
  msg?: string,
): Promise<E | unknown> {
  const ErrorClass = typeof errorClassOrMsg === "function" ? errorClassOrMsg : undefined;
  if (typeof errorClassOrMsg === "string") msg = errorClassOrMsg;
  let promise: PromiseLike<unknown>;
  try {
    promise = fn();
  } catch (e) {
    throw new AssertionError(
      `Function throws when expected to reject${msg ? `: ${msg}` : "."}\n${(e as Error)?.message ?? e}`,
    );
  }
  if (!promise || typeof promise.then !== "function") {
    throw new AssertionError(`Function returned a non-promise value${msg ? `: ${msg}` : "."}`);
  }
  try {
    await promise;
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(`Expected function to reject${msg ? `: ${msg}` : "."}`);
}
