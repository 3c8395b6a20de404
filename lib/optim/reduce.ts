/**
 * A sum of squares whose float32 rounding error does not grow with the tensor's size, on every
 * backend.
 *
 * Backends sum differently: tfjs's cpu kernel accumulates in float64, the wasm kernel in one
 * float32 accumulator (on a 2-million-entry embedding its ||x||_2 is off by 4e-4 relative), and
 * torch 1.13 on a CPU in eight float32 lanes (5e-5 on the same tensor). Adafactor's parameter
 * scale, its update clipping and global gradient-norm clipping all take such norms, so we sum in
 * blocks: first along the last axis (no copy), then repeatedly in blocks of {@link BLOCK} over the
 * partial sums. The error is then about eps32 × log(n), the same on cpu, wasm and webgpu.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Partial sums are added in blocks of this many values. */
export const BLOCK = 256;

/** Sum of the squares of all entries of `x`, as a float32 scalar. */
export function sumOfSquares(x: tf.Tensor): tf.Scalar {
  // tfjs-backend-wasm 4.22 returns uninitialised memory for the sum of an empty tensor.
  if (x.size === 0) return tf.scalar(0);
  return tf.tidy(() => {
    let v: tf.Tensor = x.rank >= 2 ? x.square().sum(-1).reshape([-1]) : x.square().reshape([-1]);
    while (v.size > BLOCK) {
      const padded = Math.ceil(v.size / BLOCK) * BLOCK;
      if (padded !== v.size) v = v.pad([[0, padded - v.size]]);
      v = v.reshape([-1, BLOCK]).sum(-1);
    }
    return v.sum() as tf.Scalar;
  });
}

/** ||x||_2 via {@link sumOfSquares}. */
export function l2Norm(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => sumOfSquares(x).sqrt() as tf.Scalar);
}
