/**
 * What every parameter-efficient method shares (the "model wrapper" part of Hugging Face PEFT's
 * tuners): a method builds new variables and {@link T5Hooks}; {@link wrapPeft} installs the hooks
 * on the frozen T5 model and exposes a {@link TrainableModel} whose parameters are ONLY the new
 * variables, so the unchanged trainer (with the `full` method, no mask) trains exactly those.
 *
 * The base model is frozen by construction: its variables are never handed to the optimizer and
 * gradients are taken only with respect to the new ones (`tf.variableGrads` with an explicit
 * variable list prunes the backward pass to the paths that lead to them).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  t5AccumulatedGrads,
  type T5Hooks,
  type T5Inputs,
  type T5Model,
  t5PerExampleLoss,
} from "../../t5/model.ts";
import type { AdafactorConfig } from "../../optim/adafactor.ts";
import type { ModeOptions, TrainableModel } from "../types.ts";
import { FullFinetuning } from "../baselines.ts";
import type { MethodSetup } from "../spec.ts";

/**
 * Mutable state a method's hooks may read. The T5 hooks carry no training flag, so the wrapper
 * sets `training` around its own loss calls (dropout inside a method, e.g. LoRA's, is then on in
 * training steps only; generation and scoring see `false`).
 */
export interface PeftState {
  training: boolean;
}

/** What a method's `build` returns: its new variables (by name) and the hooks that use them. */
export interface PeftLayers {
  /** The new trainable variables, keyed by a Hugging Face PEFT-like name. */
  params: Map<string, tf.Variable>;
  /** The hooks to install (only the ones the method uses). */
  hooks: T5Hooks;
  /**
   * Parameters needed at inference, when smaller than `params` (prefix tuning's reparameterising
   * MLP is dropped after training, leaving only the computed keys and values).
   */
  inferenceParameterCount?: number;
}

/** The result of {@link wrapPeft} (and of `applyPeft`). */
export interface PeftModel {
  /** The method's name (`lora`, `adapter`, `prefix`). */
  readonly method: string;
  /** The model seen by the trainer: parameters are the new variables only. */
  readonly trainable: TrainableModel<T5Inputs>;
  /** The new variables (the same map as `trainable.parameters()`). */
  readonly params: Map<string, tf.Variable>;
  /** Number of trainable values. */
  readonly parameterCount: number;
  /** Number of values needed at inference (equal to `parameterCount` except for prefix tuning). */
  readonly inferenceParameterCount: number;
  /** The method's changes to FISH-DIP's Adafactor: pass as the trainer's `config.adafactor`. */
  readonly adafactor: Readonly<Partial<AdafactorConfig>>;
  /** Uninstalls the hooks: the model computes exactly the base model again. Idempotent. */
  remove(): void;
  /** {@link remove}, then frees the new variables. */
  dispose(): void;
}

/** Options of {@link wrapPeft}. */
export interface WrapOptions {
  /** Ignore pad-id labels in losses. Default false: TANL/FISH-DIP count them (as `t5Trainable`). */
  ignorePadLabels?: boolean;
}

let peftCounter = 0;

/**
 * A globally unique tfjs variable name for a new parameter of `model` (tfjs requires unique
 * variable names across all live variables).
 */
export function peftVariableName(model: T5Model, method: string, name: string): string {
  return `${model.id}/${method}_${peftCounter++}/${name}`;
}

/** Creates a float32 trainable variable from `init` (disposed) under a unique name. */
export function newVariable(model: T5Model, method: string, name: string, init: tf.Tensor): tf.Variable {
  const v = tf.variable(init, true, peftVariableName(model, method, name), "float32");
  init.dispose();
  return v;
}

/** PyTorch's `nn.Linear` default init: weight and bias ~ U(±1/√fan_in) (Kaiming uniform, a=√5). */
export function kaimingUniform(shape: number[], fanIn: number, seed: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, "float32", seed);
}

/** Number of values in a set of variables. */
export function countValues(params: Map<string, tf.Variable>): number {
  let n = 0;
  for (const v of params.values()) n += v.size;
  return n;
}

/**
 * Installs `layers.hooks` on `model` and returns the PEFT view of it. Fails if the model already
 * has a hook of the same kind (one method at a time, so `remove()` restores the base exactly).
 */
