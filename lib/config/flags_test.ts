import { assertEquals, assertThrows } from "@std/assert";
import { UsageError } from "./cli.ts";
import { COUNT, describeRange, FRACTION, NON_NEGATIVE_INTEGER, parseNumberFlag } from "./flags.ts";

Deno.test("parseNumberFlag: values inside the range pass, as numbers", () => {
  assertEquals(parseNumberFlag("--fraction", "1", FRACTION), 1);
  assertEquals(parseNumberFlag("--fraction", "0.001", FRACTION), 0.001);
  assertEquals(parseNumberFlag("--epochs", "3", COUNT), 3);
  assertEquals(parseNumberFlag("--seed", "0", NON_NEGATIVE_INTEGER), 0);
});

Deno.test("parseNumberFlag: out of range, not a number, empty or fractional counts are usage errors", () => {
  const bad: [string, string | undefined, typeof FRACTION][] = [
    ["--fraction", "2", FRACTION],
    ["--fraction", "0", FRACTION],
    ["--k", "-0.5", FRACTION],
    ["--fraction", "NaN", FRACTION],
    ["--epochs", "0", COUNT],
    ["--epochs", "1.5", COUNT],
    ["--eval-subsample", "-280", COUNT],
    ["--batch", "", COUNT],
    ["--batch", " ", COUNT],
    ["--max-len", "Infinity", COUNT],
    ["--seed", "x", NON_NEGATIVE_INTEGER],
    ["--seed", undefined, NON_NEGATIVE_INTEGER],
  ];
  for (const [flag, v, r] of bad) {
    assertThrows(() => parseNumberFlag(flag, v, r), UsageError, `${flag} must be ${describeRange(r)}`);
  }
  assertEquals(describeRange(FRACTION), "a number in (0, 1]");
  assertEquals(describeRange(COUNT), "a whole number of at least 1");
});
