import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend, probeWebGpu } from "../backend/mod.ts";
import { DeviceMask, selectTopKOnBackend, unitsOf } from "./device_mask.ts";
import { keepCount, seededUniform, selectTopK, SparseMask } from "./mask.ts";
import { TINY_T5 } from "../../tests/tiny_t5.ts";
import { createT5 } from "../t5/model.ts";
import { collate, type Feature } from "../train/features.ts";
import { FishDip } from "./fishdip.ts";
import { sparseTrainStep } from "./step.ts";
import { t5Trainable } from "./t5_trainable.ts";
import { Adafactor } from "../optim/adafactor.ts";

/** Fisher-like scores: many zeros, many ties (a few repeated values), a spread of magnitudes. */
function fisherMap(seed: number, shapes: Map<string, number[]>): Map<string, Float32Array> {
  const rand = seededUniform(seed);
  const repeated = [1e-3, 0.5, 2, 1e-30, 3.5e-41]; // 3.5e-41 is subnormal
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) {
      const r = rand();
      a[i] = r < 0.3 ? 0 : r < 0.6 ? repeated[Math.floor(rand() * repeated.length)] : rand() ** 4 * 10;
    }
    out.set(name, a);
  }
  return out;
}

function keptLists(m: SparseMask): Record<string, number[]> {
  return Object.fromEntries([...m.params].map(([n, p]) => [n, [...p.kept]]));
}

const SHAPES = new Map<string, number[]>([["a", [7, 5]], ["b", [64]], ["c", [3, 4, 5]], ["d", [1]], ["e", [
  300,
]]]);

async function checkAgainstJs(): Promise<void> {
  // unitLimit 16: parameters above 16 entries are counted by rows, and rows added in groups.
  const cases: [number, number | undefined][] = [[1, undefined], [2, undefined], [3, 16], [4, 50]];
  for (const [seed, unitLimit] of cases) {
    const scores = fisherMap(seed, SHAPES);
    const total = [...scores.values()].reduce((a, s) => a + s.length, 0);
    const tensors = new Map([...scores].map(([n, s]) => [n, tf.tensor(s, SHAPES.get(n))]));
    try {
      for (const k of [0, 1e-9, 1 / total, 0.01, 0.1, 0.3, 0.55, 0.7, 0.99, 1]) {
        const keep = keepCount(total, k);
        const before = tf.memory().numTensors;
        const { mask, rounds, fallback } = await selectTopKOnBackend(tensors, keep, { unitLimit });
        const want = selectTopK(scores, SHAPES, keep);
        const got = await mask.toSparse();
        assertEquals(keptLists(got), keptLists(want), `seed ${seed} k ${k} unitLimit ${unitLimit}`);
        assertEquals([mask.keptCount, fallback], [keep, undefined]);
        assertEquals(mask.keptPerParam(), new Map([...want.params].map(([n, p]) => [n, p.kept.length])));
        assert(rounds <= 9, `${rounds} rounds`);
        assertEquals(await mask.overlap(want), keep);
        mask.dispose();
        assertEquals(tf.memory().numTensors, before, "no leaks");
      }
    } finally {
      tf.dispose([...tensors.values()]);
    }
  }
}

