import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { initBackend, probeWebGpu } from "../backend/mod.ts";
import { parseT5Config, t5ParameterCount, t5ParameterShapes } from "./config.ts";
import { relativePositionBucket, t5Forward, t5Loss, t5ValueAndGrads } from "./model.ts";
import { t5Generate } from "./generate.ts";
import {
  compareSummary,
  entry,
  fixtureBatch,
  fixtureConfigs,
  fixtureModel,
  fixtureTensors,
  maxAbs,
  maxAbsDiff,
  readJson,
  splitNames,
  stats as statsOf,
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

/** Per-position summaries over the vocabulary of logits (B, T, V). */
function logitSummaries(logits: Float32Array, V: number) {
  const n = logits.length / V;
  const lse = new Float64Array(n),
    max = new Float64Array(n),
    sum = new Float64Array(n),
    sumsq = new Float64Array(n);
  const argmax = new Int32Array(n);
  const top5 = [] as number[][];
  for (let p = 0; p < n; p++) {
    const row = logits.subarray(p * V, (p + 1) * V);
    let m = -Infinity, am = 0, s = 0, q = 0;
    for (let j = 0; j < V; j++) {
      const v = row[j];
      if (v > m) [m, am] = [v, j];
      s += v;
      q += v * v;
    }
    let e = 0;
    for (let j = 0; j < V; j++) e += Math.exp(row[j] - m);
    lse[p] = m + Math.log(e);
    max[p] = m;
    argmax[p] = am;
    sum[p] = s;
    sumsq[p] = q;
    top5.push([...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, 5));
  }
  return { lse, max, argmax, sum, sumsq, top5 };
}

async function checkForward(backend: string, tolerance = 1e-4): Promise<void> {
  for (const fc of configs) {
    console.log(`${fc.name} on ${backend}:`);
    const ref = await fixtureTensors(fc, "forward");
    const model = await fixtureModel(fc);
    const V = fc.config.vocab_size;
    try {
      const out = t5Forward(model, {
        inputIds: batch.input_ids,
        attentionMask: batch.attention_mask,
        labels: batch.labels_pad0,
      }, { outputHiddenStates: true, outputAttentions: true });
      const groups: [string, tf.Tensor[]][] = [
        ["encoder_hidden_states", out.encoderHiddenStates],
        ["decoder_hidden_states", out.decoderHiddenStates],
        ["encoder_attentions", out.encoderAttentions],
        ["decoder_attentions", out.decoderAttentions],
        ["cross_attentions", out.crossAttentions],
      ];
      for (const [key, tensors] of groups) {
        let worst = 0, count = 0;
        for (const name of ref.tensors.keys()) {
          if (!name.startsWith(`${key}.`)) continue;
          const i = Number(name.slice(key.length + 1));
          const r = entry(ref, name);
          assertEquals(tensors[i].shape, r.shape, name);
          worst = Math.max(worst, maxAbsDiff(await tensors[i].data(), r.data));
          count++;
        }
        assertEquals(count, tensors.length, `${key}: stored entries vs computed`);
        report(`${key} (${count}) max |diff|`, worst, tolerance);
      }
      report(
        "encoder_last_hidden_state max |diff|",
        maxAbsDiff(await out.encoderLastHiddenState.data(), entry(ref, "encoder_last_hidden_state").data),
        tolerance,
      );
      const logits = (await out.logits.data()) as Float32Array;
      const cols = entry(ref, "logits@col_index").data;
      const colsRef = entry(ref, "logits@cols").data;
      const positions = logits.length / V;
      let colDiff = 0;
      for (let p = 0; p < positions; p++) {
        for (let c = 0; c < cols.length; c++) {
          colDiff = Math.max(colDiff, Math.abs(logits[p * V + cols[c]] - colsRef[p * cols.length + c]));
        }
      }
      report("logits at stored columns max |diff|", colDiff, tolerance);
      const s = logitSummaries(logits, V);
      report(
        "logits logsumexp max |diff|",
        maxAbsDiff(s.lse, entry(ref, "logits@logsumexp").data),
        tolerance,
      );
      report("logits max max |diff|", maxAbsDiff(s.max, entry(ref, "logits@max").data), tolerance);
      // Sums over V entries: compare per entry (the sum's error spreads over V values).
      report("logits sum max |diff| / V", maxAbsDiff(s.sum, entry(ref, "logits@sum").data) / V, tolerance);
      const sq = entry(ref, "logits@sumsq").data;
      let sqRel = 0;
      for (let p = 0; p < positions; p++) sqRel = Math.max(sqRel, Math.abs(s.sumsq[p] - sq[p]) / sq[p]);
      report("logits sumsq max relative diff", sqRel, 1e-5);
      assertEquals([...s.argmax], [...entry(ref, "logits@argmax").data], "argmax");
      const t5ids = entry(ref, "logits@top5_ids").data, t5v = entry(ref, "logits@top5_values").data;
      assertEquals(s.top5.flat(), [...t5ids], "top5 ids");
      report(
        "logits top5 values max |diff|",
        maxAbsDiff(s.top5.flatMap((ids, p) => ids.map((j) => logits[p * V + j])), t5v),
        tolerance,
      );
      const nllRef = entry(ref, "nll_per_position").data;
      const nll = s.lse.map((l, p) => l - logits[p * V + batch.labels_pad0.flat()[p]]);
      report("nll_per_position max |diff|", maxAbsDiff(nll, nllRef), tolerance);
      tf.dispose(out as unknown as tf.TensorContainer);

      for (
        const [variant, labels, key] of [
          ["pads counted", batch.labels_pad0, "loss_pads_counted"],
          ["pads ignored (-100)", batch.labels_ignore, "loss_pads_ignored"],
        ] as const
      ) {
        const loss = t5Loss(model, {
          inputIds: batch.input_ids,
          attentionMask: batch.attention_mask,
          labels,
        });
        const v = (await loss.data())[0];
        loss.dispose();
        report(`loss ${variant} relative diff`, Math.abs(v - fc.outputs[key]) / fc.outputs[key], 1e-5);
      }
      // Ignoring pad labels through the option equals the -100 labels.
      const viaOption = t5Loss(model, {
        inputIds: batch.input_ids,
        attentionMask: batch.attention_mask,
        labels: batch.labels_pad0,
      }, { ignorePadLabels: true });
      const vo = (await viaOption.data())[0];
      viaOption.dispose();
      report(
        "loss ignorePadLabels option relative diff",
        Math.abs(vo - fc.outputs.loss_pads_ignored) / fc.outputs.loss_pads_ignored,
        1e-5,
      );
    } finally {
      model.dispose();
    }
  }
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`forward fixture on ${backend}: hidden states, attentions, logits and losses match HF`, async () => {
    await initBackend(backend, { quiet: true });
    await checkForward(backend);
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
      await checkForward("webgpu");
      await checkGradients("webgpu");
      for (const fc of configs) {
        // Greedy decoding reads back with `await data()` only, so it runs on WebGPU too.
        const model = await fixtureModel(fc);
        const g = fc.outputs.generate;
        try {
          const got = await t5Generate(model, batch.input_ids, {
            maxLength: g.max_length,
            attentionMask: batch.attention_mask,
          });
          assertEquals(got, g.batched_with_attention_mask, fc.name);
          console.log(`  ${fc.name} greedy ids (batched, with mask) identical`);
        } finally {
          model.dispose();
        }
      }
    } finally {
      await initBackend("cpu", { quiet: true });
    }
  },
});
if (!webgpu) console.log("webgpu forward fixture test ignored: no WebGPU adapter in this runtime");

