/**
 * T5 configuration: what Hugging Face's `config.json` says, with `T5Config`'s defaults, and the
 * list of parameters (Hugging Face names and shapes) a model of that configuration has.
 *
 * ```ts
 * import { parseT5Config, t5ParameterShapes } from "./lib/t5/config.ts";
 * const config = parseT5Config(JSON.parse(await Deno.readTextFile("config.json")));
 * for (const { name, shape } of t5ParameterShapes(config)) console.log(name, shape);
 * ```
 *
 * @module
 */

/** Feed-forward activations the model implements (Hugging Face `ACT2FN` names). */
export type T5Activation = "relu" | "gelu_new" | "gelu" | "silu";

/** A T5 configuration; field names and meanings are Hugging Face's `T5Config` (v4.20). */
export interface T5Config {
  /** Rows of the shared embedding and of the output projection. HF default 32128. */
  vocab_size: number;
  /** Width of the residual stream. HF default 512. */
  d_model: number;
  /** Width of one attention head's query/key/value. HF default 64. */
  d_kv: number;
  /** Width of the feed-forward hidden layer. HF default 2048. */
  d_ff: number;
  /** Encoder blocks. HF default 6. */
  num_layers: number;
  /** Decoder blocks; HF default: same as `num_layers`. */
  num_decoder_layers: number;
  /** Attention heads. HF default 8. */
  num_heads: number;
  /** Buckets of the relative position bias. HF default 32. */
  relative_attention_num_buckets: number;
  /** Relative distance beyond which all positions share the last bucket. HF default 128. */
  relative_attention_max_distance: number;
  /** Dropout after embeddings, attention probabilities, FF hidden and every residual branch. 0.1. */
  dropout_rate: number;
  /** Epsilon inside the RMS norm's square root. HF default 1e-6. */
  layer_norm_epsilon: number;
  /** Multiplies every init standard deviation (HF's testing knob). HF default 1.0. */
  initializer_factor: number;
  /** `"relu"` (T5 v1.0) or `"gated-gelu"` (v1.1); `"gated-ACT"` or `"ACT"` in general. */
  feed_forward_proj: string;
  /** Derived from `feed_forward_proj`: the activation; `gated-gelu` means `gelu_new` (tanh). */
  dense_act_fn: T5Activation;
  /** Derived from `feed_forward_proj`: two input projections `wi_0` (activated) and `wi_1`. */
  is_gated_act: boolean;
  /** Output projection shares `shared.weight` (and the decoder output is scaled by d_model^-0.5). */
  tie_word_embeddings: boolean;
  /** Padding id; also the loss's "pad" label under TANL's convention. HF default 0. */
  pad_token_id: number;
  /** End of sequence. HF default 1. */
  eos_token_id: number;
  /** First decoder input. Absent from `T5Config`; T5 checkpoints set it to the pad id, 0. */
  decoder_start_token_id: number;
}

/** Thrown for configurations the model cannot represent; the message names the field. */
export class T5ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "T5ConfigError";
  }
}

/** `T5Config()`'s defaults in transformers v4.20 (the t5-small shape). */
export const T5_DEFAULTS: Readonly<Omit<T5Config, "dense_act_fn" | "is_gated_act" | "num_decoder_layers">> = {
  vocab_size: 32128,
  d_model: 512,
  d_kv: 64,
  d_ff: 2048,
  num_layers: 6,
  num_heads: 8,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  dropout_rate: 0.1,
  layer_norm_epsilon: 1e-6,
  initializer_factor: 1.0,
  feed_forward_proj: "relu",
  // PretrainedConfig's default: a config.json without the key means tied.
  tie_word_embeddings: true,
  pad_token_id: 0,
  eos_token_id: 1,
  decoder_start_token_id: 0,
};

const ACTIVATIONS: readonly T5Activation[] = ["relu", "gelu_new", "gelu", "silu"];

function num(json: Record<string, unknown>, key: string, fallback: number, integer = true): number {
  const v = json[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new T5ConfigError(`config field "${key}" must be ${integer ? "an integer" : "a number"}, got ${v}`);
  }
  return v;
}

