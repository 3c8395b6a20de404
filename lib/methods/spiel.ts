/**
 * SpIEL (Ansell, Vulić, Sterz, Korhonen & Ponti, 2024, "Scaling Sparse Fine-Tuning to Large
 * Language Models", arXiv 2401.16405), its SpIEL-AG variant: a fixed-size set of trainable
 * entries (density k) whose delta from the pretrained value is trained, and every `interval`
 * steps a drop-and-grow update: drop the fraction `rate` of active entries with the smallest
 * |delta| (resetting them to their pretrained values, so the delta stays sparse), grow as many
 * inactive entries with the largest accumulated gradient, RigL-style (Evci et al., 2020).
 *
 * Source note. The paper's method section (update / drop / grow, growth by accumulated gradients
 * for SpIEL-AG, linear decay of the drop rate) as its released code implements it,
 * AlanAnsell/peft `src/peft/tuners/sft/{config,trainer,layer}.py` (`SftConfig` defaults:
 * `density` 0.01, `reselection_steps` 20, `selection_accumulation_steps` 5,
 * `initial_reselection_rate` 0.2, `reselection_rate_policy` "linear", `selection_algorithm`
 * "rigl"). What this port keeps, and where it departs:
 *
 * - **Schedule.** The set starts uniformly random (`SparseDelta`: `torch.multinomial` without
 *   replacement), drawn from the run's seed. Updates happen before steps A+1, A+1+R, A+1+2R, ...
 *   (R = `interval`, A = `accumulate`), as `SftSelector.step` ends its selection phases after
 *   completed steps A, R+A, 2R+A, .... The first update replaces the whole set (rate 1: the code's
 *   `completed_steps == selection_accumulation_steps`), the later ones drop
 *   `rate × (1 − c/T)` of it, c the completed steps and T the run's total (`horizon`).
 * - **Growth score: |Σ_t g_t|**, the magnitude of the gradient *summed* (signed) over the A steps
 *   before the update (`select_rigl`: `candidate_scores = abs(candidate_grads)` with
 *   `candidate_grads += grad`). That is RigL's criterion, |∂L/∂θ| of a new connection, for the
 *   loss of the A batches together: a grown entry starts at delta 0 and first moves along the
 *   mean gradient, so an entry whose per-step gradients cancel would barely move and is not worth
 *   a slot; Σ|g| or Σg² would rank such noise high. `growScore: "sum-square"` gives Σ g² instead.
 *   The code accumulates A+1 steps for the later updates (its phase starts one step early); here
 *   every window is the A steps just before the update. A = R accumulates every step since the
 *   last update. The code keeps scores only for k candidates per tensor (picked by the first
 *   step's |g|) to save GPU memory; here every inactive entry is a candidate.
 * - **Drop.** Smallest |θ − θ₀| among the active entries; an entry both dropped and regrown
 *   stays, with its delta (the code filters such entries out of both lists). The drop count is
 *   int(n × p) (the code's `int(len(delta.values) * p)`), so the set size never changes.
 * - **Scope.** The code drops and grows per tensor (each keeps its count); here by default over
 *   all parameters at once (`scope: "global"`), the same global top-k convention as FISH and
 *   FISH-DIP and the same parameter set (every backbone parameter, tied ones once; the code
 *   targets linear layers). `scope: "parameter"` is the code's per-tensor rule.
 * - **Optimizer.** The code seeds Adam's moments of grown entries from the accumulated
 *   gradients; FISH-DIP's Adafactor has no first moment and factored second moments for
 *   matrices, so nothing per entry is reset, exactly as at a FISH-DIP mask refresh. Inactive
 *   entries get exact-zero gradients and so exact-zero Adafactor updates (see `mask.ts`): they
 *   stay bit-identical to their pretrained values, which is what lets a grown entry's pretrained
 *   value be read from the model.
 *
 * **Pretrained values.** A dropped entry is reset to θ₀, so θ₀ of the active entries must be
 * known. `create` copies the backbone's weights while they are still the pretrained ones (before
 * a checkpoint is loaded on resume); `prepare` or `restoreMask` keeps θ₀ of the active entries
 * only and frees the copy, so afterwards the method holds O(k) values, as SpIEL intends.
 *
 * **Cost.** The gradients of the A steps of each window are read into `Float32Array`s (a full
 * copy of the model in JavaScript memory during the window); an update reads the weights once
 * and writes back the tensors that have resets. Both are counted as mask time (`ms` of each
 * {@link SpielRecord}, which the trainer adds to `maskSeconds`).
 *
 * **Resume.** The accumulated gradients are not part of a checkpoint: a run resumed inside an
 * accumulation window grows from the steps after the resume only (none: that update is skipped).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { T5Inputs } from "../t5/model.ts";
import { keepCount, type ParamMask, randomMask, selectTopK, SparseMask } from "./mask.ts";
import { parameterShapes } from "./fishdip.ts";
import { type CreateContext, maskSetup, type MethodSetup, type MethodSpec } from "./spec.ts";
import type { MethodContext, SparseMethod } from "./types.ts";
import { COUNT, FRACTION, type NumberRange } from "../config/flags.ts";

/** SpIEL's settings (the released code's names in the comments). */
export interface SpielConfig {
  /** Density k (`density`). Default 0.01. */
  keepRatio: number;
  /** R: steps between updates (`reselection_steps`). Default 20. */
  interval: number;
  /** A: steps whose gradients feed each growth (`selection_accumulation_steps`). Default 5. */
  accumulate: number;
  /** Drop fraction at step 0, decaying linearly to 0 at `totalSteps` (`initial_reselection_rate`). Default 0.2. */
  rate: number;
  /** T of the decay: the run's optimizer steps. null: unknown, so the rate stays at `rate`. */
  totalSteps: number | null;
  /** The first update replaces the whole random start (rate 1), as the code does. Default true. */
  initialReselect: boolean;
  /** "global": drop and grow over all parameters (default); "parameter": per tensor, as the code. */
  scope: "global" | "parameter";
  /** Growth score: "abs-sum" |Σ g| (the code's, default) or "sum-square" Σ g². */
  growScore: "abs-sum" | "sum-square";
  /** Seed of the random start. */
  seed: number;
}

