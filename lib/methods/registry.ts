/**
 * The method registry: every method the grid, `deno task finetune`, the notebooks and the tables
 * know, by name. Each entry ({@link MethodSpec}) lives in its method's module and owns the
 * method's configuration in the paper's notation (k, m, n, rank, ...), its defaults and their
 * source, its label and colour, its kind (mask or parameter-efficient) and `create`, which builds
 * it for one run. Adding a method is its module (with its entry) plus one line here.
 *
 * ```ts
 * import { createMethod, methodConfig } from "./registry.ts";
 * declare const model: T5Model;
 * const config = methodConfig("fishdip", { m: 10 });           // { name: "fishdip", k: 0.01, m: 10, n: "rule" }
 * const setup = createMethod<Feature>(config, { model, seed: 1 });
 * await train({ model: setup.trainable, method: setup.method, examples, collate, config: { ...c, adafactor: setup.adafactor } });
 * setup.dispose();
 * ```
 *
 * @module
 */
import { FISH_METHOD, FULL_METHOD, RANDOM_METHOD } from "./baselines.ts";
import { FISHDIP_METHOD } from "./fishdip.ts";
import { PAFI_METHOD } from "./pafi.ts";
import { SPIEL_METHOD } from "./spiel.ts";
import { STATIC_GRAD_METHOD } from "./static_grad.ts";
import { ADAPTER_METHOD } from "./peft/adapter.ts";
import { LORA_METHOD } from "./peft/lora.ts";
import { PREFIX_METHOD } from "./peft/prefix.ts";
import type { CreateContext, MethodSetup, MethodSpec } from "./spec.ts";
import { describeRange, inRange, type NumberRange } from "../config/flags.ts";

/** The registry, in the order the tables list methods. */
export const METHODS = {
  full: FULL_METHOD,
  fishdip: FISHDIP_METHOD,
  fish: FISH_METHOD,
  random: RANDOM_METHOD,
  spiel: SPIEL_METHOD,
  "static-grad": STATIC_GRAD_METHOD,
  pafi: PAFI_METHOD,
  lora: LORA_METHOD,
  adapter: ADAPTER_METHOD,
  prefix: PREFIX_METHOD,
} as const;

/** Registered method names. */
export type MethodName = keyof typeof METHODS;

/** Each method's configuration in the paper's notation. */
export type MethodConfigs = {
  [K in MethodName]: (typeof METHODS)[K] extends MethodSpec<infer C> ? C : never;
};

/** A method and its hyperparameters, as a grid cell stores it: `{ name: "fishdip", k: 0.01, m: 100, n: "rule" }`. */
export type MethodConfig = { [K in MethodName]: { name: K } & MethodConfigs[K] }[MethodName];

/** The registry seen through its configuration types (what lets {@link createMethod} need no casts). */
const REGISTRY: { [K in MethodName]: MethodSpec<MethodConfigs[K]> } = METHODS;

/** Every registered name, in registry order. */
export const METHOD_NAMES: readonly MethodName[] = Object.keys(METHODS) as MethodName[];

/** Whether `name` is a registered method. */
export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHODS, name);
}

/** The registry entry of `name` (throws, listing the known names, for an unknown one). */
export function methodSpec<K extends MethodName>(name: K): MethodSpec<MethodConfigs[K]> {
  if (!isMethodName(name)) {
    throw new Error(`unknown method "${name}": expected one of ${METHOD_NAMES.join(", ")}`);
  }
  return REGISTRY[name];
}

/** A method's configuration: its defaults (copied), then `patch`; `name` first. */
export function methodConfig<K extends MethodName>(
  name: K,
  patch: Partial<MethodConfigs[K]> = {},
): Extract<MethodConfig, { name: K }> {
  // Built field by field; the entry's type makes it that method's configuration.
  const config: Record<string, unknown> = { name, ...structuredClone(methodSpec(name).defaults), ...patch };
  return config as unknown as Extract<MethodConfig, { name: K }>;
}

/**
 * A method's configuration from strings (command-line flags): each given value replaces the
 * default of the same name, parsed as the default's type (a number, a list `q,v`, or a number or
 * the default's word, as n's `rule` and `all`). Names the method does not have are ignored.
 */
export function parseMethodConfig(name: string, values: Record<string, string | undefined>): MethodConfig {
  if (!isMethodName(name)) {
    throw new Error(`unknown method "${name}": expected one of ${METHOD_NAMES.join(", ")}`);
  }
  const config: Record<string, unknown> = { ...methodConfig(name) };
  for (const [key, def] of Object.entries(methodSpec(name).defaults)) {
    const v = values[key];
    if (v === undefined) continue;
    if (Array.isArray(def)) config[key] = v.split(",").map((s) => s.trim()).filter(Boolean);
    else if (typeof def === "string" && v === def) config[key] = v;
    else {
      const x = Number(v);
      if (v.trim() === "" || !Number.isFinite(x)) {
        throw new Error(
          `${name}: ${key} must be a number${typeof def === "string" ? ` or "${def}"` : ""}, got "${v}"`,
        );
      }
      const range = methodSpec(name).ranges?.[key as never] as NumberRange | undefined;
      if (range && !inRange(x, range)) {
        throw new Error(`${name}: ${key} must be ${describeRange(range)}, got "${v}"`);
      }
      config[key] = x;
    }
  }
  return config as MethodConfig;
}

/**
 * Builds the method of `config` for one run on `ctx.model` (see {@link MethodSetup}); `E` is the
 * trainer's example type.
 */
export function createMethod<E = unknown>(config: MethodConfig, ctx: CreateContext): MethodSetup<E> {
  return createTyped<E, MethodName>(config, ctx);
}

function createTyped<E, K extends MethodName>(
  config: { name: K } & MethodConfigs[K],
  ctx: CreateContext,
): MethodSetup<E> {
  return methodSpec(config.name).create<E>(config, ctx);
}

export type { CreateContext, MethodSetup, MethodSpec };
