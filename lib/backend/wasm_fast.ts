/**
 * Faster versions of the wasm backend's non-matmul kernels that dominate a training step once the
 * matrix products go to BLAS (measured on T5-mini, batch 8, 128+64 tokens, wasm+blas:
 * `scripts/profile_step.ts`).
 *
 * - `Identity` shares its input's memory (a reference count, as tfjs-backend-cpu does and as the
 *   wasm backend's own `Reshape` does) instead of copying it. The gradient tape clones every
 *   tensor it saves for the backward pass, so a T5-mini step ran ~700 copies (80 ms, 5% of the
 *   step), among them the [512, 32128] logits twice. Tensor memory is never written after its
 *   kernel returns, so sharing is safe. `Cast` to the dtype a tensor already has shares it too.
 * - `Sum` and `Mean` over leading or middle axes (a column reduction, e.g. Adafactor's mean over
 *   the rows of a [32128, 256] squared gradient, or a weight's gradient summed over batch and
 *   positions) run as a JavaScript loop that adds whole rows, directly on the heap. tfjs-wasm
 *   4.22 first transposes the reduced axes to the end (a strided copy), then reduces: 26 ms for
 *   the mean over the rows of [32128, 256] against 6 ms here. Rows are accumulated in float64,
 *   so the result is at least as accurate as the original kernel's float32 sum. With BLAS on
 *   (`wasm+blas`), every reduction over a contiguous block of axes, the last axis included, is a
 *   matrix-vector product with a vector of ones instead (`blasSumAxis` in `blas.ts`): 3 ms for
 *   either of the above, and for the cross-entropy's row sums over [512, 32128] (16 ms in wasm).
 *
 * Every kernel here calls the original one for cases it does not handle (other dtypes; without
 * BLAS, reductions over the last axis or over all axes, which the original does without a
 * transpose and as fast as a JavaScript loop),
 * and for all cases while `FISHDIP_WASM_STOCK=1` (or `setStockWasm(true)`) asks for tfjs's
 * kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { stockWasm } from "./wasm_kernels.ts";
import { blasHasSumAxis, blasSumAxis } from "./blas_kernels.ts";

/** The parts of tfjs-backend-wasm's `BackendWasm` that these kernels touch. */
interface WasmBackendLike {
  incRef(dataId: unknown): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Replaces the wasm kernel `name` with `make(original)`; a no-op when it is not registered. */
function wrapKernel(name: string, make: (orig: tf.KernelFunc) => tf.KernelFunc): void {
  const orig = tf.getKernel(name, "wasm");
  if (!orig) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...orig, kernelFunc: make(orig.kernelFunc) });
}

/** Zero-copy identity: the output shares the input's data (see the module comment). */
function identityKernel(orig: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (stockWasm() || x.dtype === "string" || x.dtype === "complex64") return orig(args);
    (args.backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** `Cast` to the input's own dtype (T5's `toFloat()` on float tensors) shares it, as `Identity`. */
function castKernel(orig: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    if (stockWasm() || dtype !== x.dtype || x.dtype === "string" || x.dtype === "complex64") {
      return orig(args);
    }
    (args.backend as unknown as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * A reduction over one contiguous block of axes `[first, last]`, as the sizes of the array viewed
 * as [outer, reduced, inner] (inner = 1 when the block ends at the last axis); undefined for
 * non-contiguous axes or a scalar.
 */
export function contiguousReduction(
  shape: readonly number[],
  axis: number | number[] | null | undefined,
): { outer: number; reduced: number; inner: number; first: number; last: number } | undefined {
  const rank = shape.length;
  if (rank === 0) return undefined;
  // tfjs passes `axis: null` for a reduction over every axis (`x.sum()`).
  const axes = axis === undefined || axis === null
    ? shape.map((_, i) => i)
    : (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a));
  if (axes.length === 0 || axes.some((a) => !Number.isInteger(a) || a < 0 || a >= rank)) return undefined;
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const first = sorted[0], last = sorted[sorted.length - 1];
  if (last - first + 1 !== sorted.length) return undefined;
  const prod = (from: number, to: number) => shape.slice(from, to).reduce((a, b) => a * b, 1);
  return { outer: prod(0, first), reduced: prod(first, last + 1), inner: prod(last + 1, rank), first, last };
}

/**
 * {@link contiguousReduction} when the block does not end at the last axis (a column reduction,
 * which tfjs-wasm transposes first); undefined otherwise.
 */
export function middleReduction(
  shape: readonly number[],
  axis: number | number[] | null | undefined,
): { outer: number; reduced: number; inner: number; first: number; last: number } | undefined {
  const plan = contiguousReduction(shape, axis);
  return plan && plan.last < shape.length - 1 ? plan : undefined;
}

/** Rows below this width go to the original kernel (the row loop would not pay off). */
const MIN_INNER = 8;

let scratch = new Float64Array(1024);

/**
 * out[o, i] = scale · Σ_r x[o, r, i] for x viewed as [outer, reduced, inner], accumulating in
 * float64. Exposed for tests.
 */
export function sumMiddle(
  x: ArrayLike<number>,
  outer: number,
  reduced: number,
  inner: number,
  scale: number,
  out: Float32Array,
): void {
  if (scratch.length < inner) scratch = new Float64Array(inner);
  const acc = scratch;
  for (let o = 0; o < outer; o++) {
    acc.fill(0, 0, inner);
    let base = o * reduced * inner;
    for (let r = 0; r < reduced; r++, base += inner) {
      for (let j = 0; j < inner; j++) acc[j] += x[base + j];
    }
    const ob = o * inner;
    for (let j = 0; j < inner; j++) out[ob + j] = acc[j] * scale;
  }
}

/**
 * `Sum` (mean = false) or `Mean` (true): with BLAS on (`wasm+blas`), any reduction over a
 * contiguous block of axes as matrix-vector products ({@link blasSumAxis}); otherwise column
 * reductions with the row loop {@link sumMiddle}, and the rest with the original kernel.
 */
function reduceKernel(orig: tf.KernelFunc, mean: boolean): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[] | null; keepDims: boolean };
    if (stockWasm() || x.dtype !== "float32") return orig(args);
    const plan = contiguousReduction(x.shape, axis);
    if (!plan || plan.outer * plan.reduced * plan.inner === 0) return orig(args);
    const { outer, reduced, inner, first, last } = plan;
    const blas = blasHasSumAxis();
    if (!blas && inner < MIN_INNER) return orig(args); // last axis: as fast in wasm, no transpose
    const kept = x.shape.map((d, i) => (i >= first && i <= last ? 1 : d));
    const outShape = keepDims ? kept : kept.filter((_, i) => i < first || i > last);
    const backend = args.backend as unknown as WasmBackendLike;
    // Allocate first: growing the wasm memory would detach views taken before.
    const out = backend.makeOutput(outShape, "float32");
    const xs = backend.typedArrayFromHeap(x) as Float32Array;
    const os = backend.typedArrayFromHeap(out) as Float32Array;
    const scale = mean ? 1 / reduced : 1;
    if (blas && inner === 1) {
      blasSumAxis(xs, outer, reduced, false, scale, os);
    } else if (blas) {
      for (let o = 0; o < outer; o++) {
        const block = reduced * inner;
        blasSumAxis(
          xs.subarray(o * block, (o + 1) * block),
          reduced,
          inner,
          true,
          scale,
          os.subarray(o * inner, (o + 1) * inner),
        );
      }
    } else {
      sumMiddle(xs, outer, reduced, inner, scale, os);
    }
    return out;
  };
}

