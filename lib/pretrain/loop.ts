/**
 * The pretraining loop of the offline backbone: batches drawn from a weighted mixture of
 * objectives (span corruption, copy, supervised TANL tasks), one objective per batch, Adafactor as
 * T5 pretrained with it (relative step min(1e-2, 1/√step), scaled by the parameter RMS, no first
 * moment), periodic held-out evaluations, and a resumable state.
 *
 * The whole state (weights, Adafactor moments, step, random stream, tokens seen, time) is one
 * safetensors file `<work>/state.safetensors`, written atomically every `saveEvery` seconds, at
 * the end and on SIGINT/SIGTERM; a new run with the same `work` continues from it, drawing the
 * same stream (no dropout, as T5 pretrained), so its weights equal an uninterrupted run's. The loss curve goes to `<work>/log.jsonl`, evaluations to `<work>/eval.jsonl`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { readSafetensors, writeSafetensorsFile } from "../checkpoint/mod.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { adafactorStateFrom, adafactorStateTensors, type F32Entry } from "../optim/adafactor_state.ts";
import type { T5Model } from "../t5/model.ts";
import { loadT5Weights } from "../t5/model.ts";
import { t5Loss, t5ValueAndGrads } from "../t5/mod.ts";
import type { T5Tokenizer } from "../tokenizer/mod.ts";
import { evaluatePretraining } from "./evaluate.ts";
import { padPairs, Rng, type Seq2SeqIds } from "./span_corruption.ts";
import type { Objective } from "./tasks.ts";

/** What a pretraining state records besides the tensors. */
export interface PretrainState {
  step: number;
  rng: number;
  tokensSeen: number;
  inputTokensSeen: number;
  seconds: number;
  seed: number;
  /** How the run started: `random`, `glove` (embeddings) or `from:DIR@STEP`. */
  init?: string;
  /** The recipe a multi-task run follows; a state is never resumed under another one. */
  recipe?: string;
  /** Where the latest session of the run trained: backend and BLAS threads (for its card's time). */
  compute?: string;
}

/** Writes the weights, the optimizer's state (if given) and `state` to one file, atomically. */
export async function savePretrainState(
  path: string,
  model: T5Model,
  opt: Adafactor | undefined,
  st: PretrainState,
  config: Record<string, unknown>,
): Promise<void> {
  const tensors = new Map<string, F32Entry>();
  for (const [name, v] of model.params) {
    tensors.set(`model/${name}`, {
      dtype: "F32",
      shape: [...v.shape],
      data: (await v.data()) as Float32Array,
    });
  }
  const metadata: Record<string, string> = { state: JSON.stringify(st), config: JSON.stringify(config) };
  if (opt) {
    const o = adafactorStateTensors(await opt.saveState(), "opt/");
    for (const [k, v] of o.tensors) tensors.set(k, v);
    metadata.optimizer_config = o.metadata.config;
    metadata.optimizer_params = o.metadata.params;
  }
  await writeSafetensorsFile(path, tensors, metadata); // atomic: a kill leaves the old file or the new one
}

/** Restores {@link savePretrainState}'s file into `model` (and `opt`); returns the recorded state. */
export async function loadPretrainState(
  path: string,
  model: T5Model,
  opt: Adafactor | undefined,
): Promise<PretrainState> {
  const file = await readSafetensors(path);
  const meta = file.metadata ?? {};
  if (meta.state === undefined) throw new Error(`${path}: not a pretraining state (no "state" metadata)`);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (name.startsWith("model/")) weights.set(name.slice(6), t.data as Float32Array);
  }
  loadT5Weights(model, weights);
  if (opt) {
    opt.loadState(adafactorStateFrom(file.tensors, legacyOptimizerMeta(meta, model), "opt/", path));
  }
  return JSON.parse(meta.state) as PretrainState;
}

/**
 * The optimizer metadata under the shared serialiser's names. States written before it kept one
 * `optimizer` entry `{config, steps}` without shapes; those take the shapes from the model.
 */
function legacyOptimizerMeta(meta: Record<string, string>, model: T5Model): Record<string, string> {
  if (meta.optimizer_config !== undefined) {
    return { config: meta.optimizer_config, params: meta.optimizer_params };
  }
  if (meta.optimizer === undefined) return {};
  const o = JSON.parse(meta.optimizer) as { config: unknown; steps: Record<string, number> };
  const params = Object.fromEntries(
    Object.entries(o.steps).map(([name, step]) => [name, { step, shape: [...model.param(name).shape] }]),
  );
  return { config: JSON.stringify(o.config), params: JSON.stringify(params) };
}

/** T5's pretraining optimizer: relative step min(1e-2, 1/√step), parameter-scaled, no momentum. */
export function pretrainOptimizer(model: T5Model): Adafactor {
  return new Adafactor(model.params, {
    lr: null,
    relativeStep: true,
    scaleParameter: true,
    warmupInit: false,
  });
}

/** An objective and its share of the batches. */
export interface WeightedObjective {
  objective: Objective;
  weight: number;
}

/**
 * Picks an objective by weight from one uniform draw: the first whose cumulative weight exceeds
 * `u · total`. With [copy c, span 1 − c] this is `u < c ? copy : span`, the original two-objective
 * rule, so runs started before tasks existed replay the same stream.
 */
