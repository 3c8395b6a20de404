/**
 * Decoding with a T5 model: greedy generation with a key/value cache (Hugging Face v4.20's
 * `generate()` with `num_beams=1`, `do_sample=False`), and sequence scoring (the mean token loss
 * of given targets, to rank candidates).
 *
 * ```ts
 * import { t5Generate, t5ScoreTargets } from "./generate.ts";
 * const ids = await t5Generate(model, [[37, 5, 1], [8, 1]], { maxLength: 20 });
 * const scores = await t5ScoreTargets(model, { inputIds: [[37, 1], [37, 1]], labels: [[5, 1], [6, 1]] });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  additiveMask,
  attend,
  embed,
  encode,
  feedForward,
  linear,
  lmHead,
  mergeHeads,
  padKeys,
  positionBias,
  residual,
  rmsNorm,
  splitHeads,
  type T5Inputs,
  type T5LossOptions,
  type T5Model,
  t5PerExampleLoss,
  withPrefix,
} from "./model.ts";

/** Right-pads ragged rows with `padId`; returns the ids and the 0/1 mask. */
export function padBatch(
  rows: readonly (readonly number[])[],
  padId: number,
): { ids: number[][]; mask: number[][] } {
  const L = Math.max(1, ...rows.map((r) => r.length));
  return {
    ids: rows.map((r) => [...r, ...Array(L - r.length).fill(padId)]),
    mask: rows.map((r) => [...Array(r.length).fill(1), ...Array(L - r.length).fill(0)]),
  };
}

/** Options for {@link t5Generate}. */
export interface GenerateOptions {
  /**
   * Maximum output length, counting the start token (HF's `max_length`; its default is 20).
   * A row stops at EOS; finished rows are padded with the pad id.
   */
  maxLength?: number;
  /**
   * 0/1 source mask (B, S); ragged rows (and their masks) are right-padded. When absent, ragged
   * rows are masked at their padding, and equal-length rows get HF's inferred mask:
   * `input_ids != pad` if the pad id occurs (and differs from EOS), else all ones. TANL's
   * evaluation relies on that inference.
   */
  attentionMask?: number[][];
  /**
   * Drop finished rows from the batch (default true). False computes every row until all have
   * finished, which gives the same tokens; it is there to compare the two.
   */
  dropFinished?: boolean;
}

/**
 * Greedy decoding for a batch of sources (rows may differ in length). The encoder runs once,
 * cross-attention keys/values are computed once per layer, and each step appends one position
 * to every layer's self-attention key/value cache. The next token is the arg-max over all V
 * logits. Rows that have emitted EOS leave the batch: once an eighth of the rows still computed
 * have finished, every cache keeps only the unfinished rows (a row's numbers do not depend on
 * the others'), so a batch is not held at full width by its longest output. Returns the
 * sequences, each starting with the decoder start id, all of one length (the step at which every
 * row had finished, or `maxLength`), finished rows padded with the pad id.
 */
