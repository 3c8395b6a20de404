// Unit tests of the T5 model that need no reference fixtures: memory, chunked and sliced losses,
// initialisation and weight loading. (model_test.ts compares with Hugging Face's outputs.)
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual, assertNotEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { parseT5Config, t5ParameterShapes } from "./config.ts";
import {
  createT5,
  exportT5Weights,
  lmHeadCrossEntropy,
  passBytesPerToken,
  t5AccumulatedGrads,
  t5Forward,
  t5FromWeights,
  t5InitStd,
  t5Loss,
  t5PerExampleLoss,
  t5ValueAndGrads,
  type T5Weight,
} from "./model.ts";
import { t5Generate, t5ScoreTargets } from "./generate.ts";
import { maxAbs, maxAbsDiff } from "../../tests/t5_fixtures.ts";

/** Records a measured difference and prints it, so the numbers land in the test log. */
function report(what: string, value: number, tolerance: number): void {
  console.log(`  ${what}: ${value.toExponential(3)} (tolerance ${tolerance.toExponential(0)})`);
  assertLessOrEqual(value, tolerance, what);
}

Deno.test("leak: repeated forward, loss/backward and generation leave tf.memory().numTensors unchanged", async () => {
  await initBackend("cpu", { quiet: true });
  const config = parseT5Config({
    vocab_size: 50,
    d_model: 16,
    d_kv: 4,
    num_heads: 2,
    d_ff: 32,
    num_layers: 2,
    feed_forward_proj: "gated-gelu",
    tie_word_embeddings: false,
    dropout_rate: 0.1,
  });
  const model = createT5(config, { seed: 1 });
  const inputs = {
    inputIds: [[5, 6, 7, 1], [8, 1, 0, 0]],
    attentionMask: [[1, 1, 1, 1], [1, 1, 0, 0]],
    labels: [[9, 1], [10, 1]],
  };
  const step = async () => {
    const { loss, grads } = t5ValueAndGrads(model, () => t5Loss(model, inputs, { training: true }));
    await loss.data();
    tf.dispose([loss, ...grads.values()]);
    const per = t5PerExampleLoss(model, inputs);
    await per.data();
    per.dispose();
    tf.dispose(
      t5Forward(model, inputs, {
        outputHiddenStates: true,
        outputAttentions: true,
      }) as unknown as tf.TensorContainer,
    );
    await t5Generate(model, inputs.inputIds, { maxLength: 6 });
    await t5ScoreTargets(model, inputs);
  };
  await step(); // first call may create cached constants
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await step();
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("lmHeadCrossEntropy: chunked rows give the composed loss and gradients, and hold no tensors", async () => {
  await initBackend("cpu", { quiet: true });
  const [N, D, V] = [11, 6, 37];
  const x = tf.randomNormal([N, D], 0, 1, "float32", 3) as tf.Tensor2D;
  const w = tf.randomNormal([V, D], 0, 2, "float32", 4) as tf.Tensor2D;
  const labels = tf.tensor1d([0, 5, 36, 2, 2, 17, 9, 30, 1, 36, 4], "int32");
  const dy = tf.randomUniform([N], 0.1, 1, "float32", 5);
  // Reference: the loss composed from tfjs ops, differentiated by tfjs.
  const reference = (a: tf.Tensor, b: tf.Tensor) =>
    tf.tidy(() => {
      const logp = tf.logSoftmax(tf.matMul(a, b, false, true));
      return logp.mul(tf.oneHot(labels, V).toFloat()).sum(1).neg();
    });
  const expected = reference(x, w);
  const [gxRef, gwRef] = tf.grads(reference)([x, w], dy);
  // 37 logits per row: chunks of 1, 2 and 4 rows (the last chunk shorter), and one chunk.
  for (const chunkElements of [V, 2 * V + 5, 4 * V, N * V * 10]) {
    const before = tf.memory().numTensors;
    const value = lmHeadCrossEntropy(x, w, labels, chunkElements);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      lmHeadCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, labels, chunkElements)
    )([x, w], dy);
    report(`chunk ${chunkElements} loss`, maxAbsDiff(await value.data(), await expected.data()), 2e-6);
    report(`chunk ${chunkElements} dx`, maxAbsDiff(await gx.data(), await gxRef.data()), 2e-6);
    report(`chunk ${chunkElements} dW`, maxAbsDiff(await gw.data(), await gwRef.data()), 2e-6);
    tf.dispose([value, gx, gw]);
    assertEquals(tf.memory().numTensors, before, "tensors left behind");
  }
  tf.dispose([x, w, labels, dy, expected, gxRef, gwRef]);
});

