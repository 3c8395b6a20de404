/**
 * Backend parity: every op the T5 model uses gives the same values on cpu (the reference), wasm,
 * wasm+blas and webgpu, within float32 tolerances stated per case.
 *
 * Tolerances are checked as `max|x − ref| ≤ atol + rtol · max|ref|`: relative to the largest
 * magnitude of the reference, because the backends differ by rounding, whose size scales with the
 * values. Float32 has ε ≈ 1.2e-7. The budgets, and why:
 *
 * - Elementwise ops and data movement (transpose, reshape, concat, slice, gather, oneHot, where,
 *   relu): 0, bit-identical. They either copy values or do one correctly rounded operation.
 * - Matrix products and sums over K terms: the backends accumulate in different orders (blocked,
 *   SIMD lanes, FMA), each order's error bounded by about K·ε·Σ|a·b|, with a typical size of
 *   √K·ε. rtol 1e-5 covers K up to a few hundred with a 10× margin.
 * - Transcendentals (exp, log, tanh, rsqrt) inside softmax, log-softmax, GELU and RMS norm: the
 *   backends use different approximations (V8's libm on cpu, emscripten's libm or XNNPACK on wasm,
 *   the GPU driver's on webgpu); a few ulp each, so rtol 1e-5 (2e-5 where they chain).
 * - Gradients and whole attention blocks chain several of the above: rtol 5e-5.
 *
 * Observed on 28 Nov 2026 (tfjs 4.22, lavapipe, OpenBLAS 0.3.21): the largest relative difference
 * of any case on any backend was 9.4e-7 (attention block gradients), so every budget has at
 * least a 10× margin. `FISHDIP_PARITY_VERBOSE=1` prints the observed differences.
 *
 * webgpu runs only when an adapter exists (here lavapipe, Mesa's software Vulkan); wasm+blas only
 * when a BLAS library loads (`FISHDIP_BLAS_LIB` or Debian's libopenblas0). Otherwise those tests are
 * ignored with a note. On webgpu, values are read with `await t.data()` (synchronous reads fail).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assert } from "@std/assert";
import { type BackendName, initBackend, probeWebGpu } from "../../lib/backend/mod.ts";
import { blasLoads } from "../support.ts";
import { blasCallCounts } from "../../lib/backend/blas_kernels.ts";

// Silences the Vulkan loader's "XDG_RUNTIME_DIR is invalid" lines when the variable is unset
// (scripts/test.sh sets it; a bare `deno test` may not). Must precede the adapter probe.
if (!Deno.env.get("XDG_RUNTIME_DIR")) {
  const dir = Deno.makeTempDirSync({ prefix: "xdg-" });
  Deno.chmodSync(dir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}

const webgpu = await probeWebGpu();
const blasLoaded = blasLoads();
if (!webgpu) console.error("note: no WebGPU adapter; webgpu parity tests are ignored");
if (!blasLoaded) console.error("note: no BLAS library loaded; wasm+blas parity tests are ignored");

// ---------------------------------------------------------------------------------------------
// Deterministic inputs (plain arrays, so every backend builds its tensors from the same bits).

function rng(seed: number): () => number {
  // mulberry32
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let seedCounter = 1;
/** Normal(0, std) float32 values of the given shape. */
function normal(shape: number[], std = 1): { v: Float32Array; shape: number[] } {
  const r = rng(seedCounter++ * 7919);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - r(), w = r();
    v[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
  }
  return { v, shape };
}

function ints(shape: number[], max: number): { v: Int32Array; shape: number[] } {
  const r = rng(seedCounter++ * 104729);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Int32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.floor(r() * max);
  return { v, shape };
}

const T = (x: { v: Float32Array; shape: number[] }) => tf.tensor(x.v, x.shape, "float32");
const I = (x: { v: Int32Array; shape: number[] }) => tf.tensor(x.v, x.shape, "int32");

// ---------------------------------------------------------------------------------------------
// The ops, written as the T5 model uses them.

/** T5's RMS norm: x · rsqrt(mean(x²) + ε) · scale (no mean subtraction, no bias). */
function rmsNorm(x: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return x.mul(x.square().mean(-1, true).add(1e-6).rsqrt()).mul(scale);
}

