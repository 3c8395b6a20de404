import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual, assertThrows } from "@std/assert";
import { initBackend } from "./mod.ts";
import { hasRowCrossEntropyKernel, rowCrossEntropy, rowCrossEntropyOp } from "./row_cross_entropy.ts";

/** Seeded logits (rows, vocab) spread over ±`scale`, and labels in [0, vocab). */
function sample(rows: number, vocab: number, scale: number, seed: number) {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const logits = Float32Array.from({ length: rows * vocab }, () => (2 * next() - 1) * scale);
  const labels = Int32Array.from({ length: rows }, () => Math.floor(next() * vocab));
  return { logits, labels };
}

/** logsumexp − label logit in float64 with Math.exp. */
function reference(logits: Float32Array, vocab: number, labels: Int32Array): number[] {
  return [...labels].map((label, i) => {
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    const max = row.reduce((a, x) => Math.max(a, x), -Infinity);
    return max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[label];
  });
}

Deno.test("rowCrossEntropy: logsumexp minus the label's logit, within float32 rounding of a float64 reference", () => {
  // Small and wide logit ranges (the widest puts most exponentials below the clamp at e^-104).
  for (const [scale, vocab] of [[0.5, 7], [8, 1000], [60, 3001], [1e4, 50]]) {
    const { logits, labels } = sample(5, vocab, scale, 17 + vocab);
    const out = new Float32Array(5);
    rowCrossEntropy(logits, vocab, labels, out);
    const ref = reference(logits, vocab, labels);
    for (let i = 0; i < 5; i++) {
      assertLessOrEqual(
        Math.abs(out[i] - ref[i]),
        2e-7 * Math.max(1, Math.abs(ref[i])),
        `scale ${scale}, row ${i}`,
      );
    }
  }
});

Deno.test("rowCrossEntropy: a NaN or +∞ logit makes its row NaN; a label outside the vocabulary throws", () => {
  const logits = Float32Array.from([0, 1, 2, NaN, 1, 2, Infinity, 0, 1, 3, 2, 1]);
  const out = new Float32Array(4);
  rowCrossEntropy(logits, 3, Int32Array.from([0, 1, 1, 2]), out);
  assert(Number.isNaN(out[1]) && Number.isNaN(out[2]));
  assert(Number.isFinite(out[0]) && Number.isFinite(out[3]));
  assertThrows(() => rowCrossEntropy(logits, 3, Int32Array.from([0, 3, 0, 0]), out), Error, "outside");
});

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`row cross-entropy kernel on ${backend}: equals logSoftmax + gather within 1e-6 relative`, async () => {
    await initBackend(backend, { quiet: true });
    assert(hasRowCrossEntropyKernel());
    const rows = 13, vocab = 2053;
    const { logits, labels } = sample(rows, vocab, 12, 5);
    const before = tf.memory().numTensors;
    const [got, want] = tf.tidy(() => {
      const x = tf.tensor2d(logits, [rows, vocab]), l = tf.tensor1d(labels, "int32");
      const composed = tf.logSoftmax(x).mul(tf.oneHot(l, vocab).toFloat()).sum(1).neg();
      return [rowCrossEntropyOp(x, l), composed];
    });
    const [g, w] = [await got.data(), await want.data()];
    tf.dispose([got, want]);
    assertEquals(tf.memory().numTensors, before);
    assertEquals(got.shape, [rows]);
    for (let i = 0; i < rows; i++) assertLessOrEqual(Math.abs(g[i] - w[i]) / w[i], 1e-6, `row ${i}`);
  });
}