export async function t5Generate(
  model: T5Model,
  inputIds: readonly (readonly number[])[],
  opts: GenerateOptions = {},
): Promise<number[][]> {
  const c = model.config;
  const maxLength = opts.maxLength ?? 20;
  const B = inputIds.length;
  if (B === 0) return [];
  let ids: number[][], mask: number[][];
  const ragged = new Set(inputIds.map((r) => r.length)).size > 1;
  if (ragged) {
    ({ ids, mask } = padBatch(inputIds, c.pad_token_id));
    if (opts.attentionMask) mask = padBatch(opts.attentionMask, 0).ids;
  } else if (opts.attentionMask) {
    ids = inputIds.map((r) => [...r]);
    mask = opts.attentionMask;
  } else {
    ids = inputIds.map((r) => [...r]);
    const inferred = ids.some((r) => r.includes(c.pad_token_id)) && c.pad_token_id !== c.eos_token_id;
    mask = ids.map((r) => r.map((t) => (inferred && t === c.pad_token_id ? 0 : 1)));
  }
  const H = c.num_heads;
  const L = c.num_decoder_layers;

  // Encoder once; cross-attention keys and values once per layer: (B, H, S, dk).
  const enc = tf.tidy(() => {
    const idsT = tf.tensor2d(ids, undefined, "int32");
    const maskT = tf.tensor2d(mask, undefined, "float32");
    const hidden = encode(model, idsT, maskT).last; // (B, S, D)
    const crossK: tf.Tensor4D[] = [], crossV: tf.Tensor4D[] = [], crossBias: tf.Tensor4D[] = [];
    const crossMask = additiveMask(maskT, -1e9); // (B, 1, 1, S)
    for (let i = 0; i < L; i++) {
      const p = `decoder.block.${i}.layer.1.EncDecAttention`;
      const kv = withPrefix(
        model,
        p,
        splitHeads(linear(model, `${p}.k`, hidden), H),
        splitHeads(linear(model, `${p}.v`, hidden), H),
        crossMask,
      );
      crossK.push(kv.k);
      crossV.push(kv.v);
      crossBias.push(kv.bias);
    }
    return { crossK, crossV, crossBias };
  });
  // Self-attention prefixes (prefix tuning) sit at the front of each layer's cache.
  const selfPrefix = Array.from({ length: L }, (_, i) =>
    tf.tidy(() => {
      const pre = model.hooks.attentionPrefix?.(`decoder.block.${i}.layer.0.SelfAttention`, B, false);
      return pre ? pre.k.shape[2] : 0;
    }));

  const sequences = Array.from({ length: B }, () => [c.decoder_start_token_id]);
  // The original row of each row still computed; finished ones stay until the next compaction.
  let live = Array.from({ length: B }, (_, i) => i);
  const finished = new Array(B).fill(false);
  let cross = { k: enc.crossK, v: enc.crossV, bias: enc.crossBias };
  let cacheK: tf.Tensor4D[] = [], cacheV: tf.Tensor4D[] = [];
  let steps = 0;
  try {
    for (let step = 0; step < maxLength - 1; step++) {
      const n = live.length;
      const last = live.map((row) => [sequences[row][sequences[row].length - 1]]);
      const r = tf.tidy(() => {
        let h = embed(model, tf.tensor2d(last, [n, 1], "int32")); // (n, 1, D)
        // The new query sits at position `step` and sees keys 0..step: no mask is needed.
        const selfBias = positionBias(model, "decoder", 1, step + 1, step); // (1, H, 1, step+1)
        const newK: tf.Tensor4D[] = [], newV: tf.Tensor4D[] = [];
        for (let i = 0; i < L; i++) {
          const b = `decoder.block.${i}`;
          h = residual(model, `${b}.layer.0`, h, (x) => {
            const p = `${b}.layer.0.SelfAttention`;
            const q = splitHeads(linear(model, `${p}.q`, x), H); // (n, H, 1, dk)
            let k = splitHeads(linear(model, `${p}.k`, x), H);
            let v = splitHeads(linear(model, `${p}.v`, x), H);
            if (step > 0) {
              k = tf.concat([cacheK[i], k], 2); // (n, H, P+step+1, dk)
              v = tf.concat([cacheV[i], v], 2);
            } else {
              ({ k, v } = withPrefix(model, p, k, v, selfBias)); // the cache starts with the prefix
            }
            newK.push(tf.keep(k)); // leaves the sublayer's tidy (see `residual`)
            newV.push(tf.keep(v));
            const bias = padKeys(selfBias, selfPrefix[i]);
            return linear(model, `${p}.o`, mergeHeads(attend(model, q, k, v, bias, false).out));
          }, false);
          h = residual(model, `${b}.layer.1`, h, (x) => {
            const p = `${b}.layer.1.EncDecAttention`;
            const q = splitHeads(linear(model, `${p}.q`, x), H);
            const out = attend(model, q, cross.k[i], cross.v[i], cross.bias[i], false).out;
            return linear(model, `${p}.o`, mergeHeads(out));
          }, false);
          h = residual(model, `${b}.layer.2`, h, (x) => feedForward(model, `${b}.layer.2`, x, false), false);
        }
        h = rmsNorm(h, model.param("decoder.final_layer_norm.weight"), c.layer_norm_epsilon);
        const logits = lmHead(model, h).reshape([n, c.vocab_size]);
        return { next: tf.argMax(logits, 1), newK, newV };
      });
      tf.dispose([...cacheK, ...cacheV]);
      cacheK = r.newK;
      cacheV = r.newV;
      const next = await r.next.data();
      r.next.dispose();
      steps++;
      live.forEach((row, j) => {
        if (finished[row]) return;
        sequences[row].push(next[j]);
        if (next[j] === c.eos_token_id) finished[row] = true;
      });
      const done = live.filter((row) => finished[row]).length;
      if (done === n) break;
      if (opts.dropFinished !== false && 8 * done >= n) {
        // Keep only the unfinished rows of every per-row tensor.
        const keep = live.flatMap((row, j) => (finished[row] ? [] : [j]));
        const idx = tf.tensor1d(keep, "int32");
        const rows = <T extends tf.Tensor>(ts: T[]) => {
          const out = ts.map((t) => tf.gather(t, idx, 0) as T);
          tf.dispose(ts);
          return out;
        };
        cacheK = rows(cacheK);
        cacheV = rows(cacheV);
        cross = { k: rows(cross.k), v: rows(cross.v), bias: rows(cross.bias) };
        idx.dispose();
        live = keep.map((j) => live[j]);
      }
    }
  } finally {
    tf.dispose([...cacheK, ...cacheV, ...cross.k, ...cross.v, ...cross.bias]);
  }
  // Rows that finished early are padded to the common length.
  for (const s of sequences) while (s.length < steps + 1) s.push(c.pad_token_id);
  return sequences;
}

/** Options for {@link t5ScoreTargets}. */
export interface ScoreOptions extends T5LossOptions {
  /** Rows per forward pass, to bound memory. Default 32. */
  batchSize?: number;
}

/**
 * Mean token loss of each row's target (lower is better), as FISH-DIP's scoring pass and
 * FewRel N-way ranking use: labels of −100 are ignored; pad labels count unless
 * `ignorePadLabels`. Ragged `inputIds` are padded and masked; ragged `labels` are padded with
 * the pad id (counted or not by the same option). Returns plain numbers.
 */
export async function t5ScoreTargets(
  model: T5Model,
  inputs: { inputIds: number[][]; attentionMask?: number[][]; labels: number[][] },
  opts: ScoreOptions = {},
): Promise<number[]> {
  const c = model.config;
  const n = inputs.inputIds.length;
  if (inputs.labels.length !== n) {
    throw new Error(`t5ScoreTargets: ${n} inputs but ${inputs.labels.length} targets`);
  }
  const bs = opts.batchSize ?? 32;
  const out: number[] = [];
  for (let s = 0; s < n; s += bs) {
    const src = inputs.inputIds.slice(s, s + bs);
    const padded = padBatch(src, c.pad_token_id);
    const batch: T5Inputs = {
      inputIds: padded.ids,
      attentionMask: inputs.attentionMask ? inputs.attentionMask.slice(s, s + bs) : padded.mask,
      labels: padBatch(inputs.labels.slice(s, s + bs), c.pad_token_id).ids,
    };
    const losses = t5PerExampleLoss(model, batch, { ...opts, training: false });
    out.push(...await losses.data());
    losses.dispose();
  }
  return out;
}
