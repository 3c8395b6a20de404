/**
 * Adafactor, as Hugging Face transformers v4.20 implements it (`transformers.optimization.Adafactor`),
 * with FISH-DIP's settings as the defaults.
 *
 * FISH-DIP (`fish_dip.py`) builds `Adafactor(model.parameters(), lr=1e-2, weight_decay=0,
 * scale_parameter=True, relative_step=False, warmup_init=False)` and leaves the rest at the library
 * defaults: eps (1e-30, 1e-3), clip threshold 1.0, decay rate -0.8, no first moment (beta1 None).
 * For every parameter tensor, one step is:
 *
 * ```text
 * step += 1;  RMS = ||p||_2 / sqrt(numel(p))               (the parameter BEFORE the update)
 * lr_t  = lr * max(eps2, RMS)                              (scale_parameter)
 * beta2t = 1 - step^decay_rate                             (0 at step 1: the state is replaced)
 * u = g^2 + eps1
 * rank >= 2: row = beta2t*row + (1-beta2t)*mean(u, -1);  col = beta2t*col + (1-beta2t)*mean(u, -2)
 *            update = rsqrt(row / mean(row, -1))[..., None] * rsqrt(col)[..., None, :] * g
 * rank  < 2: v = beta2t*v + (1-beta2t)*u;  update = rsqrt(v) * g
 * update /= max(1, RMS(update) / clip_threshold);  update *= lr_t
 * (beta1: m = beta1*m + (1-beta1)*update; update = m)
 * (weight decay: p += -weight_decay*lr_t * p)
 * p -= update
 * ```
 *
 * The FISH-DIP consequence this module preserves bit for bit: with beta1 None and weight decay 0,
 * an entry whose gradient is exactly zero gets an update of exactly zero, so a masked entry keeps
 * its value (see `lib/methods/mask.ts`). The zeros still enter the row/column means and the RMS
 * clipping, as in the reference.
 *
 * All arithmetic is float32 tfjs ops (no data reads), so a step runs on any backend without a
 * synchronisation; the state is one set of tensors per parameter, disposed explicitly.
 *
 * ```ts
 * const opt = new Adafactor(params);            // FISH-DIP defaults
 * opt.step(grads, { lr: 1e-2 * schedule(step) }); // grads: Map<name, tf.Tensor>, not consumed
 * const saved = await opt.saveState();          // plain Float32Arrays, for checkpoint resume
 * opt.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { l2Norm } from "./reduce.ts";

/** Hyperparameters, named as in Hugging Face's `Adafactor.__init__` (camelCase). */
export interface AdafactorConfig {
  /** External learning rate; `null` only with `relativeStep`. FISH-DIP: 1e-2. */
  lr: number | null;
  /** [eps1 added to squared gradients, eps2 floor of the parameter scale]. HF default (1e-30, 1e-3). */
  eps: [number, number];
  /** Threshold on the RMS of the update (update clipping). HF default 1.0. */
  clipThreshold: number;
  /** Exponent of the second-moment decay: beta2t = 1 - step^decayRate. HF default -0.8. */
  decayRate: number;
  /** First-moment coefficient; `null` = no first moment (HF default, and FISH-DIP). */
  beta1: number | null;
  /** Weight decay (L2 on the parameter, scaled by the step size). FISH-DIP: 0. */
  weightDecay: number;
  /** Scale the step by max(eps2, RMS(param)). HF default and FISH-DIP: true. */
  scaleParameter: boolean;
  /** Time-dependent step size min(1e-2, 1/sqrt(step)) instead of `lr`. FISH-DIP: false. */
  relativeStep: boolean;
  /** With `relativeStep`: min step 1e-6*step instead of 1e-2. FISH-DIP: false. */
  warmupInit: boolean;
}

/**
 * FISH-DIP's Adafactor (`fish_dip.py`, psunlpgroup/FISH-DIP @ a8aa5ae): lr 1e-2, scale_parameter,
 * no relative step, no warm-up init, weight decay 0; the rest are transformers v4.20 defaults.
 */
export const FISHDIP_ADAFACTOR: Readonly<AdafactorConfig> = Object.freeze({
  lr: 1e-2,
  eps: [1e-30, 1e-3] as [number, number],
  clipThreshold: 1.0,
  decayRate: -0.8,
  beta1: null,
  weightDecay: 0,
  scaleParameter: true,
  relativeStep: false,
  warmupInit: false,
});