/** GELU, tanh approximation (HF `gelu_new`). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(inner.tanh().add(1));
}

/** Mean cross-entropy over non-pad labels, through log-softmax (as the T5 loss computes it). */
function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, vocab: number): tf.Tensor {
  const logp = tf.logSoftmax(logits, -1);
  const picked = logp.mul(tf.oneHot(labels, vocab)).sum(-1);
  const keep = tf.notEqual(labels, 0).toFloat();
  return picked.mul(keep).sum().neg().div(keep.sum());
}

/** Multi-head attention as in T5 (no 1/√d scaling; additive mask; position bias). */
function attention(
  x: tf.Tensor, // [b, s, d]
  wq: tf.Tensor,
  wk: tf.Tensor,
  wv: tf.Tensor,
  wo: tf.Tensor,
  bias: tf.Tensor, // [1, h, s, s]
  mask: tf.Tensor, // [b, 1, 1, s] bool: true = attend
  heads: number,
): tf.Tensor {
  const [b, s, d] = x.shape;
  const dk = wq.shape[1]! / heads;
  const split = (t: tf.Tensor) => t.reshape([b, s, heads, dk]).transpose([0, 2, 1, 3]);
  const x2 = x.reshape([b * s, d]);
  const q = split(x2.matMul(wq)), k = split(x2.matMul(wk)), v = split(x2.matMul(wv));
  let scores = tf.matMul(q, k, false, true).add(bias);
  scores = tf.where(mask, scores, tf.fill(scores.shape, -1e9));
  const probs = tf.softmax(scores, -1);
  const ctx = tf.matMul(probs, v).transpose([0, 2, 1, 3]).reshape([b * s, heads * dk]);
  return ctx.matMul(wo).reshape([b, s, d]);
}

interface Case {
  name: string;
  /** Relative tolerance (of the reference's largest magnitude); see the module comment. */
  rtol: number;
  /** Absolute slack for results whose reference is all zeros or tiny. */
  atol?: number;
  /** Builds the outputs on the current backend. */
  run: () => tf.Tensor[];
}

const EXACT = 0, MATMUL = 1e-5, TRANSC = 1e-5, CHAINED = 2e-5, GRAD = 5e-5;

const A = normal([64, 96]), B = normal([96, 48]), At = normal([96, 64]), Bt = normal([48, 96]);
const Q = normal([2, 4, 16, 8]), K = normal([2, 4, 16, 8]), V = normal([2, 4, 16, 8]);
const KT = normal([2, 4, 8, 16]), GAB = normal([64, 48]);
const P3 = normal([1, 16, 8]), R3 = normal([6, 8, 5]), S3 = normal([6, 16, 8]), W2 = normal([8, 5]);
const SC = normal([2, 4, 16, 16], 3);
const MASKI = ints([2, 1, 1, 16], 4); // 0 = masked (about a quarter)
const EMB = normal([50, 16]), IDS = ints([4, 12], 50), DY = normal([4, 12, 16]);
const X = normal([4, 12, 32]), SCALE = normal([32], 0.5), G = normal([4, 12, 32]);
const LOGITS = normal([4, 12, 50], 2), LABELS = ints([4, 12], 50);
const WQ = normal([32, 32], 0.2), WK = normal([32, 32], 0.2), WV = normal([32, 32], 0.2);
const WO = normal([32, 32], 0.2), PB = normal([1, 4, 12, 12]), AMASK = ints([4, 1, 1, 12], 5);
const FB = normal([48]), normalFixed = normal([4, 12]);
const Y3 = normal([8, 16, 64]); // above wasm_fast.ts's size for reductions through BLAS

const maskOf = (m: { v: Int32Array; shape: number[] }) => tf.notEqual(I(m), 0);