/**
 * Reads a Hugging Face T5 `config.json` object (or a partial one: missing keys take
 * {@link T5_DEFAULTS}). Derives `dense_act_fn` and `is_gated_act` from `feed_forward_proj` the way
 * v4.20 does, so a stale `dense_act_fn` in the file cannot disagree with it.
 */
export function parseT5Config(json: Record<string, unknown> = {}): T5Config {
  const d = T5_DEFAULTS;
  const feed = json.feed_forward_proj ?? d.feed_forward_proj;
  if (typeof feed !== "string") throw new T5ConfigError(`feed_forward_proj must be a string, got ${feed}`);
  const parts = feed.split("-");
  if (parts.length > 2 || (parts.length === 2 && parts[0] !== "gated")) {
    throw new T5ConfigError(
      `feed_forward_proj "${feed}" is not valid: expected "ACT" or "gated-ACT", e.g. "relu" or "gated-gelu"`,
    );
  }
  const isGated = parts[0] === "gated" && parts.length === 2;
  // v4.20 keeps "gated-gelu" meaning the tanh approximation, for backwards compatibility.
  const act = feed === "gated-gelu" ? "gelu_new" : parts[parts.length - 1];
  if (!(ACTIVATIONS as readonly string[]).includes(act)) {
    throw new T5ConfigError(
      `activation "${act}" (from feed_forward_proj "${feed}") is not one of ${ACTIVATIONS}`,
    );
  }
  const tie = json.tie_word_embeddings ?? d.tie_word_embeddings;
  if (typeof tie !== "boolean") throw new T5ConfigError(`tie_word_embeddings must be a boolean, got ${tie}`);
  const numLayers = num(json, "num_layers", d.num_layers);
  const pad = num(json, "pad_token_id", d.pad_token_id);
  const config: T5Config = {
    vocab_size: num(json, "vocab_size", d.vocab_size),
    d_model: num(json, "d_model", d.d_model),
    d_kv: num(json, "d_kv", d.d_kv),
    d_ff: num(json, "d_ff", d.d_ff),
    num_layers: numLayers,
    num_decoder_layers: num(json, "num_decoder_layers", numLayers),
    num_heads: num(json, "num_heads", d.num_heads),
    relative_attention_num_buckets: num(
      json,
      "relative_attention_num_buckets",
      d.relative_attention_num_buckets,
    ),
    relative_attention_max_distance: num(
      json,
      "relative_attention_max_distance",
      d.relative_attention_max_distance,
    ),
    dropout_rate: num(json, "dropout_rate", d.dropout_rate, false),
    layer_norm_epsilon: num(json, "layer_norm_epsilon", d.layer_norm_epsilon, false),
    initializer_factor: num(json, "initializer_factor", d.initializer_factor, false),
    feed_forward_proj: feed,
    dense_act_fn: act as T5Activation,
    is_gated_act: isGated,
    tie_word_embeddings: tie,
    pad_token_id: pad,
    eos_token_id: num(json, "eos_token_id", d.eos_token_id),
    // T5 uses the pad id as the decoder start when a config leaves it out.
    decoder_start_token_id: num(json, "decoder_start_token_id", pad),
  };
  for (
    const k of ["vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads"] as const
  ) {
    if (config[k] < 1) throw new T5ConfigError(`config field "${k}" must be positive, got ${config[k]}`);
  }
  if (config.dropout_rate < 0 || config.dropout_rate >= 1) {
    throw new T5ConfigError(`dropout_rate must be in [0, 1), got ${config.dropout_rate}`);
  }
  return config;
}

/** One parameter: its Hugging Face name and shape (`[out, in]` for linear layers, as PyTorch). */
export interface T5ParameterShape {
  name: string;
  shape: number[];
}