/** Largest |a − b| relative to the reference tensor's largest magnitude. */
function relToMax(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  const m = maxAbs(ref);
  return m === 0 ? maxAbs(got) : maxAbsDiff(got, ref) / m;
}

/** Compares computed tensors (by name) with a fixture file holding full tensors and summaries. */
async function compareWithFile(
  label: string,
  got: Map<string, tf.Tensor>,
  file: Awaited<ReturnType<typeof fixtureTensors>>,
  tolerance: number,
): Promise<void> {
  const { full, summarised } = splitNames(file);
  let worstFull = 0, worstName = "";
  for (const name of full) {
    const g = got.get(name);
    assert(g, `${label}: no computed tensor for "${name}"`);
    assertEquals(g.shape, entry(file, name).shape, name);
    const d = relToMax(await g.data(), entry(file, name).data);
    if (d >= worstFull) [worstFull, worstName] = [d, name];
  }
  report(
    `${label}: ${full.length} full tensors, max |diff| / max |ref| (worst ${worstName})`,
    worstFull,
    tolerance,
  );
  for (const name of summarised) {
    const g = got.get(name);
    assert(g, `${label}: no computed tensor for "${name}"`);
    const s = compareSummary(file, name, (await g.data()) as Float32Array, g.shape[1] ?? 1);
    report(
      `${label}: ${name} summary rows, relative to max |ref| ${s.scale.toExponential(3)}`,
      s.rows,
      tolerance,
    );
    if (s.blocks !== undefined) {
      report(`${label}: ${name} summary block sums (per entry)`, s.blocks, tolerance);
    }
    report(`${label}: ${name} summary stats (per entry)`, s.stats, tolerance);
  }
}

