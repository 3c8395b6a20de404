/**
 * Backend selection and the kernels lib/backend adds: `auto`'s choice with a software WebGPU
 * adapter, the wasm `UnsortedSegmentSum` kernel, the BLAS matrix-product kernels' edge cases
 * (broadcasting, transposes, fused bias and activations, fallbacks), the one-line fallback when
 * no BLAS library loads, and the fast wasm kernels' case selection (`wasm_fast.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  autoBackend,
  BACKEND_NAMES,
  backendInfo,
  initBackend,
  parseBackendName,
  probeWebGpu,
} from "../../lib/backend/mod.ts";
import { blasLoads } from "../support.ts";
import { blasCallCounts, blasEnabled } from "../../lib/backend/blas_kernels.ts";
import {
  setStockWasm,
  stockWasm,
  trailingBroadcastSpan,
  unsortedSegmentSumRows,
} from "../../lib/backend/wasm_kernels.ts";
import { contiguousReduction, gatherRows, middleReduction, sumMiddle } from "../../lib/backend/wasm_fast.ts";

if (!Deno.env.get("XDG_RUNTIME_DIR")) {
  const dir = Deno.makeTempDirSync({ prefix: "xdg-" });
  Deno.chmodSync(dir, 0o700);
  Deno.env.set("XDG_RUNTIME_DIR", dir);
}

const blasLoaded = blasLoads();

const opts = { sanitizeResources: false, sanitizeOps: false };

/** Values of a tensor computed on `backend` from the same plain inputs. */
async function on(backend: "cpu" | "wasm" | "wasm+blas", f: () => tf.Tensor): Promise<Float32Array> {
  await initBackend(backend, { quiet: true });
  const t = tf.tidy(f);
  const v = Float32Array.from(await t.data());
  t.dispose();
  return v;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assertEquals(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function seq(n: number, scale = 0.01): Float32Array {
  // Deterministic, non-symmetric values in [-1, 1).
  return Float32Array.from({ length: n }, (_, i) => (((i * 7919) % 2003) / 1001.5 - 1) * scale * 100);
}

Deno.test({
  name: "backend names: wasm+blas is accepted, unknown names are rejected",
  fn() {
    assert(BACKEND_NAMES.includes("wasm+blas"));
    assertEquals(parseBackendName("wasm+blas"), "wasm+blas");
    let threw = false;
    try {
      parseBackendName("blas");
    } catch {
      threw = true;
    }
    assert(threw);
  },
});

Deno.test({
  name: "autoBackend: webgpu on a hardware adapter, wasm(+blas) on a software one or none",
  fn() {
    const hardware = { description: "nvidia hopper NVIDIA H200", fallback: false };
    const software = { description: "mesa llvmpipe", fallback: true };
    // A hardware adapter wins whether or not BLAS would load.
    assertEquals(autoBackend(hardware).backend, "webgpu");
    assertEquals(autoBackend(hardware, true).backend, "webgpu");
    assertEquals(autoBackend(software, true), {
      backend: "wasm+blas",
      reason: "the only WebGPU adapter is a software one, BLAS loaded",
    });
    assertEquals(autoBackend(software, false).backend, "wasm");
    assertEquals(autoBackend(undefined, true).reason, "no WebGPU adapter, BLAS loaded");
    assertEquals(autoBackend(undefined).backend, "wasm");
  },
});

Deno.test({
  name: "auto chooses wasm (+blas when loadable) when the only WebGPU adapter is software",
  ...opts,
  async fn() {
    // Pretend the runtime offers only a software adapter, whatever this machine has.
    const fake = {
      requestAdapter: () =>
        Promise.resolve({ info: { vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)" } }),
    };
    const desc = Object.getOwnPropertyDescriptor(navigator, "gpu");
    Object.defineProperty(navigator, "gpu", { value: fake, configurable: true });
    try {
      const probe = await probeWebGpu();
      assert(probe?.fallback, "llvmpipe must count as a software adapter");
      const info = await initBackend("auto", { quiet: true });
      assertEquals(tf.getBackend(), "wasm");
      assertEquals(info.backend, blasLoaded ? "wasm+blas" : "wasm");
      assertEquals(info.fallbackAdapter, true);
      assertStringIncludes(info.reason, "software");
      assertEquals(blasEnabled(), blasLoaded);
    } finally {
      if (desc) Object.defineProperty(navigator, "gpu", desc);
      else delete (navigator as unknown as Record<string, unknown>).gpu;
    }
  },
});

Deno.test({
  name: "auto on this machine's real adapter: not webgpu when the adapter is software",
  ...opts,
  async fn() {
    const probe = await probeWebGpu();
    const info = await initBackend("auto", { quiet: true });
    if (!probe || probe.fallback) assert(info.backend.startsWith("wasm"), info.backend);
    else assertEquals(info.backend, "webgpu");
    assertEquals(backendInfo(), info);
  },
});

Deno.test({
  name: "wasm UnsortedSegmentSum: tf.unsortedSegmentSum and the gather gradient equal cpu",
  ...opts,
  async fn() {
    const x = seq(7 * 5), ids = [3, 0, 3, 6, 1, 3, 0];
    const ref = await on(
      "cpu",
      () => tf.unsortedSegmentSum(tf.tensor2d(x, [7, 5]), tf.tensor1d(ids, "int32"), 8),
    );
    const got = await on(
      "wasm",
      () => tf.unsortedSegmentSum(tf.tensor2d(x, [7, 5]), tf.tensor1d(ids, "int32"), 8),
    );
    assert(maxDiff(got, ref) <= 1e-6, `max diff ${maxDiff(got, ref)}`);
    // The gradient of an embedding lookup with repeated ids, as the T5 embedding needs.
    const emb = seq(10 * 4), rows = [[1, 1, 9], [0, 9, 9]], dy = seq(2 * 3 * 4, 0.03);
    const g = () =>
      tf.grad((e: tf.Tensor) =>
        tf.gather(e, tf.tensor2d(rows, [2, 3], "int32")).mul(tf.tensor3d(dy, [2, 3, 4])).sum()
      )(
        tf.tensor2d(emb, [10, 4]),
      );
    const gref = await on("cpu", g), gw = await on("wasm", g);
    assert(maxDiff(gw, gref) <= 1e-6, `max diff ${maxDiff(gw, gref)}`);
  },
});

Deno.test({
  name: "unsortedSegmentSumRows drops ids outside [0, numSegments), as TensorFlow does",
  fn() {
    const out = new Float32Array(4);
    unsortedSegmentSumRows([1, 2, 3, 4, 5], [5], [0, -1, 1, 2, 0], 2, out);
    assertEquals(Array.from(out), [6, 3, 0, 0]);
  },
});

Deno.test({
  name: "wasm+blas kernels: shapes, broadcasting and transposes equal wasm; fallbacks counted",
  ignore: !blasLoaded,
  ...opts,
  async fn() {
    const cases: [string, number[], number[], boolean, boolean][] = [
      ["plain", [5, 7], [7, 3], false, false],
      ["tA", [7, 5], [7, 3], true, false],
      ["tB", [5, 7], [3, 7], false, true],
      ["tA tB", [7, 5], [3, 7], true, true],
      ["batch", [4, 5, 7], [4, 7, 3], false, false],
      ["batch tA tB", [2, 2, 7, 5], [2, 2, 3, 7], true, true],
      ["a batch 1", [1, 5, 7], [4, 7, 3], false, false],
      ["b batch 1 (one big product)", [4, 5, 7], [1, 7, 3], false, false],
      ["b batch 1, tA", [4, 7, 5], [1, 7, 3], true, false],
      ["rank 3 x rank 2", [4, 5, 7], [7, 3], false, false],
      ["rank 2 x rank 4", [5, 7], [2, 3, 7, 3], false, false],
      ["k = 1", [5, 1], [1, 3], false, false],
      ["equal batches of different rank", [4, 5, 7], [1, 4, 7, 3], false, false],
      ["batch 1 of rank 2 against rank 1", [1, 1, 5, 7], [3, 7, 3], false, false],
    ];
    for (const [name, sa, sb, ta, tb] of cases) {
      const a = seq(sa.reduce((x, y) => x * y, 1)), b = seq(sb.reduce((x, y) => x * y, 1), 0.02);
      const f = () => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb);
      const ref = await on("wasm", f);
      blasCallCounts(true);
      const got = await on("wasm+blas", f);
      assertEquals(blasCallCounts(true), { blas: 1, fallback: 0 }, name);
      assert(maxDiff(got, ref) <= 1e-5, `${name}: max diff ${maxDiff(got, ref)}`);
    }
    // Batch dims that broadcast against each other on both sides are left to the wasm kernel.
    const f = () =>
      tf.matMul(tf.tensor(seq(2 * 1 * 6), [2, 1, 2, 3]), tf.tensor(seq(1 * 3 * 6), [1, 3, 3, 2]));
    const ref = await on("cpu", f);
    blasCallCounts(true);
    const got = await on("wasm+blas", f);
    assertEquals(blasCallCounts(true).fallback, 1);
    assert(maxDiff(got, ref) <= 1e-5);
    // Empty results and k = 0 (a sum over nothing is 0).
    const z = await on("wasm+blas", () => tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4])));
    assertEquals(Array.from(z), new Array(12).fill(0));
    await initBackend("wasm+blas", { quiet: true });
    const e = tf.matMul(tf.zeros([0, 5, 7]), tf.ones([1, 7, 3]));
    assertEquals(e.shape, [0, 5, 3]);
    e.dispose();
  },
});

