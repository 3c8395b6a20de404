import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { TINY_T5 } from "../../tests/tiny_t5.ts";
import { createT5 } from "../t5/model.ts";
import { collate, type Feature } from "../train/features.ts";
import { accumulateFisher, accumulateFisherInMemory } from "./fishdip.ts";
import { accumulateFisherOnBackend } from "./scoring_fisher.ts";
import { t5Trainable } from "./t5_trainable.ts";

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`Fisher sums on the backend on ${backend}: the same bits as the in-memory sums`, async () => {
    await initBackend(backend, { quiet: true });
    // The tiny T5 without dropout: the sums compared are of evaluation-mode gradients anyway.
    const model = createT5({ ...TINY_T5, dropout_rate: 0 }, { seed: 4 });
    try {
      const fs: Feature[] = Array.from({ length: 5 }, (_, i) => ({
        id: `f${i}`,
        index: i,
        inputIds: [...Array.from({ length: 3 + 2 * i }, (_, j) => 2 + (i * 7 + j * 3) % 37), 1],
        labelIds: [...Array.from({ length: 1 + i }, (_, j) => 2 + (i * 5 + j) % 37), 1],
      }));
      const data = {
        examples: fs,
        collate: (x: readonly Feature[]) => collate(x, { padLabelsTo: "longest" }),
      };
      const m = t5Trainable(model);
      for (const gradType of ["square", "absolute"] as const) {
        const ref = await accumulateFisherInMemory(m, data, [4, 0, 2], { training: false, gradType });
        const before = tf.memory().numTensors;
        const got = await accumulateFisherOnBackend(m, data, [4, 0, 2], { training: false, gradType });
        assertEquals(tf.memory().numTensors, before, "no leaks");
        assertEquals([...got.keys()], [...ref.keys()]);
        for (const [name, a] of ref) assertEquals(got.get(name), a, `${gradType} ${name}`);
        // The dispatcher picks the backend sums for a model this small: the same bits again.
        const chosen = await accumulateFisher(m, data, [4, 0, 2], { training: false, gradType });
        for (const [name, a] of ref) {
          assertEquals(chosen.get(name), a, `accumulateFisher ${gradType} ${name}`);
        }
      }
    } finally {
      model.dispose();
    }
  });
}
