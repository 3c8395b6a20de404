/**
 * Pretraining the project's own small T5 backbone (`data/models/fishdip-t5-mini`): corpus
 * readers, the reduced T5 vocabulary, T5's span-corruption and a copy objective, the example
 * sampler, GloVe-initialised embeddings, and the pretrained-vs-random downstream check. The
 * training loop is `scripts/pretrain.ts`, the downstream check `scripts/eval_backbone.ts`, the
 * corpus `scripts/build_corpus.ts`.
 *
 * ```ts
 * import { Rng, spanCorrupt } from "./mod.ts";
 * const { inputs, targets } = spanCorrupt([5, 6, 7, 8, 9, 10, 11, 12, 13, 14], new Rng(1), (i) => 32099 - i, 1);
 * ```
 *
 * @module
 */
export * from "./span_corruption.ts";
export * from "./vocab.ts";
export * from "./corpus.ts";
export * from "./data.ts";
export * from "./glove.ts";
export * from "./downstream.ts";
