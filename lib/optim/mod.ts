/**
 * Optimisation for FISH-DIP: Hugging Face's Adafactor (FISH-DIP's settings as defaults), the
 * Trainer's linear learning-rate decay, and global gradient-norm clipping.
 *
 * @module
 */
export * from "./adafactor.ts";
export * from "./schedule.ts";
export * from "./clip.ts";
export { l2Norm, sumOfSquares } from "./reduce.ts";
