import { assertEquals } from "@std/assert";
import { ignoreWithoutFixtures } from "../../tests/support.ts";
import { fixturesDir } from "../config/paths.ts";
import { PythonRandom, pythonRound } from "./python_random.ts";
import { lowResourceSubset, shuffledIndices, subsetSize } from "./sampling.ts";

const FIXTURE = "sampling/python_random_shuffle.json";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface ShuffleCase {
  seed: number;
  N: number;
  first_200: number[];
  "first_round_0.1N": number[];
  subset_sizes_round_f_times_N: Record<string, number>;
  full_permutation_sha256_of_comma_joined_decimal: string;
  full_permutation_sum_of_i_times_idx_i: number;
}

Deno.test({
  name:
    "sampling fixture: every (seed, N) permutation, prefix, subset size, hash and weighted sum match CPython",
  ignore: ignoreWithoutFixtures(FIXTURE),
  async fn(t) {
    const fx = JSON.parse(Deno.readTextFileSync(`${fixturesDir()}/${FIXTURE}`));
    const cases = fx.cases as ShuffleCase[];
    assertEquals(cases.length > 0, true);
    for (const c of cases) {
      await t.step(`seed ${c.seed}, N ${c.N}`, async () => {
        const perm = shuffledIndices(c.N, c.seed);
        assertEquals(perm.slice(0, 200), c.first_200);
        const tenth = c["first_round_0.1N"];
        assertEquals(tenth.length, subsetSize(0.1, c.N));
        assertEquals(perm.slice(0, tenth.length), tenth);
        for (const [f, size] of Object.entries(c.subset_sizes_round_f_times_N)) {
          assertEquals(subsetSize(Number(f), c.N), size, `round(${f} * ${c.N})`);
          assertEquals(lowResourceSubset(perm.map((i) => `ex${i}`), Number(f), c.seed).length, size);
        }
        assertEquals(await sha256Hex(perm.join(",")), c.full_permutation_sha256_of_comma_joined_decimal);
        const sum = perm.reduce((s, idx, i) => s + BigInt(i) * BigInt(idx), 0n);
        assertEquals(sum, BigInt(c.full_permutation_sum_of_i_times_idx_i));
      });
    }
  },
});

Deno.test({
  name: "sampling fixture: python_round_examples (halves to even, on the float as written)",
  ignore: ignoreWithoutFixtures(FIXTURE),
  fn() {
    const fx = JSON.parse(Deno.readTextFileSync(`${fixturesDir()}/${FIXTURE}`));
    const examples = fx.python_round_examples as { x_repr: string; round_x: number }[];
    assertEquals(examples.length > 0, true);
    for (const e of examples) assertEquals(pythonRound(Number(e.x_repr)), e.round_x, e.x_repr);
  },
});

Deno.test("sampling: the subset is the seeded permutation's prefix, applied to the examples", () => {
  const xs = Array.from({ length: 922 }, (_, i) => `s${i}`);
  const perm = shuffledIndices(922, 1);
  assertEquals(lowResourceSubset(xs, 0.01, 1), perm.slice(0, 9).map((i) => `s${i}`));
  assertEquals(lowResourceSubset(xs, 0.05, 1).slice(0, 9), lowResourceSubset(xs, 0.01, 1));
  assertEquals(lowResourceSubset(xs, 1, 3).length, 922);
  assertEquals(subsetSize(0.05, 14041), 702); // round(702.0500000000001)
  assertEquals([pythonRound(-2.5), pythonRound(-3.5), pythonRound(2.5000000000000004)], [-2, -4, 3]);
});

// Expected values below were printed by CPython 3.11.7's `random` module.
Deno.test("python random: sample() in both of CPython's branches, random(), big and negative seeds", () => {
  const r = new PythonRandom(5);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  assertEquals(r.sample(range(16), 5), [8, 11, 5, 12, 14]); // pool branch (n <= setsize)
  assertEquals(r.sample(range(16), 10), [0, 13, 7, 12, 3, 10, 15, 2, 1, 8]); // pool branch, k > 5
  assertEquals(r.sample(range(700), 6), [480, 252, 389, 556, 104, 587]); // set branch
  assertEquals(r.sample(range(700), 10), [255, 13, 221, 417, 286, 186, 398, 163, 73, 142]);
  assertEquals(r.random(), 0.6179261849630812);
  const neg = new PythonRandom(-(2n ** 40n + 12345n));
  assertEquals(neg.getrandbits(32), 1332995613);
  assertEquals(neg.sample(range(100), 30).slice(0, 10), [44, 14, 0, 68, 17, 26, 95, 85, 11, 78]);
  const big = new PythonRandom(2n ** 70n + 3n);
  assertEquals(Array.from({ length: 5 }, () => big.randrange(1000)), [167, 339, 759, 250, 664]);
  const zero = new PythonRandom(0);
  assertEquals([zero.getrandbits(32), zero.random()], [3626764237, 0.3852453064766108]);
});
