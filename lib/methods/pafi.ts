/**
 * PaFi (Liao, Meng & Monz, 2023, "Parameter-Efficient Fine-Tuning without Introducing New
 * Latency", ACL 2023, arXiv 2305.16742): a task-agnostic sparse mask made of the pretrained
 * entries with the smallest absolute value, computed once from the weights alone (no data, no
 * gradient), fixed for the run and shared by every task.
 *
 * Source note: the paper's abstract says the mask is generated task-agnostically from "solely the
 * magnitude information of pre-trained parameters" and shared by all tasks; that the trained
 * entries are the smallest |θ| is the method as commonly described (PaFi's method section, its
 * density and whether it exempts biases or layer norms could not be read here: only the paper's
 * opening was in reach). So this port applies the rule to the same parameter set and global
 * top-k convention as FISH and FISH-DIP (every backbone parameter, tied ones once;
 * keep_num = int(total × k)) with k = FISH-DIP's 1 %, a like-for-like baseline.
 *
 * **Ties.** A trained T5 has few exact zeros, but a freshly initialised or pruned one can have
 * many, and layer-norm scales often share a value. The selection is {@link selectTopK} on −|θ|,
 * so the count is always exactly keep_num and ties at the threshold go to the smallest global
 * index (parameters in model order, then row-major), a deterministic rule. ±0 tie (both have
 * |θ| = 0); a NaN weight is never chosen (it counts as the largest magnitude).
 *
 * @module
 */
import type { T5Inputs } from "../t5/model.ts";
import { keepCount, selectTopK, type SparseMask } from "./mask.ts";
import { parameterShapes } from "./fishdip.ts";
import { FixedMaskMethod } from "./baselines.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import type { MethodContext } from "./types.ts";
import { FRACTION } from "../config/flags.ts";

/** PaFi's setting. */
export interface PafiConfig {
  /** Fraction of all entries kept (k). Default 0.01, FISH-DIP's k. */
  keepRatio: number;
}

/** PaFi's defaults (k set to FISH-DIP's 1 %). */
export const PAFI_DEFAULTS: Readonly<PafiConfig> = Object.freeze({ keepRatio: 0.01 });

/**
 * The `keepNum` entries of smallest |w| over all parameters (see the module notes for ties).
 * `weights` is read, never changed; its map order is the global order of the tie rule.
 */
export function smallestMagnitudeMask(
  weights: ReadonlyMap<string, Float32Array>,
  shapes: Map<string, number[]>,
  keepNum: number,
): SparseMask {
  const scores = new Map<string, Float32Array>();
  for (const [name, w] of weights) {
    const s = new Float32Array(w.length);
    // −|w| is exact in float32; NaN becomes −∞ so it is picked last, not first (selectTopK's NaN rule).
    for (let i = 0; i < w.length; i++) s[i] = Number.isNaN(w[i]) ? -Infinity : -Math.abs(w[i]);
    scores.set(name, s);
  }
  return selectTopK(scores, shapes, keepNum);
}

/** One mask computation, for logs (the trainer times `prepare` itself). */
export interface PafiRecord {
  step: 0;
  kept: number;
  /** Largest |θ| inside the mask (the threshold). */
  threshold: number;
  ms: number;
}

/** The PaFi mask: computed in `prepare` from the weights, then fixed. */
export class Pafi<E = unknown, B = unknown> extends FixedMaskMethod<E, B> {
  readonly name = "pafi";
  readonly config: Readonly<PafiConfig>;
  readonly history: PafiRecord[] = [];

  constructor(config: Partial<PafiConfig> = {}) {
    super();
    this.config = Object.freeze({ ...PAFI_DEFAULTS, ...config });
  }

  async prepare(ctx: MethodContext<E, B>): Promise<void> {
    const t0 = performance.now();
    const params = ctx.model.parameters();
    const weights = new Map<string, Float32Array>();
    for (const [name, v] of params) weights.set(name, (await v.data()) as Float32Array);
    let total = 0;
    for (const w of weights.values()) total += w.length;
    const mask = smallestMagnitudeMask(
      weights,
      parameterShapes(params),
      keepCount(total, this.config.keepRatio),
    );
    let threshold = 0;
    for (const [name, m] of mask.params) {
      const w = weights.get(name)!;
      for (const i of m.kept) threshold = Math.max(threshold, Math.abs(w[i]));
    }
    this.setMask(mask);
    this.history.push({ step: 0, kept: mask.keptCount, threshold, ms: performance.now() - t0 });
  }
}

/** The registry entry of PaFi (density k). */
export const PAFI_METHOD: MethodSpec<{ k: number }> = {
  label: "PaFi",
  kind: "mask",
  color: "#b6992d",
  description: "PaFi (Liao et al. 2023): the k smallest-magnitude pretrained entries, fixed, no data needed",
  source: "Liao, Meng & Monz, ACL 2023 (arXiv 2305.16742), abstract: mask = smallest |θ| of the " +
    "pretrained model, task-agnostic; k set to FISH-DIP's 1 % over FISH-DIP's parameter set",
  resumable: true,
  defaults: Object.freeze({ k: 0.01 }),
  ranges: { k: FRACTION },
  create<E>(config: { k: number }, ctx: CreateContext): MethodSetup<E> {
    return maskSetup(new Pafi<E, T5Inputs>({ keepRatio: config.k }), ctx);
  },
};
