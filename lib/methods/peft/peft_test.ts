/**
 * LoRA, adapters and prefix tuning on a tiny T5 (wasm backend: the cpu backend is very slow for
 * T5 gradients): exact start for LoRA and adapters, exact base model after `remove()`, parameter
 * counts, training that moves only the new parameters and lowers the loss, cached generation
 * equal to an uncached greedy decode, and no leaked tensors.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLess, assertNotEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../backend/mod.ts";
import { parseT5Config } from "../../t5/config.ts";
import {
  createT5,
  t5Forward,
  type T5Inputs,
  t5Loss,
  type T5Model,
  t5PerExampleLoss,
} from "../../t5/model.ts";
import { t5Generate } from "../../t5/generate.ts";
import { Adafactor } from "../../optim/adafactor.ts";
import { FullFinetuning } from "../baselines.ts";
import { sparseTrainStep } from "../step.ts";
import { ADAPTER, applyPeft, LORA, type PeftModel, PREFIX, resolvePeftConfig } from "./mod.ts";

const config = parseT5Config({
  vocab_size: 40,
  d_model: 16,
  d_kv: 4,
  num_heads: 4,
  d_ff: 32,
  num_layers: 1,
  num_decoder_layers: 1,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
  tie_word_embeddings: false,
  dropout_rate: 0,
});

const batch: T5Inputs = {
  inputIds: [[5, 9, 12, 7, 1, 0], [8, 3, 22, 31, 17, 1]],
  attentionMask: [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]],
  labels: [[11, 4, 1, 0], [6, 19, 25, 1]],
};

/** Each method with a small configuration. */
const CONFIGS: { name: string; apply(model: T5Model, seed?: number): PeftModel }[] = [
  { name: "lora", apply: (model, seed) => applyPeft(model, LORA, { rank: 4, alpha: 8 }, { seed }) },
  { name: "adapter", apply: (model, seed) => applyPeft(model, ADAPTER, { bottleneck: 8 }, { seed }) },
  {
    name: "prefix",
    apply: (model, seed) => applyPeft(model, PREFIX, { length: 3, hiddenSize: 8 }, { seed }),
  },
];

async function logits(model: T5Model): Promise<Float32Array> {
  const out = t5Forward(model, batch);
  const data = (await out.logits.data()) as Float32Array;
  tf.dispose(Object.values(out).flat());
  return data;
}

async function snapshot(params: Map<string, tf.Variable>): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [n, v] of params) out.set(n, (await v.data()) as Float32Array);
  return out;
}

async function loss(model: T5Model): Promise<number> {
  const l = t5Loss(model, batch);
  const v = (await l.data())[0];
  l.dispose();
  return v;
}

/** Greedy decoding by full forward passes over the growing prefix (no cache). */
async function uncachedGreedy(model: T5Model, ids: number[][], mask: number[][], maxLength: number) {
  const seqs = ids.map(() => [config.decoder_start_token_id]);
  const live = ids.map(() => true);
  for (let step = 0; step < maxLength - 1 && live.some((x) => x); step++) {
    const next = tf.tidy(() => {
      const out = t5Forward(model, { inputIds: ids, attentionMask: mask, decoderInputIds: seqs });
      const T = seqs[0].length;
      return out.logits.slice([0, T - 1, 0], [-1, 1, -1]).reshape([ids.length, config.vocab_size]).argMax(1);
    });
    const n = await next.data();
    next.dispose();
    seqs.forEach((s, r) => {
      const tok = live[r] ? n[r] : config.pad_token_id;
      s.push(tok);
      if (tok === config.eos_token_id) live[r] = false;
    });
  }
  return seqs;
}

