/**
 * Fine-tuning methods behind one interface, and the registry from method name to its
 * configuration and factory (in the spirit of Hugging Face PEFT: switch methods by switching a
 * config, never the loop). Sparse methods (FISH-DIP, the fixed FISH mask, a random mask, full
 * fine-tuning, and the later SpIEL, static gradient and PaFi masks) decide which gradient entries
 * reach the optimizer; parameter-efficient ones (LoRA,
 * adapters, prefix tuning) add parameters and train only those.
 *
 * ```ts
 * import { createMethod, methodConfig } from "./lib/methods/mod.ts";
 * const setup = createMethod(methodConfig("fishdip", { m: 10 }), { model, seed: 1 });
 * await setup.method.prepare(ctx);                 // initial mask
 * // per step: await sparseTrainStep({ step, totalSteps, batch, ctx, method: setup.method, optimizer })
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./spec.ts";
export * from "./registry.ts";
export * from "./mask.ts";
export * from "./device_mask.ts";
export * from "./fishdip.ts";
export * from "./baselines.ts";
export * from "./spiel.ts";
export * from "./static_grad.ts";
export * from "./pafi.ts";
export * from "./step.ts";
export * from "./peft/mod.ts";
export * from "./t5_trainable.ts";