/** The released code's defaults (`SftConfig`), and this port's choices (see the module notes). */
export const SPIEL_DEFAULTS: Readonly<SpielConfig> = Object.freeze({
  keepRatio: 0.01,
  interval: 20,
  accumulate: 5,
  rate: 0.2,
  totalSteps: null,
  initialReselect: true,
  scope: "global",
  growScore: "abs-sum",
  seed: 0,
});

type Schedule = Pick<SpielConfig, "interval" | "accumulate" | "totalSteps">;

/** Whether an update happens before optimizer step `step` (1-based). */
export function isSpielUpdateStep(c: Schedule, step: number): boolean {
  const first = c.accumulate + 1;
  if (step < first || (step - first) % c.interval !== 0) return false;
  // The code stops reselecting once the completed steps pass the total.
  return c.totalSteps === null || step - 1 < c.totalSteps;
}

/** Whether step `step`'s gradient feeds the next update (it is one of the A steps before it). */
export function spielAccumulates(c: Schedule, step: number): boolean {
  const first = c.accumulate + 1;
  let next = first;
  if (step >= first) {
    const d = (((first - step) % c.interval) + c.interval) % c.interval;
    next = step + (d === 0 ? c.interval : d);
  }
  return next - step <= c.accumulate && isSpielUpdateStep(c, next);
}

/** The fraction of the set replaced by the update before `step`. */
export function spielRate(c: Schedule & Pick<SpielConfig, "rate" | "initialReselect">, step: number): number {
  if (c.initialReselect && step === c.accumulate + 1) return 1;
  if (c.totalSteps === null) return c.rate;
  return Math.max(0, c.rate * (1 - (step - 1) / c.totalSteps));
}

/** One change of the set, for logs and tests. */
export interface SpielRecord {
  /** 0 for the random start, else the optimizer step the update was made before. */
  step: number;
  /** Fraction of the set due to be replaced. */
  rate: number;
  /** Entries that left the set (reset to θ₀); as many joined. */
  dropped: number;
  /** Entries in the set. */
  kept: number;
  /** Entries kept by both this and the previous set (undefined for the first). */
  overlapWithPrevious?: number;
  /** Steps whose gradients fed the growth. */
  accumulatedSteps: number;
  /** Wall time of the update plus the gradient reads of its window, ms. */
  ms: number;
  /** Of which the gradient reads, ms. */
  accumulateMs: number;
}

/** A changed entry list of one parameter, in the layout of `lib/train/delta.ts`'s `ParamDelta`. */
export interface SpielParamDelta {
  indices: Int32Array;
  values: Float32Array;
}

/** Copies every weight to JavaScript memory (synchronously: `create` cannot wait). */
export function snapshotWeights(params: ReadonlyMap<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...params].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
}

/** θ₀ of a mask's entries, aligned with its kept lists. */
function baseOf(weights: ReadonlyMap<string, Float32Array>, mask: SparseMask): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, m] of mask.params) {
    const w = weights.get(name);
    if (!w || w.length !== m.size) {
      throw new Error(`spiel: no pretrained values of size ${m.size} for "${name}"`);
    }
    out.set(name, Float32Array.from(m.kept, (i) => w[i]));
  }
  return out;
}