const CASES: Case[] = [
  { name: "matMul [64,96]x[96,48]", rtol: MATMUL, run: () => [tf.matMul(T(A), T(B))] },
  { name: "matMul transposeA", rtol: MATMUL, run: () => [tf.matMul(T(At), T(B), true, false)] },
  { name: "matMul transposeB", rtol: MATMUL, run: () => [tf.matMul(T(A), T(Bt), false, true)] },
  { name: "matMul transposeA+B", rtol: MATMUL, run: () => [tf.matMul(T(At), T(Bt), true, true)] },
  {
    name: "batched matMul q·kᵀ [2,4,16,8] (transposeB)",
    rtol: MATMUL,
    run: () => [tf.matMul(T(Q), T(K), false, true)],
  },
  { name: "batched matMul probs·v", rtol: MATMUL, run: () => [tf.matMul(T(SC), T(V))] },
  {
    name: "batched matMul transposeA (as in gradients)",
    rtol: MATMUL,
    run: () => [tf.matMul(T(Q), T(K), true, false), tf.matMul(T(Q), T(KT), true, true)],
  },
  {
    name: "batched matMul broadcast: batch 1 against 6, and rank 3 against rank 2",
    rtol: MATMUL,
    run: () => [tf.matMul(T(P3), T(R3)), tf.matMul(T(S3), T(W2)), tf.matMul(T(S3), T(W2).expandDims(0))],
  },
  {
    name: "matMul gradients (dA, dB) of sum(A·B·G)",
    rtol: GRAD,
    run: () => {
      const g = T(GAB);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b).mul(g).sum())([T(A), T(B)]);
    },
  },
  {
    name: "fused matMul + bias + relu",
    rtol: MATMUL,
    run: () => [
      tf.fused.matMul({ a: T(A), b: T(B), bias: T(FB), activation: "relu" }),
      tf.fused.matMul({ a: T(A), b: T(Bt), transposeB: true, bias: T(FB) }),
    ],
  },
  { name: "softmax over last axis", rtol: TRANSC, run: () => [tf.softmax(T(SC), -1)] },
  { name: "logSoftmax over last axis", rtol: TRANSC, run: () => [tf.logSoftmax(T(LOGITS), -1)] },
  {
    name: "where / additive masking then softmax",
    rtol: TRANSC,
    run: () => {
      const s = T(SC), m = maskOf(MASKI);
      const w = tf.where(m, s, tf.fill(s.shape, -1e9));
      const add = s.add(tf.sub(1, m.toFloat()).mul(-1e4));
      return [w, add, tf.softmax(w, -1)];
    },
  },
  {
    name: "comparisons with broadcasting (the max/logSumExp gradient pattern)",
    rtol: EXACT,
    run: () => {
      const x = T(LOGITS), m = x.max(-1, true), r = T(X).slice([0, 0, 0], [4, 12, 1]);
      const bool = (t: tf.Tensor) => t.toFloat();
      return [
        bool(tf.equal(x, m)),
        bool(tf.notEqual(m, x)),
        bool(tf.less(x, 0)),
        bool(tf.greaterEqual(T(X), r)),
        bool(tf.lessEqual(r, T(X))),
        bool(tf.greater(tf.scalar(0.5), T(X))),
        bool(tf.equal(I(IDS), tf.scalar(7, "int32"))),
      ];
    },
  },
  {
    name: "logSumExp and its gradient (the T5 loss's path)",
    rtol: GRAD,
    run: () => [
      tf.logSumExp(T(LOGITS), -1),
      tf.grad((l: tf.Tensor) => tf.logSumExp(l, -1).mul(T(normalFixed)).sum())(T(LOGITS)),
    ],
  },
  { name: "gather (embedding lookup)", rtol: EXACT, run: () => [tf.gather(T(EMB), I(IDS))] },
  {
    name: "gather on other axes, of int32 values, and a float32 cast that changes nothing",
    rtol: EXACT,
    run: () => [
      tf.gather(T(X), tf.tensor2d([[1, 11, 3], [0, 7, 7]], undefined, "int32"), 1),
      tf.gather(T(X), tf.tensor1d([31, 0, 5, 5], "int32"), -1),
      tf.gather(I(IDS), tf.tensor1d([3, 1], "int32")).toFloat(),
      T(X).cast("float32"),
    ],
  },
  {
    name: "gather gradient (UnsortedSegmentSum; repeated ids)",
    rtol: MATMUL, // a sum over the repeats, in whatever order the backend adds them
    run: () => [tf.grad((e: tf.Tensor) => tf.gather(e, I(IDS)).mul(T(DY)).sum())(T(EMB))],
  },
  { name: "oneHot", rtol: EXACT, run: () => [tf.oneHot(I(IDS), 50).toFloat()] },
  {
    name: "RMS-norm pieces: square, mean, rsqrt, mul",
    rtol: TRANSC,
    run: () => {
      const x = T(X);
      const ms = x.square().mean(-1, true);
      return [x.square(), ms, ms.add(1e-6).rsqrt(), rmsNorm(x, T(SCALE))];
    },
  },
  {
    name: "RMS norm gradient",
    rtol: GRAD,
    run: () => tf.grads((x: tf.Tensor, s: tf.Tensor) => rmsNorm(x, s).mul(T(G)).sum())([T(X), T(SCALE)]),
  },
  { name: "relu", rtol: EXACT, run: () => [tf.relu(T(X))] },
  { name: "GELU (tanh approximation)", rtol: CHAINED, run: () => [geluTanh(T(X))] },
  {
    name: "GELU and relu gradients",
    rtol: GRAD,
    run: () => [
      tf.grad((x: tf.Tensor) => geluTanh(x).mul(T(G)).sum())(T(X)),
      tf.grad((x: tf.Tensor) => tf.relu(x).mul(T(G)).sum())(T(X)),
    ],
  },
  {
    name: "sum / mean over axes",
    rtol: MATMUL,
    run: () => {
      const x = T(X);
      return [x.sum(), x.sum(-1), x.sum([0, 1]), x.mean(), x.mean(1, true)];
    },
  },
  {
    // lib/backend/wasm_fast.ts reduces these on wasm with its own row loop.
    name: "sum / mean over leading and middle axes (Adafactor's column means, weight gradients)",
    rtol: MATMUL,
    run: () => {
      const x = T(X), a = T(A);
      return [
        x.sum(0),
        x.mean(1),
        x.mean(-2, true),
        x.sum([0, 1], true),
        a.mean(-2),
        a.square().sum(0),
        T(EMB).mean(0),
        tf.grad((s: tf.Tensor) => x.mul(s).sum())(T(SCALE)),
      ];
    },
  },
  {
    // On wasm+blas, lib/backend/wasm_fast.ts reduces these (≥ 4096 entries) with cblas_sgemv.
    name: "sum / mean of larger tensors over every kind of contiguous axis block",
    rtol: MATMUL,
    run: () => {
      const y = T(Y3), a = T(A);
      return [
        y.sum([0, 1]),
        y.mean(1),
        y.sum(-1, true),
        y.mean([1, 2]),
        y.sum(),
        a.sum(-1),
        a.mean(0, true),
        a.mean(),
        tf.grad((s: tf.Tensor) => y.square().mul(s).sum())(T(normal([64]))),
      ];
    },
  },
  {
    name: "identity (clone) keeps values after the original is disposed",
    rtol: EXACT,
    run: () => {
      const x = T(X);
      const c = tf.clone(x), c2 = tf.clone(c);
      x.dispose();
      return [c, c2.add(1)];
    },
  },
  {
    name: "log-softmax cross-entropy (pads ignored)",
    rtol: CHAINED,
    run: () => [crossEntropy(T(LOGITS), I(LABELS), 50)],
  },
  {
    name: "cross-entropy gradient w.r.t. logits",
    rtol: GRAD,
    run: () => [tf.grad((l: tf.Tensor) => crossEntropy(l, I(LABELS), 50))(T(LOGITS))],
  },
  {
    name: "transpose / reshape / concat / slice (attention head split and merge)",
    rtol: EXACT,
    run: () => {
      const x = T(Q); // [b, h, s, dk]
      const merged = x.transpose([0, 2, 1, 3]).reshape([2, 16, 32]);
      return [
        merged,
        merged.reshape([2, 16, 4, 8]).transpose([0, 2, 1, 3]),
        tf.concat([T(K), T(V)], 3),
        tf.concat([T(K), T(V)], 0),
        tf.slice(x, [0, 1, 2, 0], [2, 2, 10, 8]),
        x.slice([1, 0, 0, 4]),
      ];
    },
  },
  {
    name: "attention block: forward and gradients of every weight",
    rtol: GRAD,
    run: () => {
      const x = T(X), bias = T(PB), mask = maskOf(AMASK), g = T(G);
      const f = (wq: tf.Tensor, wk: tf.Tensor, wv: tf.Tensor, wo: tf.Tensor) =>
        attention(x, wq, wk, wv, wo, bias, mask, 4).mul(g).sum();
      const w = [T(WQ), T(WK), T(WV), T(WO)];
      return [f(w[0], w[1], w[2], w[3]), ...tf.grads(f)(w)];
    },
  },
];