export function pickObjective(mix: readonly WeightedObjective[], u: number): Objective {
  const total = mix.reduce((a, m) => a + m.weight, 0);
  let cumulative = 0;
  for (const m of mix) {
    cumulative += m.weight;
    if (u * total < cumulative) return m.objective;
  }
  return mix[mix.length - 1].objective;
}

/** Settings of {@link runPretraining}. */
export interface PretrainRunOptions {
  work: string;
  model: T5Model;
  tokenizer: T5Tokenizer;
  /** The checkpoint's `config.json` (saved with the state). */
  config: Record<string, unknown>;
  optimizer: Adafactor;
  state: PretrainState;
  mixture: readonly WeightedObjective[];
  batch: number;
  /** Stop at this step (0: no limit). */
  maxSteps: number;
  /** Stop after this many minutes of this process (0: no limit). */
  minutes: number;
  saveEvery: number;
  evalEvery: number;
  logEvery: number;
  held: { span: Seq2SeqIds[] };
  probe: string[];
}

/** Trains until `maxSteps`, `minutes` or a signal; saves, evaluates once more and returns the last evaluation. */
export async function runPretraining(o: PretrainRunOptions): Promise<Record<string, unknown>> {
  const { model, tokenizer: tok, optimizer: opt, state: st } = o;
  const mixture = o.mixture.filter((m) => m.weight > 0);
  if (!mixture.length) throw new Error("pretraining: no objective with a positive weight");
  const statePath = `${o.work}/state.safetensors`;
  const logFile = `${o.work}/log.jsonl`, evalFile = `${o.work}/eval.jsonl`;
  const rng = new Rng(0);
  rng.state = st.rng;
  const runStart = performance.now();
  const secondsAtStart = st.seconds;
  let lastSave = performance.now(), lastEval = st.step === 0 ? -Infinity : performance.now();
  const acc = new Map(mixture.map((m) => [m.objective.name, [0, 0]]));
  let tokThisRun = 0, evalSeconds = 0;

  const stop = { requested: false };
  const onSignal = () => (stop.requested = true);
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);

  const elapsed = () => (performance.now() - runStart) / 1000;
  const save = async () => {
    st.seconds = secondsAtStart + elapsed();
    st.rng = rng.state;
    await savePretrainState(statePath, model, opt, st, o.config);
    lastSave = performance.now();
  };
  const evaluate = async (extra: Record<string, unknown> = {}) => {
    const r = await evaluatePretraining(model, tok, o.held, o.probe);
    evalSeconds += r.eval_seconds;
    const line = {
      step: st.step,
      tokens: st.tokensSeen,
      minutes: (secondsAtStart + elapsed()) / 60,
      ...extra,
      ...r,
    };
    await Deno.writeTextFile(evalFile, JSON.stringify(line) + "\n", { append: true });
    return line;
  };

  try {
    while (!stop.requested) {
      if (o.maxSteps > 0 && st.step >= o.maxSteps) break;
      if (o.minutes > 0 && elapsed() >= o.minutes * 60) break;
      if ((performance.now() - lastEval) / 1000 >= o.evalEvery) {
        const r = await evaluate();
        console.log(
          `eval @${st.step}: span ${r.heldout_span_loss.toFixed(3)}, copy exact ${r.reconstruction_exact}`,
        );
        lastEval = performance.now();
      }
      const objective = pickObjective(mixture, rng.next());
      const pairs = Array.from({ length: o.batch }, () => objective.sample(rng));
      const b = padPairs(pairs, tok.padId);
      const { loss, grads } = t5ValueAndGrads(model, () => t5Loss(model, b));
      opt.step(grads);
      const lv = (await loss.data())[0];
      loss.dispose();
      for (const g of grads.values()) g.dispose();
      if (!Number.isFinite(lv)) throw new Error(`pretraining: loss ${lv} at step ${st.step + 1}`);
      st.step++;
      st.tokensSeen += b.inputTokens + b.targetTokens;
      st.inputTokensSeen += b.inputTokens;
      tokThisRun += b.inputTokens + b.targetTokens;
      const a = acc.get(objective.name)!;
      a[0] += lv;
      a[1]++;
      if (st.step % o.logEvery === 0) {
        const line: Record<string, unknown> = {
          step: st.step,
          minutes: +((secondsAtStart + elapsed()) / 60).toFixed(2),
          tokens: st.tokensSeen,
          input_tokens: st.inputTokensSeen,
        };
        for (const [name, [sum, n]] of acc) line[`${name}_loss`] = n ? sum / n : null;
        line.tokens_per_s = Math.round(tokThisRun / (elapsed() - evalSeconds));
        line.tensors = tf.memory().numTensors;
        await Deno.writeTextFile(logFile, JSON.stringify(line) + "\n", { append: true });
        const shown = [...acc].filter(([, [, n]]) => n > 0).map(([k, [s, n]]) =>
          `${k} ${(s / n).toFixed(3)}`
        );
        console.log(`step ${st.step} ${line.minutes} min | ${shown.join(" ")} | ${line.tokens_per_s} tok/s`);
        for (const v of acc.values()) v.fill(0);
      }
      if ((performance.now() - lastSave) / 1000 >= o.saveEvery) await save();
    }
  } finally {
    Deno.removeSignalListener("SIGTERM", onSignal);
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  await save();
  return await evaluate({ final: true });
}
