/**
 * Kernels the tfjs wasm backend lacks, registered so that the same model code trains everywhere.
 *
 * tfjs-backend-wasm 4.22 has no `UnsortedSegmentSum`, which is what the gradient of `tf.gather`
 * (an embedding lookup) calls. Without it, backpropagation through an embedding fails on wasm
 * with "Kernel 'UnsortedSegmentSum' not registered". The kernel below computes it in plain
 * JavaScript directly on the wasm heap: it is a scatter-add of `n` rows into `numSegments` rows,
 * memory-bound and cheap next to the matrix products of a training step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Sums the rows of `x` into `numSegments` output rows chosen by `segmentIds` (ids outside
 * `[0, numSegments)` are dropped, as in TensorFlow).
 */
export function unsortedSegmentSumRows(
  x: ArrayLike<number>,
  xShape: number[],
  segmentIds: ArrayLike<number>,
  numSegments: number,
  out: Float32Array | Int32Array,
): void {
  const n = segmentIds.length;
  const inner = n === 0 ? 0 : xShape.reduce((a, b) => a * b, 1) / n;
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const s = segmentIds[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner, dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
}

let registered = false;

/** Registers the missing wasm kernels (idempotent). Call after the wasm backend is registered. */
export function registerWasmExtras(): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel("UnsortedSegmentSum", "wasm") !== undefined) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackendLike;
      const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
      const out = b.makeOutput(outShape, x.dtype);
      // Read inputs after allocating the output: allocation may grow (and move) the wasm heap.
      const xs = b.readSync(x.dataId);
      const ids = b.readSync(segmentIds.dataId);
      const outArr = b.typedArrayFromHeap(out) as Float32Array | Int32Array;
      unsortedSegmentSumRows(xs, x.shape, ids, numSegments, outArr);
      return out;
    },
  });
}
