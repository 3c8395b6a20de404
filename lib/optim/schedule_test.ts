import * as tf from "@tensorflow/tfjs";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { linearDecayLr, linearScheduleFactor, totalTrainingSteps } from "./schedule.ts";
import { clipGradNorm } from "./clip.ts";

const BACKEND = (Deno.env.get("TF_BACKEND") ?? "cpu") as "cpu" | "wasm";

Deno.test("schedule: HF linear decay without warm-up, stepped after each optimizer step", () => {
  // T = 4: optimizer steps 1..4 run with factors 1, 3/4, 1/2, 1/4.
  assertEquals([1, 2, 3, 4].map((t) => linearDecayLr(1e-2, t, 4)), [1e-2, 0.75e-2, 0.5e-2, 0.25e-2]);
  assertEquals(linearScheduleFactor(4, 4), 0);
  assertEquals(linearScheduleFactor(9, 4), 0);
  // With warm-up W = 2 of T = 6: 0, 1/2, then (6 - s) / 4.
  assertEquals([0, 1, 2, 3, 5].map((s) => linearScheduleFactor(s, 6, 2)), [0, 0.5, 1, 0.75, 0.25]);
  assertThrows(() => linearDecayLr(1e-2, 0, 4));
  // CoNLL04 1 %: 9 examples, batch 32, 1000 epochs -> 1000 steps; 140 examples, 250 epochs -> 1250.
  assertEquals(totalTrainingSteps(9, 32, 1000), 1000);
  assertEquals(totalTrainingSteps(140, 32, 250), 1250);
});

Deno.test("clipGradNorm: torch clip_grad_norm_ semantics, in place, no leaks", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3, 0])], ["b", tf.tensor2d([[0, 4]])]]);
  const total = clipGradNorm(grads, 1.0);
  assertAlmostEquals((await total.data())[0], 5, 1e-6);
  const coef = 1 / (5 + 1e-6);
  const a = await grads.get("a")!.data(), b = await grads.get("b")!.data();
  assertAlmostEquals(a[0], 3 * coef, 1e-7);
  assertAlmostEquals(b[1], 4 * coef, 1e-7);
  total.dispose();
  // Below the threshold nothing changes, bit for bit.
  const small = new Map<string, tf.Tensor>([["a", tf.tensor1d([0.1, -0.2])]]);
  const t2 = clipGradNorm(small, 1.0);
  assertEquals(Array.from(await small.get("a")!.data()), [Math.fround(0.1), Math.fround(-0.2)]);
  t2.dispose();
  for (const g of [...grads.values(), ...small.values()]) g.dispose();
  assertEquals(tf.memory().numTensors, before);
});
