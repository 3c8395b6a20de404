import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { setRowCrossEntropyKernel } from "../backend/row_cross_entropy.ts";
import { parseT5Config } from "../t5/config.ts";
import { createT5 } from "../t5/model.ts";
import { collate, type Feature } from "../train/features.ts";
import { topLossIndices } from "./fishdip.ts";
import { lengthBuckets, scoreInOrder, scorePerExample } from "./scoring.ts";
import { t5Trainable } from "./t5_trainable.ts";
import type { TrainingSet } from "./types.ts";

/** Features of mixed lengths (1-37 source, 1-23 target tokens), ids clear of pad and EOS. */
function features(n: number, vocab: number, seed: number): Feature[] {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const ids = (
    len: number,
  ) => [...Array.from({ length: len - 1 }, () => 2 + Math.floor(next() * (vocab - 2))), 1];
  return Array.from({ length: n }, (_, i) => ({
    id: `train-${i}`,
    index: i,
    inputIds: ids(1 + Math.floor(next() * 37)),
    labelIds: ids(1 + Math.floor(next() * 23)),
  }));
}

const config = (dropout: number) =>
  parseT5Config({
    vocab_size: 64,
    d_model: 32,
    d_ff: 64,
    d_kv: 8,
    num_heads: 4,
    num_layers: 2,
    dropout_rate: dropout,
  });

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`scoring on ${backend}: bucketed losses equal the in-order pass (pads counted, mixed lengths)`, async () => {
    await initBackend(backend, { quiet: true });
    const model = createT5(config(0.1), { seed: 3 });
    try {
      const fs = features(45, 64, 7);
      // The full grid on wasm; a corner of it on the (slow) cpu backend.
      const full = backend === "wasm";
      let worstAll = 0;
      for (const padLabelsTo of full ? ["longest", 24] as const : ["longest"] as const) {
        const data: TrainingSet<Feature, ReturnType<typeof collate>> = {
          examples: fs,
          collate: (x) => collate(x, { padLabelsTo }),
        };
        for (const ignorePadLabels of full ? [false, true] : [false]) {
          const m = t5Trainable(model, { ignorePadLabels });
          for (const batchSize of full ? [1, 4, 16] : [16]) {
            const before = tf.memory().numTensors;
            const ref = await scoreInOrder(m, data, batchSize, { training: false });
            // Small budgets force many buckets; large ones put every row in one batch.
            for (const tokenBudget of full ? [64, 300, 100000] : [300]) {
              const got = await scorePerExample(m, data, { training: false, batchSize, tokenBudget });
              let worst = 0;
              for (let i = 0; i < ref.length; i++) {
                worst = Math.max(worst, Math.abs(got[i] - ref[i]) / ref[i]);
              }
              assertLessOrEqual(
                worst,
                1e-6,
                `pad ${padLabelsTo}, ignorePad ${ignorePadLabels}, batch ${batchSize}, budget ${tokenBudget}`,
              );
              assertEquals(topLossIndices(got, 5), topLossIndices(ref, 5));
              worstAll = Math.max(worstAll, worst);
            }
            assertEquals(tf.memory().numTensors, before, "scoring leaked tensors");
          }
        }
      }
      console.log(`  largest relative difference: ${worstAll.toExponential(2)}`);
    } finally {
      model.dispose();
    }
  });
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`scoring on ${backend}: the fused cross-entropy kernel gives the composed ops' losses (1e-6 relative) and the same top-n`, async () => {
    await initBackend(backend, { quiet: true });
    const vocab = 512;
    const model = createT5(parseT5Config({ ...config(0), vocab_size: vocab }), { seed: 13 });
    try {
      const data = { examples: features(40, vocab, 21), collate: (x: readonly Feature[]) => collate(x) };
      const m = t5Trainable(model);
      const before = tf.memory().numTensors;
      const fused = await scorePerExample(m, data, { training: true, batchSize: 8 });
      setRowCrossEntropyKernel(false);
      const composed = await scorePerExample(m, data, { training: true, batchSize: 8 });
      setRowCrossEntropyKernel(true);
      assertEquals(tf.memory().numTensors, before, "scoring leaked tensors");
      let worst = 0;
      for (let i = 0; i < fused.length; i++) {
        worst = Math.max(worst, Math.abs(fused[i] - composed[i]) / composed[i]);
      }
      assertLessOrEqual(worst, 1e-6);
      // FISH-DIP's refresh keeps n = 3 here (fewer than 320 examples), and more for good measure.
      for (const n of [3, 10]) assertEquals(topLossIndices(fused, n), topLossIndices(composed, n));
      console.log(`  largest relative difference: ${worst.toExponential(2)}`);
    } finally {
      setRowCrossEntropyKernel(true);
      model.dispose();
    }
  });
}

