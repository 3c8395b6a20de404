/**
 * Prefix tuning (Li & Liang, "Prefix-Tuning: Optimizing Continuous Prompts for Generation", ACL
 * 2021): `length` trained key and value vectors are prepended, in every layer, to the keys and
 * values of the attention modules; the model's own weights stay frozen. Queries attend to the
 * prefix as to extra (virtual) positions.
 *
 * Choices, and where they come from:
 * - Attention modules: encoder self-attention, decoder self-attention and decoder cross-attention,
 *   each with its own prefix, as Li & Liang's encoder-decoder (BART) code does (`wte_enc` /
 *   `control_trans_enc`, `wte` / `control_trans`, `wte2` / `control_trans2`;
 *   `use_encoder_prefix = use_cross_prefix = True`).
 * - Reparameterisation: as in the paper (§4.3) and its code, the prefix of each module kind is
 *   `MLP(E)`: an embedding E (P, D) ~ N(0, 1), then Linear(D → 512), tanh, Linear(512 → layers·2·
 *   H·dk), PyTorch's default Linear init. Li & Liang report that optimising the prefix directly is
 *   unstable and hurts; Hugging Face PEFT's `PrefixTuningConfig` defaults to `prefix_projection=
 *   False` (direct, E ~ N(0, 1) of size layers·2·H·dk per position), available here as
 *   `reparameterize: false`. The MLP's last layer is stored per layer (the same function as one
 *   wide Linear split by layer), so a module's hook computes only its own layer's slice.
 * - Positions: prefix keys get no relative position bias and are never masked (T5's bias is a
 *   function of token distance, which a virtual position lacks); see `withPrefix` in
 *   `lib/t5/model.ts`. The cached decoder keeps each layer's prefix at the front of its cache.
 * - Prefix dropout: none (Li & Liang's `prefix_dropout` default 0.0).
 *
 * After training the MLP could be dropped and only its outputs kept (P·2·H·dk values per layer and
 * module kind): `inferenceParameterCount` reports that number.
 *
 * Names: `prefix.<kind>.embedding` (P, D), `prefix.<kind>.mlp.0.weight` (mid, D), `.mlp.0.bias`,
 * `prefix.<kind>.block.<i>.mlp.2.weight` (2·H·dk, mid), `.mlp.2.bias`; without the MLP
 * `prefix.<kind>.block.<i>.key` and `.value` (P, H·dk). `<kind>` is encoder, decoder or cross.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { T5Model } from "../../t5/model.ts";
import {
  applyPeft,
  kaimingUniform,
  newVariable,
  type PeftBuilder,
  type PeftLayers,
  peftSetup,
  type PeftState,
} from "./core.ts";
import type { CreateContext, MethodSetup, MethodSpec } from "../spec.ts";
import { COUNT } from "../../config/flags.ts";

/** The attention modules that can carry a prefix. */
export type PrefixSite = "encoder" | "decoder" | "cross";

/** Prefix-tuning hyperparameters. */
export interface PrefixConfig {
  /** Prefix length P (virtual tokens) per module. The grid: 20 (Li & Liang's code default is 5). */
  length: number;
  /** Reparameterise through an MLP while training (Li & Liang: yes; PEFT default: no). */
  reparameterize: boolean;
  /** Hidden width of the MLP (Li & Liang's `mid_dim`: 512). */
  hiddenSize: number;
  /** Modules with a prefix (Li & Liang's BART code: all three). */
  sites: PrefixSite[];
}

/** Defaults of Li & Liang's encoder-decoder code (`seq2seq/prefixTuning.py`), length 20 as in the grid. */
export const PREFIX_DEFAULTS: Readonly<PrefixConfig> = Object.freeze({
  length: 20,
  reparameterize: true,
  hiddenSize: 512,
  sites: Object.freeze(["encoder", "decoder", "cross"]) as unknown as PrefixSite[],
});

/** Where {@link PREFIX_DEFAULTS} come from. */
export const PREFIX_SOURCE =
  "Li & Liang 2021 (arXiv:2101.00190); XiangLi1999/PrefixTuning seq2seq/prefixTuning.py " +
  "(encoder, decoder and cross-attention prefixes; MLP reparameterisation, mid_dim=512, tanh; prefix_dropout=0); " +
  "length 20 from the grid. Li & Liang train with AdamW (lr 5e-5 in their released runs); here FISH-DIP's Adafactor unchanged.";

/** The module name of site `kind` in layer `i`, and back. */
function moduleName(kind: PrefixSite, i: number): string {
  if (kind === "encoder") return `encoder.block.${i}.layer.0.SelfAttention`;
  if (kind === "decoder") return `decoder.block.${i}.layer.0.SelfAttention`;
  return `decoder.block.${i}.layer.1.EncDecAttention`;
}

