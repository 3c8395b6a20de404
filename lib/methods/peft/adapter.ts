/**
 * Bottleneck adapters (Houlsby et al., "Parameter-Efficient Transfer Learning for NLP", ICML
 * 2019): after a sublayer's output projection and before the residual addition, the branch output
 * y (B, L, D) becomes `y + W_up · act(W_down · y + b_down) + b_up`, a bottleneck MLP with its own
 * skip connection, so that an adapter near zero is near the identity.
 *
 * Placement, following Houlsby (two adapters per Transformer layer: after attention and after the
 * feed-forward network) and AdapterHub's Houlsby config for T5 (`mh_adapter` after the
 * self-attention sublayer, `output_adapter` after the feed-forward sublayer, no adapter after
 * cross-attention by default): encoder `layer.0` and `layer.1`, decoder `layer.0` and `layer.2`.
 * In our pre-norm T5 the hook sits before the sublayer's dropout (Houlsby's BERT applies the
 * adapter after it); both are before the residual addition.
 *
 * Initialisation: Houlsby's `adapter-bert` draws both projections from a truncated normal with
 * std 1e-3 (biases zero), a near-identity start. We keep that for the down-projection but start
 * the up-projection at zero, which makes the start the identity exactly (the wrapped model equals
 * the base model at step 0, as for LoRA); gradients reach the up-projection at once and the
 * down-projection from the second step on.
 *
 * Names: `<sublayer>.adapter.down.weight` (m, D), `.down.bias` (m), `.up.weight` (D, m),
 * `.up.bias` (D), e.g. `decoder.block.0.layer.2.adapter.up.weight`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { T5Model } from "../../t5/model.ts";
import {
  applyPeft,
  newVariable,
  type PeftBuilder,
  type PeftLayers,
  peftSetup,
  type PeftState,
  ZERO_INIT_ADAFACTOR,
} from "./core.ts";
import type { CreateContext, MethodSetup, MethodSpec } from "../spec.ts";
import { COUNT } from "../../config/flags.ts";

/** Which sublayers get an adapter. */
export type AdapterSite = "selfAttention" | "crossAttention" | "feedForward";

/** Adapter hyperparameters. */
export interface AdapterConfig {
  /** Bottleneck width m. `adapter-bert`'s default and the grid's: 64 (Houlsby searched 8, 64, 256). */
  bottleneck: number;
  /** Std of the down-projection's truncated-normal init. `adapter-bert`: 1e-3. */
  initScale: number;
  /** Bottleneck nonlinearity. `adapter-bert`: GELU (tanh approximation). */
  activation: "gelu" | "relu" | "swish";
  /** Sublayers with an adapter. Houlsby: after attention and feed-forward (not cross-attention). */
  sites: AdapterSite[];
}

/** Defaults of Houlsby et al.'s released code (`google-research/adapter-bert`, `feedforward_adapter`). */
export const ADAPTER_DEFAULTS: Readonly<AdapterConfig> = Object.freeze({
  bottleneck: 64,
  initScale: 1e-3,
  activation: "gelu",
  sites: Object.freeze(["selfAttention", "feedForward"]) as unknown as AdapterSite[],
});

/** Where {@link ADAPTER_DEFAULTS} come from. */
export const ADAPTER_SOURCE = "Houlsby et al. 2019 (arXiv:1902.00751); google-research/adapter-bert " +
  "feedforward_adapter (hidden_size=64, init_scale=1e-3, GELU, adapters after attention and FFN); " +
  "AdapterHub's Houlsby placement for T5 (no cross-attention adapter). Up-projection zero-initialised " +
  "(exact identity at start). Houlsby train with Adam; here FISH-DIP's Adafactor, lr and schedule with " +
  "scale_parameter off (see mod.ts).";

/** The kind of sublayer `encoder|decoder.block.i.layer.j`. */
export function sublayerSite(name: string): AdapterSite {
  const m = /^(encoder|decoder)\.block\.\d+\.layer\.(\d)$/.exec(name);
  if (!m) throw new Error(`not a T5 sublayer name: "${name}"`);
  const j = Number(m[2]);
  if (j === 0) return "selfAttention";
  if (m[1] === "decoder" && j === 1) return "crossAttention";
  return "feedForward";
}

