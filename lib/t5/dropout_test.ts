import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { dropoutMultiplierValues, keepThreshold, seededDropout } from "./dropout.ts";

/** Seeded values in (−2, 2) (a linear congruential stream, independent of tfjs's generators). */
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from(
    { length: n },
    () => 4 * ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 2,
  );
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`seededDropout (${backend}): bit for bit tf.dropout's values, for several rates, seeds and shapes`, async () => {
    await initBackend(backend);
    // Seed 0 is a seed to tfjs ("0"), not "unseeded"; large seeds are the model's running counter.
    const cases: [number[], number, number][] = [
      [[3, 5, 7], 0.1, 1],
      [[1000], 0.1, 0],
      [[8, 8, 16, 16], 0.1, 123456],
      [[257, 31], 0.5, 7],
      [[64, 64], 0.3, 99],
      [[2, 1000], 0.9, 4242424],
      [[4096], 0.01, 5],
    ];
    for (const [shape, rate, seed] of cases) {
      const size = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(values(size, seed + 3), shape);
      const ours = seededDropout(x, rate, seed), theirs = tf.dropout(x, rate, undefined, seed);
      const a = await ours.data(), b = await theirs.data();
      const label = `shape [${shape}], rate ${rate}, seed ${seed}`;
      assertEquals(ours.shape, theirs.shape, label);
      let differ = 0, dropped = 0;
      for (let i = 0; i < size; i++) {
        if (!Object.is(a[i], b[i])) differ++;
        if (b[i] === 0) dropped++;
      }
      assertEquals(differ, 0, `${label}: ${differ} of ${size} values differ`);
      // The comparison means something only if both kinds of element occur.
      if (size >= 1000) assert(dropped > 0 && dropped < size, `${label}: ${dropped} dropped`);
      tf.dispose([x, ours, theirs]);
    }
  });
}

Deno.test("seededDropout: its gradient is the multiplier, as tf.dropout's", async () => {
  await initBackend("cpu");
  const x = tf.tensor(values(600, 11), [20, 30]);
  const ours = tf.grad((v: tf.Tensor) => seededDropout(v, 0.2, 77).mul(v).sum())(x);
  const theirs = tf.grad((v: tf.Tensor) => tf.dropout(v, 0.2, undefined, 77).mul(v).sum())(x);
  assertEquals(Array.from(await ours.data()), Array.from(await theirs.data()));
  tf.dispose([x, ours, theirs]);
});

Deno.test("seededDropout: rate 0 is the identity; rates outside [0, 1) are refused", async () => {
  await initBackend("cpu");
  const x = tf.tensor([1, -2, 3]);
  const y = seededDropout(x, 0, 5);
  assertEquals(Array.from(await y.data()), [1, -2, 3]);
  assertThrows(() => dropoutMultiplierValues(4, 1, 5), Error, "rate");
  assertThrows(() => dropoutMultiplierValues(4, -0.1, 5), Error, "rate");
  tf.dispose([x, y]);
});

Deno.test("dropoutMultiplierValues: about the expected share dropped, each kept value 1 / (1 − rate)", () => {
  const m = dropoutMultiplierValues(100_000, 0.1, 3);
  const kept = m.filter((v) => v !== 0);
  assert(Math.abs(1 - kept.length / m.length - 0.1) < 0.005, `dropped share ${1 - kept.length / m.length}`);
  assert(kept.every((v) => v === Math.fround(1 / Math.fround(0.9))));
});

Deno.test("keepThreshold: a draw keeps exactly when it reaches the threshold, at the boundary too", () => {
  // Random draws almost never land within a float32 rounding step of the boundary, so the
  // comparison tests above cannot tell a threshold one step off: check the boundary directly.
  const STEP = 2 ** -32;
  for (const rate of [0.1, 0.3, 0.5, 0.01, 0.9, 1e-7, 0.999999, 1 / 3]) {
    const keep = Math.fround(1 - rate);
    const keeps = (u: number) => Math.fround(Math.fround(u) + keep) >= 1;
    const threshold = keepThreshold(keep);
    assert(Number.isInteger(threshold / STEP), `rate ${rate}: a multiple of 2^-32`);
    for (let k = -2000; k <= 2000; k++) {
      const u = threshold + k * STEP;
      if (u < 0 || u >= 1) continue;
      assertEquals(u >= threshold, keeps(u), `rate ${rate}: draw ${u} (${k} steps from the threshold)`);
    }
  }
});