async function checkFallback(): Promise<void> {
  // NaN (largest, as selectTopK ranks it) cannot be searched for: the scores are ranked in JavaScript.
  const scores = fisherMap(9, SHAPES);
  scores.get("b")![3] = NaN;
  const tensors = new Map([...scores].map(([n, s]) => [n, tf.tensor(s, SHAPES.get(n))]));
  try {
    const { mask, fallback } = await selectTopKOnBackend(tensors, 20);
    assertEquals(fallback, "1 scores are NaN or negative");
    assertEquals(keptLists(await mask.toSparse()), keptLists(selectTopK(scores, SHAPES, 20)));
    mask.dispose();
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

async function checkApply(): Promise<void> {
  const sparse = new SparseMask(
    new Map([["w", { shape: [2, 3], size: 6, kept: Int32Array.from([1, 5]) }], [
      "v",
      { shape: [2], size: 2, kept: Int32Array.from([]) },
    ]]),
  );
  const dm = DeviceMask.fromSparse(sparse);
  assertEquals([dm.keptCount, dm.totalSize], [2, 8]);
  const grads = new Map<string, tf.Tensor>([["w", tf.tensor([[-1, 2, -3], [4, -5, -6]])], [
    "v",
    tf.tensor([-1, 2]),
  ]]);
  const ref = new Map([...grads].map(([n, g]) => [n, g.clone()]));
  dm.apply(grads);
  sparse.apply(ref);
  for (const n of ["w", "v"]) {
    // Same bits, masked entries +0 (1 / +0 = Infinity), as the index-list path.
    const a = await grads.get(n)!.data(), b = await ref.get(n)!.data();
    assertEquals([...a].map((x) => 1 / x), [...b].map((x) => 1 / x));
  }
  tf.dispose([...grads.values(), ...ref.values()]);
  dm.dispose();
  sparse.dispose();
}

/**
 * FISH-DIP on the tiny T5 with its mask in JavaScript and on the backend, side by side on the same
 * model through four steps: the same kept entries at the initial mask and both refreshes (k = 2 %,
 * then 60 %, where the tiny model's unused embedding rows tie at zero), and no tensors left.
 */
async function checkFishDipPaths(): Promise<void> {
  const before = tf.memory().numTensors;
  const model = createT5({ ...TINY_T5, dropout_rate: 0 }, { seed: 5 });
  const fs: Feature[] = Array.from({ length: 8 }, (_, i) => ({
    id: `f${i}`,
    index: i,
    inputIds: [...Array.from({ length: 3 + i }, (_, j) => 2 + (i * 7 + j * 3) % 37), 1],
    labelIds: [...Array.from({ length: 1 + (i % 3) }, (_, j) => 2 + (i * 5 + j) % 37), 1],
  }));
  const ctx = {
    model: t5Trainable(model),
    data: {
      examples: fs,
      collate: (x: readonly Feature[]) => collate(x, { padLabelsTo: "longest" as const }),
    },
    trainBatchSize: 2,
  };
  const settings = { keepRatio: 0.02, refreshKeepRatio: 0.6, refreshEvery: 2, minSamples: 3, maxSamples: 3 };
  const js = new FishDip<Feature, ReturnType<typeof ctx.data.collate>>({ ...settings, maskOnBackend: false });
  const dev = new FishDip<Feature, ReturnType<typeof ctx.data.collate>>({ ...settings, maskOnBackend: true });
  const optimizer = new Adafactor(model.params);
  try {
    const same = async (what: string) => {
      const a = js.mask!, b = (await dev.exportMask())!;
      assertEquals(keptLists(b), keptLists(a), what);
      assertEquals(dev.maskStats!.keptPerParam(), a.keptPerParam(), what);
    };
    await js.prepare(ctx);
    await dev.prepare(ctx);
    await same("initial mask");
    for (let step = 1; step <= 4; step++) {
      // dev refreshes on the model js's step is about to see (js refreshes inside its step).
      if (step % 2 === 0) await dev.beforeStep(step, ctx);
      const batch = ctx.data.collate(fs.slice((2 * step) % 8, (2 * step) % 8 + 2));
      await sparseTrainStep({ step, totalSteps: 4, batch, ctx, method: js, optimizer });
      if (step % 2 === 0) await same(`refresh at step ${step}`);
    }
    assertEquals(
      dev.history.map((h) => [h.kept, h.overlapWithPrevious]),
      js.history.map((h) => [h.kept, h.overlapWithPrevious]),
    );
    console.log(`  search rounds per mask: ${dev.history.map((h) => h.searchRounds).join(", ")}`);
  } finally {
    js.dispose();
    dev.dispose();
    optimizer.dispose();
    model.dispose();
  }
  assertEquals(tf.memory().numTensors, before, "no tensors left behind");
}

Deno.test("unitsOf: rows of at most 2^24 entries that divide the parameter", () => {
  assertEquals(unitsOf(100), { rows: 1, cols: 100 });
  assertEquals(unitsOf(32128 * 1024), { rows: 2, cols: 16449536 });
  assertEquals(unitsOf(2 ** 24 + 1), { rows: 97, cols: 172961 });
});

Deno.test("selectTopKOnBackend on cpu: the same entries as selectTopK (ties, zeros, subnormals, k = 0 … 1)", async () => {
  await initBackend("cpu", { quiet: true });
  await checkAgainstJs();
  await checkFallback();
  await checkApply();
});

Deno.test("FishDip with the mask on the backend on cpu: the same masks as the JavaScript path on the tiny T5", async () => {
  await initBackend("cpu", { quiet: true });
  await checkFishDipPaths();
});

const gpuTests = Deno.env.get("FISHDIP_GPU_TESTS") !== "0";
const adapter = gpuTests ? await probeWebGpu() : undefined;
Deno.test({
  name: "selectTopKOnBackend on webgpu: the same entries as selectTopK",
  ignore: !adapter,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend("webgpu", { quiet: true });
    try {
      await checkAgainstJs();
      await checkFallback();
      await checkApply();
      await checkFishDipPaths();
    } finally {
      await initBackend("cpu", { quiet: true });
    }
  },
});
