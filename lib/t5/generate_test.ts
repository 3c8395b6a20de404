import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { parseT5Config } from "./config.ts";
import { t5Generate, t5ScoreTargets } from "./generate.ts";
import { createT5, t5Forward, type T5Model } from "./model.ts";
import { fixtureBatch, fixtureConfigs, fixtureModel } from "../../tests/t5_fixtures.ts";

const configs = await fixtureConfigs();
const batch = await fixtureBatch();

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`generate fixture on ${backend}: greedy ids equal HF's for all recorded variants`, async () => {
    await initBackend(backend, { quiet: true });
    for (const fc of configs) {
      const g = fc.outputs.generate;
      const model = await fixtureModel(fc);
      try {
        const variants = Object.keys(g).filter((k) => Array.isArray(g[k]));
        assert(variants.length > 0, "outputs.json records no generate variants");
        for (const variant of variants) {
          let got: number[][];
          if (variant.includes("without_attention_mask")) {
            got = await t5Generate(model, batch.input_ids, { maxLength: g.max_length });
          } else if (variant.includes("with_attention_mask")) {
            got = await t5Generate(model, batch.input_ids, {
              maxLength: g.max_length,
              attentionMask: batch.attention_mask,
            });
          } else if (variant.includes("one_at_a_time")) {
            got = [];
            for (let r = 0; r < batch.input_ids.length; r++) {
              const unpadded = batch.input_ids[r].filter((_, j) => batch.attention_mask[r][j] === 1);
              got.push(...await t5Generate(model, [unpadded], { maxLength: g.max_length }));
            }
          } else {
            throw new Error(`unknown generate variant "${variant}" in ${fc.name}/outputs.json`);
          }
          assertEquals(got, g[variant], `${fc.name} ${variant}`);
          console.log(`  ${fc.name} ${variant}: ${got.length} rows identical`);
        }
      } finally {
        model.dispose();
      }
    }
  });
}

Deno.test("score fixture: per-example losses equal FISH-DIP's one-row-at-a-time losses", async () => {
  await initBackend("cpu", { quiet: true });
  for (const fc of configs) {
    const model = await fixtureModel(fc);
    try {
      for (const [key, ignorePadLabels] of [["pads_counted", false], ["pads_ignored", true]] as const) {
        const ref: number[] = fc.outputs.fisher[key].per_sample_loss;
        const got = await t5ScoreTargets(model, {
          inputIds: batch.input_ids,
          attentionMask: batch.attention_mask,
          labels: batch.labels_pad0,
        }, { ignorePadLabels });
        const rel = Math.max(...got.map((v, i) => Math.abs(v - ref[i]) / ref[i]));
        console.log(`  ${fc.name} per-example loss ${key}: max relative diff ${rel.toExponential(3)}`);
        assertLessOrEqual(rel, 1e-5);
      }
    } finally {
      model.dispose();
    }
  }
});

/** Greedy decoding without a cache: the whole prefix through the full forward pass each step. */
async function naiveGreedy(model: T5Model, ids: number[][], mask: number[][], maxLength: number) {
  const c = model.config;
  const seqs = ids.map(() => [c.decoder_start_token_id]);
  const live = ids.map(() => true);
  for (let step = 0; step < maxLength - 1 && live.some((x) => x); step++) {
    const next = tf.tidy(() => {
      const logits = t5Forward(model, { inputIds: ids, attentionMask: mask, decoderInputIds: seqs }).logits;
      const T = seqs[0].length;
      return logits.slice([0, T - 1, 0], [-1, 1, -1]).reshape([ids.length, c.vocab_size]).argMax(1);
    });
    const n = await next.data();
    next.dispose();
    seqs.forEach((s, r) => {
      const tok = live[r] ? n[r] : c.pad_token_id;
      s.push(tok);
      if (tok === c.eos_token_id) live[r] = false;
    });
  }
  return seqs;
}

Deno.test("generate: the key/value cache gives the uncached result, EOS stops rows, pads fill them", async () => {
  await initBackend("cpu", { quiet: true });
  // A tiny vocabulary and an untied head make EOS (id 1) likely, so early stops are exercised:
  // (a randomly initialised tied T5 repeats one token forever).
  const rows = [[3, 4, 5, 2, 1], [2, 1], [5, 5, 5, 5, 4, 3, 1], [4, 1], [3, 3, 1], [2, 2, 2, 1]];
  let stoppedRows = 0, shortRuns = 0;
  for (
    const [feed, seed, use] of [["relu", 7, rows], ["relu", 9, rows.filter((_, i) => i !== 4)], [
      "gated-gelu",
      3,
      rows,
    ]] as const
  ) {
    const config = parseT5Config({
      vocab_size: 6,
      d_model: 16,
      d_kv: 4,
      num_heads: 2,
      d_ff: 24,
      num_layers: 2,
      num_decoder_layers: 3,
      relative_attention_num_buckets: 8,
      relative_attention_max_distance: 12,
      feed_forward_proj: feed,
      tie_word_embeddings: false,
      dropout_rate: 0,
    });
    const model = createT5(config, { seed });
    try {
      const maxLength = 16;
      const got = await t5Generate(model, use, { maxLength });
      const L = Math.max(...use.map((r) => r.length));
      const ids = use.map((r) => [...r, ...Array(L - r.length).fill(0)]);
      const mask = use.map((r) => [...r.map(() => 1), ...Array(L - r.length).fill(0)]);
      assertEquals(got, await naiveGreedy(model, ids, mask, maxLength), `${feed} seed ${seed}`);
      assert(got.every((s) => s.length === got[0].length && s[0] === 0));
      for (const s of got) {
        const e = s.indexOf(1);
        if (e < 0) continue;
        stoppedRows++;
        assert(s.slice(e + 1).every((t) => t === 0), "a finished row is padded with 0");
      }
      if (got[0].length < maxLength) shortRuns++;
      const candidates = [[2, 1], [3, 4, 1], [5, 1]];
      const scores = await t5ScoreTargets(model, {
        inputIds: candidates.map(() => use[0]),
        labels: candidates,
      });
      assertEquals(scores.length, 3);
      assert(scores.every(Number.isFinite));
    } finally {
      model.dispose();
    }
  }
  console.log(`  ${stoppedRows} rows stopped at EOS; ${shortRuns} runs ended before max_length`);
  assert(stoppedRows > 0 && shortRuns > 0, "the seeds no longer exercise early stopping");
});

