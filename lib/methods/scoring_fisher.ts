/**
 * The Fisher's per-sample loop with the sums kept on the backend: each example's squared (or
 * absolute) gradient is added to a backend tensor per parameter, and the sums are read back once
 * at the end, instead of copying every gradient out (`await data()`) and summing it in
 * JavaScript per example. The numbers are the same bits as `accumulateFisher` (fishdip.ts): a
 * float32 square, then a float32 add, in the same example order.
 *
 * The price is a full-size copy of the model on the backend while the loop runs, which is why
 * `accumulateFisher` keeps its sums in JavaScript memory (a wasm heap holds 4 GiB in all); use
 * this one for models well below that ({@link FISHER_ON_BACKEND_BYTES}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModeOptions, TrainableModel, TrainingSet } from "./types.ts";

/** Parameter bytes up to which keeping the sums on the backend is cheap next to the model itself. */
export const FISHER_ON_BACKEND_BYTES = 512 * 2 ** 20;

/** Σ_i grad_i² (or Σ |grad_i|) over `indices`, each example alone, summed on the backend. */
export async function accumulateFisherOnBackend<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  indices: readonly number[],
  opts: ModeOptions & { gradType?: "square" | "absolute" },
): Promise<Map<string, Float32Array>> {
  const sums = fisherSumsOnBackend(model, data, indices, opts);
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, s] of sums) out.set(name, (await s.data()) as Float32Array);
    return out;
  } finally {
    tf.dispose([...sums.values()]);
  }
}

/**
 * The same sums left on the backend, one tensor per parameter in the model's order (the caller
 * disposes them): what a top-k on the backend (`device_mask.ts`) ranks without reading them back.
 * A parameter with no example gets zeros.
 */
export function fisherSumsOnBackend<E, B>(
  model: TrainableModel<B>,
  data: TrainingSet<E, B>,
  indices: readonly number[],
  opts: ModeOptions & { gradType?: "square" | "absolute" },
): Map<string, tf.Tensor> {
  const params = model.parameters();
  const sums = new Map<string, tf.Tensor>();
  const absolute = opts.gradType === "absolute";
  try {
    for (const i of [...indices].sort((a, b) => a - b)) {
      const { loss, grads } = model.lossAndGrads(data.collate([data.examples[i]]), {
        training: opts.training,
      });
      try {
        for (const name of params.keys()) {
          const g = grads.get(name);
          if (!g) throw new Error(`lossAndGrads returned no gradient for "${name}"`);
          const term = absolute ? tf.abs(g) : tf.square(g);
          const prev = sums.get(name);
          if (prev === undefined) sums.set(name, term);
          else {
            sums.set(name, prev.add(term));
            tf.dispose([prev, term]);
          }
        }
      } finally {
        loss.dispose();
        for (const g of grads.values()) g.dispose();
      }
    }
  } catch (e) {
    tf.dispose([...sums.values()]);
    throw e;
  }
  // Rebuilt in the model's order (a parameter no example reached gets zeros).
  const out = new Map<string, tf.Tensor>();
  for (const [name, v] of params) out.set(name, sums.get(name) ?? tf.zeros(v.shape));
  return out;
}