Deno.test("peft: LoRA and adapters start as the base model exactly; prefix tuning differs until removed", async () => {
  await initBackend("wasm", { quiet: true });
  const model = createT5(config, { seed: 3 });
  try {
    const base = await logits(model);
    for (const c of CONFIGS) {
      const peft = c.apply(model, 1);
      const wrapped = await logits(model);
      if (c.name === "prefix") {
        assertNotEquals([...wrapped], [...base], "a random prefix changes the outputs");
      } else {
        assertEquals([...wrapped], [...base], `${c.name}: bit-identical logits at initialisation`);
      }
      peft.remove();
      assertEquals([...await logits(model)], [...base], `${c.name}: the base model after remove()`);
      peft.dispose();
      assertEquals(Object.keys(model.hooks).length, 0);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("peft: parameter counts and names", async () => {
  await initBackend("wasm", { quiet: true });
  const model = createT5(config, { seed: 3 });
  const D = 16, inner = 16, r = 4, m = 8, P = 3, mid = 8;
  const expected: Record<string, number> = {
    // q and v of encoder self-, decoder self- and cross-attention: 6 modules of A (r, D) + B (inner, r).
    lora: 6 * (r * D + inner * r),
    // encoder layer.0, layer.1; decoder layer.0, layer.2: down (m, D) + m + up (D, m) + D.
    adapter: 4 * (2 * D * m + m + D),
    // three kinds, one layer each: embedding (P, D), Linear(D → mid), Linear(mid → 2·inner).
    prefix: 3 * (P * D + mid * D + mid + 2 * inner * mid + 2 * inner),
  };
  try {
    for (const c of CONFIGS) {
      const peft = c.apply(model);
      assertEquals(peft.parameterCount, expected[c.name], c.name);
      assert(
        [...peft.trainable.parameters().keys()].every((n) => !model.params.has(n)),
        "only new parameters",
      );
      if (c.name === "prefix") assertEquals(peft.inferenceParameterCount, 3 * P * 2 * inner);
      peft.dispose();
    }
    const lora = applyPeft(model, LORA, { rank: 2 });
    assert(lora.params.has("decoder.block.0.layer.1.EncDecAttention.v.lora_B.weight"));
    assertEquals(lora.params.get("encoder.block.0.layer.0.SelfAttention.q.lora_A.weight")!.shape, [2, D]);
    // One method at a time: a second LoRA would need its own hook.
    assertThrows(() => applyPeft(model, LORA), Error, "already has");
    lora.dispose();
    const direct = applyPeft(model, PREFIX, { length: P, reparameterize: false });
    assertEquals(direct.parameterCount, 3 * P * 2 * inner);
    direct.dispose();
    assertThrows(() => applyPeft(model, LORA, { targets: ["nope"] }), Error, "match no linear");
  } finally {
    model.dispose();
  }
});

Deno.test("peft: configurations resolve over each method's defaults", () => {
  assertEquals(resolvePeftConfig(LORA, { alpha: 16 }), {
    rank: 8,
    alpha: 16,
    targets: ["q", "v"],
    dropout: 0,
  });
  assertEquals(resolvePeftConfig(ADAPTER).bottleneck, 64);
  assertEquals(resolvePeftConfig(PREFIX).hiddenSize, 512);
  for (const b of [LORA, ADAPTER, PREFIX]) assert(b.source.length > 0, b.name);
  assertEquals([LORA.name, ADAPTER.name, PREFIX.name], ["lora", "adapter", "prefix"]);
  assertEquals(LORA.adafactor, { scaleParameter: false });
  assertEquals(ADAPTER.adafactor, { scaleParameter: false });
  assertEquals(PREFIX.adafactor, {});
});

Deno.test("peft: training steps move only the new parameters, lower the loss, and leak nothing", async () => {
  await initBackend("wasm", { quiet: true });
  const model = createT5(config, { seed: 3 });
  try {
    const baseBefore = await snapshot(model.params);
    for (const c of CONFIGS) {
      const start = tf.memory().numTensors;
      const peft = c.apply(model, 2);
      const before = await snapshot(peft.params);
      const loss0 = await loss(model);
      // FISH-DIP's Adafactor with the method's override, through the trainer's step with no mask.
      const optimizer = new Adafactor(peft.params, { ...peft.adafactor, lr: 1e-2 });
      const method = new FullFinetuning<number, T5Inputs>();
      const ctx = {
        model: peft.trainable,
        data: { examples: [0], collate: () => batch },
        trainBatchSize: 2,
      };
      let during = -1;
      for (let step = 1; step <= 12; step++) {
        await sparseTrainStep({ step, totalSteps: 1000, batch, ctx, method, optimizer, baseLr: 1e-2 });
        if (step === 2) during = tf.memory().numTensors;
      }
      assertEquals(tf.memory().numTensors, during, `${c.name}: tensors constant across steps`);
      const loss1 = await loss(model);
      console.log(
        `  ${c.name}: ${peft.parameterCount} parameters, loss ${loss0.toFixed(4)} → ${loss1.toFixed(4)}`,
      );
      // A clear drop (with FISH-DIP's scale_parameter=True, adapters moved by ~0.002 here).
      assertLess(loss1, loss0 - 0.5, `${c.name}: loss ${loss0} → ${loss1}`);
      const after = await snapshot(peft.params);
      const moved = [...after].filter(([n, v]) => v.some((x, i) => x !== before.get(n)![i])).length;
      // With B = 0 (LoRA) or up = 0 (adapters), the other factor only gets gradient from step 2: all move.
      assertEquals(moved, after.size, `${c.name}: every new parameter tensor moved`);
      const baseAfter = await snapshot(model.params);
      for (const [n, v] of baseBefore) assertEquals(baseAfter.get(n), v, `${c.name}: ${n} unchanged`);
      optimizer.dispose();
      peft.dispose();
      assertEquals(tf.memory().numTensors, start, `${c.name}: no tensor left after dispose()`);
    }
  } finally {
    model.dispose();
  }
});

Deno.test("peft: cached generation with each method equals an uncached greedy decode", async () => {
  await initBackend("wasm", { quiet: true });
  const model = createT5(config, { seed: 5 });
  const rows = [[5, 9, 12, 7, 1], [8, 3, 22, 31, 17, 1]];
  const ids = [[5, 9, 12, 7, 1, 0], [8, 3, 22, 31, 17, 1]];
  const mask = [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]];
  try {
    const plain = await t5Generate(model, rows, { maxLength: 8 });
    for (const c of CONFIGS) {
      // Random LoRA B and adapter weights (not the near-identity start), so every method matters.
      const peft = c.apply(model, 4);
      let s = 11;
      for (const [n, v] of peft.params) {
        if (n.endsWith("lora_B.weight") || n.includes(".adapter.")) {
          v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 1, "float32", s++)));
        }
      }
      const before = tf.memory().numTensors;
      const got = await t5Generate(model, rows, { maxLength: 8 });
      assertEquals(tf.memory().numTensors, before, `${c.name}: generation leaks nothing`);
      assertEquals(got, await uncachedGreedy(model, ids, mask, 8), c.name);
      assertNotEquals(got, plain, `${c.name} changes the generated sequences`);
      peft.dispose();
    }
  } finally {
    model.dispose();
  }
});

Deno.test("peft: LoRA dropout acts in training-mode losses only", async () => {
  await initBackend("wasm", { quiet: true });
  const model = createT5(config, { seed: 3 });
  const peft = applyPeft(model, LORA, { rank: 2, dropout: 0.5 }, { seed: 1 });
  try {
    for (const [n, v] of peft.params) {
      if (n.endsWith("lora_B.weight")) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 1, "float32", 9)));
    }
    const read = async (t: tf.Tensor) => {
      const d = [...await t.data()];
      t.dispose();
      return d;
    };
    const evalLoss = await read(peft.trainable.perExampleLoss(batch, { training: false }));
    const trainLoss = await read(peft.trainable.perExampleLoss(batch, { training: true }));
    assertNotEquals(trainLoss, evalLoss, "dropout changes a training-mode loss");
    // Outside the wrapper's calls the hooks are in inference mode (generation, scoring).
    assertEquals(await read(t5PerExampleLoss(model, batch, { training: true })), evalLoss);
    assertEquals(await read(peft.trainable.perExampleLoss(batch, { training: false })), evalLoss);
  } finally {
    peft.dispose();
    model.dispose();
  }
});
