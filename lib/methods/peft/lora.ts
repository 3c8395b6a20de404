/**
 * LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022): each target
 * linear layer `y = x Wᵀ` becomes `y = x Wᵀ + (alpha / r) · dropout(x) Aᵀ Bᵀ`, with W frozen, A
 * (r, in) and B (out, r) trained. B starts at zero, so the wrapped model starts as the base model
 * exactly; A starts Kaiming-uniform (a = √5, i.e. U(±1/√in)), as in Hugging Face PEFT's
 * `LoraLayer.reset_lora_parameters` (`init_lora_weights=True`, "the reference implementation
 * from Microsoft").
 *
 * Names follow PEFT's state dict: `<module>.lora_A.weight` (r, in) and `<module>.lora_B.weight`
 * (out, r), e.g. `encoder.block.0.layer.0.SelfAttention.q.lora_A.weight`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { T5Model } from "../../t5/model.ts";
import { seededDropout } from "../../t5/dropout.ts";
import {
  applyPeft,
  kaimingUniform,
  newVariable,
  type PeftBuilder,
  type PeftLayers,
  peftSetup,
  type PeftState,
  ZERO_INIT_ADAFACTOR,
} from "./core.ts";
import type { CreateContext, MethodSetup, MethodSpec } from "../spec.ts";
import { COUNT, POSITIVE } from "../../config/flags.ts";

/** LoRA hyperparameters (Hugging Face PEFT's `LoraConfig` names in camelCase). */
export interface LoraConfig {
  /** Rank r of the update. PEFT default 8; the grid's 8. */
  rank: number;
  /**
   * Scaling numerator: the update is multiplied by alpha / r. PEFT's default is 8 (= r, scale 1);
   * the grid uses 16 (scale 2, the common "alpha = 2r" setting).
   */
  alpha: number;
  /**
   * Linear modules to adapt: a module matches when its name equals a target or ends with
   * `.<target>` (PEFT's list semantics). PEFT's default for T5 (`TRANSFORMERS_MODELS_TO_LORA_
   * TARGET_MODULES_MAPPING["t5"]`) is ["q", "v"]: queries and values of every attention module
   * (encoder and decoder self-attention, and cross-attention), as in Hu et al.'s experiments
   * (Wq and Wv).
   */
  targets: string[];
  /** Dropout on the LoRA branch's input, in training only. PEFT default 0.0. */
  dropout: number;
}

/** Defaults: Hugging Face PEFT's `LoraConfig` (r 8, alpha 8, dropout 0) with T5's targets q, v. */
export const LORA_DEFAULTS: Readonly<LoraConfig> = Object.freeze({
  rank: 8,
  alpha: 8,
  targets: Object.freeze(["q", "v"]) as unknown as string[],
  dropout: 0,
});

/** Where {@link LORA_DEFAULTS} come from. */
export const LORA_SOURCE =
  "Hu et al. 2021 (arXiv:2106.09685); huggingface/peft LoraConfig (r=8, lora_alpha=8, " +
  "lora_dropout=0.0, init_lora_weights=True: A Kaiming-uniform a=√5, B zeros) and its T5 target mapping " +
  '["q", "v"]; the grid sets alpha 16. Hu et al. train with AdamW; here FISH-DIP\'s Adafactor, lr and ' +
  "schedule with scale_parameter off (see mod.ts).";

/** The linear modules of a T5 model (names without `.weight`), in parameter order. */
export function t5LinearModules(model: T5Model): string[] {
  return [...model.params.entries()]
    .filter(([n, v]) =>
      n.endsWith(".weight") && v.shape.length === 2 && n !== "shared.weight" && n !== "lm_head.weight" &&
      !n.endsWith("relative_attention_bias.weight")
    )
    .map(([n]) => n.slice(0, -".weight".length));
}

/** The modules `targets` selects (PEFT: exact name, or a name ending in `.<target>`). */
export function matchTargets(modules: string[], targets: readonly string[]): string[] {
  return modules.filter((m) => targets.some((t) => m === t || m.endsWith(`.${t}`)));
}

/** Builds the LoRA factors and the `linear` hook. */
export function buildLora(model: T5Model, config: LoraConfig, state: PeftState, seed: number): PeftLayers {
  const { rank, alpha, dropout } = config;
  if (!(Number.isInteger(rank) && rank > 0)) {
    throw new Error(`LoRA: rank must be a positive integer, got ${rank}`);
  }
  const modules = matchTargets(t5LinearModules(model), config.targets);
  if (modules.length === 0) {
    throw new Error(`LoRA: targets ${JSON.stringify(config.targets)} match no linear module of this T5`);
  }
  const scale = alpha / rank;
  const params = new Map<string, tf.Variable>();
  const factors = new Map<string, { a: tf.Variable; b: tf.Variable }>();
  modules.forEach((m, i) => {
    const [out, inDim] = model.param(`${m}.weight`).shape;
    const a = newVariable(
      model,
      "lora",
      `${m}.lora_A.weight`,
      kaimingUniform([rank, inDim], inDim, seed * 1000003 + i),
    );
    const b = newVariable(model, "lora", `${m}.lora_B.weight`, tf.zeros([out, rank]));
    params.set(`${m}.lora_A.weight`, a);
    params.set(`${m}.lora_B.weight`, b);
    factors.set(m, { a, b });
  });
  return {
    params,
    hooks: {
      linear: (name, x, w) => {
        const y = tf.matMul(x, w, false, true) as tf.Tensor2D; // (N, out): the frozen layer
        const f = factors.get(name);
        if (!f) return y;
        const xd = state.training && dropout > 0 ? seededDropout(x, dropout, model.nextDropoutSeed()) : x;
        // (N, in) Aᵀ → (N, r), then Bᵀ → (N, out); the rank-r path never forms B·A.
        const delta = tf.matMul(tf.matMul(xd, f.a, false, true), f.b, false, true);
        return y.add(delta.mul(scale)) as tf.Tensor2D;
      },
    },
  };
}

/** LoRA's layer change (see {@link applyPeft}). */
export const LORA: PeftBuilder<LoraConfig> = {
  name: "lora",
  defaults: LORA_DEFAULTS,
  source: LORA_SOURCE,
  adafactor: ZERO_INIT_ADAFACTOR,
  build: buildLora,
};

/** LoRA in the grid's notation: rank r, scaling numerator alpha, target modules. */
export interface LoraParams {
  rank: number;
  alpha: number;
  targets: string[];
}

/** The registry entry (`../registry.ts`). */
export const LORA_METHOD: MethodSpec<LoraParams> = {
  label: "LoRA",
  kind: "peft",
  color: "#76b7b2",
  description:
    "LoRA: trained rank-r update (alpha/r)·B·A beside frozen attention query and value projections",
  source: LORA_SOURCE,
  resumable: true,
  defaults: Object.freeze({ rank: 8, alpha: 16, targets: Object.freeze(["q", "v"]) as unknown as string[] }),
  ranges: { rank: COUNT, alpha: POSITIVE },
  create<E>(config: LoraParams, ctx: CreateContext): MethodSetup<E> {
    const { rank, alpha, targets } = config;
    return peftSetup(applyPeft(ctx.model, LORA, { rank, alpha, targets: [...targets] }, { seed: ctx.seed }));
  },
};
