/**
 * T5 for FISH-DIP: configuration, model (forward, losses, gradients), greedy decoding and scoring.
 *
 * ```ts
 * import { createT5, parseT5Config, t5Generate, t5Loss } from "./lib/t5/mod.ts";
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./model.ts";
export * from "./generate.ts";
