/**
 * T5 parity with the Hugging Face fixtures on whatever backend is active, as numbers rather than
 * assertions: the one implementation of the fixture comparisons. The fixture tests
 * (`lib/t5/model_test.ts`) assert every record; the GPU check (`scripts/gpu_check.ts`) prints each
 * difference next to its tolerance and carries on, so one failing check does not hide the rest.
 *
 * | group | check | measure | tolerance |
 * |---|---|---|---|
 * | forward | encoder/decoder hidden states, attentions, encoder output | max abs diff | 1e-4 |
 * | forward | shapes of the stacks, stored entries vs computed | mismatches | 0 |
 * | forward | logits at the stored columns, logsumexp, row max, top-5 values, per-position NLL | max abs diff | 1e-4 |
 * | forward | logits row sums | max abs diff / V | 1e-4 |
 * | forward | logits row sums of squares | max relative diff | 1e-5 |
 * | forward | arg-max and top-5 ids | mismatches | 0 |
 * | losses | loss with pads counted, pads ignored (-100), pads ignored by the option | relative diff | 1e-5 |
 * | gradients | training-mode loss | relative diff | 1e-5 |
 * | gradients | gradient names vs parameter names, missing tensors, shapes | mismatches | 0 |
 * | gradients | every gradient (full tensors and the vocabulary-sized summaries) | max abs diff / max abs ref | 1e-4 |
 * | gradients | `grad_stats` of all parameters (`compareStats`) | max relative diff | 1e-4 |
 * | generate | greedy ids (batched, with the attention mask) | mismatching rows | 0 |
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { SafetensorsFile } from "../checkpoint/safetensors.ts";
import {
  compareSummary,
  entry,
  type FixtureBatch,
  fixtureBatch,
  type FixtureConfig,
  fixtureConfigs,
  fixtureModel,
  fixtureTensors,
  maxAbs,
  maxAbsDiff,
  splitNames,
  stats,
} from "./fixtures.ts";
import { t5Forward, t5Loss, type T5Model, t5ValueAndGrads } from "./model.ts";
import { t5Generate } from "./generate.ts";

/** The groups of checks, in the order they run. */
export const PARITY_GROUPS = ["forward", "losses", "gradients", "generate"] as const;
export type ParityGroup = typeof PARITY_GROUPS[number];

/** One measured difference; `ok` when `value <= tolerance` (NaN is never ok). */
export interface ParityRecord {
  /** Fixture configuration (`t5-tiny-v1_0`, ...). */
  config: string;
  group: ParityGroup;
  what: string;
  value: number;
  tolerance: number;
  ok: boolean;
}

/** All records of a run, and whether every one passed. */
export interface ParityReport {
  backend: string;
  ok: boolean;
  records: ParityRecord[];
  seconds: number;
  /** Set when a check threw (the records up to there are kept). */
  error?: string;
}

/** Which groups to run (all by default). */
export interface ParityOptions {
  groups?: ReadonlyArray<ParityGroup>;
  /** Called with each record as it is made (for live output). */
  onRecord?: (r: ParityRecord) => void;
}

/** Receives one measured difference and its tolerance. */
export type AddRecord = (what: string, value: number, tolerance: number) => void;

/**
 * Runs the fixture comparisons on the active backend. Needs `$FIXTURES_DIR` (or `../shared/fixtures`).
 * Never throws: an exception ends the run with `error` set, and `ok` is false then, or when no
 * record was made.
 *
 * ```ts
 * await initBackend("cpu");
 * const report = await checkT5Parity({ groups: ["forward", "losses"] });
 * console.log(report.ok, report.records.length);
 * ```
 */
