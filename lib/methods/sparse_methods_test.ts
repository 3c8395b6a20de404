// The sparse methods after FISH-DIP (SpIEL, the static gradient mask, PaFi) on the tiny T5: exact
// density at every step, entries outside the mask bit-identical to the pretrained weights, SpIEL's
// drop-and-grow keeping the count while changing the set, its delta in lib/train/delta.ts's
// format, and no tensor left behind per step.
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater, assertLess } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { createT5, type T5Inputs, type T5Model } from "../t5/model.ts";
import { TINY_T5 } from "../../tests/tiny_t5.ts";
import { applyDelta, readDelta, sparseDelta, writeDelta } from "../train/delta.ts";
import { train } from "../train/trainer.ts";
import { keepCount, selectTopK, SparseMask } from "./mask.ts";
import { parameterShapes } from "./fishdip.ts";
import { Pafi, smallestMagnitudeMask } from "./pafi.ts";
import { isSpielUpdateStep, snapshotWeights, Spiel, spielAccumulates, spielRate } from "./spiel.ts";
import { accumulateBatchGradients, StaticGrad, warmupBatchIndices } from "./static_grad.ts";
import { sparseTrainStep } from "./step.ts";
import { t5Trainable } from "./t5_trainable.ts";
import type { MethodContext, SparseMethod } from "./types.ts";

await initBackend("cpu", { quiet: true });

// A toy copy task: 8 fixed-length rows, so a batch's losses do not depend on its mates.
const ROWS = Array.from({ length: 8 }, (_, i) => {
  const ids = [3 + (i % 7), 4 + ((3 * i) % 11), 5 + ((5 * i) % 13), 1];
  return { input: ids, label: [ids[0], ids[1], ids[2], 1] };
});
const collate = (rows: readonly number[]): T5Inputs => ({
  inputIds: rows.map((r) => ROWS[r].input),
  attentionMask: rows.map(() => [1, 1, 1, 1]),
  labels: rows.map((r) => ROWS[r].label),
});
const batchOf = (step: number) => [(2 * step) % 8, (2 * step + 1) % 8];

function setup(seed = 1) {
  const model = createT5(TINY_T5, { seed });
  const ctx: MethodContext<number, T5Inputs> = {
    model: t5Trainable(model),
    data: { examples: ROWS.map((_, i) => i), collate },
    trainBatchSize: 2,
  };
  let total = 0;
  for (const v of model.params.values()) total += v.size;
  return { model, ctx, total };
}

