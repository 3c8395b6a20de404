/**
 * The shape of one entry of the method registry (`registry.ts`): what a method is called in the
 * tables, its hyperparameters in the paper's notation (k, m, n, rank, ...) with their defaults and
 * source, and `create`, which turns such a configuration into what the trainer needs for a T5
 * backbone. Each method's module defines its entry next to the code it configures.
 *
 * @module
 */
import type { NumberRange } from "../config/flags.ts";
import type { AdafactorConfig } from "../optim/adafactor.ts";
import type { T5Inputs, T5Model } from "../t5/model.ts";
import { t5Trainable } from "./t5_trainable.ts";
import type { SparseMethod, TrainableModel } from "./types.ts";

/** What `create` is given besides the configuration. */
export interface CreateContext {
  /** The backbone. Parameter-efficient methods install their hooks on it. */
  model: T5Model;
  /** The run's seed: new parameters' initialisation, a random mask's draw. */
  seed: number;
}

/** A method ready for the trainer (`lib/train/trainer.ts`): pass `method`, `trainable` and `adafactor`. */
export interface MethodSetup<E> {
  /** Decides which gradient entries reach the optimizer (parameter-efficient methods: all). */
  method: SparseMethod<E, T5Inputs>;
  /** What the trainer updates: every backbone parameter, or only a method's new parameters. */
  trainable: TrainableModel<T5Inputs>;
  /** The method's changes to FISH-DIP's Adafactor (empty: none); the trainer's `config.adafactor`. */
  adafactor: Readonly<Partial<AdafactorConfig>>;
  /** How logs name it: `fishdip`, or `lora (294912 new parameters, no mask)`. */
  summary: string;
  /** Frees the method and removes its hooks: the backbone computes the base model again. */
  dispose(): void;
}

/**
 * One registered method. `C` is its configuration in the paper's notation; a cell of the grid
 * stores `{ name, ...C }`, so these fields (and nothing else) make a run's identity.
 */
export interface MethodSpec<C extends object> {
  /** Column label in tables and figures. */
  label: string;
  /**
   * `mask`: trains the backbone's own parameters through a gradient mask (full fine-tuning is the
   * mask that keeps everything). `peft`: adds parameters and trains only those.
   */
  kind: "mask" | "peft";
  /** Colour in every figure. */
  color: string;
  /** One line on what it does. */
  description: string;
  /** Where the defaults come from. */
  source: string;
  /** The paper's (or the method's papers') settings. */
  defaults: Readonly<C>;
  /**
   * What each numeric setting may be (k a share in (0, 1], m a count of steps, ...): a value
   * outside is refused when a command line or a preset is read, not found wrong mid-run.
   */
  ranges?: { readonly [K in keyof C]?: NumberRange };
  /**
   * A run killed mid-training and resumed from its checkpoint (weights, optimizer state, mask)
   * ends with the same losses and weights as one run through, bit for bit: the method keeps no
   * other state (lib/train/resume_methods_test.ts checks every method marked so). The grid
   * checkpoints long cells of such methods, and resumes them after a kill.
   */
  resumable?: boolean;
  /** Builds the method for one run on `ctx.model`. */
  create<E>(config: C, ctx: CreateContext): MethodSetup<E>;
}

/** The setup of a method that masks the backbone's own gradients. */
export function maskSetup<E>(method: SparseMethod<E, T5Inputs>, ctx: CreateContext): MethodSetup<E> {
  return {
    method,
    trainable: t5Trainable(ctx.model),
    adafactor: {},
    summary: method.name,
    dispose: () => method.dispose(),
  };
}
