/**
 * Global gradient-norm clipping, as `torch.nn.utils.clip_grad_norm_` with the 2-norm, which
 * Hugging Face's `Trainer` applies (`max_grad_norm` 1.0 by default) after FISH-DIP has masked the
 * gradients and before `optimizer.step()`.
 *
 * ```text
 * total_norm = || [ ||g_1||_2, ||g_2||_2, ... ] ||_2
 * coef = max_norm / (total_norm + 1e-6);  if coef < 1: every g_i *= coef
 * ```
 *
 * Computed with tensor ops only (no data read), so it never blocks a GPU pipeline; multiplying by
 * min(coef, 1) is bit-identical to torch's "multiply only if coef < 1", because x × 1 = x exactly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { l2Norm } from "./reduce.ts";

/** torch's `clip_grad_norm_` guard added to the norm before dividing. */
export const CLIP_NORM_EPS = 1e-6;

/**
 * Clips the gradients in `grads` in place: each clipped tensor replaces its entry in the map and
 * the old tensor is disposed (the map owns its tensors). Returns the total norm before clipping,
 * a scalar tensor the caller must dispose.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm = 1.0): tf.Scalar {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const names = [...grads.keys()];
  if (names.length === 0) return tf.scalar(0);
  const { total, coef } = tf.tidy(() => {
    const norms = names.map((n) => l2Norm(grads.get(n)!));
    const total = l2Norm(tf.stack(norms));
    const coef = tf.minimum(tf.scalar(maxNorm).div(total.add(CLIP_NORM_EPS)), 1) as tf.Scalar;
    return { total, coef };
  });
  // One tensor at a time, so the peak is one extra gradient rather than a second full set.
  for (const n of names) {
    const g = grads.get(n)!;
    grads.set(n, g.mul(coef));
    g.dispose();
  }
  coef.dispose();
  return total;
}
