// Our stand-in for jsr:@std/assert must behave like the real one for what the project uses:
// passing cases pass silently, failing cases throw AssertionError with a useful message.
import {
  assert,
  assertAlmostEquals,
  assertArrayIncludes,
  assertEquals,
  assertExists,
  assertGreater,
  assertInstanceOf,
  AssertionError,
  assertLess,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
  equal,
  fail,
} from "@std/assert";

function throwsAssertion(fn: () => unknown, includes?: string) {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof AssertionError)) throw new Error(`expected an AssertionError, got ${caught}`);
  if (includes && !caught.message.includes(includes)) {
    throw new Error(`message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(includes)}`);
  }
}

Deno.test("equal: deep structural equality like @std/assert", () => {
  assert(equal({ a: [1, 2, { b: "x" }] }, { a: [1, 2, { b: "x" }] }));
  assert(!equal({ a: 1 }, { a: 1, b: undefined }));
  assert(!equal([1, 2], [2, 1]));
  assert(equal(new Map([[1, [2]]]), new Map([[1, [2]]])));
  assert(!equal(new Map([[1, 2]]), new Map([[1, 3]])));
  assert(equal(new Set([1, 2]), new Set([2, 1])));
  assert(equal(new Float32Array([1, 2]), new Float32Array([1, 2])));
  assert(!equal(new Float32Array([1, 2]), new Float64Array([1, 2])), "typed array kinds differ");
  assert(equal(NaN, NaN));
  assert(!equal(0, -0), "Object.is semantics, as @std/assert");
  assert(!equal({ a: 1 }, [1]));
  assert(equal(new Date(5), new Date(5)));
  const cyc: { self?: unknown } = {};
  cyc.self = cyc;
  const cyc2: { self?: unknown } = {};
  cyc2.self = cyc2;
  assert(equal(cyc, cyc2), "cycles terminate");
});

Deno.test("assertEquals and assertNotEquals", () => {
  assertEquals([1, { a: "b" }], [1, { a: "b" }]);
  throwsAssertion(() => assertEquals([1, 2], [1, 3]), "Values are not equal");
  throwsAssertion(() => assertEquals(1, 2, "custom"), "custom");
  assertNotEquals(1, 2);
  throwsAssertion(() => assertNotEquals({ a: 1 }, { a: 1 }));
});

Deno.test("assertStrictEquals uses identity", () => {
  const o = {};
  assertStrictEquals(o, o);
  throwsAssertion(() => assertStrictEquals({}, {}), "strictly equal");
});

Deno.test("assertAlmostEquals: absolute tolerance, default 1e-7", () => {
  assertAlmostEquals(0.1 + 0.2, 0.3);
  assertAlmostEquals(1, 1.05, 0.1);
  throwsAssertion(() => assertAlmostEquals(1, 1.001), "to be close to");
  throwsAssertion(() => assertAlmostEquals(1, 1.2, 0.1));
  assertAlmostEquals(Infinity, Infinity);
  throwsAssertion(() => assertAlmostEquals(NaN, 0));
});

Deno.test("comparisons, strings, arrays, existence, instances", () => {
  assertGreater(2, 1);
  throwsAssertion(() => assertGreater(1, 1));
  assertLess(1, 2);
  throwsAssertion(() => assertLess(2, 1));
  assertStringIncludes("hello world", "lo w");
  throwsAssertion(() => assertStringIncludes("abc", "x"));
  assertMatch("file.txt:12: bad", /:\d+:/);
  throwsAssertion(() => assertMatch("abc", /\d/));
  assertArrayIncludes([1, [2], { a: 3 }], [[2], { a: 3 }]);
  throwsAssertion(() => assertArrayIncludes([1, 2], [3]), "missing");
  assertExists(0);
  throwsAssertion(() => assertExists(null));
  assertInstanceOf(new RangeError("x"), Error);
  throwsAssertion(() => assertInstanceOf({}, Error));
  throwsAssertion(() => fail("boom"), "boom");
});

Deno.test("assertThrows: class and message checks, returns the error", () => {
  const e = assertThrows(
    () => {
      throw new RangeError("out of range: 7");
    },
    RangeError,
    "range: 7",
  );
  assertEquals(e.message, "out of range: 7");
  throwsAssertion(() => assertThrows(() => {}), "Expected function to throw");
  throwsAssertion(() =>
    assertThrows(() => {
      throw new TypeError("x");
    }, RangeError)
  );
  throwsAssertion(() =>
    assertThrows(
      () => {
        throw new Error("abc");
      },
      Error,
      "xyz",
    )
  );
});

Deno.test("assertRejects: async counterpart", async () => {
  const e = await assertRejects(() => Promise.reject(new SyntaxError("bad json")), SyntaxError, "json");
  assertEquals(e.name, "SyntaxError");
  let caught: unknown;
  try {
    await assertRejects(() => Promise.resolve(1));
  } catch (err) {
    caught = err;
  }
  assertInstanceOf(caught, AssertionError);
  caught = undefined;
  try {
    await assertRejects(() => Promise.reject(new Error("a")), TypeError);
  } catch (err) {
    caught = err;
  }
  assertInstanceOf(caught, AssertionError);
});