// ---------------------------------------------------------------------------------------------

/** Runs a case on a backend; the outputs as float arrays (read asynchronously: webgpu). */
async function compute(backend: BackendName, c: Case): Promise<Float32Array[]> {
  await initBackend(backend, { quiet: true });
  const outs = tf.tidy(c.run);
  try {
    return await Promise.all(outs.map(async (t) => Float32Array.from(await t.data())));
  } finally {
    tf.dispose(outs);
  }
}

const refCache = new Map<string, Float32Array[]>();

async function reference(c: Case): Promise<Float32Array[]> {
  let r = refCache.get(c.name);
  if (!r) {
    r = await compute("cpu", c);
    refCache.set(c.name, r);
  }
  return r;
}

/** Largest |x − ref| over an output, and the reference's largest magnitude. */
function compare(x: Float32Array, ref: Float32Array): { diff: number; scale: number } {
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(x[i] - ref[i]);
    // NaN anywhere is a failure: make it infinitely far.
    diff = Math.max(diff, Number.isNaN(d) ? Infinity : d);
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return { diff, scale };
}

/** `FISHDIP_PARITY_VERBOSE=1` prints every observed difference (to review the tolerances). */
const VERBOSE = Boolean(Deno.env.get("FISHDIP_PARITY_VERBOSE"));

