/**
 * T5 parity with the Hugging Face fixtures on whatever backend is active, as numbers rather than
 * assertions, so that a GPU check can report every difference next to its tolerance and carry on.
 * The checks and tolerances are those of the cpu/wasm fixture tests (`lib/t5/model_test.ts`):
 *
 * | check | measure | tolerance |
 * |---|---|---|
 * | encoder/decoder hidden states, attentions, encoder output | max abs diff | 1e-4 |
 * | logits at the stored columns, logsumexp, row max, top-5 values, per-position NLL | max abs diff | 1e-4 |
 * | arg-max and top-5 ids | mismatches | 0 |
 * | loss with pads counted, pads ignored | relative diff | 1e-5 |
 * | training-mode loss | relative diff | 1e-5 |
 * | every gradient (full tensors and the vocabulary-sized summaries) | max abs diff / max abs ref | 1e-4 |
 * | greedy ids (batched, with the attention mask) | mismatching rows | 0 |
 *
 * The fixture readers are the tests' own (`lib/t5/fixtures.ts`), so the check and the tests
 * cannot drift apart on how the files are read.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  compareSummary,
  entry,
  fixtureBatch,
  fixtureConfigs,
  fixtureModel,
  fixtureTensors,
  maxAbs,
  maxAbsDiff,
  splitNames,
} from "../t5/fixtures.ts";
import { t5Forward, t5Loss, t5ValueAndGrads } from "../t5/model.ts";
import { t5Generate } from "../t5/generate.ts";

/** One measured difference. */
export interface ParityRecord {
  /** Fixture configuration (`t5-tiny-v1_0`, ...). */
  config: string;
  /** `forward`, `losses`, `gradients` or `generate`. */
  group: string;
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
  groups?: ReadonlyArray<"forward" | "losses" | "gradients" | "generate">;
  /** Called with each record as it is made (for live output). */
  onRecord?: (r: ParityRecord) => void;
}