export function wrapPeft(
  model: T5Model,
  method: string,
  layers: PeftLayers,
  state: PeftState,
  opts: WrapOptions = {},
  adafactor: Readonly<Partial<AdafactorConfig>> = {},
): PeftModel {
  const ignorePadLabels = opts.ignorePadLabels ?? false;
  const kinds = Object.keys(layers.hooks) as (keyof T5Hooks)[];
  for (const k of kinds) {
    if (model.hooks[k]) {
      tf.dispose([...layers.params.values()]);
      throw new Error(
        `applyPeft(${method}): the model already has a "${k}" hook (remove the other method first)`,
      );
    }
  }
  model.hooks = { ...model.hooks, ...layers.hooks };
  const params = layers.params;
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  // Runs `f` with the hooks in the given mode; the flag is reset even if `f` throws.
  const inMode = <T>(training: boolean, f: () => T): T => {
    const before = state.training;
    state.training = training;
    try {
      return f();
    } finally {
      state.training = before;
    }
  };
  const trainable: TrainableModel<T5Inputs> = {
    parameters: () => params,
    perExampleLoss: (batch: T5Inputs, m: ModeOptions) =>
      inMode(m.training, () => t5PerExampleLoss(model, batch, { training: m.training, ignorePadLabels })),
    lossAndGrads: (batch: T5Inputs, m: ModeOptions) =>
      inMode(m.training, () => {
        return t5AccumulatedGrads(model, batch, { training: m.training, ignorePadLabels }, (lossFn) => {
          const { value, grads } = tf.variableGrads(lossFn, vars);
          const out = new Map<string, tf.Tensor>();
          names.forEach((n, i) => out.set(n, grads[vars[i].name] ?? tf.zerosLike(vars[i])));
          return { loss: value, grads: out };
        });
      }),
  };
  let installed = true;
  const remove = () => {
    if (!installed) return;
    installed = false;
    const hooks = { ...model.hooks };
    // Only our own hooks: another component may have installed other kinds meanwhile.
    for (const k of kinds) if (hooks[k] === layers.hooks[k]) delete hooks[k];
    model.hooks = hooks;
  };
  const count = countValues(params);
  return {
    method,
    trainable,
    params,
    parameterCount: count,
    inferenceParameterCount: layers.inferenceParameterCount ?? count,
    adafactor,
    remove,
    dispose: () => {
      remove();
      tf.dispose(vars);
      params.clear();
    },
  };
}

/**
 * One parameter-efficient method's layer change: its hyperparameters' defaults and their source,
 * its changes to FISH-DIP's Adafactor (see `mod.ts`), and the builder of its variables and hooks.
 */
export interface PeftBuilder<C> {
  /** `lora`, `adapter`, `prefix`: in variable names, logs and errors. */
  name: string;
  defaults: Readonly<C>;
  /** Where the defaults come from. */
  source: string;
  /** Changes to FISH-DIP's Adafactor for this method's parameters (empty: none). */
  adafactor: Readonly<Partial<AdafactorConfig>>;
  build(model: T5Model, config: C, state: PeftState, seed: number): PeftLayers;
}

/**
 * Adafactor without parameter-scaled steps, for methods whose new parameters start at (or near)
 * zero (see `mod.ts`).
 */
export const ZERO_INIT_ADAFACTOR: Readonly<Partial<AdafactorConfig>> = Object.freeze({
  scaleParameter: false,
});

/** The full configuration: `config`'s fields over the builder's defaults (arrays copied). */
export function resolvePeftConfig<C>(builder: PeftBuilder<C>, config: Partial<C> = {}): C {
  const out = { ...builder.defaults } as C;
  for (const [k, v] of Object.entries(config)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  }
  return out;
}

/** Options of {@link applyPeft}. */
export interface ApplyPeftOptions extends WrapOptions {
  /** Seed of the new parameters' initialisation. Default 0. */
  seed?: number;
}

/**
 * Adds the method's new parameters to `model` (installing its hooks) and returns the trainable
 * view over those parameters only; the base model's variables are never updated. `adafactor` is
 * the method's optimizer override (pass it as the trainer's `config.adafactor`). Call `remove()`
 * to get the base model back, `dispose()` to also free the new variables.
 *
 * ```ts
 * import { LORA } from "./lora.ts";
 * declare const model: T5Model;
 * const peft = applyPeft(model, LORA, { rank: 8, alpha: 16 }, { seed: 1 });
 * ```
 */
export function applyPeft<C>(
  model: T5Model,
  builder: PeftBuilder<C>,
  config: Partial<C> = {},
  opts: ApplyPeftOptions = {},
): PeftModel {
  const state: PeftState = { training: false };
  const layers = builder.build(model, resolvePeftConfig(builder, config), state, opts.seed ?? 0);
  return wrapPeft(model, builder.name, layers, state, opts, builder.adafactor);
}

/**
 * The setup of a parameter-efficient method for the trainer: the `full` method (no mask) over the
 * new parameters only, with the method's Adafactor changes.
 */
export function peftSetup<E>(peft: PeftModel): MethodSetup<E> {
  const method = new FullFinetuning<E, T5Inputs>();
  return {
    method,
    trainable: peft.trainable,
    adafactor: { ...peft.adafactor },
    summary: `${peft.method} (${peft.parameterCount} new parameters, no mask)`,
    dispose: () => {
      peft.dispose(); // removes the hooks: a shared backbone is the base model again
      method.dispose();
    },
  };
}
