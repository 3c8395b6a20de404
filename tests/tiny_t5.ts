/**
 * A T5 small enough to train dozens of steps in seconds on cpu, for the loop tests (trainer,
 * pretraining): 40 ids, d_model 16, one encoder and one decoder block, dropout on.
 *
 * @module
 */
import { parseT5Config } from "../lib/t5/config.ts";

export const TINY_T5 = parseT5Config({
  vocab_size: 40,
  d_model: 16,
  d_ff: 32,
  d_kv: 8,
  num_heads: 2,
  num_layers: 1,
  num_decoder_layers: 1,
  dropout_rate: 0.1,
});
