import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater, assertLess, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { Adafactor } from "../optim/adafactor.ts";
import {
  accumulateFisher,
  EarlyStop,
  FishDip,
  FixedFish,
  FullFinetuning,
  keepCount,
  type MethodContext,
  numFisherSamples,
  RandomMaskMethod,
  selectTopK,
  SparseMask,
  sparseTrainStep,
  topLossIndices,
  type TrainableModel,
} from "./mod.ts";

const BACKEND = (Deno.env.get("TF_BACKEND") ?? "cpu") as "cpu" | "wasm";

interface Ex {
  x: number[];
  y: number;
}
interface Batch {
  xs: number[][];
  ys: number[];
}

function pseudo(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  });
}

/** A softmax classifier y = softmax(x W + b) with W (5, 3) and b (3): 18 parameters. */
function toyModel(): TrainableModel<Batch> & { modes: boolean[]; dispose(): void } {
  const mk = (t: tf.Tensor) => {
    const v = tf.variable(t);
    t.dispose();
    return v;
  };
  const params = new Map<string, tf.Variable>([
    ["W", mk(tf.tensor2d(pseudo(15, 7), [5, 3]))],
    ["b", mk(tf.tensor1d([0.1, 0, -0.1]))],
  ]);
  const rowLoss = (batch: Batch) =>
    tf.tidy(() => {
      const logits = tf.tensor2d(batch.xs).matMul(params.get("W")!).add(params.get("b")!);
      const onehot = tf.oneHot(tf.tensor1d(batch.ys, "int32"), 3);
      return tf.losses.softmaxCrossEntropy(
        onehot,
        logits,
        undefined,
        undefined,
        tf.Reduction.NONE,
      ) as tf.Tensor1D;
    });
  const modes: boolean[] = [];
  return {
    modes,
    parameters: () => params,
    perExampleLoss: (batch, m) => {
      modes.push(m.training);
      return rowLoss(batch);
    },
    lossAndGrads: (batch, m) => {
      modes.push(m.training);
      const vars = [...params.values()];
      const { value, grads } = tf.variableGrads(() => rowLoss(batch).mean() as tf.Scalar, vars);
      return { loss: value, grads: new Map([...params.keys()].map((n, i) => [n, grads[vars[i].name]])) };
    },
    dispose: () => params.forEach((v) => v.dispose()),
  };
}

function toyContext(
  n: number,
  trainBatchSize: number,
): MethodContext<Ex, Batch> & { model: ReturnType<typeof toyModel> } {
  const xs = pseudo(5 * n, 11);
  const examples = Array.from(
    { length: n },
    (_, i) => ({ x: xs.slice(5 * i, 5 * i + 5).map((v) => 4 * v), y: i % 3 }),
  );
  return {
    model: toyModel(),
    data: { examples, collate: (ex) => ({ xs: ex.map((e) => e.x), ys: ex.map((e) => e.y) }) },
    trainBatchSize,
  };
}

Deno.test("numFisherSamples: n = clamp(int(0.1 x #batches), 3, 25), at most N-1, N=1 keeps 1", () => {
  assertEquals(numFisherSamples(9, 32), 3); // CoNLL04 1 %: 1 batch
  assertEquals(numFisherSamples(140, 32), 3); // 5 batches
  assertEquals(numFisherSamples(1404, 32), 4); // 44 batches
  assertEquals(numFisherSamples(44800, 32), 25); // 1400 batches, capped
  assertEquals(numFisherSamples(5, 32), 3); // FewRel 5-way 1-shot
  assertEquals(numFisherSamples(3, 32), 2); // N - 1
  assertEquals(numFisherSamples(2, 32), 1);
  assertEquals(numFisherSamples(1, 32), 1); // the [-0:] slice
  assertThrows(() => numFisherSamples(0, 32));
});

Deno.test("topLossIndices: the highest losses; ties to the lower index; NaN highest", () => {
  assertEquals(topLossIndices([0.5, 2, 1, 2, 0.1], 2), [1, 3]);
  assertEquals(topLossIndices([1, 1, 1, 1], 3), [0, 1, 2]);
  assertEquals(topLossIndices([1, NaN, 3, Infinity], 2), [1, 3]);
  assertEquals(topLossIndices([4, 3], 2), [0, 1]);
});

