/**
 * A fused kernel for the loss of the output projection when no gradient is wanted (FISH-DIP's
 * scoring pass, evaluation losses): for logits (n, V) and labels (n, int32), the loss of each row,
 * logsumexp(row) − row[label], in one kernel that reads the logits twice (row maximum, then the sum
 * of exponentials) and writes n floats.
 *
 * Composed from tfjs ops, the same loss materialises two more (n, V) tensors (logits − max and
 * their exponentials) and runs four passes over them; on t5-small's scoring pass (32 × 64 labels,
 * V = 32128) wasm's `Exp`, `Max` and `Sub` took 530 of 4200 ms. Here the exponentials are a
 * table-driven polynomial in float64 (relative error below 1e-8) summed in float64, so the result
 * differs from the composed float32 ops only by their rounding.
 *
 * The kernel is registered under {@link ROW_CROSS_ENTROPY} for the wasm backend (directly on the
 * heap) and for the cpu backend; other backends (webgpu) keep the composed ops, and so does any
 * caller when {@link setRowCrossEntropyKernel} turns it off (for comparisons).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The kernel's name in tfjs's registry. */
export const ROW_CROSS_ENTROPY = "FishdipRowCrossEntropy";

/** Exponents below this are clamped: e^-104 is below float32's smallest denormal. */
const LOWEST = 104;
/** Table steps per octave: 2^(-j/16). */
const STEPS = 16;
const SCALE = STEPS / Math.LN2, STEP = Math.LN2 / STEPS;
const TABLE = Float64Array.from({ length: Math.ceil(LOWEST * SCALE) + 2 }, (_, j) => 2 ** (-j / STEPS));
/** Adding and subtracting 1.5·2^52 rounds a float64 of magnitude below 2^51 to the nearest integer. */
const ROUND = 6755399441055744;

/**
 * logsumexp of x[start, end): the maximum, then the float64 sum of e^(x − max), each 2^(k/16)
 * from the table times a degree-3 polynomial in the remainder |r| ≤ ln 2 / 32 (relative error
 * below 1e-8). A NaN or +∞ value makes some x − max NaN, and so the result.
 */
function logSumExp(x: Float32Array, start: number, end: number): number {
  let max = -Infinity;
  for (let j = start; j < end; j++) if (x[j] > max) max = x[j];
  let acc = 0;
  for (let j = start; j < end; j++) {
    let v = x[j] - max;
    v = v < -LOWEST ? -LOWEST : v; // and v ≤ 0, so k ≤ 0 below
    const k = (v * SCALE + ROUND) - ROUND;
    const r = v - k * STEP;
    acc += (1 + r * (1 + r * (0.5 + r * (1 / 6)))) * TABLE[-k | 0];
  }
  return max + Math.log(acc);
}

/**
 * out[i] = logsumexp(logits[i, :]) − logits[i, labels[i]] for logits viewed as (labels.length,
 * vocab). Throws on a label outside [0, vocab). A row with a NaN or +∞ logit gets NaN.
 */
export function rowCrossEntropy(
  logits: Float32Array,
  vocab: number,
  labels: ArrayLike<number>,
  out: Float32Array,
): void {
  checkLabels(labels, vocab);
  for (let i = 0; i < labels.length; i++) {
    const start = i * vocab;
    out[i] = logSumExp(logits, start, start + vocab) - logits[start + labels[i]];
  }
}

let kernelOn = true;

/** Turns the fused kernel on (default) or off; off, callers compose the loss from tfjs ops. */
export function setRowCrossEntropyKernel(on: boolean): void {
  kernelOn = on;
}

/** Whether the fused kernel is on and registered for the active backend. */
export function hasRowCrossEntropyKernel(): boolean {
  return kernelOn && tf.getKernel(ROW_CROSS_ENTROPY, tf.getBackend()) !== undefined;
}

/** Per-row losses (n) of logits (n, V) and int32 labels (n) through the fused kernel. */
export function rowCrossEntropyOp(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.engine().runKernel(ROW_CROSS_ENTROPY, { logits, labels }, {}) as tf.Tensor1D;
}

/** The parts of tfjs-backend-wasm's and tfjs-backend-cpu's backends that the kernel touches. */
interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array;
}
interface CpuLike {
  data: { get(dataId: unknown): { values: Float32Array | Int32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function operands(
  args: KernelArgs,
): { logits: tf.TensorInfo; labels: tf.TensorInfo; n: number; vocab: number } {
  const { logits, labels } = args.inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
  if (logits.shape.length !== 2 || logits.dtype !== "float32" || labels.dtype !== "int32") {
    throw new Error(`${ROW_CROSS_ENTROPY} takes float32 logits (n, V) and int32 labels (n)`);
  }
  const [n, vocab] = logits.shape;
  if (labels.shape.length !== 1 || labels.shape[0] !== n) {
    throw new Error(`${ROW_CROSS_ENTROPY}: ${labels.shape[0]} labels for ${n} rows`);
  }
  return { logits, labels, n, vocab };
}

/** Throws on a label outside [0, vocab) before any output is allocated. */
function checkLabels(labels: ArrayLike<number>, vocab: number): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(l >= 0 && l < vocab)) throw new Error(`label ${l} outside [0, ${vocab})`);
  }
}

let registered = false;

/** Registers the kernel for the wasm and cpu backends (idempotent; done when this module loads). */
export function registerRowCrossEntropyKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: ROW_CROSS_ENTROPY,
    backendName: "wasm",
    kernelFunc: (args) => {
      const { logits, labels, n, vocab } = operands(args);
      const backend = args.backend as unknown as WasmLike;
      checkLabels(backend.typedArrayFromHeap(labels), vocab);
      const out = backend.makeOutput([n], "float32"); // before the views: it may grow (and move) the heap
      rowCrossEntropy(
        backend.typedArrayFromHeap(logits) as Float32Array,
        vocab,
        backend.typedArrayFromHeap(labels),
        backend.typedArrayFromHeap(out) as Float32Array,
      );
      return out;
    },
  });
  tf.registerKernel({
    kernelName: ROW_CROSS_ENTROPY,
    backendName: "cpu",
    kernelFunc: (args) => {
      const { logits, labels, n, vocab } = operands(args);
      const backend = args.backend as unknown as CpuLike;
      const out = new Float32Array(n);
      rowCrossEntropy(
        backend.data.get(logits.dataId).values as Float32Array,
        vocab,
        backend.data.get(labels.dataId).values,
        out,
      );
      return backend.makeTensorInfo([n], "float32", out);
    },
  });
}

registerRowCrossEntropyKernels();