function weights(model: T5Model): Map<string, Float32Array> {
  return new Map([...model.params].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
}

/** Throws unless every entry outside `mask` is bit-identical to `base`. */
function assertFrozenOutside(
  model: T5Model,
  base: Map<string, Float32Array>,
  mask: SparseMask,
  when: string,
) {
  for (const [name, v] of model.params) {
    const now = new Uint32Array((v.dataSync() as Float32Array).slice().buffer);
    const was = new Uint32Array(base.get(name)!.buffer);
    const dense = mask.toDense(name);
    for (let i = 0; i < now.length; i++) {
      if (dense[i] === 0 && now[i] !== was[i]) {
        throw new Error(`${when}: ${name}[${i}] left the pretrained value`);
      }
    }
  }
}

/**
 * Runs `steps` optimizer steps, checking the count and the frozen entries after each; returns the
 * tensor counts (without the mask's index tensors) and the steps that changed the mask.
 */
async function trainSteps(
  method: SparseMethod<number, T5Inputs>,
  s: ReturnType<typeof setup>,
  pretrained: Map<string, Float32Array>,
  steps: number,
  keep: number,
): Promise<{ tensors: number[]; refreshed: number[]; optimizer: Adafactor }> {
  const optimizer = new Adafactor(s.model.params);
  const tensors: number[] = [], refreshed: number[] = [];
  for (let step = 1; step <= steps; step++) {
    const r = await sparseTrainStep({
      step,
      totalSteps: steps,
      batch: collate(batchOf(step)),
      ctx: s.ctx,
      method,
      optimizer,
    });
    if (r.refreshed) refreshed.push(step);
    assertEquals(method.mask!.keptCount, keep, `step ${step}: density`);
    assertFrozenOutside(s.model, pretrained, method.mask!, `step ${step}`);
    // Less the mask's own index tensors (one per partly kept parameter), which a new set changes.
    let partial = 0;
    for (const m of method.mask!.params.values()) if (m.kept.length > 0 && m.kept.length < m.size) partial++;
    tensors.push(tf.memory().numTensors - partial);
  }
  return { tensors, refreshed, optimizer };
}

Deno.test("pafi: the k smallest |w|, ties to the smallest global index, exact count", () => {
  const w = new Map([
    ["a", new Float32Array([0, -0, 0.5, 0, NaN, -0.1])],
    ["b", new Float32Array([0, 0.2])],
  ]);
  const shapes = new Map([["a", [2, 3]], ["b", [2]]]);
  const kept = (k: number) => {
    const m = smallestMagnitudeMask(w, shapes, k);
    return [[...m.get("a").kept], [...m.get("b").kept], m.keptCount];
  };
  // Four exact zeros (±0 tie): the first three by global index are a[0], a[1], a[3].
  assertEquals(kept(3), [[0, 1, 3], [], 3]);
  assertEquals(kept(5), [[0, 1, 3, 5], [0], 5]);
  // NaN is picked last: after every number.
  assertEquals(kept(7), [[0, 1, 2, 3, 5], [0, 1], 7]);
  assertEquals(kept(8), [[0, 1, 2, 3, 4, 5], [0, 1], 8]);
});

Deno.test("pafi on the tiny T5: smallest magnitudes, fixed, frozen entries untouched, no leak", async () => {
  const s = setup();
  const pretrained = weights(s.model);
  const method = new Pafi<number, T5Inputs>({ keepRatio: 0.05 });
  const keep = keepCount(s.total, 0.05);
  await method.prepare(s.ctx);
  const mask = method.mask!;
  assertEquals(mask.keptCount, keep);
  let maxIn = 0, minOut = Infinity;
  for (const [name, w] of pretrained) {
    const dense = mask.toDense(name);
    w.forEach((x, i) => {
      if (dense[i]) maxIn = Math.max(maxIn, Math.abs(x));
      else minOut = Math.min(minOut, Math.abs(x));
    });
  }
  assert(maxIn <= minOut, `kept |w| up to ${maxIn}, a frozen one is ${minOut}`);
  assertEquals(method.history[0].threshold, maxIn);
  const run = await trainSteps(method, s, pretrained, 4, keep);
  assertEquals(run.refreshed, []);
  assert(method.mask === mask, "the mask never changes");
  assertEquals(new Set(run.tensors).size, 1, `tensors per step: ${run.tensors}`);
  run.optimizer.dispose();
  method.dispose();
  s.model.dispose();
});

Deno.test("static-grad: warm-up batches in order, starting over; top-k of Σ g², fixed for the run", async () => {
  assertEquals(warmupBatchIndices(5, 2, 4), [[0, 1], [2, 3], [4], [0, 1]]);
  assertEquals(warmupBatchIndices(3, 8, 2), [[0, 1, 2], [0, 1, 2]]);

  const s = setup(2);
  const pretrained = weights(s.model);
  const keep = keepCount(s.total, 0.05);
  const method = new StaticGrad<number, T5Inputs>({ keepRatio: 0.05, warmupBatches: 5 });
  await method.prepare(s.ctx);
  const mask = method.mask!;
  assertEquals(mask.keptCount, keep);
  assertEquals(method.history[0].batches, [[0, 1], [2, 3], [4, 5], [6, 7], [0, 1]]);
  // The same selection computed independently from the batches' gradients.
  const scores = await accumulateBatchGradients(s.ctx.model, s.ctx.data, method.history[0].batches, {
    training: false,
    score: "square",
  });
  const expected = selectTopK(scores, parameterShapes(s.model.params), keep);
  assertEquals(mask.overlap(expected), keep);
  const dump = JSON.stringify(Object.entries(mask.dump().params).map(([n, p]) => [n, [...p.kept]]));
  const run = await trainSteps(method, s, pretrained, 4, keep);
  assertEquals(run.refreshed, []);
  assert(method.mask === mask, "the mask never changes");
  assertEquals(JSON.stringify(Object.entries(mask.dump().params).map(([n, p]) => [n, [...p.kept]])), dump);
  assertEquals(new Set(run.tensors).size, 1, `tensors per step: ${run.tensors}`);
  run.optimizer.dispose();
  method.dispose();
  s.model.dispose();
});

Deno.test("spiel schedule: updates after A steps then every R, windows of A steps, linear decay", () => {
  const c = { interval: 20, accumulate: 5, totalSteps: 100, rate: 0.2, initialReselect: true };
  const updates = Array.from({ length: 120 }, (_, i) => i + 1).filter((t) => isSpielUpdateStep(c, t));
  assertEquals(updates, [6, 26, 46, 66, 86]);
  const acc = Array.from({ length: 50 }, (_, i) => i + 1).filter((t) => spielAccumulates(c, t));
  assertEquals(acc, [1, 2, 3, 4, 5, 21, 22, 23, 24, 25, 41, 42, 43, 44, 45]);
  assertEquals(spielRate(c, 6), 1); // the first update replaces the random start
  assertLess(Math.abs(spielRate(c, 26) - 0.2 * (1 - 25 / 100)), 1e-12);
  assertEquals(spielRate({ ...c, initialReselect: false }, 6), 0.2 * (1 - 5 / 100));
  assertEquals(spielRate({ ...c, totalSteps: null }, 26), 0.2);
  // Past the horizon there is no update, and no window feeds one.
  const short = { ...c, totalSteps: 30 };
  assertEquals([26, 46].map((t) => isSpielUpdateStep(short, t)), [true, false]);
  assertEquals([25, 41].map((t) => spielAccumulates(short, t)), [true, false]);
  // A = R: every step since the last update feeds the next one.
  const every = { ...c, interval: 4, accumulate: 4 };
  assert(Array.from({ length: 20 }, (_, i) => i + 1).every((t) => spielAccumulates(every, t)));
});

Deno.test("spiel on the tiny T5: exact density, drop/regrow changes the set, dropped entries reset, delta round trip", async () => {
  const s = setup(3);
  const pretrained = snapshotWeights(s.model.params);
  const cfg = { keepRatio: 0.05, interval: 3, accumulate: 2, rate: 0.5, totalSteps: 12, seed: 7 };
  const method = new Spiel<number, T5Inputs>(cfg, pretrained);
  // A second instance made at the same time, as a resumed run's would be, to take the mask back later.
  const resumed = new Spiel<number, T5Inputs>(cfg, snapshotWeights(s.model.params));
  const keep = keepCount(s.total, 0.05);
  const before = tf.memory().numTensors;
  await method.prepare(s.ctx);
  assertEquals(method.mask!.keptCount, keep);
  const run = await trainSteps(method, s, pretrained, 12, keep);
  // Updates before steps A+1 = 3, then every 3; each fed by the 2 steps before it.
  assertEquals(run.refreshed, [3, 6, 9, 12]);
  assertEquals(method.history.map((h) => h.step), [0, 3, 6, 9, 12]);
  for (const h of method.history.slice(1)) {
    assertEquals([h.accumulatedSteps, h.kept], [2, keep]);
    assertEquals(h.rate, spielRate({ ...cfg, initialReselect: true }, h.step));
    assertGreater(h.dropped, 0, `step ${h.step}: the set changed`);
    assert(h.dropped <= Math.trunc(keep * h.rate), `step ${h.step}: ${h.dropped} dropped`);
    assertEquals(h.overlapWithPrevious, keep - h.dropped);
    assert(h.ms >= h.accumulateMs && h.accumulateMs > 0, `step ${h.step}: ${h.ms} ms, ${h.accumulateMs}`);
  }
  // The first update replaces the random start wholesale: almost nothing survives it.
  assertLess(method.history[1].overlapWithPrevious!, keep / 2);
  // One tensor count from step 1 on (the optimizer's state appears at step 1).
  assertEquals(new Set(run.tensors).size, 1, `tensors per step: ${run.tensors}`);

  // The delta: only entries of the set changed; lib/train/delta.ts's format, round trip exact.
  const tuned = weights(s.model);
  const delta = await method.exportDelta(s.model.params);
  const reference = sparseDelta(pretrained, tuned);
  assertEquals([...delta.keys()], [...reference.keys()]);
  let changed = 0;
  for (const [name, d] of reference) {
    assertEquals([...delta.get(name)!.indices], [...d.indices], name);
    assertEquals([...delta.get(name)!.values], [...d.values], name);
    for (const i of d.indices) assert(method.mask!.isKept(name, i), `${name}[${i}] changed outside the set`);
    changed += d.indices.length;
  }
  assert(changed > 0 && changed <= keep, `${changed} entries changed`);
  const dir = await Deno.makeTempDir({ prefix: "spiel-delta-" });
  try {
    await writeDelta(`${dir}/delta.safetensors`, delta, { method: "spiel" });
    const restored = applyDelta(pretrained, await readDelta(`${dir}/delta.safetensors`));
    for (const [name, w] of tuned) {
      assertEquals(
        [...new Uint32Array(restored.get(name)!.buffer)],
        [...new Uint32Array(w.buffer)],
        `${name} restored bit for bit`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  // Resume: the checkpoint's mask plus the pretrained copy give the same θ₀ and delta.
  resumed.restoreMask(SparseMask.fromDump(method.mask!.dump()));
  for (const [name, b] of method.pretrainedActive) {
    assertEquals([...resumed.pretrainedActive.get(name)!], [...b]);
  }
  assertEquals(await resumed.exportDelta(s.model.params), delta);
  resumed.dispose();

  run.optimizer.dispose();
  method.dispose();
  assertEquals(tf.memory().numTensors, before, "every tensor of the run is disposed");
  s.model.dispose();
});

Deno.test("spiel per tensor (the released code's scope): each parameter keeps its count", async () => {
  const s = setup(4);
  const pretrained = snapshotWeights(s.model.params);
  const method = new Spiel<number, T5Inputs>(
    { keepRatio: 0.1, interval: 2, accumulate: 2, rate: 0.5, totalSteps: 6, scope: "parameter", seed: 1 },
    pretrained,
  );
  await method.prepare(s.ctx);
  const counts = (m: SparseMask) => [...m.params].map(([n, p]) => `${n}:${p.kept.length}`).join(" ");
  const start = counts(method.mask!);
  const run = await trainSteps(method, s, pretrained, 6, keepCount(s.total, 0.1));
  assertEquals(run.refreshed, [3, 5]);
  assertEquals(counts(method.mask!), start);
  assertGreater(method.history[2].dropped, 0);
  run.optimizer.dispose();
  method.dispose();
  s.model.dispose();
});

Deno.test("the trainer counts each method's mask time (prepare, and SpIEL's updates)", async () => {
  for (
    const make of [
      () => new Spiel<number, T5Inputs>({ keepRatio: 0.05, interval: 3, accumulate: 2, totalSteps: 8 }),
      () => new StaticGrad<number, T5Inputs>({ keepRatio: 0.05, warmupBatches: 2 }),
      () => new Pafi<number, T5Inputs>({ keepRatio: 0.05 }),
    ]
  ) {
    const s = setup(5);
    const method = make();
    const result = await train({
      model: s.ctx.model,
      method,
      examples: s.ctx.data.examples,
      collate,
      config: { epochs: 2, batchSize: 2, seed: 1, maxSteps: 8 },
      progress: false,
    });
    const history = (method as { history: { step: number; ms: number }[] }).history;
    // The trainer times prepare itself and takes each later update's own `ms`.
    assertEquals(result.masks.map((m) => m.step), history.map((h) => h.step), method.name);
    const updates = history.slice(1).reduce((a, h) => a + h.ms, 0) / 1000;
    assertGreater(result.maskSeconds, updates, method.name);
    assertLess(result.maskSeconds, result.trainSeconds, method.name);
    method.dispose();
    s.model.dispose();
  }
});

Deno.test("spiel: without a horizon, the drop rate decays over the run's length the trainer gives", async () => {
  const s = setup(4);
  s.ctx.totalSteps = 12;
  const pretrained = snapshotWeights(s.model.params);
  const method = new Spiel<number, T5Inputs>({
    keepRatio: 0.05,
    interval: 3,
    accumulate: 2,
    rate: 0.5,
    seed: 2,
  }, pretrained);
  await method.prepare(s.ctx);
  const run = await trainSteps(method, s, pretrained, 12, keepCount(s.total, 0.05));
  const decayed = { interval: 3, accumulate: 2, rate: 0.5, totalSteps: 12, initialReselect: true };
  assertEquals(method.history.slice(1).map((h) => h.rate), [3, 6, 9, 12].map((st) => spielRate(decayed, st)));
  assertLess(method.history.at(-1)!.rate, 0.5 / 2, "the last update drops well under the initial rate");
  run.optimizer.dispose();
  method.dispose();
  s.model.dispose();
});