/** One parameter's optimizer state (tensors owned by the optimizer). */
export interface AdafactorParamState {
  /** Steps taken on this parameter (HF's `state["step"]`). */
  step: number;
  /** Row second moments, shape `shape[:-1]` (rank >= 2). */
  expAvgSqRow?: tf.Tensor;
  /** Column second moments, shape `shape[:-2] + shape[-1:]` (rank >= 2). */
  expAvgSqCol?: tf.Tensor;
  /** Full second moments, same shape as the parameter (rank < 2). */
  expAvgSq?: tf.Tensor;
  /** First moment (only with `beta1`). */
  expAvg?: tf.Tensor;
}

/** A parameter's state as plain arrays, keyed like Hugging Face's state dict entries. */
export interface AdafactorParamStateDump {
  step: number;
  /** The parameter's shape, checked on load. */
  shape: number[];
  exp_avg_sq_row?: Float32Array;
  exp_avg_sq_col?: Float32Array;
  exp_avg_sq?: Float32Array;
  exp_avg?: Float32Array;
}

/** The whole optimizer state as plain data (for checkpoint files; no tensors). */
export interface AdafactorStateDump {
  format: "fishdip-adafactor-v1";
  config: AdafactorConfig;
  params: Record<string, AdafactorParamStateDump>;
}

/** Options for one {@link Adafactor.step}. */
export interface AdafactorStepOptions {
  /**
   * The learning rate for this step, e.g. `config.lr × schedule factor` (Hugging Face's scheduler
   * rewrites the group's `lr` the same way). Defaults to `config.lr`. Ignored with `relativeStep`.
   */
  lr?: number;
}

/** Per-step diagnostics, computed only on request (they need data reads). */
export interface AdafactorStepReport {
  /** Parameter RMS before the step. */
  rms: Map<string, number>;
  /** Learning rate actually applied: lr × max(eps2, RMS) with scale_parameter. */
  lrUsed: Map<string, number>;
}

/**
 * `||x||_2 / sqrt(numel)`, as HF's `Adafactor._rms` (a float32 scalar tensor). The norm is summed
 * blockwise (see `reduce.ts`): torch's own float32 lane sums differ from the exact value by up to
 * ~5e-5 relative on an embedding-sized tensor, which bounds how closely the learning rate can match.
 */
function rmsOf(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => l2Norm(x).div(Math.sqrt(x.size)) as tf.Scalar);
}

/**
 * Adafactor over a fixed set of named parameters (the `Map` of `tf.Variable`s a model exposes).
 *
 * State is created lazily per parameter on its first gradient, as in PyTorch; a parameter with no
 * gradient in a step is skipped and its step counter does not advance.
 */
export class Adafactor {
  /** The hyperparameters in force. */
  readonly config: Readonly<AdafactorConfig>;
  private readonly params: Map<string, tf.Variable>;
  private readonly states = new Map<string, AdafactorParamState>();
  private disposed = false;

  constructor(params: Map<string, tf.Variable>, config: Partial<AdafactorConfig> = {}) {
    const c: AdafactorConfig = { ...FISHDIP_ADAFACTOR, eps: [...FISHDIP_ADAFACTOR.eps], ...config };
    // The same two checks as Hugging Face's constructor.
    if (c.lr !== null && c.relativeStep) {
      throw new Error("Adafactor: cannot combine a manual `lr` with `relativeStep: true`");
    }
    if (c.warmupInit && !c.relativeStep) {
      throw new Error("Adafactor: `warmupInit: true` requires `relativeStep: true`");
    }
    if (c.lr === null && !c.relativeStep) throw new Error("Adafactor: `lr` is required without relativeStep");
    this.config = Object.freeze(c);
    this.params = params;
  }

  /** The state of one parameter (tensors stay owned by the optimizer), or undefined before its first step. */
  getState(name: string): Readonly<AdafactorParamState> | undefined {
    return this.states.get(name);
  }

  /** Names of the parameters that have state. */
  stateNames(): string[] {
    return [...this.states.keys()];
  }