export async function checkT5Parity(opts: ParityOptions = {}): Promise<ParityReport> {
  const t0 = performance.now();
  const groups = new Set(opts.groups ?? PARITY_GROUPS);
  const records: ParityRecord[] = [];
  const report: ParityReport = { backend: tf.getBackend(), ok: true, records, seconds: 0 };
  try {
    const configs = await fixtureConfigs();
    const batch = await fixtureBatch();
    for (const fc of configs) {
      const model = await fixtureModel(fc);
      try {
        for (const group of PARITY_GROUPS) {
          if (!groups.has(group)) continue;
          const add: AddRecord = (what, value, tolerance) => {
            const r = { config: fc.name, group, what, value, tolerance, ok: value <= tolerance };
            records.push(r);
            opts.onRecord?.(r);
          };
          await CHECKS[group](fc, model, batch, add);
        }
      } finally {
        model.dispose();
      }
    }
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
  }
  report.ok = !report.error && records.length > 0 && records.every((r) => r.ok);
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

type Check = (fc: FixtureConfig, model: T5Model, batch: FixtureBatch, add: AddRecord) => Promise<void>;

const CHECKS: Record<ParityGroup, Check> = { forward, losses, gradients, generate };

/** Number of places where two lists differ, counting a length difference as that many. */
function mismatches<T>(got: ArrayLike<T>, ref: ArrayLike<T>): number {
  let bad = Math.abs(got.length - ref.length);
  for (let i = 0; i < Math.min(got.length, ref.length); i++) if (got[i] !== ref[i]) bad++;
  return bad;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

async function forward(
  fc: FixtureConfig,
  model: T5Model,
  batch: FixtureBatch,
  add: AddRecord,
): Promise<void> {
  const tol = 1e-4;
  const ref = await fixtureTensors(fc, "forward");
  const V = fc.config.vocab_size;
  const out = t5Forward(model, {
    inputIds: batch.input_ids,
    attentionMask: batch.attention_mask,
    labels: batch.labels_pad0,
  }, { outputHiddenStates: true, outputAttentions: true });
  try {
    const stacks: [string, tf.Tensor[]][] = [
      ["encoder_hidden_states", out.encoderHiddenStates],
      ["decoder_hidden_states", out.decoderHiddenStates],
      ["encoder_attentions", out.encoderAttentions],
      ["decoder_attentions", out.decoderAttentions],
      ["cross_attentions", out.crossAttentions],
    ];
    for (const [key, tensors] of stacks) {
      let worst = 0, count = 0, badShapes = 0;
      for (const name of ref.tensors.keys()) {
        if (!name.startsWith(`${key}.`)) continue;
        count++;
        const t = tensors[Number(name.slice(key.length + 1))];
        const r = entry(ref, name);
        if (!t || !sameShape(t.shape, r.shape)) {
          badShapes++;
          worst = Infinity;
        } else worst = Math.max(worst, maxAbsDiff(await t.data(), r.data));
      }
      add(
        `${key}: stored entries vs computed (${count} vs ${tensors.length})`,
        Math.abs(count - tensors.length),
        0,
      );
      add(`${key}: shape mismatches of ${count}`, badShapes, 0);
      add(`${key} (${count}) max |diff|`, worst, tol);
    }
    add(
      "encoder_last_hidden_state max |diff|",
      maxAbsDiff(await out.encoderLastHiddenState.data(), entry(ref, "encoder_last_hidden_state").data),
      tol,
    );
    const logits = (await out.logits.data()) as Float32Array;
    const positions = logits.length / V;
    const cols = entry(ref, "logits@col_index").data, colsRef = entry(ref, "logits@cols").data;
    const lse = new Float64Array(positions), max = new Float64Array(positions);
    const sum = new Float64Array(positions), sumsq = new Float64Array(positions);
    const argmax: number[] = [], top5: number[] = [], top5Values: number[] = [], nll: number[] = [];
    const labels = batch.labels_pad0.flat();
    let colDiff = 0;
    for (let p = 0; p < positions; p++) {
      const row = logits.subarray(p * V, (p + 1) * V);
      for (let c = 0; c < cols.length; c++) {
        colDiff = Math.max(colDiff, Math.abs(row[cols[c]] - colsRef[p * cols.length + c]));
      }
      let m = -Infinity, am = 0, s = 0, q = 0;
      for (let j = 0; j < V; j++) {
        const v = row[j];
        if (v > m) [m, am] = [v, j];
        s += v;
        q += v * v;
      }
      let e = 0;
      for (let j = 0; j < V; j++) e += Math.exp(row[j] - m);
      lse[p] = m + Math.log(e);
      max[p] = m;
      sum[p] = s;
      sumsq[p] = q;
      argmax.push(am);
      for (const j of [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, 5)) {
        top5.push(j);
        top5Values.push(row[j]);
      }
      nll.push(lse[p] - row[labels[p]]);
    }
    add("logits at stored columns max |diff|", colDiff, tol);
    add("logits logsumexp max |diff|", maxAbsDiff(lse, entry(ref, "logits@logsumexp").data), tol);
    add("logits max max |diff|", maxAbsDiff(max, entry(ref, "logits@max").data), tol);
    // Sums over V entries: compare per entry (the sum's error spreads over V values).
    add("logits sum max |diff| / V", maxAbsDiff(sum, entry(ref, "logits@sum").data) / V, tol);
    const sq = entry(ref, "logits@sumsq").data;
    let sqRel = sq.length === positions ? 0 : Infinity;
    for (let p = 0; p < positions; p++) sqRel = Math.max(sqRel, Math.abs(sumsq[p] - sq[p]) / sq[p]);
    add("logits sumsq max relative diff", sqRel, 1e-5);
    add("logits top5 values max |diff|", maxAbsDiff(top5Values, entry(ref, "logits@top5_values").data), tol);
    add("nll_per_position max |diff|", maxAbsDiff(nll, entry(ref, "nll_per_position").data), tol);
    add("arg-max mismatches", mismatches(argmax, entry(ref, "logits@argmax").data), 0);
    add("top5 id mismatches", mismatches(top5, entry(ref, "logits@top5_ids").data), 0);
  } finally {
    tf.dispose(out as unknown as tf.TensorContainer);
  }
}

async function losses(fc: FixtureConfig, model: T5Model, batch: FixtureBatch, add: AddRecord): Promise<void> {
  const counted = fc.outputs.loss_pads_counted as number, ignored = fc.outputs.loss_pads_ignored as number;
  for (
    const [variant, labels, ignorePadLabels, ref] of [
      ["pads counted", batch.labels_pad0, false, counted],
      ["pads ignored (-100)", batch.labels_ignore, false, ignored],
      // Ignoring pad labels through the option equals the -100 labels.
      ["ignorePadLabels option", batch.labels_pad0, true, ignored],
    ] as const
  ) {
    const loss = t5Loss(model, { inputIds: batch.input_ids, attentionMask: batch.attention_mask, labels }, {
      ignorePadLabels,
    });
    const v = (await loss.data())[0];
    loss.dispose();
    add(`loss ${variant} relative diff`, Math.abs(v - ref) / ref, 1e-5);
  }
}

async function gradients(
  fc: FixtureConfig,
  model: T5Model,
  batch: FixtureBatch,
  add: AddRecord,
): Promise<void> {
  const { loss, grads } = t5ValueAndGrads(model, () =>
    t5Loss(model, {
      inputIds: batch.input_ids,
      attentionMask: batch.attention_mask,
      labels: batch.labels_ignore,
    }, { training: true }));
  try {
    const v = (await loss.data())[0];
    const refLoss = fc.outputs.loss_pads_ignored as number;
    add("training-mode loss relative diff", Math.abs(v - refLoss) / refLoss, 1e-5);
    const params = new Set(model.params.keys());
    const differ = [...grads.keys()].filter((n) => !params.has(n)).length +
      [...params].filter((n) => !grads.has(n)).length;
    add(`gradient names vs the ${params.size} parameter names: mismatches`, differ, 0);
    await compareTensors("grads", grads, await fixtureTensors(fc, "grads"), 1e-4, add);
    await compareStats("grad_stats of all parameters", grads, fc.outputs.grad_stats, 1e-4, add);
  } finally {
    tf.dispose([loss, ...grads.values()]);
  }
}

async function generate(
  fc: FixtureConfig,
  model: T5Model,
  batch: FixtureBatch,
  add: AddRecord,
): Promise<void> {
  const g = fc.outputs.generate;
  const got = await t5Generate(model, batch.input_ids, {
    maxLength: g.max_length,
    attentionMask: batch.attention_mask,
  });
  const ref = g.batched_with_attention_mask as number[][];
  const rows = got.map((ids) => JSON.stringify(ids)), refRows = ref.map((ids) => JSON.stringify(ids));
  add(`greedy ids (batched, with mask), rows differing of ${ref.length}`, mismatches(rows, refRows), 0);
}

/**
 * Compares computed tensors (by name) with a fixture file holding full tensors and `NAME@...`
 * summaries of vocabulary-sized ones: missing tensors and full-tensor shapes as mismatch counts,
 * values as the largest difference relative to each reference tensor's largest magnitude.
 */
export async function compareTensors(
  label: string,
  got: Map<string, tf.Tensor>,
  file: SafetensorsFile,
  tolerance: number,
  add: AddRecord,
): Promise<void> {
  const { full, summarised } = splitNames(file);
  const missing = [...full, ...summarised].filter((name) => !got.has(name));
  add(`${label}: stored tensors not computed (${missing.join(", ") || "none"})`, missing.length, 0);
  let badShapes = 0, worst = 0, worstName = "";
  for (const name of full) {
    const g = got.get(name), r = entry(file, name);
    if (!g) continue;
    if (!sameShape(g.shape, r.shape)) {
      badShapes++;
      [worst, worstName] = [Infinity, name];
      continue;
    }
    const m = maxAbs(r.data);
    const d = m === 0 ? maxAbs(await g.data()) : maxAbsDiff(await g.data(), r.data) / m;
    if (!(d < worst)) [worst, worstName] = [Number.isNaN(d) ? Infinity : d, name];
  }
  add(`${label}: shape mismatches of ${full.length} full tensors`, badShapes, 0);
  add(`${label}: ${full.length} full tensors, max |diff| / max |ref| (worst ${worstName})`, worst, tolerance);
  for (const name of summarised) {
    const g = got.get(name);
    if (!g) continue;
    const s = compareSummary(file, name, (await g.data()) as Float32Array, g.shape[1] ?? 1);
    add(
      `${label}: ${name} summary rows, relative to max |ref| ${s.scale.toExponential(3)}`,
      s.rows,
      tolerance,
    );
    if (s.blocks !== undefined) add(`${label}: ${name} summary block sums (per entry)`, s.blocks, tolerance);
    add(`${label}: ${name} summary stats (per entry)`, s.stats, tolerance);
  }
}

/** A tensor's recorded `{sum, sum_sq, sum_abs, max_abs, numel}` (`outputs.json`). */
export interface RecordedStats {
  sum: number;
  sum_sq: number;
  sum_abs: number;
  max_abs: number;
  numel: number;
}

/**
 * Compares recorded stats of every tensor with the computed tensors: the names without a computed
 * tensor as a mismatch count, and the largest relative difference of the four stats.
 */
export async function compareStats(
  label: string,
  got: Map<string, tf.Tensor>,
  recorded: Record<string, RecordedStats>,
  tolerance: number,
  add: AddRecord,
): Promise<void> {
  const names = Object.keys(recorded);
  const missing = names.filter((name) => !got.has(name));
  add(`${label}: recorded tensors not computed (${missing.join(", ") || "none"})`, missing.length, 0);
  let worst = 0;
  for (const name of names) {
    const g = got.get(name), r = recorded[name];
    if (!g) continue;
    const [s, sq, sa, m] = stats(await g.data());
    // The sum can cancel to ~0; measure it per entry against the max, like the other checks.
    worst = Math.max(
      worst,
      Math.abs(s - r.sum) / r.numel / r.max_abs,
      Math.abs(sq - r.sum_sq) / r.sum_sq,
      Math.abs(sa - r.sum_abs) / r.sum_abs,
      Math.abs(m - r.max_abs) / r.max_abs,
    );
  }
  add(`${label} (${names.length}), max relative diff`, worst, tolerance);
}
