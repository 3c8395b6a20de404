/**
 * Sparse fine-tuning methods behind one interface, and a registry from method name to factory
 * (in the spirit of Hugging Face PEFT: switch methods by switching a config, never the loop).
 *
 * ```ts
 * import { createMethod } from "./lib/methods/mod.ts";
 * const method = createMethod("fishdip", { refreshEvery: 100 });
 * await method.prepare(ctx);                       // initial mask
 * // per step: await sparseTrainStep({ step, totalSteps, batch, ctx, method, optimizer })
 * ```
 *
 * @module
 */
import { FishDip, FISHDIP_DEFAULTS, type FishDipConfig } from "./fishdip.ts";
import {
  FISH_DEFAULTS,
  type FishConfig,
  FixedFish,
  FullFinetuning,
  RANDOM_MASK_DEFAULTS,
  type RandomMaskConfig,
  RandomMaskMethod,
} from "./baselines.ts";
import type { SparseMethod } from "./types.ts";

export * from "./types.ts";
export * from "./mask.ts";
export * from "./fishdip.ts";
export * from "./baselines.ts";
export * from "./step.ts";
// LoRA, adapters and prefix tuning change the model rather than the gradient: their own registry
// (`PEFT_METHODS`, `applyPeft`), trained with the `full` method over their new parameters.
export * from "./peft/mod.ts";
export * from "./t5_adapter.ts";

/** Configuration type of each registered method. */
export interface MethodConfigs {
  fishdip: FishDipConfig;
  fish: FishConfig;
  random: RandomMaskConfig;
  full: Record<string, never>;
}

/** Registered method names. */
export type MethodName = keyof MethodConfigs;

/** One registry entry: defaults, where they come from, and a factory. */
export interface MethodEntry<K extends MethodName> {
  description: string;
  /** Where the defaults come from. */
  source: string;
  defaults: Readonly<MethodConfigs[K]>;
  create(config?: Partial<MethodConfigs[K]>): SparseMethod;
}

/** The registry. */
export const METHODS: { [K in MethodName]: MethodEntry<K> } = {
  fishdip: {
    description: "FISH-DIP: Fisher mask from the top-n highest-loss samples, refreshed every m steps",
    source:
      "psunlpgroup/FISH-DIP fish_dip.py @ a8aa5ae and scripts/*.sh (k=1%, m=100, n=clamp(0.1·#batches,3,25))",
    defaults: FISHDIP_DEFAULTS,
    create: (c) => new FishDip(c),
  },
  fish: {
    description: "FISH Mask: fixed Fisher mask from numSamples shuffled samples, computed once",
    source: "varunnair18/FISH run_glue_sparse_update.py @ b5bff1e (label-square, 1024 samples); k set to 1%",
    defaults: FISH_DEFAULTS,
    create: (c) => new FixedFish(c),
  },
  random: {
    description: "Fixed uniformly random mask of int(total·k) entries",
    source: "FISH create_mask_random (uniform scores, global top-k); k set to 1%",
    defaults: RANDOM_MASK_DEFAULTS,
    create: (c) => new RandomMaskMethod(c),
  },
  full: {
    description: "Full fine-tuning: every parameter trains",
    source: "no mask; same optimizer and schedule as FISH-DIP",
    defaults: Object.freeze({}),
    create: () => new FullFinetuning(),
  },
};

/** Creates a method by name, with `config` overriding its defaults. */
export function createMethod<K extends MethodName>(
  name: K,
  config?: Partial<MethodConfigs[K]>,
): SparseMethod {
  const entry = METHODS[name] as MethodEntry<K> | undefined;
  if (!entry) throw new Error(`unknown method "${name}": expected one of ${Object.keys(METHODS).join(", ")}`);
  return entry.create(config);
}
