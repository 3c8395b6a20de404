/**
 * `deno task bench:blas`: matrix-product throughput on wasm (stock tfjs 4.22, and with this
 * project's wasm fixes) against wasm+blas (OpenBLAS/Accelerate through FFI), with a check that the
 * results agree; then, optionally, a T5-mini training step on each and the PyTorch comparator.
 *
 * ```sh
 * deno task bench:blas                         # products only (about a minute)
 * deno task bench:blas --t5                    # + T5-mini step timing, wasm vs wasm+blas
 * deno task bench:blas --t5 --torch            # + ../shared/bench/torch_t5_step.py, same shape
 * deno task bench:blas --t5 --t5-backends wasm+blas --t5-steps 5 --torch
 * deno task bench:blas --no-products --t5 --t5-mode scoring --t5-backends wasm+blas --torch
 * ```
 *
 * `--t5-mode scoring` times FISH-DIP's scoring pass instead of a training step: the per-example
 * losses of `--t5-batch` (32) examples of source 128 and target 64, without gradients, through
 * `scorePerExample` as a refresh runs it (training mode with dropout 0, so length-bucketed up to
 * its token budget), against the comparator's `--mode scoring` on one batch of the same shape;
 * `--no-fused-ce` composes its loss from tfjs ops instead of the fused kernel
 * (`lib/backend/row_cross_entropy.ts`). `--t5-dropout 0.1` trains the step with dropout, as a grid
 * cell does, on both sides (default 0, as the comparator's).
 *
 * Benchmarks (float32, median of `--runs` (7) after 2 warm-ups; the op call is timed, which on
 * these synchronous backends is the whole computation; reading the result back is not):
 * - `matMul 1024x1024`: 2·1024³ FLOP.
 * - `attention [64,128,32]x[64,32,128]`: the q·kᵀ shape of 8 sequences × 8 heads, 2·64·128·32·128.
 * - `grad [1024,256]x[256,1024]`: `tf.grads` of the product with a given dy: the forward product
 *   and the two backward ones (dy·Bᵀ, Aᵀ·dy), counted as 3 × 2·1024·256·1024 FLOP.
 *
 * GFLOP/s are FLOP / median seconds / 1e9. The machine may be shared: compare numbers from the
 * same run, and read them as indicative. BLAS threads: `FISHDIP_BLAS_THREADS` (default: cores).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, describeBackend, initBackend } from "../lib/backend/mod.ts";
import { setStockWasm } from "../lib/backend/wasm_kernels.ts";
import { blasThreadsFromEnv } from "../lib/backend/blas.ts";
import { setRowCrossEntropyKernel } from "../lib/backend/row_cross_entropy.ts";
import { REPO_ROOT } from "../lib/config/paths.ts";
import { createT5Scoring, createT5Step, median, SHAPES } from "./profile_step.ts";

interface Bench {
  name: string;
  flop: number;
  /** Builds inputs (kept across runs). */
  setup: () => tf.Tensor[];
  /** One timed computation; returns its outputs. */
  run: (inputs: tf.Tensor[]) => tf.Tensor[];
}

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, "float32", seed);
}

const BENCHES: Bench[] = [
  {
    name: "matMul 1024x1024",
    flop: 2 * 1024 ** 3,
    setup: () => [rand([1024, 1024], 11), rand([1024, 1024], 12)],
    run: ([a, b]) => [tf.matMul(a, b)],
  },
  {
    name: "attention [64,128,32]x[64,32,128]",
    flop: 2 * 64 * 128 * 32 * 128,
    setup: () => [rand([64, 128, 32], 13), rand([64, 32, 128], 14)],
    run: ([a, b]) => [tf.matMul(a, b)],
  },
  {
    name: "grad [1024,256]x[256,1024]",
    flop: 3 * 2 * 1024 * 256 * 1024,
    setup: () => [rand([1024, 256], 15), rand([256, 1024], 16), rand([1024, 1024], 17)],
    run: ([a, b, dy]) => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y))([a, b], dy),
  },
];

interface Variant {
  label: string;
  backend: BackendName;
  stock: boolean;
}

const VARIANTS: Variant[] = [
  { label: "wasm (stock tfjs)", backend: "wasm", stock: true },
  { label: "wasm (fixed)", backend: "wasm", stock: false },
  { label: "wasm+blas", backend: "wasm+blas", stock: false },
];

function flag(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

/** Largest |x − ref| relative to max |ref|. */
function relDiff(x: Float32Array, ref: Float32Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(x[i] - ref[i]));
    s = Math.max(s, Math.abs(ref[i]));
  }
  return d / (s || 1);
}

