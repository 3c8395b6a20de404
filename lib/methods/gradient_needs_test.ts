/**
 * A masked step computes only the gradients its mask lets through (`GradientNeeds`): the masked
 * gradients, and so the training run, must be the same bits as when every gradient is computed.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { blasLoads } from "../../tests/support.ts";
import { parseT5Config } from "../t5/config.ts";
import { createT5, lmHeadCrossEntropy, type T5Inputs, type T5Model } from "../t5/model.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { gradientNeedsOf, SparseMask } from "./mask.ts";
import { FixedFish } from "./baselines.ts";
import { sparseTrainStep } from "./step.ts";
import { t5Trainable } from "./t5_trainable.ts";
import type { MethodContext, SparseMethod } from "./types.ts";

const TINY = {
  d_model: 32,
  d_ff: 64,
  d_kv: 8,
  num_heads: 4,
  num_layers: 2,
  vocab_size: 300,
  dropout_rate: 0.1,
};

function tinyModel(): T5Model {
  return createT5(parseT5Config(TINY), { seed: 3 });
}

/** Seeded token rows (ids ≥ 1; 0 is the pad). */
function ids(rows: number, len: number, seed: number): number[][] {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: rows }, () => Array.from({ length: len }, () => 1 + Math.floor(next() * 299)));
}

function batch(seed: number): T5Inputs {
  return { inputIds: ids(4, 9, seed), labels: ids(4, 6, seed + 1) };
}

/**
 * A mask that keeps nothing in some parameters (the encoder's feed-forward weights), a few rows
 * of the embedding (the tied output projection) and every few entries elsewhere.
 */
function partialMask(model: T5Model): SparseMask {
  const dense = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, v] of model.params) {
    const data = new Float32Array(v.size);
    if (name === "shared.weight") {
      const cols = v.shape[1]!;
      for (const row of [2, 17, 18, 250]) data[row * cols + (row % cols)] = 1;
    } else if (!/encoder\.block\.\d+\.layer\.1\.DenseReluDense/.test(name)) {
      for (let i = 0; i < data.length; i += 7) data[i] = 1;
    }
    dense.set(name, { shape: v.shape, data });
  }
  return SparseMask.fromDense(dense);
}

async function bits(t: tf.Tensor): Promise<Uint32Array> {
  return new Uint32Array((await t.data() as Float32Array).slice().buffer);
}

for (const backend of ["cpu", "wasm", "wasm+blas"] as const) {
  Deno.test({
    name: `gradientNeeds (${backend}): masked gradients are the same bits with and without needs`,
    ignore: backend === "wasm+blas" && !blasLoads(),
    fn: async () => {
      await initBackend(backend, { quiet: true });
      const model = tinyModel();
      const mask = partialMask(model);
      const needs = gradientNeedsOf(mask);
      assertEquals(needs.rows.get("shared.weight"), Int32Array.from([2, 17, 18, 250]));
      assert(!needs.params.has("encoder.block.0.layer.1.DenseReluDense.wi.weight"));
      const trainable = t5Trainable(model);
      const run = (withNeeds: boolean) => {
        model.setDropoutSeed(11); // the same dropout draws in both passes
        const out = trainable.lossAndGrads(batch(5), { training: true }, withNeeds ? needs : undefined);
        mask.apply(out.grads);
        return out;
      };
      const full = run(false), sparse = run(true);
      assertEquals([...sparse.grads.keys()], [...full.grads.keys()], "same parameters, same order");
      assertEquals(await bits(sparse.loss), await bits(full.loss));
      for (const [name, g] of full.grads) {
        assertEquals(await bits(sparse.grads.get(name)!), await bits(g), name);
      }
      tf.dispose([full.loss, sparse.loss, ...full.grads.values(), ...sparse.grads.values()]);
      model.dispose();
    },
  });
}