/** Every sublayer of the model, in order. */
export function t5Sublayers(model: T5Model): string[] {
  const c = model.config, out: string[] = [];
  for (let i = 0; i < c.num_layers; i++) out.push(`encoder.block.${i}.layer.0`, `encoder.block.${i}.layer.1`);
  for (let i = 0; i < c.num_decoder_layers; i++) {
    out.push(`decoder.block.${i}.layer.0`, `decoder.block.${i}.layer.1`, `decoder.block.${i}.layer.2`);
  }
  return out;
}

/** GELU as `adapter-bert` writes it (tanh approximation). */
function act(kind: AdapterConfig["activation"], x: tf.Tensor2D): tf.Tensor2D {
  if (kind === "relu") return tf.relu(x);
  if (kind === "swish") return x.mul(tf.sigmoid(x));
  const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(inner.tanh().add(1));
}

/** Builds the adapters and the `sublayerOutput` hook. */
export function buildAdapters(
  model: T5Model,
  config: AdapterConfig,
  _state: PeftState,
  seed: number,
): PeftLayers {
  const m = config.bottleneck, D = model.config.d_model;
  if (!(Number.isInteger(m) && m > 0)) {
    throw new Error(`adapter: bottleneck must be a positive integer, got ${m}`);
  }
  const sites = new Set(config.sites);
  const params = new Map<string, tf.Variable>();
  const adapters = new Map<string, { dw: tf.Variable; db: tf.Variable; uw: tf.Variable; ub: tf.Variable }>();
  t5Sublayers(model).filter((s) => sites.has(sublayerSite(s))).forEach((s, i) => {
    const p = `${s}.adapter`;
    const a = {
      dw: newVariable(
        model,
        "adapter",
        `${p}.down.weight`,
        tf.truncatedNormal([m, D], 0, config.initScale, "float32", seed * 1000003 + i),
      ),
      db: newVariable(model, "adapter", `${p}.down.bias`, tf.zeros([m])),
      uw: newVariable(model, "adapter", `${p}.up.weight`, tf.zeros([D, m])),
      ub: newVariable(model, "adapter", `${p}.up.bias`, tf.zeros([D])),
    };
    params.set(`${p}.down.weight`, a.dw);
    params.set(`${p}.down.bias`, a.db);
    params.set(`${p}.up.weight`, a.uw);
    params.set(`${p}.up.bias`, a.ub);
    adapters.set(s, a);
  });
  if (adapters.size === 0) {
    throw new Error(`adapter: sites ${JSON.stringify(config.sites)} select no sublayer`);
  }
  return {
    params,
    hooks: {
      sublayerOutput: (name, y) => {
        const a = adapters.get(name);
        if (!a) return y;
        const [B, L] = y.shape;
        const y2 = y.reshape([B * L, D]) as tf.Tensor2D;
        const h = act(config.activation, tf.matMul(y2, a.dw, false, true).add(a.db)); // (B·L, m)
        const out = tf.matMul(h, a.uw, false, true).add(a.ub); // (B·L, D)
        return y.add(out.reshape([B, L, D]));
      },
    },
  };
}

/** The adapters' layer change (see {@link applyPeft}). */
export const ADAPTER: PeftBuilder<AdapterConfig> = {
  name: "adapter",
  defaults: ADAPTER_DEFAULTS,
  source: ADAPTER_SOURCE,
  adafactor: ZERO_INIT_ADAFACTOR,
  build: buildAdapters,
};

/** The registry entry (`../registry.ts`): Houlsby adapters of bottleneck width m. */
export const ADAPTER_METHOD: MethodSpec<{ bottleneck: number }> = {
  label: "Adapters",
  kind: "peft",
  color: "#59a14f",
  description: "Houlsby adapters: bottleneck MLP with a skip after attention and feed-forward sublayers",
  source: ADAPTER_SOURCE,
  resumable: true,
  defaults: Object.freeze({ bottleneck: 64 }),
  ranges: { bottleneck: COUNT },
  create<E>(config: { bottleneck: number }, ctx: CreateContext): MethodSetup<E> {
    return peftSetup(applyPeft(ctx.model, ADAPTER, { bottleneck: config.bottleneck }, { seed: ctx.seed }));
  },
};