async function timeBench(b: Bench, runs: number): Promise<{ ms: number[]; out: Float32Array[] }> {
  const inputs = b.setup();
  // wasm kernels run synchronously: when the op returns, the product is done. Reading the result
  // back (a copy out of the wasm heap, 5-8 ms for the 4 MB attention output) is left out.
  const timed = () => {
    const t0 = performance.now();
    const outs = b.run(inputs);
    return { outs, ms: performance.now() - t0 };
  };
  for (let i = 0; i < 2; i++) tf.dispose(timed().outs);
  const ms: number[] = [];
  let last: tf.Tensor[] = [];
  for (let i = 0; i < runs; i++) {
    tf.dispose(last);
    const r = timed();
    last = r.outs;
    ms.push(r.ms);
  }
  const out = await Promise.all(last.map(async (t) => Float32Array.from(await t.data())));
  tf.dispose([...last, ...inputs]);
  return { ms, out };
}

async function productBenchmarks(runs: number): Promise<boolean> {
  const ref = new Map<string, Float32Array[]>();
  const rows: string[] = [];
  let ok = true;
  for (const v of VARIANTS) {
    const info = await initBackend(v.backend, { quiet: true });
    setStockWasm(v.stock);
    if (v.backend === "wasm+blas" && info.backend !== "wasm+blas") {
      console.log(`${v.label}: skipped (${describeBackend(info)})`);
      continue;
    }
    console.log(`${v.label}: ${describeBackend(info)}`);
    for (const b of BENCHES) {
      const { ms, out } = await timeBench(b, runs);
      const med = median(ms);
      let check = "reference";
      if (!ref.has(b.name)) ref.set(b.name, out);
      else {
        const d = Math.max(...out.map((o, i) => relDiff(o, ref.get(b.name)![i])));
        // Different summation orders: float32 rounding of K ≤ 1024 terms, see parity_test.ts.
        const pass = d <= 1e-5;
        ok &&= pass;
        check = `${pass ? "equal" : "DIFFERENT"} (max rel diff ${d.toExponential(1)})`;
      }
      rows.push(
        `${v.label.padEnd(18)} ${b.name.padEnd(34)} ${med.toFixed(1).padStart(8)} ms ${
          (b.flop / med / 1e6).toFixed(1).padStart(7)
        } GFLOP/s  [${Math.min(...ms).toFixed(1)}–${Math.max(...ms).toFixed(1)} ms]  ${check}`,
      );
    }
  }
  setStockWasm(false);
  console.log(
    `\n${"variant".padEnd(18)} ${"benchmark".padEnd(34)} ${"median".padStart(11)} ${"".padStart(15)}`,
  );
  for (const r of rows) console.log(r);
  return ok;
}

async function t5Benchmark(args: string[]): Promise<number | undefined> {
  const shape = flag(args, "t5-config", "t5-mini");
  const steps = Number(flag(args, "t5-steps", "3")), warmup = Number(flag(args, "t5-warmup", "1"));
  const backends = flag(args, "t5-backends", "wasm,wasm+blas").split(",") as BackendName[];
  const { batch } = t5Mode(args);
  const dropout = Number(flag(args, "t5-dropout", "0"));
  const o = { shape, batch, src: 128, tgt: 64, k: 1, dropout };
  console.log(
    `\nT5 step: ${shape} ${JSON.stringify(SHAPES[shape])}, batch ${batch}, src 128, tgt 64, k 1%, ` +
      (dropout > 0 ? `dropout ${dropout}, ` : "") +
      `${warmup} warm-up + ${steps} timed steps (forward, loss, backward, mask, clip, Adafactor)`,
  );
  let blasMedian: number | undefined;
  for (const b of backends) {
    const info = await initBackend(b, { quiet: true });
    const step = createT5Step(o);
    for (let i = 0; i < warmup; i++) await step.run();
    const ms: number[] = [];
    let loss = NaN;
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      loss = await step.run();
      ms.push(performance.now() - t0);
    }
    step.dispose();
    const med = median(ms) / 1000;
    if (info.backend === "wasm+blas") blasMedian = med;
    console.log(
      `${info.backend.padEnd(10)} median ${med.toFixed(3)} s/step (${
        ms.map((t) => (t / 1000).toFixed(2)).join(", ")
      }), ` +
        `${(batch * 192 / med).toFixed(0)} tokens/s, loss ${loss.toFixed(4)}  [${describeBackend(info)}]`,
    );
  }
  return blasMedian;
}

/** Which T5 measurement `--t5` makes: a training step or the scoring pass, and its batch. */
function t5Mode(args: string[]): { mode: "step" | "scoring"; batch: number } {
  const mode = flag(args, "t5-mode", "step");
  if (mode !== "step" && mode !== "scoring") {
    throw new Error(`--t5-mode must be step or scoring, got ${mode}`);
  }
  return { mode, batch: Number(flag(args, "t5-batch", mode === "step" ? "8" : "32")) };
}

/**
 * FISH-DIP's scoring pass over `batch` examples of source 128 and target 64 (ids clear of pad and
 * EOS, as the comparator's), timed whole: bucketing, every forward pass and reading the losses
 * back. Returns the wasm+blas median in seconds.
 */
