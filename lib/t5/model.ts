/**
 * T5 (encoder-decoder transformer) in TensorFlow.js, numerically matching Hugging Face
 * transformers v4.20's `T5ForConditionalGeneration` in float32.
 *
 * Read top to bottom like the paper's figure: RMS norm, relative position bias, attention,
 * feed-forward, encoder stack, decoder stack, output projection, loss. Shapes are written as
 * B = batch, S = source length, T = target length, D = d_model, H = heads, dk = d_kv, F = d_ff,
 * V = vocabulary.
 *
 * Parameters are `tf.Variable`s in a `Map` keyed by their Hugging Face names (see
 * {@link t5ParameterShapes}), so optimizers and sparse masks iterate by name. Functions that
 * return tensors wrap their work in `tf.tidy`; the caller owns (and disposes) what they return.
 *
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { parseT5Config } from "./config.ts";
 * import { createT5, t5Loss } from "./model.ts";
 * const model = createT5(parseT5Config({ d_model: 64, d_ff: 128, d_kv: 16, num_heads: 4, num_layers: 2 }), { seed: 1 });
 * const loss = t5Loss(model, { inputIds: [[37, 1]], labels: [[5, 1]] });
 * console.log(await loss.data());
 * loss.dispose();
 * model.dispose();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type T5Config, t5ParameterShapes, t5TiedAliases } from "./config.ts";
import { hasRowCrossEntropyKernel, rowCrossEntropyOp } from "../backend/row_cross_entropy.ts";
import { seededDropout } from "./dropout.ts";

// ---------------------------------------------------------------------------------------------
// The model object: configuration, parameters by name, optional hooks for fine-tuning methods.
// ---------------------------------------------------------------------------------------------

/**
 * Extension points for parameter-efficient methods (LoRA, adapters); absent hooks cost nothing.
 * `name` is the Hugging Face module path, e.g. `encoder.block.0.layer.0.SelfAttention.q` for a
 * linear layer or `decoder.block.1.layer.2` for a sublayer.
 */
export interface T5Hooks {
  /**
   * Replaces `y = x W^T` for the linear layer `name`; x is (N, in), W is (out, in). `training`
   * says whether this pass is in training mode (for the hook's own dropout).
   */
  linear?: (name: string, x: tf.Tensor2D, weight: tf.Tensor2D, training: boolean) => tf.Tensor2D;
  /** Transforms a sublayer's branch output (B, L, D) before it is added to the residual stream. */
  sublayerOutput?: (name: string, y: tf.Tensor3D, training: boolean) => tf.Tensor3D;
  /**
   * Learned keys and values prepended in the attention module `name` (prefix tuning), each
   * (B or 1, H, P, dk); `undefined` for none. Prefix positions get no position bias and no mask.
   */
  attentionPrefix?: (
    name: string,
    batch: number,
    training: boolean,
  ) => { k: tf.Tensor4D; v: tf.Tensor4D } | undefined;
}

let modelCounter = 0;

/** A T5 model: its configuration and its parameters as variables keyed by Hugging Face name. */
export class T5Model {
  /** The configuration the parameters were built for. */
  readonly config: T5Config;
  /** Every parameter (tied duplicates omitted), in `named_parameters()` order. */
  readonly params: Map<string, tf.Variable>;
  /** Optional method hooks (LoRA, adapters); see {@link T5Hooks}. */
  hooks: T5Hooks = {};
  /** Unique prefix of this model's tfjs variable names (tfjs requires globally unique names). */
  readonly id: string;
  private dropoutSeed: number;

  /** Wraps existing variables; most callers want {@link createT5} or {@link t5FromWeights}. */
  constructor(config: T5Config, params: Map<string, tf.Variable>, id: string, dropoutSeed = 0) {
    this.config = config;
    this.params = params;
    this.id = id;
    this.dropoutSeed = dropoutSeed;
  }

  /** The parameter `name`, or a loud error naming it. */
  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`T5 parameter "${name}" does not exist in this model`);
    return p;
  }

  /** The output projection's weight (V, D): `shared.weight` when tied. */
  lmHeadWeight(): tf.Variable {
    return this.param(this.lmHeadWeightName());
  }

  /** Hugging Face name of the output projection's weight (the embedding when tied). */
  lmHeadWeightName(): string {
    return this.config.tie_word_embeddings ? "shared.weight" : "lm_head.weight";
  }

  /** Reseeds dropout; each dropout call then draws the next seed, so runs are reproducible. */
  setDropoutSeed(seed: number): void {
    this.dropoutSeed = seed;
  }

  /** @internal Next seed for one dropout mask. */
  nextDropoutSeed(): number {
    return this.dropoutSeed++;
  }

  /** Frees every parameter. The model is unusable afterwards. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

/** Options for {@link createT5}. */
export interface CreateT5Options {
  /** Seed for the initial weights (each parameter uses seed + its index). Default 0. */
  seed?: number;
  /** Seed of the first dropout mask. Default: `seed`. */
  dropoutSeed?: number;
}

/**
 * Standard deviation Hugging Face's `T5PreTrainedModel._init_weights` (v4.20) uses for a
 * parameter: norms 1 (constant, not random: returns `undefined`), embeddings and an untied head
 * `factor`, `wi*` `factor·D^-½`, `wo` `factor·F^-½`, `q` `factor·(D·dk)^-½` (T5 folds the
 * attention's 1/√dk into the query init), `k`/`v` `factor·D^-½`, `o` `factor·(H·dk)^-½`, relative
 * bias `factor·D^-½`.
 */
export function t5InitStd(config: T5Config, name: string): number | undefined {
  const f = config.initializer_factor, D = config.d_model;
  if (name.endsWith("layer_norm.weight")) return undefined;
  if (name === "shared.weight" || name === "lm_head.weight") return f;
  if (/DenseReluDense\.wi(_[01])?\.weight$/.test(name)) return f * D ** -0.5;
  if (name.endsWith("DenseReluDense.wo.weight")) return f * config.d_ff ** -0.5;
  if (name.endsWith(".q.weight")) return f * (D * config.d_kv) ** -0.5;
  if (name.endsWith(".k.weight") || name.endsWith(".v.weight")) return f * D ** -0.5;
  if (name.endsWith(".o.weight")) return f * (config.num_heads * config.d_kv) ** -0.5;
  if (name.endsWith("relative_attention_bias.weight")) return f * D ** -0.5;
  throw new Error(`no init rule for T5 parameter "${name}"`);
}