Deno.test("hooks (LoRA-style linear, adapter, attention prefix) act in the forward pass and the cached decoder alike", async () => {
  await initBackend("cpu", { quiet: true });
  const config = parseT5Config({
    vocab_size: 6,
    d_model: 16,
    d_kv: 4,
    num_heads: 2,
    d_ff: 24,
    num_layers: 2,
    relative_attention_num_buckets: 8,
    relative_attention_max_distance: 12,
    tie_word_embeddings: false,
    dropout_rate: 0,
  });
  const model = createT5(config, { seed: 7 });
  const rows = [[3, 4, 5, 2, 1], [2, 1], [5, 5, 5, 5, 4, 3, 1]];
  const ids = rows.map((r) => [...r, ...Array(7 - r.length).fill(0)]);
  const mask = rows.map((r) => [...r.map(() => 1), ...Array(7 - r.length).fill(0)]);
  const plain = await t5Generate(model, rows, { maxLength: 12 });
  const lora = new Map<string, [tf.Tensor2D, tf.Tensor2D]>();
  const prefixes = new Map<string, { k: tf.Tensor4D; v: tf.Tensor4D }>();
  let seed = 100;
  model.hooks = {
    linear: (name, x, w) => {
      if (!lora.has(name)) {
        lora.set(
          name,
          tf.tidy(() =>
            [
              tf.keep(tf.randomNormal([w.shape[1], 2], 0, 0.5, "float32", seed++)),
              tf.keep(tf.randomNormal([2, w.shape[0]], 0, 0.5, "float32", seed++)),
            ] as [tf.Tensor2D, tf.Tensor2D]
          ),
        );
      }
      const [a, b] = lora.get(name)!;
      return tf.matMul(x, w, false, true).add(x.matMul(a).matMul(b));
    },
    sublayerOutput: (_name, y) => y.mul(1.5),
    attentionPrefix: (name) => {
      if (!prefixes.has(name)) {
        prefixes.set(
          name,
          tf.tidy(() => ({
            k: tf.keep(tf.randomNormal([1, 2, 3, 4], 0, 1, "float32", seed++)),
            v: tf.keep(tf.randomNormal([1, 2, 3, 4], 0, 1, "float32", seed++)),
          })),
        );
      }
      return prefixes.get(name);
    },
  };
  try {
    const hooked = await t5Generate(model, rows, { maxLength: 12 });
    assertEquals(hooked, await naiveGreedy(model, ids, mask, 12));
    assert(JSON.stringify(hooked) !== JSON.stringify(plain), "the hooks change the output");
    const before = tf.memory().numTensors;
    await t5Generate(model, rows, { maxLength: 12 });
    assertEquals(tf.memory().numTensors, before, "no leaks with hooks");
  } finally {
    model.hooks = {};
    tf.dispose([...lora.values()].flat());
    tf.dispose([...prefixes.values()].flatMap((p) => [p.k, p.v]));
    model.dispose();
  }
});

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`generate on ${backend}: dropping finished rows changes no token (mixed lengths, many early stops)`, async () => {
    await initBackend(backend, { quiet: true });
    const config = parseT5Config({
      vocab_size: 7,
      d_model: 16,
      d_kv: 4,
      num_heads: 2,
      d_ff: 24,
      num_layers: 2,
      relative_attention_num_buckets: 8,
      relative_attention_max_distance: 12,
      tie_word_embeddings: false,
      dropout_rate: 0,
    });
    let s = 5;
    const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const rows = Array.from(
      { length: 20 },
      () => [...Array.from({ length: Math.floor(next() * 11) }, () => 2 + Math.floor(next() * 5)), 1],
    );
    let stopSteps = new Set<number>();
    for (const seed of [2, 4, 8]) {
      const model = createT5(config, { seed });
      try {
        const before = tf.memory().numTensors;
        const got = await t5Generate(model, rows, { maxLength: 24 });
        assertEquals(tf.memory().numTensors, before, "no leaks");
        assertEquals(
          got,
          await t5Generate(model, rows, { maxLength: 24, dropFinished: false }),
          `seed ${seed}`,
        );
        const L = Math.max(...rows.map((r) => r.length));
        const ids = rows.map((r) => [...r, ...Array(L - r.length).fill(0)]);
        const mask = rows.map((r) => [...r.map(() => 1), ...Array(L - r.length).fill(0)]);
        assertEquals(got, await naiveGreedy(model, ids, mask, 24), `seed ${seed}, uncached`);
        stopSteps = new Set([...stopSteps, ...got.map((q) => q.indexOf(1)).filter((e) => e > 0)]);
      } finally {
        model.dispose();
      }
    }
    console.log(`  rows stopped at ${stopSteps.size} different steps`);
    assert(stopSteps.size >= 3, "the seeds no longer stop rows at different steps");
  });
}