Deno.test("scoring: a pass with dropout keeps the in-order layout (same draws); without dropout it buckets", async () => {
  await initBackend("cpu", { quiet: true });
  const fs = features(20, 64, 11);
  const data = { examples: fs, collate: (x: readonly Feature[]) => collate(x, { padLabelsTo: "longest" }) };
  const noisy = createT5(config(0.1), { seed: 5 });
  const still = createT5(config(0), { seed: 5 });
  try {
    noisy.setDropoutSeed(9);
    const ref = await scoreInOrder(t5Trainable(noisy), data, 4, { training: true });
    noisy.setDropoutSeed(9);
    const got = await scorePerExample(t5Trainable(noisy), data, { training: true, batchSize: 4 });
    assertEquals([...got], [...ref]);
    // Without dropout a training-mode pass is deterministic, so it may regroup.
    let calls = 0;
    const m = t5Trainable(still);
    const counting = { ...m, perExampleLoss: (b: never, o: never) => (calls++, m.perExampleLoss(b, o)) };
    const r0 = await scoreInOrder(m, data, 4, { training: true });
    const r1 = await scorePerExample(counting, data, { training: true, batchSize: 4 });
    assert(calls < 5, `${calls} batches: expected fewer than the in-order pass's 5`);
    for (let i = 0; i < r0.length; i++) assertLessOrEqual(Math.abs(r1[i] - r0[i]) / r0[i], 1e-6);
  } finally {
    noisy.dispose();
    still.dispose();
  }
});

Deno.test("scoring: batches that are not T5 arrays keep the in-order layout", async () => {
  let seen: number[][] = [];
  const model = {
    parameters: () => new Map(),
    perExampleLoss: (b: number[]) => (seen.push(b), tf.tensor1d(b.map((x) => x * 2))),
    lossAndGrads: () => {
      throw new Error("unused");
    },
  };
  const data = { examples: [1, 2, 3, 4, 5], collate: (x: readonly number[]) => [...x] };
  const got = await scorePerExample(model, data, { training: false, batchSize: 2 });
  assertEquals([...got], [2, 4, 6, 8, 10]);
  assertEquals(seen, [[1, 2], [3, 4], [5]]);
  seen = [];
});

Deno.test("lengthBuckets: sorted by target then source length, within the budget and the row limit, every row once", () => {
  const rows = Array.from(
    { length: 30 },
    (_, i) => ({ i, ids: new Array((i * 7) % 13 + 1), labels: new Array(i % 5 + 1) }),
  );
  const b = lengthBuckets(rows, 60, 4);
  assertEquals(b.flat().map((r) => r.i).sort((x, y) => x - y), rows.map((r) => r.i));
  for (const batch of b) {
    const s = Math.max(...batch.map((r) => r.ids.length)), t = Math.max(...batch.map((r) => r.labels.length));
    assert(batch.length <= 4 && (batch.length === 1 || batch.length * (s + t) <= 60));
  }
  const lens = b.flat().map((r) => r.labels.length * 100 + r.ids.length);
  assertEquals(lens, [...lens].sort((x, y) => x - y));
});