/**
 * Builds a randomly initialised model with Hugging Face's init scheme ({@link t5InitStd}),
 * seeded. The distributions are HF's; the random streams are tfjs's (seeded `randomNormal`), so
 * the values differ from PyTorch's for the same seed.
 */
export function createT5(config: T5Config, opts: CreateT5Options = {}): T5Model {
  const seed = opts.seed ?? 0;
  const id = `t5_${modelCounter++}`;
  const params = new Map<string, tf.Variable>();
  t5ParameterShapes(config).forEach(({ name, shape }, i) => {
    const std = t5InitStd(config, name);
    const init = std === undefined
      ? tf.fill(shape, config.initializer_factor)
      // +1: tfjs treats a seed of 0 as "unseeded" (Math.random), which broke seed 0.
      : tf.randomNormal(shape, 0, std, "float32", seed * 1000003 + i + 1);
    params.set(name, tf.variable(init, true, `${id}/${name}`));
    init.dispose(); // the variable holds its own reference to the data
  });
  return new T5Model(config, params, id, opts.dropoutSeed ?? seed);
}

/** A weight as a loader may hand it over: bare values, or values with their shape. */
export type T5Weight = Float32Array | { data: Float32Array; shape: readonly number[] };

/**
 * Copies weights (Hugging Face names) into the model. Every parameter must be present with the
 * right number of values (and shape, when given). Tied aliases (`encoder.embed_tokens.weight`,
 * `decoder.embed_tokens.weight`, a tied `lm_head.weight`) are accepted and skipped; any other
 * unknown name is an error, so a mismatched checkpoint fails loudly.
 */
export function loadT5Weights(model: T5Model, weights: Map<string, T5Weight>): void {
  const aliases = t5TiedAliases(model.config);
  for (const name of weights.keys()) {
    if (!model.params.has(name) && !aliases.has(name)) {
      throw new Error(`checkpoint has "${name}", which is not a parameter of this T5 configuration`);
    }
  }
  for (const { name, shape } of t5ParameterShapes(model.config)) {
    const w = weights.get(name);
    if (w === undefined) throw new Error(`checkpoint lacks T5 parameter "${name}" [${shape}]`);
    const data = w instanceof Float32Array ? w : w.data;
    if (!(w instanceof Float32Array) && w.shape.join(",") !== shape.join(",")) {
      throw new Error(`T5 parameter "${name}": checkpoint shape [${w.shape}], model expects [${shape}]`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) {
      throw new Error(
        `T5 parameter "${name}": checkpoint has ${data.length} values, shape [${shape}] needs ${n}`,
      );
    }
    const t = tf.tensor(data, shape, "float32");
    model.param(name).assign(t);
    t.dispose();
  }
}

/** Builds a model of `config` holding `weights` (see {@link loadT5Weights}). */
export function t5FromWeights(
  config: T5Config,
  weights: Map<string, T5Weight>,
  opts: CreateT5Options = {},
): T5Model {
  const id = `t5_${modelCounter++}`;
  const params = new Map<string, tf.Variable>();
  for (const { name, shape } of t5ParameterShapes(config)) {
    const z = tf.zeros(shape);
    params.set(name, tf.variable(z, true, `${id}/${name}`));
    z.dispose();
  }
  const model = new T5Model(config, params, id, opts.dropoutSeed ?? opts.seed ?? 0);
  try {
    loadT5Weights(model, weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** Reads every parameter back as float32 values (async: WebGPU cannot read synchronously). */
export async function exportT5Weights(model: T5Model): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of model.params) out.set(name, (await v.data()) as Float32Array);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Building blocks. Exported for generate.ts (the key/value-cached decoder reuses them).
// ---------------------------------------------------------------------------------------------

/**
 * Row lookup `table[ids]` (ids of any shape → ids.shape + [cols]) with `tf.gather`, whose
 * gradient is a scatter-add into the table's rows. tfjs's own gather gradient calls
 * `UnsortedSegmentSum`, which the cpu backend runs as one masked sum per table row (32128 of them
 * for an embedding: minutes per step); `tf.scatterND` (duplicates summed, on every backend) does
 * the same sum in one pass over the looked-up rows.
 */
export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, i, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([i]);
    return {
      value: tf.gather(t, i),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [V, D] = table.shape;
        const idx = saved[0];
        const n = idx.size;
        const g = tf.scatterND(idx.reshape([n, 1]), (dy as tf.Tensor).reshape([n, D]), [V, D]);
        return [g, tf.zerosLike(idx)];
      },
    };
  });
  return lookup(table, ids);
}

/** Token embeddings (B, L) → (B, L, D): a row lookup in `shared.weight`. */
export function embed(model: T5Model, ids: tf.Tensor2D): tf.Tensor3D {
  return gatherRows(model.param("shared.weight") as tf.Tensor as tf.Tensor2D, ids.toInt()) as tf.Tensor3D;
}

/** RMS layer norm: x · rsqrt(mean(x²) + eps) · w. No mean subtraction, no bias. */
export function rmsNorm(x: tf.Tensor3D, weight: tf.Tensor, eps: number): tf.Tensor3D {
  const variance = x.square().mean(-1, true); // (B, L, 1)
  return x.mul(variance.add(eps).rsqrt()).mul(weight);
}

/** y = x W^T with W stored PyTorch-style as (out, in); x is (B, L, in), y is (B, L, out). */
export function linear(model: T5Model, name: string, x: tf.Tensor3D, training = false): tf.Tensor3D {
  const [B, L, inDim] = x.shape;
  const w = model.param(`${name}.weight`) as tf.Tensor as tf.Tensor2D;
  const x2 = x.reshape([B * L, inDim]) as tf.Tensor2D;
  const y = model.hooks.linear ? model.hooks.linear(name, x2, w, training) : projectRows(x2, w);
  return y.reshape([B, L, w.shape[0]]);
}

