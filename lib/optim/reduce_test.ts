import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertLess } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { sumOfSquares } from "./reduce.ts";

const BACKEND = (Deno.env.get("TF_BACKEND") ?? "cpu") as "cpu" | "wasm";

Deno.test("sumOfSquares: close to the float64 value for a large tensor, any rank", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  // 2^20 + 13 entries of a deterministic pattern; float64 reference computed in JS.
  const n = (1 << 20) + 13;
  const data = new Float32Array(n);
  let exact = 0;
  for (let i = 0; i < n; i++) {
    data[i] = Math.fround(Math.sin(i * 0.37) * (1 + (i % 7)));
    exact += data[i] * data[i];
  }
  for (const shape of [[n], [1, n]]) {
    const x = tf.tensor(data, shape);
    const s = sumOfSquares(x);
    const got = (await s.data())[0];
    assertLess(Math.abs(got - exact) / exact, 1e-6, `shape [${shape}]: ${got} vs ${exact}`);
    x.dispose();
    s.dispose();
  }
  const m = tf.tensor(data.subarray(0, 1024 * 1023), [1024, 1023]);
  let e2 = 0;
  for (let i = 0; i < 1024 * 1023; i++) e2 += data[i] * data[i];
  const s2 = sumOfSquares(m);
  assertLess(Math.abs((await s2.data())[0] - e2) / e2, 1e-6);
  m.dispose();
  s2.dispose();
  const z = tf.zeros([0]);
  const s3 = sumOfSquares(z);
  assertEquals((await s3.data())[0], 0);
  z.dispose();
  s3.dispose();
  assertEquals(tf.memory().numTensors, before);
});
