/**
 * Training and evaluation: features, the trainer loop with checkpoints and resume, greedy
 * evaluation with TANL scoring, sparse deltas and backbones.
 *
 * @module
 */
export * from "./features.ts";
export * from "./progress.ts";
export * from "./trainer.ts";
export * from "./evaluate.ts";
export * from "./delta.ts";
export * from "./backbone.ts";
export * from "./fine_tune.ts";
export * from "./tuned_model.ts";
export * from "./predict_file.ts";
