/**
 * Checkpoints: safetensors files, Hugging Face checkpoint directories, the Hugging Face cache, and
 * hub downloads.
 *
 * ```ts
 * import { loadCheckpoint } from "./mod.ts";
 * // Every parameter the model has, with its shape (the T5 module provides this list).
 * const expected = [{ name: "shared.weight", shape: [32128, 512] }];
 * const { tensors, config } = await loadCheckpoint("data/models/t5-small", expected);
 * ```
 *
 * @module
 */
export * from "./safetensors.ts";
export * from "./checkpoint.ts";
export * from "./download.ts";
export * from "./hf_cache.ts";
export * from "./hf_env.ts";
export * from "./locate.ts";