  /** HF `_get_lr` without the parameter scale: the step-size factor for this step. */
  private relativeStepSize(lr: number | null, step: number): number {
    const c = this.config;
    if (!c.relativeStep) return lr as number;
    const minStep = c.warmupInit ? 1e-6 * step : 1e-2;
    return Math.min(minStep, 1 / Math.sqrt(step));
  }

  /**
   * Applies one update to every parameter that has a gradient in `grads`.
   *
   * `grads` is read, not disposed (the caller owns it). Gradients must have the parameter's shape.
   * With `report: true` the per-parameter RMS and applied learning rate are returned (this reads
   * one scalar per parameter, so it synchronises with the backend).
   */
  step(grads: Map<string, tf.Tensor>, opts?: AdafactorStepOptions): void;
  step(
    grads: Map<string, tf.Tensor>,
    opts: AdafactorStepOptions & { report: true },
  ): Promise<AdafactorStepReport>;
  step(
    grads: Map<string, tf.Tensor>,
    opts: AdafactorStepOptions & { report?: boolean } = {},
  ): void | Promise<AdafactorStepReport> {
    if (this.disposed) throw new Error("Adafactor: step() after dispose()");
    const c = this.config;
    const [eps1, eps2] = c.eps;
    const lrBase = opts.lr ?? c.lr;
    const reportRms = new Map<string, tf.Scalar>();
    const reportLr = new Map<string, tf.Scalar>();
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new Error(`Adafactor: gradient for unknown parameter "${name}"`);
    }
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (g === undefined) continue;
      if (!tf.util.arraysEqual(g.shape, p.shape)) {
        throw new Error(`Adafactor: gradient of "${name}" has shape [${g.shape}], parameter [${p.shape}]`);
      }
      const factored = p.shape.length >= 2;
      const useFirstMoment = c.beta1 !== null;
      let st = this.states.get(name);
      if (st === undefined) {
        st = { step: 0 };
        if (factored) {
          st.expAvgSqRow = tf.zeros(p.shape.slice(0, -1));
          st.expAvgSqCol = tf.zeros([...p.shape.slice(0, -2), p.shape[p.shape.length - 1]]);
        } else {
          st.expAvgSq = tf.zeros(p.shape);
        }
        if (useFirstMoment) st.expAvg = tf.zeros(p.shape);
        this.states.set(name, st);
      }
      st.step += 1;
      const stepSize = this.relativeStepSize(lrBase, st.step);
      const beta2t = 1 - Math.pow(st.step, c.decayRate);
      const s = st;
      const out = tf.tidy(() => {
        const rms = rmsOf(p);
        // HF: max(eps2, RMS) * rel_step_sz, a float32 scalar.
        const lr: tf.Scalar = c.scaleParameter
          ? tf.maximum(tf.scalar(eps2), rms).mul(stepSize)
          : tf.scalar(stepSize);
        const sq = g.square().add(eps1);
        const next: Partial<AdafactorParamState> = {};
        let update: tf.Tensor;
        if (factored) {
          const row = s.expAvgSqRow!.mul(beta2t).add(sq.mean(-1).mul(1 - beta2t));
          const col = s.expAvgSqCol!.mul(beta2t).add(sq.mean(-2).mul(1 - beta2t));
          // _approx_sq_grad: rows normalised by their mean, times the column factor.
          const rFactor = row.div(row.mean(-1, true)).rsqrt().expandDims(-1);
          const cFactor = col.expandDims(-2).rsqrt();
          update = rFactor.mul(cFactor).mul(g);
          next.expAvgSqRow = row;
          next.expAvgSqCol = col;
        } else {
          const v = s.expAvgSq!.mul(beta2t).add(sq.mul(1 - beta2t));
          update = v.rsqrt().mul(g);
          next.expAvgSq = v;
        }
        update = update.div(tf.maximum(rmsOf(update).div(c.clipThreshold), 1));
        update = update.mul(lr);
        if (useFirstMoment) {
          const m = s.expAvg!.mul(c.beta1!).add(update.mul(1 - c.beta1!));
          next.expAvg = m;
          update = m;
        }
        let newP: tf.Tensor = p;
        if (c.weightDecay !== 0) newP = newP.add(newP.mul(lr.mul(-c.weightDecay)));
        newP = newP.sub(update);
        p.assign(newP);
        return { next, rms, lr };
      });
      for (const key of ["expAvgSqRow", "expAvgSqCol", "expAvgSq", "expAvg"] as const) {
        const t = out.next[key];
        if (t !== undefined) {
          s[key]!.dispose();
          s[key] = t;
        }
      }
      if (opts.report) {
        reportRms.set(name, out.rms);
        reportLr.set(name, out.lr);
      } else {
        out.rms.dispose();
        out.lr.dispose();
      }
    }
    if (!opts.report) return;
    return (async () => {
      const rms = new Map<string, number>(), lrUsed = new Map<string, number>();
      for (const [name, t] of reportRms) {
        rms.set(name, (await t.data())[0]);
        lrUsed.set(name, (await reportLr.get(name)!.data())[0]);
        t.dispose();
        reportLr.get(name)!.dispose();
      }
      return { rms, lrUsed };
    })();
  }

  /** Copies the state to plain arrays (for a checkpoint); the optimizer keeps its tensors. */
  async saveState(): Promise<AdafactorStateDump> {
    const params: Record<string, AdafactorParamStateDump> = {};
    for (const [name, st] of this.states) {
      const d: AdafactorParamStateDump = { step: st.step, shape: [...this.params.get(name)!.shape] };
      if (st.expAvgSqRow) d.exp_avg_sq_row = (await st.expAvgSqRow.data()) as Float32Array;
      if (st.expAvgSqCol) d.exp_avg_sq_col = (await st.expAvgSqCol.data()) as Float32Array;
      if (st.expAvgSq) d.exp_avg_sq = (await st.expAvgSq.data()) as Float32Array;
      if (st.expAvg) d.exp_avg = (await st.expAvg.data()) as Float32Array;
      params[name] = d;
    }
    return { format: "fishdip-adafactor-v1", config: { ...this.config, eps: [...this.config.eps] }, params };
  }

  /**
   * Replaces the state with a saved one. Every saved parameter must exist with the same shape and
   * the saved arrays must have the sizes this configuration implies; anything else throws.
   */
  loadState(dump: AdafactorStateDump): void {
    if (dump.format !== "fishdip-adafactor-v1") {
      throw new Error(`Adafactor: unknown state format "${dump.format}"`);
    }
    const fresh = new Map<string, AdafactorParamState>();
    try {
      for (const [name, d] of Object.entries(dump.params)) {
        const p = this.params.get(name);
        if (!p) throw new Error(`Adafactor: saved state for unknown parameter "${name}"`);
        if (!tf.util.arraysEqual(d.shape, p.shape)) {
          throw new Error(
            `Adafactor: saved state for "${name}" has shape [${d.shape}], parameter [${p.shape}]`,
          );
        }
        const st: AdafactorParamState = { step: d.step };
        fresh.set(name, st);
        const make = (arr: Float32Array | undefined, shape: number[], what: string): tf.Tensor => {
          const n = shape.reduce((a, b) => a * b, 1);
          if (!arr || arr.length !== n) {
            throw new Error(`Adafactor: saved ${what} of "${name}" missing or of the wrong size`);
          }
          return tf.tensor(arr, shape, "float32");
        };
        if (p.shape.length >= 2) {
          st.expAvgSqRow = make(d.exp_avg_sq_row, p.shape.slice(0, -1), "exp_avg_sq_row");
          st.expAvgSqCol = make(
            d.exp_avg_sq_col,
            [...p.shape.slice(0, -2), p.shape[p.shape.length - 1]],
            "exp_avg_sq_col",
          );
        } else {
          st.expAvgSq = make(d.exp_avg_sq, p.shape, "exp_avg_sq");
        }
        if (this.config.beta1 !== null) st.expAvg = make(d.exp_avg, p.shape, "exp_avg");
      }
    } catch (e) {
      disposeStates(fresh);
      throw e;
    }
    disposeStates(this.states);
    this.states.clear();
    for (const [k, v] of fresh) this.states.set(k, v);
  }

  /** Frees all state tensors. The parameters are not touched. */
  dispose(): void {
    disposeStates(this.states);
    this.states.clear();
    this.disposed = true;
  }
}

function disposeStates(states: Map<string, AdafactorParamState>): void {
  for (const st of states.values()) {
    st.expAvgSqRow?.dispose();
    st.expAvgSqCol?.dispose();
    st.expAvgSq?.dispose();
    st.expAvg?.dispose();
  }
}