/** (P, H·dk) → (1, H, P, dk), the layout the attention hook expects. */
function toHeads(x: tf.Tensor2D, H: number): tf.Tensor4D {
  const [P, inner] = x.shape;
  return x.reshape([1, P, H, inner / H]).transpose([0, 2, 1, 3]);
}

/** Builds the prefixes and the `attentionPrefix` hook. */
export function buildPrefix(
  model: T5Model,
  config: PrefixConfig,
  _state: PeftState,
  seed: number,
): PeftLayers {
  const c = model.config, P = config.length, D = c.d_model, H = c.num_heads, inner = H * c.d_kv;
  const mid = config.hiddenSize;
  if (!(Number.isInteger(P) && P > 0)) throw new Error(`prefix: length must be a positive integer, got ${P}`);
  const sites = [...new Set(config.sites)];
  if (sites.length === 0) throw new Error("prefix: no attention module selected");
  const params = new Map<string, tf.Variable>();
  let s = seed * 1000003;
  const add = (name: string, init: tf.Tensor): tf.Variable => {
    const v = newVariable(model, "prefix", name, init);
    params.set(name, v);
    return v;
  };
  // Per module name: a function giving that module's (1, H, P, dk) keys and values.
  const compute = new Map<string, () => { k: tf.Tensor4D; v: tf.Tensor4D }>();
  let inference = 0;
  for (const kind of sites) {
    const layers = kind === "encoder" ? c.num_layers : c.num_decoder_layers;
    inference += layers * P * 2 * inner;
    if (config.reparameterize) {
      const emb = add(`prefix.${kind}.embedding`, tf.randomNormal([P, D], 0, 1, "float32", s++));
      const w1 = add(`prefix.${kind}.mlp.0.weight`, kaimingUniform([mid, D], D, s++));
      const b1 = add(`prefix.${kind}.mlp.0.bias`, kaimingUniform([mid], D, s++));
      for (let i = 0; i < layers; i++) {
        const w2 = add(`prefix.${kind}.block.${i}.mlp.2.weight`, kaimingUniform([2 * inner, mid], mid, s++));
        const b2 = add(`prefix.${kind}.block.${i}.mlp.2.bias`, kaimingUniform([2 * inner], mid, s++));
        compute.set(moduleName(kind, i), () => {
          const h = tf.tanh(tf.matMul(emb, w1, false, true).add(b1)) as tf.Tensor2D; // (P, mid)
          const kv = tf.matMul(h, w2, false, true).add(b2) as tf.Tensor2D; // (P, 2·H·dk): keys, then values
          return {
            k: toHeads(kv.slice([0, 0], [P, inner]), H),
            v: toHeads(kv.slice([0, inner], [P, inner]), H),
          };
        });
      }
    } else {
      for (let i = 0; i < layers; i++) {
        const k = add(`prefix.${kind}.block.${i}.key`, tf.randomNormal([P, inner], 0, 1, "float32", s++));
        const v = add(`prefix.${kind}.block.${i}.value`, tf.randomNormal([P, inner], 0, 1, "float32", s++));
        compute.set(
          moduleName(kind, i),
          () => ({ k: toHeads(k as tf.Tensor2D, H), v: toHeads(v as tf.Tensor2D, H) }),
        );
      }
    }
  }
  return {
    params,
    inferenceParameterCount: inference,
    hooks: {
      // Recomputed at every call (cheap: P rows through a small MLP) so that gradients flow to
      // the current variables and nothing has to be cached across forward passes.
      attentionPrefix: (name) => compute.get(name)?.(),
    },
  };
}

/** Prefix tuning's layer change (see {@link applyPeft}); FISH-DIP's Adafactor unchanged. */
export const PREFIX: PeftBuilder<PrefixConfig> = {
  name: "prefix",
  defaults: PREFIX_DEFAULTS,
  source: PREFIX_SOURCE,
  adafactor: Object.freeze({}),
  build: buildPrefix,
};

/** The registry entry (`../registry.ts`): `length` trainable key/value vectors per attention layer. */
export const PREFIX_METHOD: MethodSpec<{ length: number }> = {
  label: "Prefix tuning",
  kind: "peft",
  color: "#b07aa1",
  description: "Prefix tuning: trained key/value prefixes in every attention layer (MLP-reparameterised)",
  source: PREFIX_SOURCE,
  resumable: true,
  defaults: Object.freeze({ length: 20 }),
  ranges: { length: COUNT },
  create<E>(config: { length: number }, ctx: CreateContext): MethodSetup<E> {
    return peftSetup(applyPeft(ctx.model, PREFIX, { length: config.length }, { seed: ctx.seed }));
  },
};