Deno.test("t5AccumulatedGrads: a batch split into slices gives the one-pass loss and gradients", async () => {
  await initBackend("cpu", { quiet: true });
  const config = parseT5Config({
    vocab_size: 40,
    d_model: 16,
    d_kv: 4,
    num_heads: 2,
    d_ff: 32,
    num_layers: 2,
  });
  const model = createT5(config, { seed: 3 });
  const inputs = {
    inputIds: [[5, 6, 7, 1], [8, 1, 0, 0], [9, 10, 11, 1], [12, 13, 1, 0], [14, 1, 0, 0]],
    attentionMask: [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]],
    labels: [[9, 1, 0], [10, 11, 1], [12, 1, -100], [13, 14, 1], [15, 1, 0]],
  };
  const perRow = 7 * passBytesPerToken(config, 4);
  for (const ignorePadLabels of [false, true]) {
    const one = t5AccumulatedGrads(model, inputs, { ignorePadLabels });
    // 2 rows per pass: slices of 2, 2 and 1 rows; then one row per pass.
    for (const passBytes of [2 * perRow, perRow / 2]) {
      const before = tf.memory().numTensors;
      const split = t5AccumulatedGrads(model, inputs, { ignorePadLabels, passBytes });
      const what = `ignorePadLabels ${ignorePadLabels}, ${passBytes / perRow} rows`;
      const lossDiff = Math.abs((await split.loss.data())[0] - (await one.loss.data())[0]);
      report(`${what}: loss`, lossDiff, 1e-6);
      let worst = 0;
      for (const [name, g] of one.grads) {
        const d = maxAbsDiff(await split.grads.get(name)!.data(), await g.data());
        worst = Math.max(worst, d / Math.max(maxAbs(await g.data()), 1e-12));
      }
      report(`${what}: worst gradient difference / tensor max`, worst, 1e-5);
      tf.dispose([split.loss, ...split.grads.values()]);
      assertEquals(tf.memory().numTensors, before, "tensors left behind");
    }
    tf.dispose([one.loss, ...one.grads.values()]);
  }
  model.dispose();
});

Deno.test("createT5: seeded, with HF _init_weights standard deviations; dropout is seeded and off in eval", async () => {
  await initBackend("wasm", { quiet: true });
  const config = parseT5Config({
    vocab_size: 4000,
    d_model: 32,
    d_kv: 8,
    num_heads: 4,
    d_ff: 64,
    num_layers: 2,
    num_decoder_layers: 1,
    feed_forward_proj: "gated-gelu",
    tie_word_embeddings: false,
    initializer_factor: 2,
  });
  const a = createT5(config, { seed: 5 }),
    b = createT5(config, { seed: 5 }),
    c = createT5(config, { seed: 6 });
  try {
    assertEquals([...a.params.keys()], t5ParameterShapes(config).map((p) => p.name));
    for (const [name, v] of a.params) {
      const x = (await v.data()) as Float32Array;
      assertEquals(x, await b.param(name).data(), `same seed, same ${name}`);
      const std = t5InitStd(config, name);
      if (std === undefined) {
        assert(x.every((y) => y === config.initializer_factor), `${name} is constant`);
        continue;
      }
      assertNotEquals(x, await c.param(name).data(), `other seed, other ${name}`);
      const mean = x.reduce((s, y) => s + y, 0) / x.length;
      const sd = Math.sqrt(x.reduce((s, y) => s + (y - mean) ** 2, 0) / x.length);
      // 4 standard errors of the sample standard deviation.
      assertLessOrEqual(
        Math.abs(sd - std),
        4 * std / Math.sqrt(2 * x.length) + 1e-7,
        `${name}: std ${sd} vs ${std}`,
      );
    }
    const inputs = { inputIds: [[5, 6, 7, 1]], labels: [[9, 8, 1]] };
    const lossOf = async (training: boolean) => {
      const l = t5Loss(a, inputs, { training });
      const v = (await l.data())[0];
      l.dispose();
      return v;
    };
    const evalLoss = await lossOf(false);
    assertEquals(await lossOf(false), evalLoss, "no dropout in eval");
    a.setDropoutSeed(11);
    const t1 = await lossOf(true);
    a.setDropoutSeed(11);
    assertEquals(await lossOf(true), t1, "same dropout seed, same loss");
    assertNotEquals(t1, evalLoss, "dropout (rate 0.1 by default) changes the training loss");
  } finally {
    [a, b, c].forEach((m) => m.dispose());
  }
});

Deno.test("loadT5Weights: accepts tied aliases, rejects missing, unknown and misshapen tensors", async () => {
  await initBackend("cpu", { quiet: true });
  const config = parseT5Config({
    vocab_size: 20,
    d_model: 8,
    d_kv: 2,
    num_heads: 2,
    d_ff: 12,
    num_layers: 1,
  });
  const src = createT5(config, { seed: 1 });
  const weights = await exportT5Weights(src);
  const withAliases = new Map<string, T5Weight>(weights);
  withAliases.set("encoder.embed_tokens.weight", weights.get("shared.weight")!);
  withAliases.set("lm_head.weight", weights.get("shared.weight")!);
  const copy = t5FromWeights(config, withAliases);
  for (const [name, v] of copy.params) assertEquals(await v.data(), weights.get(name), name);
  const missing = new Map(weights);
  missing.delete("encoder.final_layer_norm.weight");
  assertThrows(() => t5FromWeights(config, missing), Error, "lacks T5 parameter");
  const unknown = new Map<string, T5Weight>(weights);
  unknown.set("encoder.block.7.layer.0.SelfAttention.q.weight", new Float32Array(16));
  assertThrows(() => t5FromWeights(config, unknown), Error, "not a parameter");
  const misshapen = new Map<string, T5Weight>(weights);
  misshapen.set("shared.weight", { data: weights.get("shared.weight")!, shape: [8, 20] });
  assertThrows(() => t5FromWeights(config, misshapen), Error, "checkpoint shape");
  [src, copy].forEach((m) => m.dispose());
});

Deno.test("createT5: every seed, 0 included, gives the same weights twice", async () => {
  await initBackend("cpu", { quiet: true });
  const config = parseT5Config({
    vocab_size: 24,
    d_model: 8,
    d_ff: 16,
    d_kv: 4,
    num_heads: 2,
    num_layers: 1,
  });
  for (const seed of [0, 1]) {
    const a = createT5(config, { seed }), b = createT5(config, { seed });
    for (const [name, v] of a.params) {
      assertEquals(await v.data(), await b.param(name).data(), `seed ${seed}: ${name}`);
    }
    a.dispose();
    b.dispose();
  }
});
