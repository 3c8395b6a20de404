/**
 * FISH-DIP's scoring pass and Fisher on the tiny T5, against the reference fixture computed the
 * way `fish_dip.py`'s `calculate_gradients` does (each batch row alone, pads counted).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLess } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { ignoreWithoutFixtures } from "../../tests/support.ts";
import type { T5Inputs } from "../t5/model.ts";
import {
  compareSummary,
  fixtureBatch,
  fixtureConfigs,
  fixtureModel,
  fixtureTensors,
} from "../../tests/t5_fixtures.ts";
import {
  accumulateFisher,
  FishDip,
  keepCount,
  scoreExamples,
  sparseTrainStep,
  type TrainingSet,
} from "./mod.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { t5Trainable } from "./t5_trainable.ts";
import { maxDiff } from "../../tests/compare.ts";

// wasm by default: on tfjs-backend-cpu 4.22 one T5 backward pass did not finish in 5 minutes here.
const BACKEND = (Deno.env.get("TF_BACKEND") ?? "wasm") as "cpu" | "wasm";

Deno.test({
  name: "fisher fixture: FISH-DIP scoring losses and Fisher on t5-tiny-v1_0 (each row alone, pads counted)",
  ignore: ignoreWithoutFixtures("t5/t5-tiny-v1_0/fisher.safetensors"),
  async fn() {
    await initBackend(BACKEND, { quiet: true });
    const fc = (await fixtureConfigs()).find((c) => c.name === "t5-tiny-v1_0")!;
    const batch = await fixtureBatch();
    const ref = fc.outputs.fisher.pads_counted;
    const model = await fixtureModel(fc);
    const before = tf.memory().numTensors;
    // An example is a batch row; a batch keeps each row's own padding (the fixture's convention).
    const data: TrainingSet<number, T5Inputs> = {
      examples: batch.input_ids.map((_, i) => i),
      collate: (rows) => ({
        inputIds: rows.map((i) => batch.input_ids[i]),
        attentionMask: rows.map((i) => batch.attention_mask[i]),
        labels: rows.map((i) => batch.labels_pad0[i]),
      }),
    };
    const trainable = t5Trainable(model);
    const losses = await scoreExamples(trainable, data, 2, { training: false });
    const lossDiff = Math.max(
      ...ref.per_sample_loss.map((l: number, i: number) => Math.abs(losses[i] - l) / l),
    );
    assertLess(lossDiff, 1e-5, `per-sample losses ${[...losses]} vs ${ref.per_sample_loss}`);
    const fisher = await accumulateFisher(trainable, data, data.examples.map((_, i) => i), {
      training: false,
    });
    const file = await fixtureTensors(fc, "fisher");
    let worstFull = 0, worstSummary = 0, worstStats = 0, compared = 0;
    for (const [name, values] of fisher) {
      const full = file.tensors.get(name);
      if (full) {
        const d = maxDiff(values, full.data as Float32Array);
        worstFull = Math.max(worstFull, d.rel);
        assertLess(d.rel, 5e-4, `${name}: max diff ${d.abs} (scale ${d.scale})`);
        compared++;
      } else if (file.tensors.has(`${name}@rows`)) {
        const shape = model.params.get(name)!.shape;
        const c = compareSummary(file, name, values, shape[shape.length - 1]);
        worstSummary = Math.max(worstSummary, c.rows, c.stats);
        assertLess(Math.max(c.rows, c.stats), 5e-4, `${name} summary ${JSON.stringify(c)}`);
        compared++;
      }
      const st = ref.all_tensor_stats[name];
      let s = 0, sq = 0;
      for (const v of values) (s += v, sq += v * v);
      const rel = Math.max(Math.abs(s - st.sum) / st.sum, Math.abs(sq - st.sum_sq) / st.sum_sq);
      worstStats = Math.max(worstStats, rel);
      assertLess(rel, 1e-3, `${name}: Fisher sum ${s} vs ${st.sum}, sum of squares ${sq} vs ${st.sum_sq}`);
    }
    assert(compared >= 9, `only ${compared} Fisher tensors compared`);
    console.log(
      `  fisher t5-tiny (${BACKEND}): per-sample loss max rel diff ${lossDiff.toExponential(2)}; ` +
        `${compared} tensors vs fixture: max diff / max |ref| ${worstFull.toExponential(2)} (full), ` +
        `${worstSummary.toExponential(2)} (shared.weight summary); sums over all ${fisher.size} ` +
        `parameters ${worstStats.toExponential(2)} relative`,
    );

    // The whole method on the real model: with 2 examples n = min(3, 2 - 1) = 1 (the higher loss).
    const method = new FishDip<number, T5Inputs>();
    await method.prepare({ model: trainable, data, trainBatchSize: 32 });
    const total = [...model.params.values()].reduce((a, v) => a + v.size, 0);
    assertEquals(method.mask!.keptCount, keepCount(total, 0.01));
    const higher = losses[0] >= losses[1] ? 0 : 1;
    assertEquals(method.history[0].selected, [higher]);
    console.log(
      `  FISH-DIP initial mask on t5-tiny: ${method.mask!.keptCount} of ${total} entries, ` +
        `Fisher from example ${higher}, ${method.history[0].ms.toFixed(0)} ms`,
    );
    method.dispose();
    assertEquals(tf.memory().numTensors, before, "tensor leak");
    model.dispose();
  },
});

Deno.test({
  name: "FISH-DIP trains the tiny T5: refresh at step m, masked entries bit-identical, no tensor leaks",
  ignore: ignoreWithoutFixtures("t5/t5-tiny-v1_0/model.safetensors"),
  async fn() {
    await initBackend(BACKEND, { quiet: true });
    const fc = (await fixtureConfigs()).find((c) => c.name === "t5-tiny-v1_0")!;
    const batch = await fixtureBatch();
    const model = await fixtureModel(fc);
    const before = tf.memory().numTensors;
    const data: TrainingSet<number, T5Inputs> = {
      examples: batch.input_ids.map((_, i) => i),
      collate: (rows) => ({
        inputIds: rows.map((i) => batch.input_ids[i]),
        attentionMask: rows.map((i) => batch.attention_mask[i]),
        labels: rows.map((i) => batch.labels_pad0[i]),
      }),
    };
    const ctx = { model: t5Trainable(model), data, trainBatchSize: 2 };
    const method = new FishDip<number, T5Inputs>({ refreshEvery: 2 });
    await method.prepare(ctx);
    const optimizer = new Adafactor(model.params);
    const losses: number[] = [];
    for (let step = 1; step <= 3; step++) {
      const snap = new Map<string, Uint32Array>();
      for (const [n, v] of model.params) {
        snap.set(n, new Uint32Array(((await v.data()) as Float32Array).slice().buffer));
      }
      const r = await sparseTrainStep({
        step,
        totalSteps: 3,
        batch: data.collate([0, 1]),
        ctx,
        method,
        optimizer,
      });
      assertEquals(r.refreshed, step === 2);
      losses.push(r.loss);
      let moved = 0;
      for (const [n, v] of model.params) {
        const now = new Uint32Array(((await v.data()) as Float32Array).slice().buffer);
        const was = snap.get(n)!;
        const dense = method.mask!.toDense(n);
        for (let i = 0; i < now.length; i++) {
          if (now[i] === was[i]) continue;
          if (dense[i] === 0) throw new Error(`step ${step}: frozen ${n}[${i}] moved`);
          moved++;
        }
      }
      assert(moved > 0 && moved <= method.mask!.keptCount, `step ${step}: ${moved} entries moved`);
    }
    assertEquals(method.history.map((h) => h.step), [0, 2]);
    console.log(
      `  FISH-DIP on t5-tiny (${BACKEND}): losses ${losses.map((l) => l.toFixed(4)).join(", ")}; ` +
        `mask overlap after refresh ${method.history[1].overlapWithPrevious} of ${method.history[1].kept}`,
    );
    method.dispose();
    optimizer.dispose();
    assertEquals(tf.memory().numTensors, before, "tensor leak");
    model.dispose();
  },
});