/** Rows of x at or below which {@link projectRows} puts the weight on the left. */
const FEW_ROWS = 64;

/**
 * x Wᵀ for x (M, in) and W (out, in). With few rows (decoding: M = batch) it is computed as
 * (W xᵀ)ᵀ: the same dot products, but tfjs-wasm re-packs the right-hand matrix of every call,
 * so keeping the big weight on the left makes a decoding step's output projection about 7×
 * faster there (and costs one small transpose elsewhere).
 */
export function projectRows(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return x.shape[0] <= FEW_ROWS ? tf.matMul(w, x, false, true).transpose() : tf.matMul(x, w, false, true);
}

/**
 * Dropout with the configured rate, in training only; seeds come from the model's counter. The
 * masks are `tf.dropout`'s, drawn faster (`dropout.ts`).
 */
export function dropout<T extends tf.Tensor>(model: T5Model, x: T, training: boolean): T {
  const rate = model.config.dropout_rate;
  if (!training || rate === 0) return x;
  return seededDropout(x, rate, model.nextDropoutSeed());
}

/** The feed-forward activation named by the config (HF's ACT2FN). */
export function activation(config: T5Config, x: tf.Tensor3D): tf.Tensor3D {
  switch (config.dense_act_fn) {
    case "relu":
      return tf.relu(x);
    case "gelu_new": {
      // tanh approximation, written in the same order as HF's NewGELUActivation.
      const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
      return x.mul(0.5).mul(inner.tanh().add(1));
    }
    case "gelu":
      return x.mul(0.5).mul(x.mul(Math.SQRT1_2).erf().add(1));
    case "silu":
      return x.mul(tf.sigmoid(x));
  }
}

/**
 * The bucket T5 assigns to one relative position (key position − query position), emulating
 * PyTorch's float32 arithmetic: log of the float32 ratio, divided and scaled in float32, then
 * truncated toward zero. Bidirectional (encoder) uses half the buckets per direction; causal
 * (decoder) maps all future positions to bucket 0.
 */
