/**
 * Parameter-efficient baselines (issue #5 item 3), in Hugging Face PEFT's shape: per method a
 * config with documented defaults and their source, the layer change (through `T5Hooks`), and one
 * wrapper, {@link applyPeft}, that returns a `TrainableModel` over ONLY the new parameters. The
 * training loop does not change: train it with the `full` method (no mask) and FISH-DIP's
 * Adafactor, learning rate, linear decay and clipping, so that a comparison isolates the
 * parameterisation. The original papers' optimizers differ (LoRA: AdamW; Houlsby: Adam; Li &
 * Liang: AdamW), and FISH-DIP's paper does not give its PEFT baselines' hyperparameters.
 *
 * One exception, {@link PeftEntry.adafactor}: FISH-DIP's Adafactor scales each step by the
 * parameter's RMS, floored at eps2 = 1e-3 (`scale_parameter=True`), which suits pretrained
 * weights but freezes parameters that start at or near zero: LoRA's B (zeros) and an adapter's
 * projections (zeros and std 1e-3) then move by lr·1e-3 = 1e-5 per step. On a 2+2-layer toy T5
 * (batch of 2, 100 steps) the loss went 9.21 → 8.43 for LoRA and 9.21 → 9.17 for adapters with
 * it, but to ~0 with `scale_parameter=False` (same lr 1e-2), as for prefix tuning (N(0,1) and
 * PyTorch-init MLP: ~0 either way) and full fine-tuning. LoRA and adapters therefore run Adafactor
 * with `scaleParameter: false` (the setting Hugging Face documents for T5 with an external lr);
 * prefix tuning keeps FISH-DIP's exactly.
 *
 * ```ts
 * import { applyPeft } from "./lib/methods/peft/mod.ts";
 * import { FullFinetuning } from "./lib/methods/baselines.ts";
 * const peft = applyPeft(model, { name: "lora", rank: 8, alpha: 16 }, { seed: 1 });
 * await train({
 *   model: peft.trainable,
 *   method: new FullFinetuning(),
 *   examples,
 *   collate,
 *   config: { ...config, adafactor: peft.adafactor },
 * });
 * // evaluate / generate with `model` as usual: the hooks stay installed until remove()/dispose().
 * peft.dispose();
 * ```
 *
 * @module
 */
import type { T5Model } from "../../t5/model.ts";
import type { AdafactorConfig } from "../../optim/adafactor.ts";
import { type PeftLayers, type PeftModel, type PeftState, type WrapOptions, wrapPeft } from "./core.ts";
import { buildLora, LORA_DEFAULTS, LORA_SOURCE, type LoraConfig } from "./lora.ts";
import { ADAPTER_DEFAULTS, ADAPTER_SOURCE, type AdapterConfig, buildAdapters } from "./adapter.ts";
import { buildPrefix, PREFIX_DEFAULTS, PREFIX_SOURCE, type PrefixConfig } from "./prefix.ts";

export * from "./core.ts";
export * from "./lora.ts";
export * from "./adapter.ts";
export * from "./prefix.ts";

/** Configuration type of each parameter-efficient method. */
export interface PeftConfigs {
  lora: LoraConfig;
  adapter: AdapterConfig;
  prefix: PrefixConfig;
}

/** Names of the parameter-efficient methods. */
export type PeftMethodName = keyof PeftConfigs;

/** A method name with (some of) its hyperparameters; the rest take the defaults. */
export type PeftConfig = { [K in PeftMethodName]: { name: K } & Partial<PeftConfigs[K]> }[PeftMethodName];

/** One registry entry: defaults, their source, and the builder of the layer change. */
export interface PeftEntry<K extends PeftMethodName> {
  description: string;
  /** Where the defaults come from. */
  source: string;
  defaults: Readonly<PeftConfigs[K]>;
  /**
   * Changes to FISH-DIP's Adafactor for this method's parameters (empty: none), and why; see the
   * module notes.
   */
  adafactor: Readonly<Partial<AdafactorConfig>>;
  build(model: T5Model, config: PeftConfigs[K], state: PeftState, seed: number): PeftLayers;
}

/**
 * Adafactor without parameter-scaled steps, for methods whose new parameters start at (or near)
 * zero (see the module notes).
 */
export const ZERO_INIT_ADAFACTOR: Readonly<Partial<AdafactorConfig>> = Object.freeze({
  scaleParameter: false,
});

/** The registry of parameter-efficient methods. */
export const PEFT_METHODS: { [K in PeftMethodName]: PeftEntry<K> } = {
  lora: {
    description: "LoRA: trained rank-r update (alpha/r)·B·A beside frozen linear layers",
    source: LORA_SOURCE,
    defaults: LORA_DEFAULTS,
    adafactor: ZERO_INIT_ADAFACTOR,
    build: buildLora,
  },
  adapter: {
    description: "Houlsby adapters: bottleneck MLP with a skip after attention and feed-forward sublayers",
    source: ADAPTER_SOURCE,
    defaults: ADAPTER_DEFAULTS,
    adafactor: ZERO_INIT_ADAFACTOR,
    build: buildAdapters,
  },
  prefix: {
    description: "Prefix tuning: trained key/value prefixes in every attention layer (MLP-reparameterised)",
    source: PREFIX_SOURCE,
    defaults: PREFIX_DEFAULTS,
    adafactor: Object.freeze({}),
    build: buildPrefix,
  },
};

/** Whether `name` is a parameter-efficient method. */
export function isPeftMethod(name: string): name is PeftMethodName {
  return Object.hasOwn(PEFT_METHODS, name);
}

/** Options of {@link applyPeft}. */
export interface ApplyPeftOptions extends WrapOptions {
  /** Seed of the new parameters' initialisation. Default 0. */
  seed?: number;
}

/** The full configuration of `config`: its fields over the method's defaults (`name` dropped). */
export function resolvePeftConfig<K extends PeftMethodName>(
  config: { name: K } & Partial<PeftConfigs[K]>,
): PeftConfigs[K] {
  const entry = PEFT_METHODS[config.name] as PeftEntry<K> | undefined;
  if (!entry) {
    throw new Error(
      `unknown PEFT method "${config.name}": expected one of ${Object.keys(PEFT_METHODS).join(", ")}`,
    );
  }
  const { name: _name, ...rest } = config;
  const out = { ...entry.defaults } as PeftConfigs[K];
  for (const [k, v] of Object.entries(rest)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/**
 * Adds the method's new parameters to `model` (installing its hooks) and returns the trainable
 * view over those parameters only; the base model's variables are never updated. `adafactor` is
 * the method's optimizer override (pass it as the trainer's `config.adafactor`). Call `remove()`
 * to get the base model back, `dispose()` to also free the new variables.
 */
export function applyPeft(model: T5Model, config: PeftConfig, opts: ApplyPeftOptions = {}): PeftModel {
  const resolved = resolvePeftConfig(config as { name: PeftMethodName });
  const entry = PEFT_METHODS[config.name] as PeftEntry<PeftMethodName>;
  const state: PeftState = { training: false };
  const layers = entry.build(model, resolved as never, state, opts.seed ?? 0);
  return wrapPeft(model, config.name, layers, state, opts, entry.adafactor);
}
