import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater, assertLessOrEqual } from "@std/assert";
import { initBackend, probeWebGpu } from "../backend/mod.ts";
import { parseT5Config, t5ParameterCount, t5ParameterShapes } from "./config.ts";
import { relativePositionBucket, t5Loss, t5ValueAndGrads } from "./model.ts";
import { checkT5Parity, compareStats, compareTensors, type ParityGroup } from "./parity.ts";
import {
  fixtureBatch,
  fixtureConfigs,
  fixtureModel,
  fixtureTensors,
  readJson,
  t5FixturesDir,
} from "../../tests/t5_fixtures.ts";

const configs = await fixtureConfigs();
const batch = await fixtureBatch();

/** Records a measured difference and prints it, so the numbers land in the test log. */
function report(what: string, value: number, tolerance: number): void {
  console.log(`  ${what}: ${value.toExponential(3)} (tolerance ${tolerance.toExponential(0)})`);
  assertLessOrEqual(value, tolerance, what);
}

Deno.test("config fixture: parameter names, shapes and counts match named_parameters and the weights file", async () => {
  for (const fc of configs) {
    const shapes = t5ParameterShapes(fc.config);
    const named = fc.outputs.named_parameters as { name: string; shape: number[] }[];
    assertEquals(shapes.map((p) => [p.name, p.shape]), named.map((p) => [p.name, p.shape]), fc.name);
    assertEquals(t5ParameterCount(fc.config), fc.outputs.num_parameters);
    const file = await fixtureTensors(fc, "model");
    assertEquals(shapes.map((p) => p.name).sort(), [...file.tensors.keys()].sort());
    assertEquals(fc.outputs.weights_file_keys.slice().sort(), [...file.tensors.keys()].sort());
  }
  // HF defaults: an empty config.json is t5-small with tied embeddings.
  const d = parseT5Config({});
  assertEquals([d.d_model, d.num_decoder_layers, d.tie_word_embeddings, d.dense_act_fn], [
    512,
    6,
    true,
    "relu",
  ]);
  assertEquals(parseT5Config({ feed_forward_proj: "gated-gelu" }).dense_act_fn, "gelu_new");
});

Deno.test("relative position buckets fixture: every table matches HF's float32 bucket arithmetic", async () => {
  const tables = await readJson<
    {
      num_buckets: number;
      max_distance: number;
      bidirectional: boolean;
      relative_position_first: number;
      buckets: number[];
    }[]
  >(`${t5FixturesDir()}/relative_position_buckets.json`);
  assert(tables.length > 0);
  for (const t of tables) {
    const got = t.buckets.map((_, i) =>
      relativePositionBucket(t.relative_position_first + i, t.bidirectional, t.num_buckets, t.max_distance)
    );
    assertEquals(got, t.buckets, `${t.num_buckets}/${t.max_distance}/${t.bidirectional}`);
  }
});

/**
 * Runs the fixture comparisons of `groups` (lib/t5/parity.ts, the GPU check's too) on the active
 * backend, prints every record and asserts each one. A comparison that threw, or a configuration
 * or group without records, fails too: a check skipped silently must not pass.
 */
async function assertParity(groups: ParityGroup[]): Promise<void> {
  let last = "";
  const parity = await checkT5Parity({
    groups,
    onRecord: (r) => {
      if (`${r.config} ${r.group}` !== last) console.log(`${r.config} ${r.group} on ${tf.getBackend()}:`);
      last = `${r.config} ${r.group}`;
      console.log(`  ${r.what}: ${r.value.toExponential(3)} (tolerance ${r.tolerance.toExponential(0)})`);
    },
  });
  assertEquals(parity.error, undefined, "a fixture comparison threw");
  for (const fc of configs) {
    for (const group of groups) {
      const n = parity.records.filter((r) => r.config === fc.name && r.group === group).length;
      assertGreater(n, 0, `${fc.name} ${group}: no records`);
    }
  }
  for (const r of parity.records) {
    assert(r.ok, `${r.config} ${r.group}: ${r.what}: ${r.value} (tolerance ${r.tolerance})`);
  }
  console.log(`${parity.records.length} records, all within tolerance`);
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`forward fixture on ${backend}: hidden states, attentions, logits and losses match HF`, async () => {
    await initBackend(backend, { quiet: true });
    await assertParity(["forward", "losses"]);
  });
  Deno.test(`gradients fixture on ${backend}: every parameter's gradient of the -100 loss matches HF`, async () => {
    await initBackend(backend, { quiet: true });
    await assertParity(["gradients"]);
  });
}

const webgpu = await probeWebGpu();
Deno.test({
  name: "forward, gradients and generate fixtures on webgpu: match HF",
  ignore: !webgpu,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend("webgpu", { quiet: true });
    console.log(`  adapter: ${webgpu?.description}`);
    try {
      // Greedy decoding reads back with `await data()` only, so it runs on WebGPU too.
      await assertParity(["forward", "losses", "gradients", "generate"]);
    } finally {
      await initBackend("cpu", { quiet: true });
    }
  },
});
if (!webgpu) console.log("webgpu forward fixture test ignored: no WebGPU adapter in this runtime");

Deno.test("fisher fixture on wasm: squared per-sample gradients summed over rows match FISH-DIP's", async () => {
  await initBackend("wasm", { quiet: true });
  for (const fc of configs) {
    console.log(`${fc.name}:`);
    const model = await fixtureModel(fc);
    try {
      for (
        const [variant, labels] of [["pads_counted", batch.labels_pad0], [
          "pads_ignored",
          batch.labels_ignore,
        ]] as const
      ) {
        const fisher = new Map<string, tf.Tensor>();
        const perSample: number[] = [];
        for (let r = 0; r < batch.input_ids.length; r++) {
          // Each row as its own batch of one, keeping its padding and mask (FISH-DIP's scoring pass).
          const { loss, grads } = t5ValueAndGrads(model, () =>
            t5Loss(model, {
              inputIds: [batch.input_ids[r]],
              attentionMask: [batch.attention_mask[r]],
              labels: [labels[r]],
            }, { training: true }));
          perSample.push((await loss.data())[0]);
          for (const [name, g] of grads) {
            const sq = g.square();
            const prev = fisher.get(name);
            fisher.set(name, prev ? prev.add(sq) : sq.clone());
            tf.dispose([prev, sq, g].filter((t) => t !== undefined) as tf.Tensor[]);
          }
          loss.dispose();
        }
        const refLoss: number[] = fc.outputs.fisher[variant].per_sample_loss;
        report(
          `${variant}: per-sample loss max relative diff`,
          Math.max(...perSample.map((v, i) => Math.abs(v - refLoss[i]) / refLoss[i])),
          1e-5,
        );
        if (variant === "pads_counted") {
          await compareTensors("fisher", fisher, await fixtureTensors(fc, "fisher"), 1e-4, report);
        }
        await compareStats(
          `${variant}: fisher stats of all parameters`,
          fisher,
          fc.outputs.fisher[variant].all_tensor_stats,
          1e-4,
          report,
        );
        tf.dispose([...fisher.values()]);
      }
    } finally {
      model.dispose();
    }
  }
});