/** Positions (into each list) of the `keepNum` largest scores, per parameter or over all. */
function topPositions(
  scores: Map<string, Float32Array>,
  keepNum: (name: string, size: number) => number,
  globalKeep: number | null,
): Map<string, Int32Array> {
  const shapes = new Map([...scores].map(([n, s]) => [n, [s.length]]));
  if (globalKeep !== null) {
    const m = selectTopK(scores, shapes, globalKeep);
    return new Map([...m.params].map(([n, p]) => [n, p.kept]));
  }
  const out = new Map<string, Int32Array>();
  for (const [name, s] of scores) {
    const one = selectTopK(new Map([[name, s]]), new Map([[name, [s.length]]]), keepNum(name, s.length));
    out.set(name, one.get(name).kept);
  }
  return out;
}

/** The SpIEL method (see the module notes). */
export class Spiel<E = unknown, B = unknown> implements SparseMethod<E, B> {
  readonly name = "spiel";
  readonly config: Readonly<SpielConfig>;
  /** Every change of the set in this process, in order. */
  readonly history: SpielRecord[] = [];
  private current: SparseMask | null = null;
  /** θ₀ of the active entries, aligned with the mask's kept lists. */
  private base = new Map<string, Float32Array>();
  /** Full pretrained weights, until the first mask is installed. */
  private pretrained: Map<string, Float32Array> | null;
  private acc: Map<string, Float32Array> | null = null;
  private accSteps = 0;
  private accMs = 0;
  private step = 0;
  /** T from the run (`MethodContext.totalSteps`) when the settings leave it open. */
  private runSteps: number | null = null;

  /**
   * `pretrained`: the backbone's weights before training (see the module notes); without them
   * `prepare` reads the model (still pretrained then), and `restoreMask` cannot be used.
   */
  constructor(config: Partial<SpielConfig> = {}, pretrained?: Map<string, Float32Array>) {
    this.config = Object.freeze({ ...SPIEL_DEFAULTS, ...config });
    const c = this.config;
    if (!(Number.isInteger(c.interval) && c.interval >= 1)) throw new Error("spiel: interval must be >= 1");
    if (!(Number.isInteger(c.accumulate) && c.accumulate >= 1 && c.accumulate <= c.interval)) {
      throw new Error(`spiel: accumulate must be a whole number in [1, interval = ${c.interval}]`);
    }
    if (!(c.rate >= 0 && c.rate <= 1)) throw new Error("spiel: rate must be in [0, 1]");
    this.pretrained = pretrained ?? null;
  }

  get mask(): SparseMask | null {
    return this.current;
  }

  /** θ₀ of the active entries (aligned with `mask`'s kept lists; for tests and export). */
  get pretrainedActive(): ReadonlyMap<string, Float32Array> {
    return this.base;
  }

  async prepare(ctx: MethodContext<E, B>): Promise<void> {
    const t0 = performance.now();
    const params = ctx.model.parameters();
    const shapes = parameterShapes(params);
    let total = 0;
    for (const v of params.values()) total += v.size;
    const mask = randomMask(shapes, keepCount(total, this.config.keepRatio), this.config.seed);
    let weights = this.pretrained;
    if (!weights) {
      weights = new Map();
      for (const [n, v] of params) weights.set(n, (await v.data()) as Float32Array);
    }
    this.install(mask, baseOf(weights, mask));
    this.pretrained = null;
    this.history.push({
      step: 0,
      rate: 0,
      dropped: 0,
      kept: mask.keptCount,
      accumulatedSteps: 0,
      ms: performance.now() - t0,
      accumulateMs: 0,
    });
  }

  /** The schedule with T filled in from the run's length when the settings leave it open. */
  private schedule(ctx?: MethodContext<E, B>): SpielConfig {
    if (this.config.totalSteps === null && ctx?.totalSteps !== undefined) this.runSteps = ctx.totalSteps;
    return this.runSteps === null ? this.config : { ...this.config, totalSteps: this.runSteps };
  }

  async beforeStep(step: number, ctx: MethodContext<E, B>): Promise<boolean> {
    this.step = step;
    if (!isSpielUpdateStep(this.schedule(ctx), step)) return false;
    if (this.accSteps === 0) return false; // resumed inside the window: nothing to grow from
    await this.update(step, ctx);
    return true;
  }