export function relativePositionBucket(
  relativePosition: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let bucket = 0;
  let n = numBuckets;
  let rp: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (relativePosition > 0) bucket += n;
    rp = Math.abs(relativePosition);
  } else {
    rp = -Math.min(relativePosition, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return bucket + rp;
  const f = Math.fround;
  const ratio = f(Math.log(f(rp / maxExact))); // torch.log(rp.float() / max_exact), float32
  const scaled = f(f(ratio / f(Math.log(maxDistance / maxExact))) * (n - maxExact));
  const large = Math.min(maxExact + Math.trunc(scaled), n - 1);
  return bucket + large;
}

const bucketCache = new Map<string, Int32Array>();

/**
 * Buckets for queries at positions `queryOffset … queryOffset+qLen−1` against keys `0 … kLen−1`,
 * row-major (qLen, kLen). Computed in JavaScript (exact integer arithmetic on every backend) and
 * cached, since every batch of the same shape needs the same table.
 */
export function relativePositionBuckets(
  qLen: number,
  kLen: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
  queryOffset = 0,
): Int32Array {
  const key = `${qLen},${kLen},${bidirectional},${numBuckets},${maxDistance},${queryOffset}`;
  let table = bucketCache.get(key);
  if (!table) {
    table = new Int32Array(qLen * kLen);
    for (let i = 0; i < qLen; i++) {
      for (let j = 0; j < kLen; j++) {
        table[i * kLen + j] = relativePositionBucket(
          j - (i + queryOffset),
          bidirectional,
          numBuckets,
          maxDistance,
        );
      }
    }
    if (bucketCache.size > 4096) bucketCache.clear();
    bucketCache.set(key, table);
  }
  return table;
}

/** The learned relative position bias of a stack, (1, H, qLen, kLen). */
export function positionBias(
  model: T5Model,
  stack: "encoder" | "decoder",
  qLen: number,
  kLen: number,
  queryOffset = 0,
): tf.Tensor4D {
  const c = model.config;
  const table = model.param(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`); // (nb, H)
  const buckets = tf.tensor2d(
    relativePositionBuckets(
      qLen,
      kLen,
      stack === "encoder",
      c.relative_attention_num_buckets,
      c.relative_attention_max_distance,
      queryOffset,
    ),
    [qLen, kLen],
    "int32",
  );
  const values = gatherRows(table as tf.Tensor as tf.Tensor2D, buckets); // (qLen, kLen, H)
  return values.transpose([2, 0, 1]).expandDims(0) as tf.Tensor4D; // (1, H, qLen, kLen)
}

/**
 * Additive padding mask (B, 1, 1, L) from a 0/1 mask (B, L): 0 where attended, `value` where
 * masked. HF v4.20 uses −1e4 for self-attention and −1e9 for cross-attention (never −∞).
 */
export function additiveMask(mask: tf.Tensor2D, value: number): tf.Tensor4D {
  const [B, L] = mask.shape;
  return tf.scalar(1).sub(mask.toFloat()).mul(value).reshape([B, 1, 1, L]);
}

/** Splits heads: (B, L, H·dk) → (B, H, L, dk). */
export function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [B, L, inner] = x.shape;
  return x.reshape([B, L, heads, inner / heads]).transpose([0, 2, 1, 3]);
}

/** Merges heads: (B, H, L, dk) → (B, L, H·dk). */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [B, H, L, dk] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([B, L, H * dk]);
}

/**
 * Scaled-free dot-product attention: softmax(q kᵀ + bias) v. T5 does not divide by √dk (its
 * query init absorbs it). `bias` carries the position bias and the additive mask, broadcast to
 * (B, H, Tq, Tk). Returns the (B, H, Tq, dk) output and the post-softmax probabilities.
 */
export function attend(
  model: T5Model,
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor4D,
  training: boolean,
): { out: tf.Tensor4D; probs: tf.Tensor4D } {
  const scores = tf.matMul(q, k, false, true).add(bias) as tf.Tensor4D; // (B, H, Tq, Tk)
  const probs = tf.softmax(scores, -1) as tf.Tensor4D;
  const out = tf.matMul(dropout(model, probs, training), v) as tf.Tensor4D; // (B, H, Tq, dk)
  return { out, probs };
}

/**
 * One T5Attention module (`prefix` = `...SelfAttention` or `...EncDecAttention`): queries from
 * `x` (B, Tq, D), keys and values from `kv` (B, Tk, D). Returns the (B, Tq, D) output.
 */
export function attention(
  model: T5Model,
  prefix: string,
  x: tf.Tensor3D,
  kv: tf.Tensor3D,
  bias: tf.Tensor4D,
  training: boolean,
): { out: tf.Tensor3D; probs: tf.Tensor4D } {
  const H = model.config.num_heads;
  const q = splitHeads(linear(model, `${prefix}.q`, x, training), H); // (B, H, Tq, dk)
  const k = splitHeads(linear(model, `${prefix}.k`, kv, training), H); // (B, H, Tk, dk)
  const v = splitHeads(linear(model, `${prefix}.v`, kv, training), H); // (B, H, Tk, dk)
  const p = withPrefix(model, prefix, k, v, bias, training);
  const { out, probs } = attend(model, q, p.k, p.v, p.bias, training);
  return { out: linear(model, `${prefix}.o`, mergeHeads(out), training), probs };
}

/**
 * Applies the `attentionPrefix` hook of module `name`: keys/values (B, H, P + Tk, dk), and the
 * bias with P leading zero columns. Unchanged when there is no hook or no prefix.
 */
export function withPrefix(
  model: T5Model,
  name: string,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor4D,
  training = false,
): { k: tf.Tensor4D; v: tf.Tensor4D; bias: tf.Tensor4D } {
  const pre = model.hooks.attentionPrefix?.(name, k.shape[0], training);
  if (!pre) return { k, v, bias };
  const [B, H, , dk] = k.shape;
  const P = pre.k.shape[2];
  return {
    k: tf.concat([pre.k.broadcastTo([B, H, P, dk]), k], 2),
    v: tf.concat([pre.v.broadcastTo([B, H, P, dk]), v], 2),
    bias: padKeys(bias, P),
  };
}

/** Adds `n` zero columns in front of the key axis of an additive bias (…, Tq, Tk). */
export function padKeys(bias: tf.Tensor4D, n: number): tf.Tensor4D {
  return n === 0 ? bias : tf.pad(bias, [[0, 0], [0, 0], [0, 0], [n, 0]]);
}

/** The feed-forward branch `DenseReluDense` of sublayer `prefix`: (B, L, D) → (B, L, D). */
export function feedForward(model: T5Model, prefix: string, x: tf.Tensor3D, training: boolean): tf.Tensor3D {
  const p = `${prefix}.DenseReluDense`;
  let h: tf.Tensor3D; // (B, L, F)
  if (model.config.is_gated_act) {
    h = activation(model.config, linear(model, `${p}.wi_0`, x, training)).mul(
      linear(model, `${p}.wi_1`, x, training),
    );
  } else {
    h = activation(model.config, linear(model, `${p}.wi`, x, training));
  }
  return linear(model, `${p}.wo`, dropout(model, h, training), training);
}

/**
 * Pre-norm residual sublayer: h + dropout(branch(norm(h))), with the adapter hook on the branch.
 * Each sublayer is its own `tf.tidy`: without it every intermediate of the whole stack stays
 * alive until the caller's scope ends (about 2 GB for a t5-small forward pass over 9 × 128
 * tokens). Inside a gradient computation this is still exact: tfjs keeps what a kernel's gradient
 * needs as saved copies, which a tidy does not free. A branch that hands a tensor out of the
 * sublayer (attention probabilities) must `tf.keep` it.
 */
export function residual(
  model: T5Model,
  name: string,
  h: tf.Tensor3D,
  branch: (normed: tf.Tensor3D) => tf.Tensor3D,
  training: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const normed = rmsNorm(h, model.param(`${name}.layer_norm.weight`), model.config.layer_norm_epsilon);
    let y = branch(normed);
    if (model.hooks.sublayerOutput) y = model.hooks.sublayerOutput(name, y, training);
    return h.add(dropout(model, y, training));
  });
}

/**
 * What the LM head multiplies: decoder output (B, T, D) as rows (B·T, D), rescaled by D^-½ when
 * the head is tied to the embedding, and the head's weight (V, D).
 */
export function lmHeadOperands(model: T5Model, h: tf.Tensor3D): { x: tf.Tensor2D; w: tf.Tensor2D } {
  const [B, T, D] = h.shape;
  let x = h.reshape([B * T, D]) as tf.Tensor2D;
  if (model.config.tie_word_embeddings) x = x.mul(D ** -0.5);
  return { x, w: model.lmHeadWeight() as tf.Tensor as tf.Tensor2D };
}

/** Decoder output (B, T, D) → logits (B, T, V); a tied head first rescales by D^-½. */
export function lmHead(model: T5Model, h: tf.Tensor3D): tf.Tensor3D {
  const [B, T] = h.shape;
  const { x, w } = lmHeadOperands(model, h);
  return projectRows(x, w).reshape([B, T, model.config.vocab_size]); // (B·T, V) → (B, T, V)
}

// ---------------------------------------------------------------------------------------------
// Encoder and decoder stacks.
// ---------------------------------------------------------------------------------------------

/** What a stack returns; the lists are filled only when requested. */
export interface StackOutput {
  /** Output after the final RMS norm (and dropout): (B, L, D). */
  last: tf.Tensor3D;
  /** HF `hidden_states`: embeddings, each block's output but the last, then `last`. */
  hiddenStates: tf.Tensor3D[];
  /** Self-attention probabilities per block: (B, H, L, L). */
  attentions: tf.Tensor4D[];
  /** Cross-attention probabilities per block (decoder only): (B, H, T, S). */
  crossAttentions: tf.Tensor4D[];
}

/** Stack options. */
export interface StackOptions {
  training?: boolean;
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
}

/** The encoder: ids (B, S) and 0/1 mask (B, S) → hidden states (B, S, D). */
export function encode(
  model: T5Model,
  inputIds: tf.Tensor2D,
  attentionMask: tf.Tensor2D,
  opts: StackOptions = {},
): StackOutput {
  const c = model.config, training = opts.training ?? false;
  const S = inputIds.shape[1];
  const out: StackOutput = {
    last: undefined as unknown as tf.Tensor3D,
    hiddenStates: [],
    attentions: [],
    crossAttentions: [],
  };
  let h = dropout(model, embed(model, inputIds), training); // (B, S, D)
  // Position bias (computed once, shared by every block) plus the padding mask: (B, H, S, S).
  const bias = positionBias(model, "encoder", S, S).add(additiveMask(attentionMask, -1e4)) as tf.Tensor4D;
  for (let i = 0; i < c.num_layers; i++) {
    if (opts.outputHiddenStates) out.hiddenStates.push(h);
    const b = `encoder.block.${i}`;
    h = residual(model, `${b}.layer.0`, h, (x) => {
      const a = attention(model, `${b}.layer.0.SelfAttention`, x, x, bias, training);
      if (opts.outputAttentions) out.attentions.push(tf.keep(a.probs));
      return a.out;
    }, training);
    h = residual(model, `${b}.layer.1`, h, (x) => feedForward(model, `${b}.layer.1`, x, training), training);
  }
  const normed = rmsNorm(h, model.param("encoder.final_layer_norm.weight"), c.layer_norm_epsilon);
  out.last = dropout(model, normed, training);
  if (opts.outputHiddenStates) out.hiddenStates.push(out.last);
  return out;
}

/** Causal self-attention mask (B, 1, T, T): −1e4 above the diagonal and at masked keys. */
export function causalMask(decoderMask: tf.Tensor2D): tf.Tensor4D {
  const [B, T] = decoderMask.shape;
  const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0); // lower triangle incl. diagonal
  const m = causal.reshape([1, 1, T, T]).mul(decoderMask.toFloat().reshape([B, 1, 1, T]));
  return tf.scalar(1).sub(m).mul(-1e4) as tf.Tensor4D;
}

/**
 * The decoder: ids (B, T) attending causally to themselves and to the encoder output (B, S, D)
 * (with its 0/1 mask (B, S)) → hidden states (B, T, D).
 */
export function decode(
  model: T5Model,
  decoderInputIds: tf.Tensor2D,
  encoderHidden: tf.Tensor3D,
  encoderMask: tf.Tensor2D,
  decoderMask: tf.Tensor2D | undefined,
  opts: StackOptions = {},
): StackOutput {
  const c = model.config, training = opts.training ?? false;
  const [B, T] = decoderInputIds.shape;
  const out: StackOutput = {
    last: undefined as unknown as tf.Tensor3D,
    hiddenStates: [],
    attentions: [],
    crossAttentions: [],
  };
  let h = dropout(model, embed(model, decoderInputIds), training); // (B, T, D)
  const selfBias = positionBias(model, "decoder", T, T).add(
    causalMask(decoderMask ?? tf.ones([B, T])),
  ) as tf.Tensor4D;
  const crossBias = additiveMask(encoderMask, -1e9); // (B, 1, 1, S): no position bias across stacks
  for (let i = 0; i < c.num_decoder_layers; i++) {
    if (opts.outputHiddenStates) out.hiddenStates.push(h);
    const b = `decoder.block.${i}`;
    h = residual(model, `${b}.layer.0`, h, (x) => {
      const a = attention(model, `${b}.layer.0.SelfAttention`, x, x, selfBias, training);
      if (opts.outputAttentions) out.attentions.push(tf.keep(a.probs));
      return a.out;
    }, training);
    h = residual(model, `${b}.layer.1`, h, (x) => {
      const a = attention(model, `${b}.layer.1.EncDecAttention`, x, encoderHidden, crossBias, training);
      if (opts.outputAttentions) out.crossAttentions.push(tf.keep(a.probs));
      return a.out;
    }, training);
    h = residual(model, `${b}.layer.2`, h, (x) => feedForward(model, `${b}.layer.2`, x, training), training);
  }
  const normed = rmsNorm(h, model.param("decoder.final_layer_norm.weight"), c.layer_norm_epsilon);
  out.last = dropout(model, normed, training);
  if (opts.outputHiddenStates) out.hiddenStates.push(out.last);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The whole model: inputs, forward pass, losses, gradients.
// ---------------------------------------------------------------------------------------------

/** Token ids or a 0/1 mask: a (B, L) tensor or nested arrays. */
export type IdsLike = tf.Tensor2D | number[][];

/** One batch. `labels` may hold −100 (ignored) and pad ids (counted unless asked otherwise). */
export interface T5Inputs {
  /** Source ids (B, S). */
  inputIds: IdsLike;
  /** Source 0/1 mask (B, S); default all ones (HF's forward does not infer it from pads). */
  attentionMask?: IdsLike;
  /** Decoder ids (B, T); default: `labels` shifted right behind the start id. */
  decoderInputIds?: IdsLike;
  /** Decoder 0/1 mask (B, T); default all ones, as HF (pads in the decoder input are attended). */
  decoderAttentionMask?: IdsLike;
  /** Target ids (B, T). */
  labels?: IdsLike;
}

/** Forward options. */
export interface T5ForwardOptions extends StackOptions {}

/** The forward pass's outputs; all tensors belong to the caller. */
export interface T5Output {
  /** (B, T, V). */
  logits: tf.Tensor3D;
  /** Encoder output after its final norm, (B, S, D). */
  encoderLastHiddenState: tf.Tensor3D;
  /** Decoder output after its final norm, (B, T, D). */
  decoderLastHiddenState: tf.Tensor3D;
  encoderHiddenStates: tf.Tensor3D[];
  decoderHiddenStates: tf.Tensor3D[];
  encoderAttentions: tf.Tensor4D[];
  decoderAttentions: tf.Tensor4D[];
  crossAttentions: tf.Tensor4D[];
}

function toTensor(x: IdsLike, dtype: "int32" | "float32" = "int32"): tf.Tensor2D {
  return x instanceof tf.Tensor ? x.cast(dtype) as tf.Tensor2D : tf.tensor2d(x, undefined, dtype);
}

/**
 * HF's `_shift_right`: the start id, then the labels without their last position, with −100
 * replaced by the pad id.
 */
export function shiftRight(labels: tf.Tensor2D, startId: number, padId: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = labels.shape;
    const l = labels.toInt();
    const shifted = tf.concat([tf.fill([B, 1], startId, "int32"), l.slice([0, 0], [-1, T - 1])], 1); // (B, T)
    return tf.where(shifted.equal(-100), tf.fill([B, T], padId, "int32"), shifted) as tf.Tensor2D;
  });
}

/** Encoder and decoder outputs for `inputs`, before the LM head. */
function runStacks(model: T5Model, inputs: T5Inputs, opts: T5ForwardOptions) {
  const c = model.config;
  const ids = toTensor(inputs.inputIds);
  const mask = inputs.attentionMask ? toTensor(inputs.attentionMask, "float32") : tf.onesLike(ids).toFloat();
  let decIds: tf.Tensor2D;
  if (inputs.decoderInputIds) decIds = toTensor(inputs.decoderInputIds);
  else if (inputs.labels) {
    decIds = shiftRight(toTensor(inputs.labels), c.decoder_start_token_id, c.pad_token_id);
  } else throw new Error("t5Forward needs decoderInputIds or labels");
  const decMask = inputs.decoderAttentionMask ? toTensor(inputs.decoderAttentionMask, "float32") : undefined;
  const enc = encode(model, ids, mask as tf.Tensor2D, opts);
  const dec = decode(model, decIds, enc.last, mask as tf.Tensor2D, decMask, opts);
  return { enc, dec };
}

/** The full forward pass (no loss). Call inside `tf.tidy` or dispose the outputs yourself. */
export function t5Forward(model: T5Model, inputs: T5Inputs, opts: T5ForwardOptions = {}): T5Output {
  return tf.tidy(() => {
    const { enc, dec } = runStacks(model, inputs, opts);
    return {
      logits: lmHead(model, dec.last),
      encoderLastHiddenState: enc.last,
      decoderLastHiddenState: dec.last,
      encoderHiddenStates: enc.hiddenStates,
      decoderHiddenStates: dec.hiddenStates,
      encoderAttentions: enc.attentions,
      decoderAttentions: dec.attentions,
      crossAttentions: dec.crossAttentions,
    };
  });
}

/** Loss options. */
export interface T5LossOptions {
  /**
   * Also ignore labels equal to the pad id. Default false: as in TANL/FISH-DIP, 0-padded labels
   * count in the loss. Labels of −100 are always ignored (HF's `ignore_index`).
   */
  ignorePadLabels?: boolean;
  /** Training mode (dropout on). Default false. */
  training?: boolean;
  /**
   * Rows of the output projection's weight whose gradient is wanted, sorted; the other rows'
   * gradient from the projection comes back as zeros. A sparse update whose mask keeps entries in
   * a few hundred of the 32128 vocabulary rows then skips most of the projection's weight
   * gradient, a third of the output projection's work. Default: every row.
   */
  headGradRows?: Int32Array;
  /**
   * Divide the summed token losses by this count instead of the batch's own number of counted
   * positions: a slice of a batch then contributes its share of the whole batch's mean loss
   * (gradient accumulation, {@link t5AccumulatedGrads}).
   */
  denominator?: number;
}

/** Logit elements of one chunk of rows in {@link lmHeadCrossEntropy}: 8M floats, 32 MiB. */
const CE_CHUNK_ELEMENTS = 8 * 1024 * 1024;

/**
 * Multiply-adds up to which OpenBLAS may compute a product with its small-matrix kernels, whose
 * summation order differs from the blocked kernels of a large product.
 */
const SMALL_PRODUCT = 2 ** 20;

/**
 * Rows `rows` (sorted, distinct) of gᵀ x for g (n, V) and x (n, D), the same bits as those rows of
 * the full product: the subset is padded with copies of its last row until the product is larger
 * than {@link SMALL_PRODUCT}, so that BLAS computes it with the full product's kernels (unpadded,
 * rows of such a small product differ in the last bits: measured on OpenBLAS).
 */
function productRows(g: tf.Tensor2D, x: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [n, V] = g.shape, D = x.shape[1];
  const padded = Math.min(V, Math.max(rows.length, Math.floor(SMALL_PRODUCT / (n * D)) + 1));
  return tf.tidy(() => {
    const idx = new Int32Array(padded).fill(rows[rows.length - 1]);
    idx.set(rows);
    const p = tf.matMul(tf.gather(g, tf.tensor1d(idx, "int32"), 1), x, true, false);
    return (padded === rows.length ? p : p.slice([0, 0], [rows.length, D])) as tf.Tensor2D;
  });
}

/**
 * Cross-entropy of the output projection, fused: for rows x (N, D), head W (V, D) and labels (N,
 * int32, valid ids), the loss of each row, logsumexp(x Wᵀ) − (x Wᵀ)[label]. The (N, V) logits
 * dominate a training step's memory: composed from ops, the forward and backward passes hold about
 * six (N, V) tensors at once (the logits, their shifted copy, the exponentials, the softmax times
 * dy, the one-hot and the difference), 1.8 GB for t5-small's 9 × 256 labels, which exhausts the
 * wasm heap. Here rows are processed in chunks of at most `chunkElements` logits: the forward pass
 * keeps only the exponentials (one (N, V) tensor in all, and only while gradients are being
 * recorded; scoring and evaluation keep none) and the row sums, and the backward pass
 * builds softmax − one-hot one chunk at a time, multiplies it straight into dx = G W and
 * dW = Gᵀ x, and frees it. The gradient is written out because the composed ops' gradient
 * (through logsumexp's max and a lookup) also costs about twice as many passes over the logits.
 * Outside a gradient computation, where the backend has it, each chunk's loss is one fused kernel
 * over its logits (`lib/backend/row_cross_entropy.ts`).
 */
export function lmHeadCrossEntropy(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  labels: tf.Tensor1D,
  chunkElements = CE_CHUNK_ELEMENTS,
  gradRows?: Int32Array,
): tf.Tensor1D {
  const [N] = x.shape;
  const V = w.shape[0];
  const rows = Math.max(1, Math.floor(chunkElements / V));
  const chunks: [number, number][] = [];
  for (let r = 0; r < N; r += rows) chunks.push([r, Math.min(rows, N - r)]);
  // Outside a gradient computation (scoring, evaluation) nothing is kept for a backward pass, so
  // each chunk's exponentials are freed at once. tfjs counts open `tf.grads` scopes in
  // `engine().state.gradientDepth`; a kernel's forward function cannot see its tape otherwise.
  const recording = tf.engine().state.gradientDepth > 0;
  // Positions of rows r..r+n-1's labels in that chunk's flattened (n·V) logits.
  const labelPositions = (ls: tf.Tensor, r: number, n: number) =>
    tf.range(0, n, 1, "int32").mul(tf.scalar(V, "int32")).add(ls.slice(r, n));
  const ce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, ls, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const exps: tf.Tensor[] = [], totals: tf.Tensor[] = [], losses: tf.Tensor[] = [];
    // Without a backward pass, the fused kernel reads each chunk's logits and keeps nothing else.
    const fused = !recording && hasRowCrossEntropyKernel();
    for (const [r, n] of chunks) {
      if (fused) {
        losses.push(
          tf.tidy(() => rowCrossEntropyOp(projectRows(xs.slice([r, 0], [n, -1]), ws), ls.slice(r, n))),
        );
        continue;
      }
      const [e, total, loss] = tf.tidy(() => {
        const logits = projectRows(xs.slice([r, 0], [n, -1]), ws); // (n, V)
        const max = logits.max(1, true); // (n, 1)
        const e = tf.exp(logits.sub(max)); // kept: the backward pass reuses it as the softmax
        const total = e.sum(1, true); // (n, 1)
        const picked = tf.gather(logits.reshape([n * V]), labelPositions(ls, r, n)); // label logits
        return [e, total, max.reshape([n]).add(total.log().reshape([n])).sub(picked)];
      });
      losses.push(loss);
      if (recording) exps.push(e), totals.push(total);
      else tf.dispose([e, total]);
    }
    save([xs, ws, ls, ...exps, ...totals]);
    const value = tf.concat(losses);
    tf.dispose([...exps, ...totals, ...losses]); // `save` keeps its own references
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xv, wv, lv] = saved;
        const k = chunks.length;
        // dW = Gᵀ x for every row, for none (zeros), or for the wanted rows only: the same
        // products as the full one's rows, scattered into zeros.
        const want = gradRows === undefined || gradRows.length === V
          ? "all"
          : gradRows.length
          ? "some"
          : "none";
        const dxs: tf.Tensor[] = [];
        let dw: tf.Tensor | undefined;
        chunks.forEach(([r, n], i) => {
          const [dxc, dwc] = tf.tidy(() => {
            const d = (dy as tf.Tensor).slice(r, n); // (n)
            const probsTimesDy = saved[3 + i].mul(d.reshape([n, 1]).div(saved[3 + k + i])); // (n, V)
            // One-hot part as a scatter (tfjs-wasm 4.22's float32 oneHot writes integer bits).
            const hot = tf.scatterND(labelPositions(lv, r, n).reshape([n, 1]), d, [n * V]).reshape([n, V]);
            const g = probsTimesDy.sub(hot) as tf.Tensor2D; // d loss / d logits, (n, V)
            const dxc = tf.matMul(g, wv as tf.Tensor2D);
            if (want === "none") return [dxc];
            const xc = xv.slice([r, 0], [n, -1]) as tf.Tensor2D;
            return [dxc, want === "some" ? productRows(g, xc, gradRows!) : tf.matMul(g, xc, true, false)];
          });
          dxs.push(dxc);
          if (dwc === undefined) return;
          if (dw === undefined) dw = dwc;
          else {
            const sum = dw.add(dwc);
            tf.dispose([dw, dwc]);
            dw = sum;
          }
        });
        const dx = tf.concat(dxs);
        tf.dispose(dxs);
        if (want !== "all") {
          const D = (wv as tf.Tensor2D).shape[1];
          const full = want === "some"
            ? tf.tidy(() => tf.scatterND(tf.tensor2d(gradRows!, [gradRows!.length, 1], "int32"), dw!, [V, D]))
            : tf.zerosLike(wv);
          dw?.dispose();
          dw = full;
        }
        return [dx, dw!, tf.zerosLike(lv)];
      },
    };
  });
  return ce(x, w, labels) as tf.Tensor1D;
}

/**
 * Per-position negative log-likelihood (B, T) of `labels` for decoder outputs `h` (B, T, D)
 * through the LM head (as {@link lmHead}, fused with the loss), and the 0/1 weights (B, T) of the
 * positions that count. Ignored positions have nll 0.
 */
export function lmHeadNll(
  model: T5Model,
  h: tf.Tensor3D,
  labels: tf.Tensor2D,
  ignoreId: number | undefined = undefined,
  headGradRows?: Int32Array,
): { nll: tf.Tensor2D; weights: tf.Tensor2D } {
  return tf.tidy(() => {
    const [B, T] = h.shape;
    const { x, w } = lmHeadOperands(model, h);
    const l = labels.toInt();
    let keep = l.notEqual(-100);
    if (ignoreId !== undefined) keep = keep.logicalAnd(l.notEqual(ignoreId));
    const safe = tf.where(keep, l, tf.zerosLike(l)); // any valid id; its value is masked out
    const nll = lmHeadCrossEntropy(x, w, safe.reshape([B * T]) as tf.Tensor1D, undefined, headGradRows); // (B·T)
    const weights = keep.toFloat();
    return { nll: nll.reshape([B, T]).mul(weights) as tf.Tensor2D, weights: weights as tf.Tensor2D };
  });
}

function nllOf(model: T5Model, inputs: T5Inputs, opts: T5LossOptions) {
  if (!inputs.labels) throw new Error("a T5 loss needs labels");
  const labels = toTensor(inputs.labels);
  const { dec } = runStacks(model, inputs, { training: opts.training });
  const ignoreId = opts.ignorePadLabels ? model.config.pad_token_id : undefined;
  return lmHeadNll(model, dec.last, labels, ignoreId, opts.headGradRows);
}

/**
 * Mean token cross-entropy over all counted label positions of the batch (HF's loss with
 * `labels`), a scalar. Usable inside `tf.variableGrads` / {@link t5ValueAndGrads}.
 */
export function t5Loss(model: T5Model, inputs: T5Inputs, opts: T5LossOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const { nll, weights } = nllOf(model, inputs, opts);
    return nll.sum().div(opts.denominator ?? weights.sum()) as tf.Scalar;
  });
}

/**
 * Per-example loss (B): the mean over each row's own counted label positions (pads counted by
 * default), as FISH-DIP's scoring pass computes one sample at a time. A row with no counted
 * positions gets 0.
 */
export function t5PerExampleLoss(model: T5Model, inputs: T5Inputs, opts: T5LossOptions = {}): tf.Tensor1D {
  return tf.tidy(() => {
    const { nll, weights } = nllOf(model, inputs, opts);
    return nll.sum(1).div(weights.sum(1).maximum(1)) as tf.Tensor1D;
  });
}

/** A loss value and gradients keyed by Hugging Face parameter name. */
export interface T5Gradients {
  loss: tf.Scalar;
  grads: Map<string, tf.Tensor>;
}

/**
 * Value and gradients of `lossFn` with respect to the named parameters (default: all). Names
 * with no path to the loss get zeros, so every requested name has a gradient. The caller
 * disposes `loss` and the gradients.
 */
export function t5ValueAndGrads(
  model: T5Model,
  lossFn: () => tf.Scalar,
  names: Iterable<string> = model.params.keys(),
): T5Gradients {
  const wanted = [...names];
  const vars = wanted.map((n) => model.param(n));
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const out = new Map<string, tf.Tensor>();
  wanted.forEach((n, i) => {
    const g = grads[vars[i].name];
    out.set(n, g ?? tf.zerosLike(vars[i]));
  });
  return { loss: value, grads: out };
}

/** Activation memory one gradient pass may use, by default, in {@link t5AccumulatedGrads}. */
export const DEFAULT_PASS_BYTES = 2 * 2 ** 30;

/**
 * A rough upper bound of the bytes a gradient pass keeps per source or target token: tfjs holds
 * every intermediate a kernel's gradient needs until the backward pass, about forty
 * d_model-sized and four d_ff-sized float32 vectors and eight attention rows per head per block
 * (a decoder block counts 1.5 for its cross-attention). Measured on t5-small, 9 × (128 + 128)
 * tokens: about 1.7 MB per token on wasm; this gives 2.2 MB.
 */
export function passBytesPerToken(config: T5Config, length: number): number {
  const blocks = config.num_layers + 1.5 * config.num_decoder_layers;
  return 4 * blocks * (40 * config.d_model + 4 * config.d_ff + 8 * config.num_heads * length);
}

/** A batch's rows [start, end) (number arrays or tensors alike). */
export function sliceRows(inputs: T5Inputs, start: number, end: number): T5Inputs {
  const cut = (x: IdsLike | undefined) =>
    x === undefined
      ? undefined
      : x instanceof tf.Tensor
      ? x.slice([start, 0], [end - start, -1]) as tf.Tensor2D
      : x.slice(start, end);
  return {
    inputIds: cut(inputs.inputIds)!,
    attentionMask: cut(inputs.attentionMask),
    decoderInputIds: cut(inputs.decoderInputIds),
    decoderAttentionMask: cut(inputs.decoderAttentionMask),
    labels: cut(inputs.labels),
  };
}

/**
 * The loss and gradients of a batch, computed in slices of rows when the whole batch would keep
 * more than `passBytes` of activations alive ({@link passBytesPerToken}; a wasm heap holds
 * 4 GiB in all). Each slice's summed token loss is divided by the whole batch's count of
 * counted label positions, so the summed losses and gradients are the batch's mean loss and its
 * gradient (equal up to float rounding; dropout draws differ). Batches given as tensors, and
 * batches that fit, run as one pass. `gradsOf` computes one pass's gradients (default: every
 * parameter of the model, as {@link t5ValueAndGrads}).
 */
export function t5AccumulatedGrads(
  model: T5Model,
  inputs: T5Inputs,
  opts: T5LossOptions & { passBytes?: number } = {},
  gradsOf: (lossFn: () => tf.Scalar) => T5Gradients = (f) => t5ValueAndGrads(model, f),
): T5Gradients {
  const { passBytes = DEFAULT_PASS_BYTES, ...lossOpts } = opts;
  const whole = () => gradsOf(() => t5Loss(model, inputs, lossOpts));
  const ids = inputs.inputIds, labels = inputs.labels;
  if (ids instanceof tf.Tensor || labels === undefined || labels instanceof tf.Tensor) return whole();
  const B = ids.length, S = ids[0]?.length ?? 0, T = labels[0]?.length ?? 0;
  const perRow = (S + T) * passBytesPerToken(model.config, Math.max(S, T));
  const rows = Math.max(1, Math.floor(passBytes / perRow));
  if (rows >= B) return whole();
  const pad = lossOpts.ignorePadLabels ? model.config.pad_token_id : undefined;
  let counted = 0;
  for (const row of labels) for (const l of row) if (l !== -100 && l !== pad) counted++;
  const denominator = Math.max(counted, 1);
  let total: T5Gradients | undefined;
  for (let r = 0; r < B; r += rows) {
    const part = gradsOf(() =>
      t5Loss(model, sliceRows(inputs, r, Math.min(B, r + rows)), { ...lossOpts, denominator })
    );
    if (!total) {
      total = part;
      continue;
    }
    const loss = total.loss.add(part.loss) as tf.Scalar;
    tf.dispose([total.loss, part.loss]);
    for (const [name, g] of part.grads) {
      const sum = total.grads.get(name)!.add(g);
      tf.dispose([total.grads.get(name)!, g]);
      total.grads.set(name, sum);
    }
    total = { loss, grads: total.grads };
  }
  return total!;
}
