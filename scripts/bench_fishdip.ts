/**
 * `deno task bench:fishdip [--config t5-mini|t5-small] [--backend B] [--steps N] [--max-len L]`
 *
 * What a FISH-DIP mask refresh costs next to plain training, on the CoNLL04 1 % setting of the
 * paper (9 training sentences, seed 1, one batch per epoch since the effective batch is 32, 1000
 * epochs, m = 100): median time of a training step, of a refresh (scoring pass over the subset +
 * n per-sample gradients + global top-k), the refresh's share of the run's wall time, and the
 * process's peak memory. Prints a table and one JSON line.
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { loadDataset } from "../lib/data/mod.ts";
import { lowResourceSubset } from "../lib/data/sampling.ts";
import { FishDip } from "../lib/methods/fishdip.ts";
import { sparseTrainStep } from "../lib/methods/step.ts";
import { t5Trainable } from "../lib/methods/t5_trainable.ts";
import type { MethodContext } from "../lib/methods/types.ts";
import { Adafactor } from "../lib/optim/adafactor.ts";
import { COMPARATOR_SHAPES, parseT5Config } from "../lib/t5/config.ts";
import { createT5 } from "../lib/t5/model.ts";
import { T5Tokenizer } from "../lib/tokenizer/mod.ts";
import { type Batch, buildFeatures, collate, type Feature } from "../lib/train/features.ts";

const SHAPES: Record<string, Readonly<Record<string, number>>> = COMPARATOR_SHAPES;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "t5-mini" },
    backend: { type: "string", default: "auto" },
    steps: { type: "string", default: "5" },
    refreshes: { type: "string", default: "2" },
    "max-len": { type: "string", default: "256" },
    epochs: { type: "string", default: "1000" },
    m: { type: "string", default: "100" },
  },
});
const shape = SHAPES[values.config!];
if (!shape) throw new Error(`unknown --config ${values.config}: ${Object.keys(SHAPES).join(", ")}`);
const info = await initBackend(parseBackendName(values.backend!));
const maxLen = Number(values["max-len"]);

const { examples, schema } = loadDataset("conll04", "train");
const subset = lowResourceSubset(examples, 0.01, 1);
const tokenizer = await T5Tokenizer.load();
const features = buildFeatures(subset, schema, tokenizer, {
  maxInputLength: maxLen,
  maxOutputLength: maxLen,
});
const model = createT5(parseT5Config({ vocab_size: 32128, ...shape }), { seed: 1 });
const trainable = t5Trainable(model) as unknown as MethodContext<Feature, Batch>["model"];
// FISH-DIP pads every example to max_seq_length (256), inputs and labels alike.
const batchOf = (fs: readonly Feature[]) => collate(fs, { padLabelsTo: maxLen, padInputsTo: maxLen });
const ctx: MethodContext<Feature, Batch> = {
  model: trainable,
  data: { examples: features, collate: batchOf },
  trainBatchSize: 32,
};
const method = new FishDip<Feature, Batch>();
const optimizer = new Adafactor(model.params);
let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, Deno.memoryUsage().rss));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Refreshes: the initial mask and refreshes in train mode, as in the run.
const refreshMs: number[] = [];
for (let r = 0; r < Number(values.refreshes); r++) {
  const t0 = performance.now();
  if (r === 0) await method.prepare(ctx);
  else await method.beforeStep(method.config.refreshEvery * r, ctx);
  refreshMs.push(performance.now() - t0);
  sample();
}
const stepMs: number[] = [];
const batch = batchOf(features);
for (let s = 1; s <= Number(values.steps); s++) {
  const t0 = performance.now();
  await sparseTrainStep({ step: s, totalSteps: 1000, batch, ctx, method, optimizer });
  stepMs.push(performance.now() - t0);
  sample();
}
const epochs = Number(values.epochs), m = Number(values.m);
const steps = epochs * Math.ceil(features.length / 32);
const refreshCount = 1 + Math.floor(steps / m); // before step 1, then before steps m, 2m, ...
const step = median(stepMs.slice(1)), refresh = median(refreshMs);
const share = (refreshCount * refresh) / (refreshCount * refresh + steps * step);
const mem = tf.memory();
const result = {
  config: values.config,
  backend: info.backend,
  params: [...model.params.values()].reduce((a, v) => a + v.size, 0),
  examples: features.length,
  maxLen,
  n: method.history[0]?.selected.length,
  stepMedianS: step / 1000,
  refreshMedianS: refresh / 1000,
  refreshOverStep: refresh / step,
  runSteps: steps,
  refreshes: refreshCount,
  refreshShare: share,
  peakRssMB: peakRss / 2 ** 20,
  tfBytesMB: mem.numBytes / 2 ** 20,
};
console.log(
  [
    `FISH-DIP refresh cost, ${values.config} (${result.params.toLocaleString()} parameters) on ${info.backend}`,
    `  CoNLL04 1 %, seed 1: ${features.length} sentences padded to ${maxLen}; n = ${result.n}`,
    `  training step (median of ${stepMs.length - 1}): ${(step / 1000).toFixed(3)} s`,
    `  refresh (median of ${refreshMs.length}): ${(refresh / 1000).toFixed(3)} s = ${
      (refresh / step).toFixed(2)
    } steps`,
    `  run: ${steps} steps, ${refreshCount} refreshes -> refresh share ${
      (100 * share).toFixed(2)
    } % of wall time`,
    `  peak RSS ${result.peakRssMB.toFixed(0)} MB; tfjs tensors ${result.tfBytesMB.toFixed(0)} MB`,
  ].join("\n"),
);
console.log(JSON.stringify(result));
method.dispose();
optimizer.dispose();
model.dispose();