Deno.test("FishDip on a toy model: top-n samples, exact Fisher, exact k, refresh at m, 2m; frozen entries bit-identical; no leaks", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  const ctx = toyContext(40, 4); // 10 batches -> n = 3
  const { model } = ctx;
  const keepRatio = 0.2; // 18 entries -> keep 3
  const method = new FishDip<Ex, Batch>({ keepRatio, refreshKeepRatio: 0.3, refreshEvery: 3 });
  await method.prepare(ctx);
  const first = method.history[0];
  // The scoring pass matches each example's loss computed alone, and the n chosen are the highest.
  const alone = await Promise.all(ctx.data.examples.map(async (e) => {
    const l = model.perExampleLoss(ctx.data.collate([e]), { training: false });
    const v = (await l.data())[0];
    l.dispose();
    return v;
  }));
  for (let i = 0; i < alone.length; i++) assertLess(Math.abs(first.losses[i] - alone[i]), 1e-6);
  const sorted = [...alone.keys()].sort((a, b) => alone[b] - alone[a]);
  assertEquals(first.selected, sorted.slice(0, 3).sort((a, b) => a - b));
  for (const i of first.selected) for (const j of sorted.slice(3)) assert(alone[i] >= alone[j]);
  // The Fisher equals the sum of squared per-example gradients computed independently.
  const fisher = await accumulateFisher(model, ctx.data, first.selected, { training: false });
  for (const [name, v] of model.parameters()) {
    const expect = new Float64Array(v.size);
    for (const i of first.selected) {
      const { loss, grads } = model.lossAndGrads(ctx.data.collate([ctx.data.examples[i]]), {
        training: false,
      });
      const g = await grads.get(name)!.data();
      g.forEach((x, j) => (expect[j] += x * x));
      loss.dispose();
      grads.forEach((t) => t.dispose());
    }
    fisher.get(name)!.forEach((x, j) => assertLess(Math.abs(x - expect[j]), 1e-6 * (1 + expect[j])));
  }
  // The mask keeps exactly int(total * k) entries: the largest Fisher values.
  const shapes = new Map([...model.parameters()].map(([n, v]) => [n, [...v.shape]]));
  assertEquals(method.mask!.keptCount, keepCount(18, keepRatio));
  const again = selectTopK(fisher, shapes, keepCount(18, keepRatio));
  for (const name of shapes.keys()) assertEquals([...method.mask!.get(name).kept], [...again.get(name).kept]);
  // Initial mask in eval mode.
  assert(model.modes.every((m) => m === false));
  model.modes.length = 0;

  // Train 7 steps with Adafactor: refreshes before steps 3 and 6, in train mode.
  const optimizer = new Adafactor(model.parameters());
  const refreshedAt: number[] = [];
  for (let step = 1; step <= 7; step++) {
    const batch = ctx.data.collate(ctx.data.examples.slice(((step - 1) * 4) % 40, ((step - 1) * 4) % 40 + 4));
    const snap = new Map<string, Uint32Array>();
    for (const [n, v] of model.parameters()) {
      snap.set(n, new Uint32Array(((await v.data()) as Float32Array).slice().buffer));
    }
    const r = await sparseTrainStep({ step, totalSteps: 7, batch, ctx, method, optimizer });
    if (r.refreshed) refreshedAt.push(step);
    assertEquals(r.lr, 1e-2 * (7 - (step - 1)) / 7);
    assert(Number.isFinite(r.loss) && r.gradNorm > 0);
    // Entries outside the mask in force at this step did not move, bit for bit; some kept ones did.
    let moved = 0;
    for (const [n, v] of model.parameters()) {
      const now = new Uint32Array(((await v.data()) as Float32Array).slice().buffer);
      const was = snap.get(n)!;
      for (let i = 0; i < now.length; i++) {
        if (!method.mask!.isKept(n, i)) assertEquals(now[i], was[i], `step ${step}: ${n}[${i}] moved`);
        else if (now[i] !== was[i]) moved++;
      }
    }
    assertGreater(moved, 0);
  }
  assertEquals(refreshedAt, [3, 6]);
  assertEquals(method.history.map((h) => h.step), [0, 3, 6]);
  assertEquals(method.history[1].kept, keepCount(18, 0.3));
  // Resume: a fresh method given the checkpoint's mask (as the trainer restores it) holds the same mask.
  const restored = new FishDip<Ex, Batch>({ refreshEvery: 3 });
  restored.restoreMask(SparseMask.fromDump(structuredClone(method.mask!.dump())));
  for (const name of shapes.keys()) {
    assertEquals([...restored.mask!.get(name).kept], [...method.mask!.get(name).kept]);
  }
  restored.dispose();
  // Refresh passes run in train mode (dropout on in a real model); so does every training step.
  assert(model.modes.every((m) => m === true));
  method.dispose();
  optimizer.dispose();
  again.dispose();
  model.dispose();
  assertEquals(tf.memory().numTensors, before - 0, "tensor leak");
});

Deno.test("mask methods: each trains the toy model through the same loop", async () => {
  await initBackend(BACKEND, { quiet: true });
  const before = tf.memory().numTensors;
  const methods = {
    fishdip: () => new FishDip({ keepRatio: 0.5 }),
    fish: () => new FixedFish({ keepRatio: 0.5 }),
    random: () => new RandomMaskMethod({ keepRatio: 0.5 }),
    full: () => new FullFinetuning(),
  };
  for (const [name, make] of Object.entries(methods)) {
    const ctx = toyContext(12, 4);
    const method = make();
    assertEquals(method.name, name);
    await method.prepare(ctx as MethodContext<unknown, unknown>);
    if (name === "full") assertEquals(method.mask, null);
    else assertEquals(method.mask!.keptCount, 9);
    const optimizer = new Adafactor(ctx.model.parameters());
    const w0 = ((await ctx.model.parameters().get("W")!.data()) as Float32Array).slice();
    for (let step = 1; step <= 2; step++) {
      await sparseTrainStep({
        step,
        totalSteps: 2,
        batch: ctx.data.collate(ctx.data.examples.slice(0, 4)),
        ctx: ctx as MethodContext<unknown, unknown>,
        method,
        optimizer,
      });
    }
    const w1 = (await ctx.model.parameters().get("W")!.data()) as Float32Array;
    let changed = 0;
    w1.forEach((x, i) => (changed += x !== w0[i] ? 1 : 0));
    if (name === "full") assertEquals(changed, 15);
    else assert(changed > 0 && changed <= 9, `${name}: ${changed} entries of W changed`);
    method.dispose();
    optimizer.dispose();
    ctx.model.dispose();
  }
  assertEquals(tf.memory().numTensors, before, "tensor leak");
});

Deno.test("EarlyStop: 20 consecutive losses below 1e-6, reset by a larger one", () => {
  const e = new EarlyStop();
  for (let i = 0; i < 19; i++) assertEquals(e.update(1e-7), false);
  assertEquals(e.update(1e-3), false);
  for (let i = 0; i < 19; i++) assertEquals(e.update(0), false);
  assertEquals(e.update(5e-7), true);
});
