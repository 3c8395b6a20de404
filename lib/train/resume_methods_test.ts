// Every method the registry marks `resumable` must continue a killed run to the same losses and
// weights, bit for bit, as one run through: the grid relies on it to resume long cells
// (lib/reproduce/run_cell.ts). A method that keeps state outside its mask and the trainable's
// parameters (SpIEL's accumulated gradients) is not marked, and the grid restarts its cells.
import { assertEquals } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { createMethod, METHOD_NAMES, methodConfig, type MethodName, METHODS } from "../methods/registry.ts";
import { TINY_T5 } from "../../tests/tiny_t5.ts";
import { createT5 } from "../t5/model.ts";
import { collate, type Feature } from "./features.ts";
import { train, type TrainConfig } from "./trainer.ts";

await initBackend("cpu", { quiet: true });

function toyFeatures(n: number): Feature[] {
  return Array.from({ length: n }, (_, i) => {
    const ids = [3 + (i % 7), 4 + ((3 * i) % 11), 5 + ((5 * i) % 13), 1];
    return { id: `train-${i}`, index: i, inputIds: ids, labelIds: ids.slice(0, 2 + (i % 3)).concat([1]) };
  });
}

/** Settings small enough that every mechanism (refreshes, warm-up, intervals) acts within 12 steps. */
const SMALL: Record<string, unknown> = { k: 0.05, m: 4, n: 3, warmupBatches: 2, interval: 4, accumulate: 2 };

async function run(name: MethodName, cfg: TrainConfig, abortAfter?: number) {
  const model = createT5(TINY_T5, { seed: 1 });
  const defaults = METHODS[name].defaults as Record<string, unknown>;
  const patch = Object.fromEntries(Object.entries(SMALL).filter(([key]) => key in defaults));
  const setup = createMethod<Feature>(methodConfig(name, patch as never), { model, seed: 3 });
  const controller = new AbortController();
  try {
    const result = await train({
      model: setup.trainable,
      method: setup.method,
      examples: toyFeatures(10),
      collate: (fs) => collate(fs, { padLabelsTo: 6 }),
      config: { ...cfg, adafactor: { ...setup.adafactor } },
      progress: false,
      reseed: (s) => model.setDropoutSeed(s),
      signal: controller.signal,
      onStep: ({ step }) => {
        if (step === abortAfter) controller.abort();
      },
    });
    const weights = new Map<string, Float32Array>();
    for (const params of [model.params, setup.trainable.parameters()]) {
      for (const [n, v] of params) weights.set(n, (await v.data()) as Float32Array);
    }
    return { result, weights };
  } finally {
    setup.dispose();
    model.dispose();
  }
}

for (const name of METHOD_NAMES.filter((n) => METHODS[n].resumable)) {
  Deno.test(`resume: a killed ${name} run continues to the same losses and weights`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const base: TrainConfig = { epochs: 4, batchSize: 4, seed: 2, lr: 1e-2 };
      const whole = await run(name, base);
      const cfg: TrainConfig = { ...base, runDir: `${dir}/run`, checkpointEvery: 3, resume: true };
      const killed = await run(name, cfg, 7);
      assertEquals(killed.result.steps, 7);
      const resumed = await run(name, cfg);
      assertEquals(resumed.result.resumedFrom, 6);
      assertEquals(resumed.result.losses, whole.result.losses);
      assertEquals(resumed.result.masks, whole.result.masks);
      for (const [n, w] of whole.weights) assertEquals(resumed.weights.get(n), w, `${name}: weights of ${n}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