  maskGradients(grads: Map<string, tf.Tensor>): void {
    if (!this.current) throw new Error("spiel: maskGradients before prepare()");
    if (spielAccumulates(this.schedule(), this.step)) {
      const t0 = performance.now();
      if (!this.acc) this.acc = new Map([...grads].map(([n, g]) => [n, new Float32Array(g.size)]));
      const square = this.config.growScore === "sum-square";
      for (const [name, a] of this.acc) {
        const g = grads.get(name);
        if (!g) throw new Error(`spiel: no gradient for "${name}"`);
        // Synchronous: the trainer's hook is; only the A steps before each update pay for it.
        const d = g.dataSync() as Float32Array;
        if (square) { for (let j = 0; j < a.length; j++) a[j] += Math.fround(d[j] * d[j]); }
        else for (let j = 0; j < a.length; j++) a[j] += d[j];
      }
      this.accSteps++;
      this.accMs += performance.now() - t0;
    }
    this.current.apply(grads);
  }

  /** Drop and grow (see the module notes). */
  private async update(step: number, ctx: MethodContext<E, B>): Promise<void> {
    const t0 = performance.now();
    const c = this.schedule(ctx);
    const old = this.current!;
    const acc = this.acc!;
    const params = ctx.model.parameters();
    const p = spielRate(c, step);
    const weights = new Map<string, Float32Array>();
    for (const [n, v] of params) weights.set(n, (await v.data()) as Float32Array);

    // Drop: keep the n − int(n·p) active entries of largest |θ − θ₀| (per tensor: n_t − int(n_t·p)).
    const deltas = new Map<string, Float32Array>();
    for (const [name, m] of old.params) {
      const w = weights.get(name)!, b = this.base.get(name)!;
      deltas.set(name, Float32Array.from(m.kept, (i, j) => Math.abs(w[i] - b[j])));
    }
    const n = old.keptCount;
    const global = c.scope === "global";
    const stay = topPositions(
      deltas,
      (_, size) => size - Math.trunc(size * p),
      global ? n - Math.trunc(n * p) : null,
    );
    const remaining = new Map<string, Int32Array>();
    for (const [name, pos] of stay) remaining.set(name, Int32Array.from(pos, (j) => old.get(name).kept[j]));

    // Grow: as many as were dropped, by the accumulated gradient, among all entries not remaining.
    const dropped = new Map<string, number>();
    let droppedTotal = 0;
    for (const [name, m] of old.params) {
      const d = m.kept.length - remaining.get(name)!.length;
      dropped.set(name, d);
      droppedTotal += d;
    }
    const scores = new Map<string, Float32Array>();
    for (const [name, m] of old.params) {
      const s = acc.get(name)!;
      if (c.growScore === "abs-sum") { for (let j = 0; j < s.length; j++) s[j] = Math.abs(s[j]); }
      for (const i of remaining.get(name)!) s[i] = -Infinity;
      scores.set(name, s);
      if (s.length !== m.size) {
        throw new Error(`spiel: gradient of "${name}" has ${s.length} entries, not ${m.size}`);
      }
    }
    const grown = topPositions(scores, (name) => dropped.get(name)!, global ? droppedTotal : null);

    // The new set, θ₀ of its entries, and resets of the entries that left.
    const next = new Map<string, ParamMask>();
    const nextBase = new Map<string, Float32Array>();
    let left = 0;
    for (const [name, m] of old.params) {
      const kept = Int32Array.from([...remaining.get(name)!, ...grown.get(name)!]).sort();
      const w = weights.get(name)!, ob = this.base.get(name)!;
      const b = new Float32Array(kept.length);
      // Merge against the old sorted list: an entry already active keeps its θ₀; a new one is
      // still at θ₀ (inactive entries never move), so its current value is θ₀.
      let o = 0;
      for (let j = 0; j < kept.length; j++) {
        while (o < m.kept.length && m.kept[o] < kept[j]) o++;
        b[j] = o < m.kept.length && m.kept[o] === kept[j] ? ob[o] : w[kept[j]];
      }
      const resets: [number, number][] = [];
      for (let o2 = 0, j = 0; o2 < m.kept.length; o2++) {
        while (j < kept.length && kept[j] < m.kept[o2]) j++;
        if (j >= kept.length || kept[j] !== m.kept[o2]) resets.push([m.kept[o2], ob[o2]]);
      }
      left += resets.length;
      if (resets.length > 0) {
        const fixed = w.slice();
        for (const [i, v] of resets) fixed[i] = v;
        const v = params.get(name)!;
        const t = tf.tensor(fixed, v.shape, "float32");
        v.assign(t);
        t.dispose();
      }
      next.set(name, { shape: [...m.shape], size: m.size, kept });
      nextBase.set(name, b);
    }
    const mask = new SparseMask(next);
    const overlap = mask.overlap(old);
    this.install(mask, nextBase);
    this.history.push({
      step,
      rate: p,
      dropped: left,
      kept: mask.keptCount,
      overlapWithPrevious: overlap,
      accumulatedSteps: this.accSteps,
      ms: performance.now() - t0 + this.accMs,
      accumulateMs: this.accMs,
    });
    this.acc = null;
    this.accSteps = 0;
    this.accMs = 0;
  }