async function scoringBenchmark(args: string[]): Promise<number | undefined> {
  const shape = flag(args, "t5-config", "t5-mini");
  const passes = Number(flag(args, "t5-steps", "3")), warmup = Number(flag(args, "t5-warmup", "1"));
  const backends = flag(args, "t5-backends", "wasm,wasm+blas").split(",") as BackendName[];
  const { batch } = t5Mode(args);
  // `--no-fused-ce`: the loss composed from tfjs ops, as before the fused kernel, for comparison.
  setRowCrossEntropyKernel(!args.includes("--no-fused-ce"));
  console.log(
    `\nT5 scoring pass: ${shape} ${JSON.stringify(SHAPES[shape])}, ${batch} examples, src 128, tgt 64, ` +
      `${warmup} warm-up + ${passes} timed passes (per-example losses, no gradients, length-bucketed)`,
  );
  let blasMedian: number | undefined;
  for (const b of backends) {
    const info = await initBackend(b, { quiet: true });
    const pass = createT5Scoring({ shape, batch, src: 128, tgt: 64, k: 1 });
    for (let i = 0; i < warmup; i++) await pass.run();
    const ms: number[] = [];
    let loss = NaN;
    for (let i = 0; i < passes; i++) {
      const t0 = performance.now();
      loss = await pass.run();
      ms.push(performance.now() - t0);
    }
    pass.dispose();
    const med = median(ms) / 1000;
    if (info.backend === "wasm+blas") blasMedian = med;
    console.log(
      `${info.backend.padEnd(10)} median ${med.toFixed(3)} s/pass (${
        ms.map((t) => (t / 1000).toFixed(2)).join(", ")
      }), ${(batch * 192 / med).toFixed(0)} tokens/s, mean loss ${loss.toFixed(4)}  [${
        describeBackend(info)
      }]`,
    );
  }
  return blasMedian;
}

async function torchBenchmark(args: string[], tfjsSeconds: number | undefined): Promise<void> {
  const shape = flag(args, "t5-config", "t5-mini");
  const { mode, batch } = t5Mode(args);
  const unit = mode === "step" ? "step" : "pass";
  const threads = String(blasThreadsFromEnv());
  const steps = flag(args, "torch-steps", "5");
  // The comparator lives beside the repository (`../shared/bench`), wherever it is checked out.
  const script = flag(args, "torch-script", `${REPO_ROOT}/../shared/bench/torch_t5_step.py`);
  const python = flag(args, "python", "/usr/bin/python3");
  // The comparator needs an optimised BLAS: Debian's torch uses whatever libblas.so.3 is found
  // (see the comparator's README); the OpenMP build of OpenBLAS follows torch's thread count.
  const openmpDir = "/usr/lib/x86_64-linux-gnu/openblas-openmp";
  const cmdArgs = [
    script,
    "--config",
    shape,
    "--k",
    "1",
    "--mode",
    mode,
    "--batch",
    String(batch),
    "--threads",
    threads,
    "--steps",
    steps,
    "--warmup",
    "2",
    "--json",
    ...(mode === "step" ? ["--dropout", flag(args, "t5-dropout", "0")] : []),
  ];
  console.log(`\nPyTorch: LD_LIBRARY_PATH=${openmpDir} ${python} ${cmdArgs.join(" ")}`);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python, {
      args: cmdArgs,
      env: { LD_LIBRARY_PATH: openmpDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    console.log(`PyTorch comparator did not start: ${(e as Error).message}`);
    return;
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    console.log(`PyTorch comparator failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
    return;
  }
  const r = JSON.parse(text.split("\n").pop()!);
  console.log(
    `torch ${r.torch}, ${r.threads} threads, blas ${r.blas}: median ${r.median_s.toFixed(3)} s/${unit} ` +
      `(${r.min_s.toFixed(3)}–${r.max_s.toFixed(3)}), ${r.tokens_per_s.toFixed(0)} tokens/s, ` +
      `phases ${JSON.stringify(r.phase_median_s)}, mean loss ${r.loss_last.toFixed(4)}`,
  );
  if (tfjsSeconds !== undefined) {
    console.log(
      `ratio wasm+blas / torch: ${(tfjsSeconds / r.median_s).toFixed(2)}× the PyTorch ${unit} time`,
    );
  }
}

if (import.meta.main) {
  const args = Deno.args;
  const runs = Number(flag(args, "runs", "7"));
  console.log(`cores: ${navigator.hardwareConcurrency}; BLAS threads: ${blasThreadsFromEnv()}`);
  let ok = true;
  if (!args.includes("--no-products")) ok = await productBenchmarks(runs);
  if (args.includes("--t5")) {
    const s = t5Mode(args).mode === "step" ? await t5Benchmark(args) : await scoringBenchmark(args);
    if (args.includes("--torch")) await torchBenchmark(args, s);
  }
  if (!ok) {
    console.error("results differ between backends");
    Deno.exit(1);
  }
}
