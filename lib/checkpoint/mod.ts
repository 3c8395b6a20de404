/**
 * Checkpoints: safetensors files, Hugging Face checkpoint directories, and hub downloads.
 *
 * ```ts
 * import { loadCheckpoint } from "./lib/checkpoint/mod.ts";
 * const { tensors, config } = await loadCheckpoint("data/models/t5-small", expectedParameters);
 * ```
 *
 * @module
 */
export * from "./safetensors.ts";
export * from "./checkpoint.ts";
export * from "./download.ts";