/**
 * out[o, i, :] = x[o, idx[i], :] for x viewed as [outer, dim, slice]; false (nothing written
 * past the check) when an index is outside [0, dim), so that the caller can let the original
 * kernel raise its error. Exposed for tests.
 */
export function gatherRows(
  x: Float32Array | Int32Array,
  idx: ArrayLike<number>,
  outer: number,
  dim: number,
  slice: number,
  out: Float32Array | Int32Array,
): boolean {
  const n = idx.length;
  for (let i = 0; i < n; i++) {
    const v = idx[i];
    if (!(v >= 0 && v < dim)) return false;
  }
  for (let o = 0; o < outer; o++) {
    const xb = o * dim * slice, ob = o * n * slice;
    for (let i = 0; i < n; i++) {
      const src = xb + idx[i] * slice, dst = ob + i * slice;
      if (slice >= 64) out.set(x.subarray(src, src + slice), dst);
      else for (let j = 0; j < slice; j++) out[dst + j] = x[src + j];
    }
  }
  return true;
}

/**
 * `GatherV2` without batch dimensions, as a row copy on the heap. tfjs-wasm 4.22 checks every
 * index through an assertion that builds a closure per index, then gathers through a generic
 * strided loop: a T5-mini step's position-bias lookups ([32, 8] table, 128×128 ids) took 6 ms and
 * the [32128, 256] embedding lookup 9 ms; here well under a millisecond each.
 */
function gatherKernel(orig: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    const rank = x.shape.length;
    const ax = axis < 0 ? axis + rank : axis;
    if (
      stockWasm() || (batchDims ?? 0) !== 0 || rank === 0 || !(ax >= 0 && ax < rank) ||
      (x.dtype !== "float32" && x.dtype !== "int32") || indices.dtype !== "int32"
    ) return orig(args);
    const outer = x.shape.slice(0, ax).reduce((a, b) => a * b, 1);
    const slice = x.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
    const dim = x.shape[ax];
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    if (outShape.reduce((a, b) => a * b, 1) === 0 || dim === 0) return orig(args);
    const backend = args.backend as unknown as WasmBackendLike & { disposeData(id: unknown): boolean };
    const out = backend.makeOutput(outShape, x.dtype);
    const ok = gatherRows(
      backend.typedArrayFromHeap(x) as Float32Array | Int32Array,
      backend.typedArrayFromHeap(indices) as Int32Array,
      outer,
      dim,
      slice,
      backend.typedArrayFromHeap(out) as Float32Array | Int32Array,
    );
    if (ok) return out;
    backend.disposeData(out.dataId);
    return orig(args); // raises tfjs's out-of-range error
  };
}

let registered = false;

/**
 * Installs the fast kernels over the wasm backend's originals (idempotent). Call after the wasm
 * backend is registered; they defer to the originals while stock kernels are asked for.
 */
export function registerFastWasmKernels(): void {
  if (registered) return;
  registered = true;
  wrapKernel("Identity", identityKernel);
  wrapKernel("Cast", castKernel);
  wrapKernel("GatherV2", gatherKernel);
  wrapKernel("Sum", (orig) => reduceKernel(orig, false));
  wrapKernel("Mean", (orig) => reduceKernel(orig, true));
}