Deno.test({
  name: "fused matMul: bias (vector, scalar) and activations equal cpu on wasm and wasm+blas",
  ...opts,
  async fn() {
    const a = seq(6 * 4), b = seq(4 * 5, 0.05), bias = seq(5, 0.3);
    const acts = ["linear", "relu", "relu6", "leakyrelu", "sigmoid", "elu", "prelu"] as const;
    const backends = blasLoaded ? (["wasm", "wasm+blas"] as const) : (["wasm"] as const);
    for (const activation of acts) {
      for (const tB of [false, true]) {
        for (const biasShape of [[5], [1]]) {
          const f = () =>
            tf.fused.matMul({
              a: tf.tensor2d(a, [6, 4]),
              b: tB ? tf.tensor2d(b, [4, 5]).transpose() : tf.tensor2d(b, [4, 5]),
              transposeB: tB,
              bias: biasShape[0] === 5 ? tf.tensor1d(bias) : tf.tensor1d([0.25]),
              activation,
              preluActivationWeights: activation === "prelu" ? tf.tensor1d(seq(5, 0.2)) : undefined,
              leakyreluAlpha: 0.1,
            });
          // PReLU (unused by T5) still goes to tfjs's wasm kernel, whose bias handling is wrong
          // with transposeB or a bias of shape [1]; the other activations are fixed up here.
          if (activation === "prelu" && (tB || biasShape[0] === 1)) continue;
          const ref = await on("cpu", f);
          for (const be of backends) {
            const got = await on(be, f);
            const what = `${be} ${activation} transposeB=${tB} bias=${biasShape}`;
            // Float32 rounding of a 4-term sum, relative to the outputs' size (up to about 20).
            const tol = 1e-6 * Math.max(1, ...Array.from(ref, Math.abs));
            assert(maxDiff(got, ref) <= tol, `${what}: max diff ${maxDiff(got, ref)}`);
          }
        }
      }
    }
  },
});

