/**
 * Pretraining the project's own small T5 backbones (`data/models/fishdip-t5-mini` and the
 * intermediate multi-task backbones built from it): corpus readers, the reduced T5 vocabulary,
 * T5's span-corruption and a copy objective, supervised TANL tasks with the leakage guard, the
 * recipes of the multi-task backbones, the training loop with its resumable state, GloVe-initialised
 * embeddings, and the pretrained-vs-random downstream check. The commands are `scripts/pretrain.ts`,
 * `scripts/eval_backbone.ts` and `scripts/build_corpus.ts`.
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
export * from "./shape.ts";
export * from "./tasks.ts";
export * from "./recipes.ts";
export * from "./evaluate.ts";
export * from "./loop.ts";
export * from "./card.ts";
