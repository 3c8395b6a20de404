import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { keepCount, randomMask, selectTopK, SparseMask } from "./mask.ts";

const BACKEND = (Deno.env.get("TF_BACKEND") ?? "cpu") as "cpu" | "wasm";

/** Reference top-k: sort all (value, global index) pairs, value descending, index ascending. */
function bruteTopK(scores: Map<string, Float32Array>, k: number): Map<string, number[]> {
  return bruteRanking(scores)(k);
}

function bruteRanking(scores: Map<string, Float32Array>): (k: number) => Map<string, number[]> {
  const all: { v: number; name: string; i: number; g: number }[] = [];
  let g = 0;
  for (const [name, s] of scores) for (let i = 0; i < s.length; i++) all.push({ v: s[i], name, i, g: g++ });
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  all.sort((a, b) =>
    rank(b.v) - rank(a.v) || (Number.isNaN(b.v) ? 1 : 0) - (Number.isNaN(a.v) ? 1 : 0) ||
    (Object.is(a.v, -0) ? 1 : 0) - (Object.is(b.v, -0) ? 1 : 0) || a.g - b.g
  );
  return (k: number) => {
    const out = new Map<string, number[]>([...scores.keys()].map((n) => [n, []]));
    for (const e of all.slice(0, k)) out.get(e.name)!.push(e.i);
    for (const l of out.values()) l.sort((a, b) => a - b);
    return out;
  };
}

function pseudo(n: number, seed: number, f: (u: number) => number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return f(s / 4294967296);
  });
}

Deno.test("keepCount is FISH's int(total * keep_ratio)", () => {
  assertEquals(keepCount(2221056, 0.01), 22210);
  assertEquals(keepCount(737668096, 0.01), 7376680);
  assertEquals(keepCount(10, 1), 10);
  assertEquals(keepCount(10, 0), 0);
  assertThrows(() => keepCount(10, 1.5));
});

Deno.test("selectTopK: exactly k entries, the largest, ties by lowest global index", () => {
  const shapes = new Map([["a", [3, 4]], ["b", [5]], ["c", [2, 2, 2]]]);
  const cases: Map<string, Float32Array>[] = [
    // distinct random values
    new Map([["a", pseudo(12, 1, (u) => u)], ["b", pseudo(5, 2, (u) => u)], ["c", pseudo(8, 3, (u) => u)]]),
    // heavy ties (few distinct values), zeros, -0, negatives and NaN
    new Map([
      ["a", pseudo(12, 4, (u) => Math.floor(u * 3))],
      ["b", Float32Array.from([0, -0, NaN, -1, 2])],
      ["c", pseudo(8, 5, (u) => Math.floor(u * 3) - 1)],
    ]),
    // all equal
    new Map([["a", new Float32Array(12).fill(7)], ["b", new Float32Array(5).fill(7)], [
      "c",
      new Float32Array(8).fill(7),
    ]]),
  ];
  for (const scores of cases) {
    for (let k = 0; k <= 25; k++) {
      const m = selectTopK(scores, shapes, k);
      assertEquals(m.keptCount, k);
      const ref = bruteTopK(scores, k);
      for (const name of scores.keys()) assertEquals([...m.get(name).kept], ref.get(name), `k=${k} ${name}`);
    }
  }
  assertThrows(() => selectTopK(cases[0], shapes, 26));
});

Deno.test("selectTopK: a million values, radix select agrees with a full sort", () => {
  const scores = new Map([
    ["big", pseudo(1 << 20, 9, (u) => (u < 0.3 ? 0 : u * u * 1e-6))], // many exact zeros, tiny values
    ["small", pseudo(1000, 10, (u) => u * 1e-7)],
  ]);
  const shapes = new Map([["big", [1024, 1024]], ["small", [1000]]]);
  const ranking = bruteRanking(scores);
  for (const k of [1, 10486, 734003, 734003 + 500]) {
    const t0 = performance.now();
    const m = selectTopK(scores, shapes, k);
    const ms = performance.now() - t0;
    assertEquals(m.keptCount, k);
    const ref = ranking(k);
    for (const name of scores.keys()) assertEquals([...m.get(name).kept], ref.get(name), `k=${k} ${name}`);
    if (k === 10486) console.log(`  selectTopK over ${(1 << 20) + 1000} values: ${ms.toFixed(0)} ms`);
  }
});

Deno.test("SparseMask: apply keeps exactly the listed entries (bit-identical), zeros the rest, no leaks", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  const mask = new SparseMask(
    new Map([
      ["w", { shape: [2, 3], size: 6, kept: Int32Array.from([1, 5]) }],
      ["none", { shape: [2], size: 2, kept: new Int32Array(0) }],
      ["all", { shape: [2], size: 2, kept: Int32Array.from([0, 1]) }],
    ]),
  );
  const grads = new Map<string, tf.Tensor>([
    ["w", tf.tensor2d([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]])],
    ["none", tf.tensor1d([1, 2])],
    ["all", tf.tensor1d([3, -4])],
  ]);
  for (let rep = 0; rep < 2; rep++) mask.apply(grads); // second pass reuses the cached index tensors
  assertEquals(grads.get("w")!.shape, [2, 3]);
  assertEquals([...(await grads.get("w")!.data())], [0, Math.fround(-0.2), 0, 0, 0, Math.fround(-0.6)]);
  assertEquals([...(await grads.get("none")!.data())], [0, 0]);
  assertEquals([...(await grads.get("all")!.data())], [3, -4]);
  assert(mask.isKept("w", 5) && !mask.isKept("w", 4));
  assertEquals([...mask.toDense("w")], [0, 1, 0, 0, 0, 1]);
  const wrong = tf.zeros([3, 2]);
  assertThrows(() => mask.applyOne("w", wrong));
  wrong.dispose();
  for (const g of grads.values()) g.dispose();
  mask.dispose();
  assertEquals(tf.memory().numTensors, before, "tensor leak");
  assertThrows(() =>
    new SparseMask(new Map([["x", { shape: [3], size: 3, kept: Int32Array.from([2, 1]) }]]))
  );
});

Deno.test("SparseMask: packed LSB-first bits, dense and random constructors", () => {
  // entries 0, 3, 8 and 9 of 10: byte 0 = 0b00001001, byte 1 = 0b00000011
  const m = SparseMask.fromPackedBits(new Map([["p", { shape: [2, 5], bytes: Uint8Array.from([9, 3]) }]]));
  assertEquals([...m.get("p").kept], [0, 3, 8, 9]);
  assertThrows(() =>
    SparseMask.fromPackedBits(new Map([["p", { shape: [2, 5], bytes: new Uint8Array(1) }]]))
  );
  const d = SparseMask.fromDense(new Map([["q", { shape: [4], data: [0, 2, 0, 1] }]]));
  assertEquals([...d.get("q").kept], [1, 3]);
  const shapes = new Map([["a", [100, 10]], ["b", [37]]]);
  const r1 = randomMask(shapes, 100, 42), r2 = randomMask(shapes, 100, 42), r3 = randomMask(shapes, 100, 43);
  assertEquals(r1.keptCount, 100);
  assertEquals([...r1.get("a").kept], [...r2.get("a").kept]);
  assert(r1.overlap(r3) < 100);
  assertEquals(randomMask(shapes, 1037, 1).keptCount, 1037);
  assertEquals(SparseMask.all(shapes).keptCount, 1037);
});