/**
 * Every parameter of a T5ForConditionalGeneration with this configuration, in PyTorch's
 * `named_parameters()` order, with tied duplicates left out as in Hugging Face's safetensors export:
 * never `encoder.embed_tokens.weight` / `decoder.embed_tokens.weight`, and no `lm_head.weight`
 * when the embeddings are tied. The checkpoint loader validates files against this list.
 */
export function t5ParameterShapes(config: T5Config): T5ParameterShape[] {
  const { d_model: D, d_ff: F, vocab_size: V } = config;
  const inner = config.num_heads * config.d_kv;
  const out: T5ParameterShape[] = [{ name: "shared.weight", shape: [V, D] }];
  const attention = (prefix: string, withBias: boolean) => {
    out.push({ name: `${prefix}.q.weight`, shape: [inner, D] });
    out.push({ name: `${prefix}.k.weight`, shape: [inner, D] });
    out.push({ name: `${prefix}.v.weight`, shape: [inner, D] });
    out.push({ name: `${prefix}.o.weight`, shape: [D, inner] });
    if (withBias) {
      out.push({
        name: `${prefix}.relative_attention_bias.weight`,
        shape: [config.relative_attention_num_buckets, config.num_heads],
      });
    }
  };
  const feedForward = (prefix: string) => {
    if (config.is_gated_act) {
      out.push({ name: `${prefix}.DenseReluDense.wi_0.weight`, shape: [F, D] });
      out.push({ name: `${prefix}.DenseReluDense.wi_1.weight`, shape: [F, D] });
    } else {
      out.push({ name: `${prefix}.DenseReluDense.wi.weight`, shape: [F, D] });
    }
    out.push({ name: `${prefix}.DenseReluDense.wo.weight`, shape: [D, F] });
    out.push({ name: `${prefix}.layer_norm.weight`, shape: [D] });
  };
  for (let i = 0; i < config.num_layers; i++) {
    const b = `encoder.block.${i}`;
    attention(`${b}.layer.0.SelfAttention`, i === 0);
    out.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [D] });
    feedForward(`${b}.layer.1`);
  }
  out.push({ name: "encoder.final_layer_norm.weight", shape: [D] });
  for (let i = 0; i < config.num_decoder_layers; i++) {
    const b = `decoder.block.${i}`;
    attention(`${b}.layer.0.SelfAttention`, i === 0);
    out.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [D] });
    attention(`${b}.layer.1.EncDecAttention`, false);
    out.push({ name: `${b}.layer.1.layer_norm.weight`, shape: [D] });
    feedForward(`${b}.layer.2`);
  }
  out.push({ name: "decoder.final_layer_norm.weight", shape: [D] });
  if (!config.tie_word_embeddings) out.push({ name: "lm_head.weight", shape: [V, D] });
  return out;
}

/**
 * Names that Hugging Face checkpoints may carry as aliases of another tensor (tied duplicates),
 * mapped to the parameter they alias. A loader may accept and skip them.
 */
export function t5TiedAliases(config: T5Config): Map<string, string> {
  const m = new Map([
    ["encoder.embed_tokens.weight", "shared.weight"],
    ["decoder.embed_tokens.weight", "shared.weight"],
  ]);
  if (config.tie_word_embeddings) m.set("lm_head.weight", "shared.weight");
  return m;
}

/** Total number of (untied) parameters, as `sum(p.numel() for p in model.parameters())`. */
export function t5ParameterCount(config: T5Config): number {
  return t5ParameterShapes(config).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * The PyTorch comparator's named shapes (`/shared/bench/torch_t5_step.py --config`), v1.0 with
 * the T5 vocabulary (32128): `t5-mini` is the issues' 15M-parameter shape, `t5-small` the
 * published one. Benchmarks use these so that both sides time the same model.
 */
export const COMPARATOR_SHAPES: Readonly<Record<"t5-mini" | "t5-small", Readonly<Record<string, number>>>> = {
  "t5-mini": { d_model: 256, d_ff: 1024, d_kv: 32, num_heads: 8, num_layers: 4 },
  "t5-small": { d_model: 512, d_ff: 2048, d_kv: 64, num_heads: 8, num_layers: 6 },
};
