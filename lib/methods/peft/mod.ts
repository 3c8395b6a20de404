/**
 * Parameter-efficient baselines in Hugging Face PEFT's shape: per method a config with documented
 * defaults and their source, the layer change (through `T5Hooks`), and one wrapper,
 * {@link applyPeft}, that returns a `TrainableModel` over ONLY the new parameters. The training
 * loop does not change: train it with the `full` method (no mask) and FISH-DIP's Adafactor,
 * learning rate, linear decay and clipping, so that a comparison isolates the parameterisation.
 * The original papers' optimizers differ (LoRA: AdamW; Houlsby: Adam; Li & Liang: AdamW), and
 * FISH-DIP's paper does not give its PEFT baselines' hyperparameters. Each method's registry entry
 * (`LORA_METHOD`, `ADAPTER_METHOD`, `PREFIX_METHOD`, listed in `../registry.ts`) builds all of
 * this for a run.
 *
 * One exception, {@link PeftBuilder.adafactor}: FISH-DIP's Adafactor scales each step by the
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
 * import { applyPeft, LORA } from "./lib/methods/peft/mod.ts";
 * import { FullFinetuning } from "./lib/methods/baselines.ts";
 * const peft = applyPeft(model, LORA, { rank: 8, alpha: 16 }, { seed: 1 });
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
export * from "./core.ts";
export * from "./lora.ts";
export * from "./adapter.ts";
export * from "./prefix.ts";