  restoreMask(mask: SparseMask | null): void {
    if (mask === null) throw new Error("spiel: a checkpoint without a mask does not belong to spiel");
    if (!this.pretrained) {
      throw new Error(
        "spiel: resuming needs the pretrained weights, which are copied when the method is created " +
          "(create it before the checkpoint's weights are loaded)",
      );
    }
    this.install(mask, baseOf(this.pretrained, mask));
    this.pretrained = null;
  }

  /**
   * The sparse delta (entries whose value differs bitwise from θ₀, all inside the set), in the
   * layout of `lib/train/delta.ts` (`writeDelta` stores it; `applyDelta` restores the weights).
   */
  async exportDelta(params: ReadonlyMap<string, tf.Variable>): Promise<Map<string, SpielParamDelta>> {
    if (!this.current) throw new Error("spiel: exportDelta before prepare()");
    const out = new Map<string, SpielParamDelta>();
    for (const [name, m] of this.current.params) {
      if (m.kept.length === 0) continue;
      const w = (await params.get(name)!.data()) as Float32Array;
      const b = this.base.get(name)!;
      const wb = new Uint32Array(w.buffer, w.byteOffset, w.length);
      const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
      const idx: number[] = [];
      m.kept.forEach((i, j) => {
        if (wb[i] !== bb[j]) idx.push(i);
      });
      if (idx.length === 0) continue;
      const indices = Int32Array.from(idx);
      out.set(name, { indices, values: Float32Array.from(indices, (i) => w[i]) });
    }
    return out;
  }

  private install(mask: SparseMask, base: Map<string, Float32Array>): void {
    this.current?.dispose();
    this.current = mask;
    this.base = base;
  }

  dispose(): void {
    this.current?.dispose();
    this.acc = null;
    this.pretrained = null;
  }
}

/** SpIEL in the registry's notation. */
export interface SpielParams {
  /** Density. */
  k: number;
  /** R: steps between drop-and-grow updates. */
  interval: number;
  /** Initial drop fraction, decaying linearly to 0 over the run. */
  rate: number;
  /** A: steps of gradients accumulated before each update. */
  accumulate: number;
  /** T of the decay: `run` (the run's planned optimizer steps, default) or a number of steps. */
  horizon: number | "run";
}

/** The {@link Spiel} settings of registry notation and the run's seed. */
export function spielSettings(p: SpielParams, seed: number): Partial<SpielConfig> {
  return {
    keepRatio: p.k,
    interval: p.interval,
    rate: p.rate,
    accumulate: p.accumulate,
    totalSteps: p.horizon === "run" ? null : p.horizon,
    seed,
  };
}

/** A share that may be zero: [0, 1]. */
const SHARE: NumberRange = Object.freeze({ min: 0, max: 1 });

/** The registry entry of SpIEL. */
// Not `resumable`: the gradients it accumulates before each drop-and-grow are not part of a
// checkpoint, so a run resumed inside that window grows from fewer of them.
export const SPIEL_METHOD: MethodSpec<SpielParams> = {
  label: "SpIEL",
  kind: "mask",
  color: "#ff9da7",
  description: "SpIEL-AG (Ansell et al. 2024): density-k delta, drop smallest |delta| and regrow by " +
    "accumulated gradient every R steps",
  source: "Ansell et al. 2024 (arXiv 2401.16405), AlanAnsell/peft sft/config.py, trainer.py: density " +
    "0.01, reselection_steps 20, selection_accumulation_steps 5, initial_reselection_rate 0.2 " +
    "decaying linearly, rigl growth by |Σ grad|; drop and grow over all parameters (the code: per tensor)",
  defaults: Object.freeze({ k: 0.01, interval: 20, rate: 0.2, accumulate: 5, horizon: "run" }),
  ranges: { k: FRACTION, interval: COUNT, rate: SHARE, accumulate: COUNT, horizon: COUNT },
  create<E>(config: SpielParams, ctx: CreateContext): MethodSetup<E> {
    const method = new Spiel<E, T5Inputs>(spielSettings(config, ctx.seed), snapshotWeights(ctx.model.params));
    return maskSetup(method, ctx);
  },
};