/** Compares `{sum, sum_sq, sum_abs, max_abs}` records with computed tensors; max relative diff. */
async function compareStats(
  got: Map<string, tf.Tensor>,
  recorded: Record<string, { sum: number; sum_sq: number; sum_abs: number; max_abs: number; numel: number }>,
): Promise<number> {
  let worst = 0;
  for (const [name, r] of Object.entries(recorded)) {
    const g = got.get(name);
    assert(g, `no computed tensor for "${name}"`);
    const [s, sq, sa, m] = statsOf(await g.data());
    // The sum can cancel to ~0; measure it per entry against the max, like the other checks.
    worst = Math.max(
      worst,
      Math.abs(s - r.sum) / r.numel / r.max_abs,
      Math.abs(sq - r.sum_sq) / r.sum_sq,
      Math.abs(sa - r.sum_abs) / r.sum_abs,
      Math.abs(m - r.max_abs) / r.max_abs,
    );
  }
  return worst;
}

async function checkGradients(backend: string): Promise<void> {
  for (const fc of configs) {
    console.log(`${fc.name} on ${backend}:`);
    const model = await fixtureModel(fc);
    try {
      const { loss, grads } = t5ValueAndGrads(model, () =>
        t5Loss(model, {
          inputIds: batch.input_ids,
          attentionMask: batch.attention_mask,
          labels: batch.labels_ignore,
        }, { training: true }));
      const v = (await loss.data())[0];
      report("training-mode loss relative diff", Math.abs(v - fc.outputs.loss_pads_ignored) / v, 1e-5);
      assertEquals([...grads.keys()].sort(), [...model.params.keys()].sort());
      await compareWithFile("grads", grads, await fixtureTensors(fc, "grads"), 1e-4);
      report(
        "grad_stats of all parameters, max relative diff",
        await compareStats(grads, fc.outputs.grad_stats),
        1e-4,
      );
      tf.dispose([loss, ...grads.values()]);
    } finally {
      model.dispose();
    }
  }
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`gradients fixture on ${backend}: every parameter's gradient of the -100 loss matches HF`, async () => {
    await initBackend(backend, { quiet: true });
    await checkGradients(backend);
  });
}

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
          await compareWithFile("fisher", fisher, await fixtureTensors(fc, "fisher"), 1e-4);
        }
        report(
          `${variant}: fisher stats of all parameters, max relative diff`,
          await compareStats(fisher, fc.outputs.fisher[variant].all_tensor_stats),
          1e-4,
        );
        tf.dispose([...fisher.values()]);
      }
    } finally {
      model.dispose();
    }
  }
});
