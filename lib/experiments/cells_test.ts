import { assertEquals, assertNotEquals } from "@std/assert";
import { subsetSize } from "../data/sampling.ts";
import { numFisherSamples } from "../methods/fishdip.ts";
import {
  canonicalJson,
  type Cell,
  cellId,
  cellLabel,
  epochsForSteps,
  fnv1a64,
  regressingSamples,
  trainExamples,
  trainSteps,
} from "./cells.ts";

const base: Cell = {
  dataset: "conll04",
  task: "joint_er",
  fraction: 0.01,
  method: { name: "fishdip", k: 0.01, m: 100, n: "rule" },
  optimizer: { name: "adafactor", lr: 1e-2 },
  seed: 1,
  epochs: 1000,
  batchSize: 32,
  maxInputLength: 256,
  maxOutputLength: 256,
  maxOutputLengthEval: 512,
  decoding: "greedy",
  backbone: "t5-large",
  evaluate: [{ dataset: "conll04", split: "test" }],
};

Deno.test("cellId: stable, key-order and undefined-field independent, value sensitive", () => {
  const id = cellId(base);
  assertEquals(id, cellId(structuredClone(base)));
  assertEquals(id.length, 16);
  // Reordered keys and an explicit undefined optional field give the same id.
  const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as Cell;
  assertEquals(cellId({ ...reordered, init: undefined }), id);
  assertNotEquals(cellId({ ...base, seed: 2 }), id);
  assertNotEquals(cellId({ ...base, method: { name: "fishdip", k: 0.01, m: 50, n: "rule" } }), id);
  assertNotEquals(cellId({ ...base, evaluate: [{ dataset: "conll04", split: "test", subsample: 100 }] }), id);
  // Pinned value: a changed hash would silently orphan every stored result.
  assertEquals(canonicalJson({ b: 1, a: [1, { d: undefined, c: "x" }] }), '{"a":[1,{"c":"x"}],"b":1}');
  assertEquals(fnv1a64(""), "cbf29ce484222325");
  assertEquals(fnv1a64("a"), "af63dc4c8601ec8c");
});

Deno.test("subset sizes and the n rule follow the reference's Python", () => {
  // round(fraction * N) with Python's round: halves to even.
  assertEquals(subsetSize(0.005, 500), 2); // 2.5 in binary is a tie
  assertEquals(subsetSize(0.01, 922), 9);
  assertEquals(subsetSize(0.05, 14041), 702);
  // CoNLL04 1 %: 9 examples, 1 batch -> clamp(0, 3, 25) = 3; CoNLL03 10 %: 1404 -> 44 batches -> 4.
  assertEquals(numFisherSamples(9, 32), 3);
  assertEquals(numFisherSamples(1404, 32), 4);
  assertEquals(numFisherSamples(44800, 32), 25);
  assertEquals(numFisherSamples(3, 32), 2); // at most N - 1
  assertEquals(numFisherSamples(1, 32), 1);
  assertEquals(regressingSamples(base), 3);
  assertEquals(regressingSamples({ ...base, method: { name: "fishdip", k: 0.01, m: 100, n: 25 } }), 25);
  assertEquals(regressingSamples({ ...base, method: { name: "full" } }), undefined);
  assertEquals(trainExamples(base), 9);
  assertEquals(trainSteps(base), 1000);
  assertEquals(epochsForSteps(60, 140, 8), 4);
  assertEquals(cellLabel(base), "conll04 1% fishdip(k=0.01,m=100,n=rule) s1");
});
