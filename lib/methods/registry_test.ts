import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { parseT5Config } from "../t5/config.ts";
import { createT5 } from "../t5/model.ts";
import { FixedFish, FullFinetuning, RandomMaskMethod } from "./baselines.ts";
import { FishDip, FISHDIP_DEFAULTS, fishDipSettings } from "./fishdip.ts";
import { Pafi } from "./pafi.ts";
import { Spiel, SPIEL_DEFAULTS } from "./spiel.ts";
import { STATIC_GRAD_DEFAULTS, StaticGrad } from "./static_grad.ts";
import {
  createMethod,
  isMethodName,
  METHOD_NAMES,
  type MethodConfig,
  methodConfig,
  METHODS,
  parseMethodConfig,
} from "./registry.ts";

const tiny = parseT5Config({
  vocab_size: 40,
  d_model: 16,
  d_kv: 4,
  num_heads: 4,
  d_ff: 32,
  num_layers: 1,
  num_decoder_layers: 1,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
  dropout_rate: 0,
});

Deno.test("method registry: every entry is complete; configs are the defaults, name first", () => {
  assertEquals([...METHOD_NAMES], [
    "full",
    "fishdip",
    "fish",
    "random",
    "spiel",
    "static-grad",
    "pafi",
    "lora",
    "adapter",
    "prefix",
  ]);
  for (const name of METHOD_NAMES) {
    const m = METHODS[name];
    assert(m.label && m.description && m.source && /^#[0-9a-f]{6}$/.test(m.color), name);
    assertEquals(m.kind, ["lora", "adapter", "prefix"].includes(name) ? "peft" : "mask", name);
    assertEquals(Object.keys(methodConfig(name))[0], "name");
  }
  // The paper's settings (and so the grid's cells and their ids).
  assertEquals(methodConfig("fishdip"), { name: "fishdip", k: 0.01, m: 100, n: "rule" });
  assertEquals(methodConfig("fish"), { name: "fish", k: 0.01, n: "all" });
  assertEquals(methodConfig("random"), { name: "random", k: 0.01 });
  assertEquals(methodConfig("full"), { name: "full" });
  assertEquals(methodConfig("spiel"), {
    name: "spiel",
    k: 0.01,
    interval: 20,
    rate: 0.2,
    accumulate: 5,
    horizon: "run",
  });
  assertEquals(methodConfig("static-grad"), { name: "static-grad", k: 0.01, warmupBatches: 8 });
  assertEquals(methodConfig("pafi"), { name: "pafi", k: 0.01 });
  // Every figure tells the methods apart.
  const colors = METHOD_NAMES.map((n) => METHODS[n].color);
  assertEquals(new Set(colors).size, colors.length, `colours: ${colors}`);
  assertEquals(methodConfig("lora"), { name: "lora", rank: 8, alpha: 16, targets: ["q", "v"] });
  assertEquals(methodConfig("adapter"), { name: "adapter", bottleneck: 64 });
  assertEquals(methodConfig("prefix"), { name: "prefix", length: 20 });
  // A patch keeps the key order (cell labels print it), and configs are copies.
  assertEquals(Object.keys(methodConfig("fishdip", { n: 5, k: 0.02 })), ["name", "k", "m", "n"]);
  const lora = methodConfig("lora");
  lora.targets.push("k");
  assertEquals(METHODS.lora.defaults.targets, ["q", "v"]);
  assert(isMethodName("prefix") && !isMethodName("ia3"));
  assertThrows(() => methodConfig("ia3" as never), Error, "unknown method");
});

Deno.test("method registry: FISH-DIP's paper notation translates to its settings", () => {
  assertEquals(fishDipSettings({ k: 0.02, m: 10, n: "rule" }), {
    keepRatio: 0.02,
    refreshKeepRatio: 0.02,
    refreshEvery: 10,
  });
  // A fixed n is both bounds of the reference rule, so the rule gives exactly n (at most N - 1).
  assertEquals(fishDipSettings({ k: 0.01, m: 100, n: 7 }), {
    keepRatio: 0.01,
    refreshKeepRatio: 0.01,
    refreshEvery: 100,
    minSamples: 7,
    maxSamples: 7,
  });
});

Deno.test("method registry: finetune's flags parse as each default's type", () => {
  assertEquals(parseMethodConfig("fishdip", {}), methodConfig("fishdip"));
  assertEquals(parseMethodConfig("fishdip", { k: "0.05", m: "10", n: "3", rank: "4" }), {
    name: "fishdip",
    k: 0.05,
    m: 10,
    n: 3,
  });
  assertEquals(parseMethodConfig("fishdip", { n: "rule" }).name, "fishdip");
  assertEquals(parseMethodConfig("fish", { n: "all", k: "0.1" }), { name: "fish", k: 0.1, n: "all" });
  assertEquals(parseMethodConfig("lora", { targets: "q,k,v", alpha: "8" }), {
    name: "lora",
    rank: 8,
    alpha: 8,
    targets: ["q", "k", "v"],
  });
  assertEquals(parseMethodConfig("spiel", { interval: "10", horizon: "60", rate: "0", m: "3" }), {
    name: "spiel",
    k: 0.01,
    interval: 10,
    rate: 0,
    accumulate: 5,
    horizon: 60,
  });
  assertEquals(parseMethodConfig("spiel", { horizon: "run" }), methodConfig("spiel"));
  assertEquals(parseMethodConfig("static-grad", { warmupBatches: "2", k: "0.05" }), {
    name: "static-grad",
    k: 0.05,
    warmupBatches: 2,
  });
  assertEquals(parseMethodConfig("pafi", { k: "0.005", interval: "3" }), { name: "pafi", k: 0.005 });
  assertThrows(() => parseMethodConfig("fishdip", { m: "often" }), Error, "m must be a number");
  assertThrows(() => parseMethodConfig("fishdip", { n: "some" }), Error, 'or "rule"');
  assertThrows(() => parseMethodConfig("nope", {}), Error, "unknown method");
  assertThrows(() => parseMethodConfig("toString", {}), Error, "unknown method");
});

Deno.test("method registry: settings outside their range are refused, naming the setting", () => {
  assertEquals(parseMethodConfig("fishdip", { k: "1" }), { name: "fishdip", k: 1, m: 100, n: "rule" });
  const bad: [string, Record<string, string>, string][] = [
    ["fishdip", { k: "0" }, "fishdip: k must be a number in (0, 1]"],
    ["fishdip", { k: "1.5" }, "fishdip: k must be a number in (0, 1]"],
    ["fishdip", { m: "0" }, "fishdip: m must be a whole number of at least 1"],
    ["fishdip", { n: "2.5" }, "fishdip: n must be a whole number"],
    ["fish", { k: "-0.01" }, "fish: k must be"],
    ["random", { k: "2" }, "random: k must be"],
    ["spiel", { k: "0" }, "spiel: k must be a number in (0, 1]"],
    ["spiel", { interval: "0" }, "spiel: interval must be a whole number of at least 1"],
    ["spiel", { rate: "1.5" }, "spiel: rate must be a number in [0, 1]"],
    ["spiel", { accumulate: "2.5" }, "spiel: accumulate must be a whole number"],
    ["spiel", { horizon: "some" }, 'spiel: horizon must be a number or "run"'],
    ["spiel", { horizon: "0" }, "spiel: horizon must be a whole number of at least 1"],
    ["static-grad", { warmupBatches: "0" }, "static-grad: warmupBatches must be a whole number"],
    ["pafi", { k: "1.01" }, "pafi: k must be"],
    ["lora", { rank: "0" }, "lora: rank must be"],
    ["lora", { alpha: "0" }, "lora: alpha must be a number above 0"],
    ["adapter", { bottleneck: "-1" }, "adapter: bottleneck must be"],
    ["prefix", { length: "0" }, "prefix: length must be"],
  ];
  for (const [name, values, message] of bad) {
    assertThrows(() => parseMethodConfig(name, values), Error, message);
  }
});

Deno.test("method registry: create builds each method from its paper notation, on a T5", async () => {
  await initBackend("cpu", { quiet: true });
  const model = createT5(tiny, { seed: 3 });
  const base = model.params.size;
  const before = tf.memory().numTensors;
  try {
    const made = (config: MethodConfig) => createMethod(config, { model, seed: 4 });

    const fd = made(methodConfig("fishdip", { k: 0.02, m: 10, n: 3 }));
    assert(fd.method instanceof FishDip);
    assertEquals((fd.method as FishDip).config, {
      ...FISHDIP_DEFAULTS,
      keepRatio: 0.02,
      refreshKeepRatio: 0.02,
      refreshEvery: 10,
      minSamples: 3,
      maxSamples: 3,
    });
    assertEquals([fd.summary, fd.trainable.parameters().size, fd.adafactor], ["fishdip", base, {}]);
    fd.dispose();

    const fish = made(methodConfig("fish"));
    assert(fish.method instanceof FixedFish);
    // n = all: the whole training subset (FISH's 1024 samples exceed every subset here); seed 0 as FISH.
    assertEquals([fish.method.config.keepRatio, fish.method.config.numSamples, fish.method.config.seed], [
      0.01,
      Number.MAX_SAFE_INTEGER,
      0,
    ]);
    fish.dispose();
    const fish5 = made(methodConfig("fish", { n: 5 }));
    assertEquals((fish5.method as FixedFish).config.numSamples, 5);
    fish5.dispose();

    const random = made(methodConfig("random", { k: 0.5 }));
    assert(random.method instanceof RandomMaskMethod);
    // The draw follows the run's seed.
    assertEquals([random.method.config.keepRatio, random.method.config.seed], [0.5, 4]);
    random.dispose();

    // The methods after FISH-DIP: their paper notation reaches their settings; the run's seed
    // draws SpIEL's random start; without a horizon the log says the rate does not decay.
    const spiel = made(methodConfig("spiel", { k: 0.02, interval: 10, horizon: 40 }));
    assert(spiel.method instanceof Spiel);
    assertEquals((spiel.method as Spiel).config, {
      ...SPIEL_DEFAULTS,
      keepRatio: 0.02,
      interval: 10,
      totalSteps: 40,
      seed: 4,
    });
    assertEquals([spiel.summary, spiel.trainable.parameters().size, spiel.adafactor], ["spiel", base, {}]);
    spiel.dispose();
    const spielNoHorizon = made(methodConfig("spiel"));
    assertEquals((spielNoHorizon.method as Spiel).config.totalSteps, null);
    assertEquals(spielNoHorizon.summary, "spiel", "the run's length comes from the trainer");
    spielNoHorizon.dispose();
    const sg = made(methodConfig("static-grad", { warmupBatches: 3 }));
    assert(sg.method instanceof StaticGrad);
    assertEquals((sg.method as StaticGrad).config, { ...STATIC_GRAD_DEFAULTS, warmupBatches: 3 });
    sg.dispose();
    const pafi = made(methodConfig("pafi", { k: 0.1 }));
    assert(pafi.method instanceof Pafi);
    assertEquals([(pafi.method as Pafi).config.keepRatio, pafi.method.name], [0.1, "pafi"]);
    pafi.dispose();

    const full = made(methodConfig("full"));
    assert(full.method instanceof FullFinetuning);
    assertEquals([full.method.mask, full.trainable.parameters().size], [null, base]);
    full.dispose();

    // PEFT: hooks on the backbone, only the new parameters train, with the method's Adafactor.
    for (
      const [config, adafactor] of [
        [methodConfig("lora", { rank: 2 }), { scaleParameter: false }],
        [methodConfig("adapter", { bottleneck: 4 }), { scaleParameter: false }],
        [methodConfig("prefix", { length: 2 }), {}],
      ] as const
    ) {
      const peft = made(config);
      assert(peft.method instanceof FullFinetuning, config.name);
      assertEquals(peft.adafactor, adafactor, config.name);
      const names = [...peft.trainable.parameters().keys()];
      assert(names.length > 0 && names.every((n) => !model.params.has(n)), config.name);
      assert(
        peft.summary.startsWith(`${config.name} (`) && peft.summary.endsWith("new parameters, no mask)"),
      );
      assert(Object.keys(model.hooks).length > 0, config.name);
      peft.dispose();
      assertEquals(Object.keys(model.hooks).length, 0, `${config.name}: dispose removes the hooks`);
    }
    assertEquals(tf.memory().numTensors, before, "every setup freed what it made");
  } finally {
    model.dispose();
  }
});