Deno.test({
  name: "wasm+blas without a loadable library falls back to wasm with one clear line",
  ...opts,
  async fn() {
    const code = `
      import { initBackend } from "${new URL("../../lib/backend/mod.ts", import.meta.url).href}";
      import * as tf from "@tensorflow/tfjs";
      const info = await initBackend("wasm+blas");
      console.log(JSON.stringify({ backend: info.backend, tf: tf.getBackend() }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--config", new URL("../../deno.json", import.meta.url).pathname, code],
      env: { FISHDIP_BLAS_LIB: "/nonexistent/libopenblas.so.0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout), stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assertEquals(JSON.parse(stdout.trim()), { backend: "wasm", tf: "wasm" });
    const lines = stderr.split("\n").filter((l) => l.includes("BLAS"));
    assertEquals(lines.length, 1, stderr);
    assertStringIncludes(lines[0], "falling back to plain wasm");
    assertStringIncludes(lines[0], "/nonexistent/libopenblas.so.0");
  },
});

Deno.test({
  name: "trailingBroadcastSpan: which broadcasts the fast comparison path takes",
  fn() {
    assertEquals(trailingBroadcastSpan([512, 100], [512, 1]), 100);
    assertEquals(trailingBroadcastSpan([2, 3, 4], []), 24);
    assertEquals(trailingBroadcastSpan([2, 3, 4], [3, 1]), undefined); // broadcasts along axis 0 too
    assertEquals(trailingBroadcastSpan([2, 3, 4], [2, 1, 1]), 12);
    assertEquals(trailingBroadcastSpan([2, 3, 4], [4]), undefined); // leading broadcast: wasm kernel
    assertEquals(trailingBroadcastSpan([3, 1], [1, 3]), undefined);
  },
});

Deno.test({
  name: "middleReduction: which Sum/Mean calls take the row-loop path",
  fn() {
    assertEquals(middleReduction([32128, 256], -2), {
      outer: 1,
      reduced: 32128,
      inner: 256,
      first: 0,
      last: 0,
    });
    assertEquals(middleReduction([8, 128, 256], [0, 1]), {
      outer: 1,
      reduced: 1024,
      inner: 256,
      first: 0,
      last: 1,
    });
    assertEquals(middleReduction([2, 3, 4, 5], [2, 1]), {
      outer: 2,
      reduced: 12,
      inner: 5,
      first: 1,
      last: 2,
    });
    assertEquals(middleReduction([4, 5], -1), undefined); // last axis: the wasm kernel needs no transpose
    assertEquals(middleReduction([4, 5], [0, 1]), undefined); // all axes: same
    assertEquals(middleReduction([2, 3, 4], [0, 2]), undefined); // not contiguous
    assertEquals(middleReduction([5], 0), undefined);
    // With BLAS every contiguous block is handled, trailing ones included.
    assertEquals(contiguousReduction([4, 5], -1), { outer: 4, reduced: 5, inner: 1, first: 1, last: 1 });
    assertEquals(contiguousReduction([4, 5], undefined), {
      outer: 1,
      reduced: 20,
      inner: 1,
      first: 0,
      last: 1,
    });
    assertEquals(contiguousReduction([2, 3, 4], [0, 2]), undefined);
    assertEquals(contiguousReduction([2, 3], null), { outer: 1, reduced: 6, inner: 1, first: 0, last: 1 });
    const out = new Float32Array(3);
    sumMiddle([1, 2, 3, 4, 5, 6], 1, 2, 3, 0.5, out); // mean of the rows of [[1,2,3],[4,5,6]]
    assertEquals(Array.from(out), [2.5, 3.5, 4.5]);
  },
});

Deno.test({
  name: "wasm Identity shares its input's memory (FISHDIP_WASM_STOCK copies), values survive disposal",
  ...opts,
  async fn() {
    await initBackend("wasm", { quiet: true });
    const stock = stockWasm();
    try {
      for (const on of [false, true]) {
        setStockWasm(on);
        const x = tf.tensor2d([[1, 2], [3, 4]]);
        const c = tf.clone(x);
        assertEquals(c.dataId === x.dataId, !on);
        x.dispose();
        assertEquals(Array.from(await c.data()), [1, 2, 3, 4]);
        c.dispose();
      }
    } finally {
      setStockWasm(stock);
    }
  },
});

Deno.test({
  name: "wasm GatherV2 fast path: rows copied; an index out of range raises tfjs's error",
  ...opts,
  async fn() {
    const out = new Float32Array(6);
    assert(gatherRows(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 0, 2], 1, 3, 2, out.subarray(0, 6)));
    assertEquals(Array.from(out), [5, 6, 1, 2, 5, 6]);
    assertEquals(gatherRows(Float32Array.from([1, 2]), [2], 1, 2, 1, new Float32Array(1)), false);
    await initBackend("wasm", { quiet: true });
    const before = tf.memory().numTensors;
    let message = "";
    try {
      tf.gather(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor1d([0, 5], "int32"));
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, "not in [0, 1]");
    assert(tf.memory().numTensors - before <= 2, "only the two inputs may remain");
  },
});