const BACKENDS: { name: BackendName; ignore: boolean }[] = [
  { name: "wasm", ignore: false },
  { name: "wasm+blas", ignore: !blasLoaded },
  { name: "webgpu", ignore: !webgpu },
];

for (const { name: backend, ignore } of BACKENDS) {
  for (const c of CASES) {
    Deno.test({
      name: `parity ${backend} vs cpu: ${c.name}`,
      ignore,
      // tfjs keeps backend-global state (kernel caches, webgpu buffers) alive across tests.
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const ref = await reference(c);
        const got = await compute(backend, c);
        assert(got.length === ref.length, `${got.length} outputs, expected ${ref.length}`);
        for (let i = 0; i < ref.length; i++) {
          assert(
            got[i].length === ref[i].length,
            `output ${i}: ${got[i].length} values, expected ${ref[i].length}`,
          );
          const { diff, scale } = compare(got[i], ref[i]);
          const tol = (c.atol ?? 0) + c.rtol * scale;
          if (VERBOSE) {
            console.error(`${backend} | ${c.name} | ${i} | rel ${(diff / (scale || 1)).toExponential(2)}`);
          }
          assert(
            diff <= tol,
            `output ${i}: max |${backend} − cpu| = ${diff.toExponential(3)} > tolerance ${
              tol.toExponential(3)
            } ` +
              `(rtol ${c.rtol} × max|ref| ${scale.toExponential(3)})`,
          );
        }
      },
    });
  }
}

Deno.test({
  name: "parity wasm+blas: matrix products actually went through BLAS",
  ignore: !blasLoaded,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await initBackend("wasm+blas", { quiet: true });
    blasCallCounts(true);
    const c = CASES.find((c) => c.name.startsWith("attention block"))!;
    await compute("wasm+blas", c);
    const n = blasCallCounts(true);
    assert(n.blas >= 16, `expected the attention block's products on BLAS, got ${JSON.stringify(n)}`);
    assert(n.fallback === 0, `unexpected fallbacks: ${JSON.stringify(n)}`);
  },
});
