/**
 * Kernels the tfjs wasm backend lacks, registered so that the same model code trains everywhere.
 *
 * tfjs-backend-wasm 4.22 has no `UnsortedSegmentSum`, which is what the gradient of `tf.gather`
 * (an embedding lookup) calls. Without it, backpropagation through an embedding fails on wasm
 * with "Kernel 'UnsortedSegmentSum' not registered". The kernel below computes it in plain
 * JavaScript directly on the wasm heap: it is a scatter-add of `n` rows into `numSegments` rows,
 * memory-bound and cheap next to the matrix products of a training step.
 *
 * It also replaces the broadcasting path of the comparison kernels (`Equal`, `NotEqual`, `Less`,
 * …). tfjs-backend-wasm 4.22 computes a broadcast comparison through a generic per-element index
 * mapping that costs about 230 ns per element: `equal([512, 32128], [512, 1])`, which the gradient
 * of `tf.logSumExp` (through `max`) runs on T5's logits, took 3.8 s, 44% of a T5-mini training
 * step on wasm+blas. A JavaScript loop over the same heap memory takes tens of milliseconds. Equal
 * shapes still go to the wasm kernel (it is fast there).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface WasmBackendLike {
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** The comparison kernels given a fast path for broadcasting. */
type CmpOp = "Equal" | "NotEqual" | "Less" | "LessEqual" | "Greater" | "GreaterEqual";
const COMPARISONS: readonly CmpOp[] = ["Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual"];

/** `cmp(y, x)` expressed as `cmp'(x, y)`, so that the loops below always put `big` first. */
const MIRRORED: Record<CmpOp, CmpOp> = {
  Equal: "Equal",
  NotEqual: "NotEqual",
  Less: "Greater",
  LessEqual: "GreaterEqual",
  Greater: "Less",
  GreaterEqual: "LessEqual",
};

/**
 * If `small` broadcasts against `big` along trailing axes only (its shape, left-padded with 1s,
 * is a prefix of `big`'s followed by 1s; a scalar is the extreme case), the number of elements
 * each value of `small` covers; else undefined.
 */
export function trailingBroadcastSpan(big: readonly number[], small: readonly number[]): number | undefined {
  if (small.length > big.length) return undefined;
  const padded = [...new Array(big.length - small.length).fill(1), ...small];
  let i = padded.length;
  let span = 1;
  while (i > 0 && padded[i - 1] === 1) span *= big[--i];
  for (let j = 0; j < i; j++) if (padded[j] !== big[j]) return undefined;
  return span;
}

/**
 * out[i] = op(big[i], small[floor(i / span)]) (or op(small[…], big[i]) when `swapped`), as 0/1
 * bytes. One monomorphic loop per operator: a shared loop calling a predicate per element ran
 * 5-10× slower (the call site sees six functions and V8 stops inlining).
 */
export function compareBroadcast(
  big: ArrayLike<number>,
  small: ArrayLike<number>,
  span: number,
  op: CmpOp,
  swapped: boolean,
  out: Uint8Array,
): void {
  const o = swapped ? MIRRORED[op] : op;
  const n = out.length;
  for (let r = 0, base = 0; base < n; r++, base += span) {
    const v = small[r], end = base + span;
    switch (o) {
      case "Equal":
        for (let j = base; j < end; j++) out[j] = big[j] === v ? 1 : 0;
        break;
      case "NotEqual":
        for (let j = base; j < end; j++) out[j] = big[j] !== v ? 1 : 0;
        break;
      case "Less":
        for (let j = base; j < end; j++) out[j] = big[j] < v ? 1 : 0;
        break;
      case "LessEqual":
        for (let j = base; j < end; j++) out[j] = big[j] <= v ? 1 : 0;
        break;
      case "Greater":
        for (let j = base; j < end; j++) out[j] = big[j] > v ? 1 : 0;
        break;
      case "GreaterEqual":
        for (let j = base; j < end; j++) out[j] = big[j] >= v ? 1 : 0;
        break;
    }
  }
}

function registerFastComparisons(): void {
  for (const name of COMPARISONS) {
    const orig = tf.getKernel(name, "wasm");
    if (!orig) continue;
    const inner = orig.kernelFunc;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      ...orig,
      kernelFunc: (args) => {
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const sa = a.shape, sb = b.shape;
        const same = sa.length === sb.length && sa.every((d, i) => d === sb[i]);
        if (stock || same || a.dtype === "string" || b.dtype === "string") return inner(args);
        const sizeA = sa.reduce((x, y) => x * y, 1), sizeB = sb.reduce((x, y) => x * y, 1);
        const swapped = sizeB > sizeA; // `big` is the operand with the output's shape
        const big = swapped ? b : a, small = swapped ? a : b;
        const span = trailingBroadcastSpan(big.shape, small.shape);
        if (span === undefined || big.shape.length < small.shape.length) return inner(args);
        const backend = args.backend as unknown as WasmBackendLike;
        // Allocate first: growing the wasm memory would detach views taken before.
        const out = backend.makeOutput([...big.shape], "bool");
        const o = backend.typedArrayFromHeap(out) as Uint8Array;
        if (o.length === 0) return out;
        compareBroadcast(
          backend.typedArrayFromHeap(big),
          backend.typedArrayFromHeap(small),
          span,
          name,
          swapped,
          o,
        );
        return out;
      },
    });
  }
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
let stock = (() => {
  try {
    return Deno.env.get("FISHDIP_WASM_STOCK") === "1";
  } catch {
    return false;
  }
})();

/**
 * With `true`, the wasm backend behaves as stock tfjs 4.22 for speed: the fast broadcasting
 * comparisons here, the untransposed matMul and the BLAS reductions of `blas.ts`, and the kernels
 * of `wasm_fast.ts` (zero-copy Identity/Cast, row-loop Sum/Mean, GatherV2) step aside
 * (correctness fixes stay).
 * For before/after measurements; the default comes from `FISHDIP_WASM_STOCK=1`.
 */
export function setStockWasm(on: boolean): void {
  stock = on;
}

/** Whether {@link setStockWasm} is on. */
export function stockWasm(): boolean {
  return stock;
}

/**
 * Registers the missing wasm kernels and the fast broadcasting comparisons (idempotent). Call
 * after the wasm backend is registered.
 */
export function registerWasmExtras(): void {
  if (registered) return;
  registered = true;
  registerFastComparisons();
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