/** Runs the fixture comparisons on the active backend. Needs `$FIXTURES_DIR` (or `../shared/fixtures`). */
export async function checkT5Parity(opts: ParityOptions = {}): Promise<ParityReport> {
  const t0 = performance.now();
  const groups = new Set(opts.groups ?? ["forward", "losses", "gradients", "generate"]);
  const records: ParityRecord[] = [];
  const report: ParityReport = { backend: tf.getBackend(), ok: true, records, seconds: 0 };
  try {
    const configs = await fixtureConfigs();
    const batch = await fixtureBatch();
    for (const fc of configs) {
      const add = (group: string, what: string, value: number, tolerance: number) => {
        const r = { config: fc.name, group, what, value, tolerance, ok: value <= tolerance };
        records.push(r);
        opts.onRecord?.(r);
      };
      const model = await fixtureModel(fc);
      try {
        if (groups.has("forward")) await forward(fc, model, batch, add);
        if (groups.has("losses")) await losses(fc, model, batch, add);
        if (groups.has("gradients")) await gradients(fc, model, batch, add);
        if (groups.has("generate")) {
          const g = fc.outputs.generate;
          const got = await t5Generate(model, batch.input_ids, {
            maxLength: g.max_length,
            attentionMask: batch.attention_mask,
          });
          const ref = g.batched_with_attention_mask as number[][];
          let bad = Math.abs(got.length - ref.length);
          for (let r = 0; r < Math.min(got.length, ref.length); r++) {
            if (JSON.stringify(got[r]) !== JSON.stringify(ref[r])) bad++;
          }
          add("generate", `greedy ids, rows differing of ${ref.length}`, bad, 0);
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

type Add = (group: string, what: string, value: number, tolerance: number) => void;
type Fc = Awaited<ReturnType<typeof fixtureConfigs>>[number];
type Batch = Awaited<ReturnType<typeof fixtureBatch>>;
type Model = Awaited<ReturnType<typeof fixtureModel>>;

async function forward(fc: Fc, model: Model, batch: Batch, add: Add): Promise<void> {
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
      let worst = 0, count = 0;
      for (const name of ref.tensors.keys()) {
        if (!name.startsWith(`${key}.`)) continue;
        const t = tensors[Number(name.slice(key.length + 1))];
        worst = t ? Math.max(worst, maxAbsDiff(await t.data(), entry(ref, name).data)) : Infinity;
        count++;
      }
      add("forward", `${key} (${count}) max |diff|`, count === tensors.length ? worst : Infinity, tol);
    }
    add(
      "forward",
      "encoder_last_hidden_state max |diff|",
      maxAbsDiff(await out.encoderLastHiddenState.data(), entry(ref, "encoder_last_hidden_state").data),
      tol,
    );
    const logits = (await out.logits.data()) as Float32Array;
    const cols = entry(ref, "logits@col_index").data, colsRef = entry(ref, "logits@cols").data;
    const positions = logits.length / V;
    let colDiff = 0;
    const lse = new Float64Array(positions), max = new Float64Array(positions);
    let argmaxBad = 0, top5Bad = 0, top5Diff = 0;
    const argmaxRef = entry(ref, "logits@argmax").data;
    const top5Ids = entry(ref, "logits@top5_ids").data, top5Vals = entry(ref, "logits@top5_values").data;
    const labels = batch.labels_pad0.flat();
    let nllDiff = 0;
    const nllRef = entry(ref, "nll_per_position").data;
    for (let p = 0; p < positions; p++) {
      const row = logits.subarray(p * V, (p + 1) * V);
      for (let c = 0; c < cols.length; c++) {
        colDiff = Math.max(colDiff, Math.abs(row[cols[c]] - colsRef[p * cols.length + c]));
      }
      let m = -Infinity, am = 0;
      for (let j = 0; j < V; j++) if (row[j] > m) [m, am] = [row[j], j];
      let e = 0;
      for (let j = 0; j < V; j++) e += Math.exp(row[j] - m);
      lse[p] = m + Math.log(e);
      max[p] = m;
      if (am !== argmaxRef[p]) argmaxBad++;
      const top5 = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, 5);
      for (let k = 0; k < 5; k++) {
        if (top5[k] !== top5Ids[p * 5 + k]) top5Bad++;
        top5Diff = Math.max(top5Diff, Math.abs(row[top5[k]] - top5Vals[p * 5 + k]));
      }
      nllDiff = Math.max(nllDiff, Math.abs(lse[p] - row[labels[p]] - nllRef[p]));
    }
    add("forward", "logits at stored columns max |diff|", colDiff, tol);
    add("forward", "logits logsumexp max |diff|", maxAbsDiff(lse, entry(ref, "logits@logsumexp").data), tol);
    add("forward", "logits max max |diff|", maxAbsDiff(max, entry(ref, "logits@max").data), tol);
    add("forward", "logits top5 values max |diff|", top5Diff, tol);
    add("forward", "nll_per_position max |diff|", nllDiff, tol);
    add("forward", "arg-max mismatches", argmaxBad, 0);
    add("forward", "top5 id mismatches", top5Bad, 0);
  } finally {
    tf.dispose(out as unknown as tf.TensorContainer);
  }
}

async function losses(fc: Fc, model: Model, batch: Batch, add: Add): Promise<void> {
  for (
    const [variant, labels, key] of [
      ["pads counted", batch.labels_pad0, "loss_pads_counted"],
      ["pads ignored (-100)", batch.labels_ignore, "loss_pads_ignored"],
    ] as const
  ) {
    const loss = t5Loss(model, { inputIds: batch.input_ids, attentionMask: batch.attention_mask, labels });
    const v = (await loss.data())[0];
    loss.dispose();
    const ref = fc.outputs[key] as number;
    add("losses", `loss ${variant} relative diff`, Math.abs(v - ref) / ref, 1e-5);
  }
}

async function gradients(fc: Fc, model: Model, batch: Batch, add: Add): Promise<void> {
  const tol = 1e-4;
  const { loss, grads } = t5ValueAndGrads(model, () =>
    t5Loss(model, {
      inputIds: batch.input_ids,
      attentionMask: batch.attention_mask,
      labels: batch.labels_ignore,
    }, { training: true }));
  try {
    const v = (await loss.data())[0];
    const refLoss = fc.outputs.loss_pads_ignored as number;
    add("gradients", "training-mode loss relative diff", Math.abs(v - refLoss) / refLoss, 1e-5);
    const file = await fixtureTensors(fc, "grads");
    const { full, summarised } = splitNames(file);
    let worst = 0, worstName = "";
    for (const name of full) {
      const g = grads.get(name);
      const r = entry(file, name).data;
      const m = maxAbs(r);
      const d = !g ? Infinity : m === 0 ? maxAbs(await g.data()) : maxAbsDiff(await g.data(), r) / m;
      if (d >= worst) [worst, worstName] = [d, name];
    }
    add(
      "gradients",
      `${full.length} full gradients, max |diff| / max |ref| (worst ${worstName})`,
      worst,
      tol,
    );
    for (const name of summarised) {
      const g = grads.get(name);
      if (!g) {
        add("gradients", `${name}: no gradient`, Infinity, tol);
        continue;
      }
      const s = compareSummary(file, name, (await g.data()) as Float32Array, g.shape[1] ?? 1);
      add("gradients", `${name} summary: stored rows / max |ref|`, s.rows, tol);
      if (s.blocks !== undefined) {
        add("gradients", `${name} summary: 64-row block sums per entry`, s.blocks, tol);
      }
      add("gradients", `${name} summary: stats per entry`, s.stats, tol);
    }
  } finally {
    tf.dispose([loss, ...grads.values()]);
  }
}
