/**
 * The shape of the offline backbone: t5-mini, T5 v1.0 (ReLU feed-forward, tied embeddings),
 * d_model 256, d_ff 1024, 8 heads of 32, 4 + 4 layers, as a Hugging Face `config.json`.
 *
 * @module
 */

/** The `config.json` of the t5-mini shape with `vocabSize` entries in the embedding. */
export function miniConfig(vocabSize: number): Record<string, unknown> {
  return {
    architectures: ["T5ForConditionalGeneration"],
    model_type: "t5",
    vocab_size: vocabSize,
    d_model: 256,
    d_kv: 32,
    d_ff: 1024,
    num_layers: 4,
    num_decoder_layers: 4,
    num_heads: 8,
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    dropout_rate: 0.1,
    layer_norm_epsilon: 1e-6,
    initializer_factor: 1.0,
    feed_forward_proj: "relu",
    tie_word_embeddings: true,
    is_encoder_decoder: true,
    pad_token_id: 0,
    eos_token_id: 1,
    decoder_start_token_id: 0,
  };
}