Deno.test("lmHeadCrossEntropy: gradient rows on request (the same bits), zeros elsewhere or for none", async () => {
  await initBackend("wasm", { quiet: true });
  const x = tf.randomNormal([10, 16], 0, 1, "float32", 1) as tf.Tensor2D;
  const w = tf.randomNormal([50, 16], 0, 1, "float32", 2) as tf.Tensor2D;
  const labels = tf.tensor1d([0, 3, 49, 7, 7, 12, 30, 1, 2, 44], "int32");
  // Two chunks of rows (8 × 50 logits each at most), so the per-chunk sums are exercised too.
  const grads = (rows?: Int32Array) =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      lmHeadCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, labels, 400, rows).sum()
    )([x, w]);
  const [dxAll, dwAll] = grads();
  const rows = Int32Array.from([0, 7, 44]);
  const [dxSome, dwSome] = grads(rows);
  const [dxNone, dwNone] = grads(new Int32Array(0));
  assertEquals(await bits(dxSome), await bits(dxAll));
  assertEquals(await bits(dxNone), await bits(dxAll));
  const all = await bits(dwAll), some = await bits(dwSome);
  for (let r = 0; r < 50; r++) {
    const want = rows.includes(r) ? all.subarray(r * 16, r * 16 + 16) : new Uint32Array(16);
    assertEquals(some.subarray(r * 16, r * 16 + 16), want, `row ${r}`);
  }
  assert(all.some((v) => v !== 0));
  assert((await dwNone.data()).every((v) => v === 0));
  tf.dispose([x, w, labels, dxAll, dwAll, dxSome, dwSome, dxNone, dwNone]);
});

Deno.test({
  name: "lmHeadCrossEntropy (wasm+blas): a few gradient rows of a t5-mini-sized head, the same bits",
  ignore: !blasLoads(),
  fn: async () => {
    await initBackend("wasm+blas", { quiet: true });
    // Chunks of 336 rows against a 24960-row head: a product of 8 rows is under OpenBLAS's
    // small-matrix size, whose kernels round differently unless the subset is padded.
    const x = tf.randomNormal([672, 256], 0, 0.3, "float32", 3) as tf.Tensor2D;
    const w = tf.randomNormal([24960, 256], 0, 0.3, "float32", 4) as tf.Tensor2D;
    const labels = tf.tensor1d(Array.from({ length: 672 }, (_, i) => (i * 37) % 24960), "int32");
    const dw = (rows?: Int32Array) =>
      tf.grad((b: tf.Tensor) => lmHeadCrossEntropy(x, b as tf.Tensor2D, labels, undefined, rows).sum())(w);
    const rows = Int32Array.from([1, 5, 300, 301, 9000, 12000, 20000, 24959]);
    const all = await bits(dw()), some = await bits(dw(rows));
    for (const r of rows) {
      assertEquals(some.subarray(r * 256, r * 256 + 256), all.subarray(r * 256, r * 256 + 256), `row ${r}`);
    }
    tf.dispose([x, w, labels]);
  },
});

/** The method with its `gradientNeeds` hidden: every step computes every gradient. */
function withoutNeeds<E, B>(m: SparseMethod<E, B>): SparseMethod<E, B> {
  return {
    name: m.name,
    get mask() {
      return m.mask;
    },
    prepare: (ctx) => m.prepare(ctx),
    beforeStep: (s, ctx) => m.beforeStep(s, ctx),
    maskGradients: (g) => m.maskGradients(g),
    restoreMask: (mask) => m.restoreMask(mask),
    dispose: () => m.dispose(),
  };
}

Deno.test("gradientNeeds: FISH's training run ends with the same weights with and without it", async () => {
  await initBackend("wasm", { quiet: true });
  const examples = [0, 1, 2, 3, 4, 5];
  const finalWeights = async (hide: boolean) => {
    const model = tinyModel();
    const data = {
      examples,
      collate: (rows: readonly number[]): T5Inputs => ({
        inputIds: rows.map((i) => ids(1, 9, 100 + i)[0]),
        labels: rows.map((i) => ids(1, 6, 200 + i)[0]),
      }),
    };
    const ctx: MethodContext<number, T5Inputs> = { model: t5Trainable(model), data, trainBatchSize: 2 };
    const fish = new FixedFish<number, T5Inputs>({ keepRatio: 0.02 });
    const method = hide ? withoutNeeds(fish) : fish;
    await method.prepare(ctx);
    if (!hide) assert(fish.gradientNeeds()!.params.size < model.params.size, "some parameters keep nothing");
    const optimizer = new Adafactor(model.params);
    model.setDropoutSeed(7);
    for (let step = 1; step <= 3; step++) {
      const b = data.collate(examples.slice(2 * (step - 1), 2 * step));
      await sparseTrainStep({ step, totalSteps: 3, batch: b, ctx, method, optimizer });
    }
    const out = new Map<string, Uint32Array>();
    for (const [name, v] of model.params) out.set(name, await bits(v));
    optimizer.dispose();
    method.dispose();
    model.dispose();
    return out;
  };
  const a = await finalWeights(false), b = await finalWeights(true);
  for (const [name, v] of a) assertEquals(v, b.get(name)!, name);
});
