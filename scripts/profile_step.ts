/**
 * Profiles one T5 sparse fine-tuning step (forward, loss, backward, k% gradient mask, global-norm
 * clipping at 1.0, Adafactor: the same step as `../shared/bench/torch_t5_step.py`) and prints
 * which tfjs kernels take the time, on wasm and on wasm+blas.
 *
 * ```sh
 * deno run -A scripts/profile_step.ts                       # t5-mini, batch 8, 128+64 tokens
 * deno run -A scripts/profile_step.ts --backends wasm+blas --steps 3 --top 25
 * deno run -A scripts/profile_step.ts --config tiny         # a small shape, seconds
 * deno run -A scripts/profile_step.ts --mode scoring --batch 32 --backends wasm+blas
 * ```
 *
 * `--mode scoring` profiles FISH-DIP's scoring pass instead ({@link createT5Scoring}).
 *
 * Options: `--config t5-mini|t5-small|tiny` (t5-mini), `--batch 8 --src 128 --tgt 64`, `--k 1`
 * (percent of gradient entries kept), `--dropout 0` (a step's dropout rate; grid cells train with 0.1), `--steps 2` (timed), `--warmup 1`, `--top 20` (kernels
 * listed), `--backends wasm,wasm+blas` (add `wasm-stock` for tfjs's wasm kernels without this
 * project's fixes: broadcast comparisons, transposed and batched products, zero-copy Identity,
 * Sum/Mean and GatherV2 fast paths, see `lib/backend`). Times are wall-clock medians; on a shared
 * machine they are noisy. Kernel times come from `lib/backend/kernel_timer.ts` (exclusive of nested kernels);
 * "outside kernels" is the rest of the step: tfjs's engine and gradient tape, and JavaScript.
 *
 * The step itself is exported ({@link createT5Step}) for `scripts/bench_blas.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, describeBackend, initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { installKernelTimer, type KernelTime } from "../lib/backend/kernel_timer.ts";
import { setStockWasm } from "../lib/backend/wasm_kernels.ts";
import { COMPARATOR_SHAPES, parseT5Config, t5ParameterCount } from "../lib/t5/config.ts";
import { createT5, t5Loss, t5ValueAndGrads } from "../lib/t5/model.ts";
import { collate, type Feature } from "../lib/train/features.ts";
import { scorePerExample } from "../lib/methods/scoring.ts";
import { t5Trainable } from "../lib/methods/t5_trainable.ts";
import { Adafactor } from "../lib/optim/adafactor.ts";
import { clipGradNorm } from "../lib/optim/clip.ts";

/** Named shapes; t5-mini and t5-small are the torch comparator's (`--config` there). */
export const SHAPES: Record<string, Record<string, unknown>> = {
  "t5-mini": { ...COMPARATOR_SHAPES["t5-mini"], vocab_size: 32128 },
  "t5-small": { ...COMPARATOR_SHAPES["t5-small"], vocab_size: 32128 },
  "tiny": { d_model: 64, d_ff: 256, d_kv: 16, num_heads: 4, num_layers: 2, vocab_size: 1024 },
};

/** Options for {@link createT5Step}. */
export interface StepOptions {
  shape: string;
  batch: number;
  src: number;
  tgt: number;
  /** Percent of gradient entries the fixed mask keeps. */
  k: number;
  /** Dropout rate of a training step (default 0: no dropout, the comparator's default too). */
  dropout?: number;
  seed?: number;
}

/** A ready-to-run training step on the active backend. */
export interface T5Step {
  params: number;
  /** Runs one step; resolves with its loss once every kernel has run (wasm is synchronous). */
  run(): Promise<number>;
  dispose(): void;
}

function randomIds(rows: number, cols: number, vocab: number, seed: number): number[][] {
  // Ids in [2, vocab): clear of pad (0) and eos (1), as the torch comparator's batch.
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return Array.from(
    { length: rows },
    () => Array.from({ length: cols }, () => 2 + Math.floor(next() * (vocab - 2))),
  );
}

/** Builds the model, masks, optimizer and batch for a T5 step on the current backend. */
export function createT5Step(o: StepOptions): T5Step {
  // Not 0: tfjs treats a seed of 0 as "no seed", and createT5 seeds its first parameter with seed·1000003.
  const seed = o.seed ?? 1;
  const dropout = o.dropout ?? 0;
  const config = parseT5Config({ ...SHAPES[o.shape], dropout_rate: dropout });
  const model = createT5(config, { seed });
  const masks = new Map<string, tf.Tensor>();
  let i = 0;
  for (const [name, p] of model.params) {
    masks.set(
      name,
      tf.tidy(() => tf.randomUniform(p.shape, 0, 1, "float32", seed + 1 + i++).less(o.k / 100).toFloat()),
    );
  }
  const opt = new Adafactor(model.params);
  const inputs = {
    inputIds: tf.tensor2d(randomIds(o.batch, o.src, config.vocab_size, seed + 2), undefined, "int32"),
    labels: tf.tensor2d(randomIds(o.batch, o.tgt, config.vocab_size, seed + 3), undefined, "int32"),
  };
  return {
    params: t5ParameterCount(config),
    async run() {
      const { loss, grads } = t5ValueAndGrads(model, () => t5Loss(model, inputs, { training: dropout > 0 }));
      for (const [name, g] of grads) {
        grads.set(name, g.mul(masks.get(name)!));
        g.dispose();
      }
      clipGradNorm(grads, 1.0).dispose();
      opt.step(grads);
      for (const g of grads.values()) g.dispose();
      const value = (await loss.data())[0];
      loss.dispose();
      return value;
    },
    dispose() {
      opt.dispose();
      model.dispose();
      tf.dispose([...masks.values(), inputs.inputIds, inputs.labels]);
    },
  };
}

/**
 * FISH-DIP's scoring pass over `o.batch` examples of `o.src` + `o.tgt` tokens (ids clear of pad
 * and EOS): per-example losses without gradients through `scorePerExample`, as a refresh runs it
 * (training mode with dropout 0, so length-bucketed up to its token budget). `run` resolves with
 * the mean loss once the losses are read back; `o.k` is unused.
 */
export function createT5Scoring(o: StepOptions): T5Step {
  const seed = o.seed ?? 1;
  const config = parseT5Config({ ...SHAPES[o.shape], dropout_rate: 0 });
  const model = createT5(config, { seed });
  const src = randomIds(o.batch, o.src, config.vocab_size, seed + 2);
  const tgt = randomIds(o.batch, o.tgt, config.vocab_size, seed + 3);
  const examples: Feature[] = src.map((ids, i) => ({
    id: `${i}`,
    index: i,
    inputIds: ids,
    labelIds: tgt[i],
  }));
  const m = t5Trainable(model);
  return {
    params: t5ParameterCount(config),
    async run() {
      const losses = await scorePerExample(m, { examples, collate }, { training: true, batchSize: o.batch });
      return losses.reduce((a, x) => a + x, 0) / losses.length;
    },
    dispose: () => model.dispose(),
  };
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function flag(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

/** Detail key for matrix products: shapes, transposes and FLOP per call. */
function productShapes(kernel: string, inputs: tf.NamedTensorInfoMap, attrs: unknown): string | undefined {
  if (kernel !== "BatchMatMul" && kernel !== "_FusedMatMul") return undefined;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2],
    k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = Math.max(
    a.shape.slice(0, -2).reduce((x, y) => x * y, 1),
    b.shape.slice(0, -2).reduce((x, y) => x * y, 1),
  );
  const t = `${transposeA ? "ᵀ" : ""}${transposeB ? " ·ᵀ" : ""}`;
  return `[${a.shape}]×[${b.shape}]${t} flop=${2 * batch * m * k * n}`;
}

function table(rows: KernelTime[], steps: number, stepMs: number, top: number): string {
  const lines = [
    `  ${"kernel".padEnd(28)} ${"ms/step".padStart(9)} ${"share".padStart(6)} ${"calls/step".padStart(10)}`,
  ];
  for (const r of rows.slice(0, top)) {
    lines.push(
      `  ${r.kernel.padEnd(28)} ${(r.ms / steps).toFixed(1).padStart(9)} ${
        (100 * r.ms / steps / stepMs).toFixed(1).padStart(5)
      }% ${String(Math.round(r.calls / steps)).padStart(10)}`,
    );
  }
  const rest = rows.slice(top).reduce((a, r) => a + r.ms, 0) / steps;
  if (rows.length > top) {
    lines.push(`  ${`(${rows.length - top} other kernels)`.padEnd(28)} ${rest.toFixed(1).padStart(9)}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = Deno.args;
  const o: StepOptions = {
    shape: flag(args, "config", "t5-mini"),
    batch: Number(flag(args, "batch", "8")),
    src: Number(flag(args, "src", "128")),
    tgt: Number(flag(args, "tgt", "64")),
    k: Number(flag(args, "k", "1")),
    dropout: Number(flag(args, "dropout", "0")),
  };
  const scoring = flag(args, "mode", "step") === "scoring";
  if (!SHAPES[o.shape]) throw new Error(`--config must be one of ${Object.keys(SHAPES).join(", ")}`);
  const steps = Number(flag(args, "steps", "2")), warmup = Number(flag(args, "warmup", "1"));
  const top = Number(flag(args, "top", "20"));
  // "wasm-stock": the wasm backend without this project's speed fixes (tfjs 4.22 as shipped).
  const variants = flag(args, "backends", "wasm,wasm+blas").split(",");
  const backends = variants.map((v) => v === "wasm-stock" ? "wasm" : parseBackendName(v)) as BackendName[];
  console.log(
    `profile: T5 ${o.shape} ${
      JSON.stringify(SHAPES[o.shape])
    }, batch ${o.batch}, src ${o.src}, tgt ${o.tgt}, ` +
      (scoring ? "scoring pass (no gradients)" : `k ${o.k}%`) + `, ${warmup} warm-up + ${steps} timed steps`,
  );
  let timer: ReturnType<typeof installKernelTimer> | undefined;
  for (const [vi, b] of backends.entries()) {
    const info = await initBackend(b, { quiet: true });
    const stock = variants[vi] === "wasm-stock";
    setStockWasm(stock);
    console.log(`\n== ${describeBackend(info)}${stock ? " [stock tfjs kernels: FISHDIP_WASM_STOCK]" : ""}`);
    timer ??= installKernelTimer(tf.getBackend(), { detail: productShapes });
    const step = scoring ? createT5Scoring(o) : createT5Step(o);
    for (let i = 0; i < warmup; i++) await step.run();
    timer.reset();
    const times: number[] = [];
    let loss = NaN;
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      loss = await step.run();
      times.push(performance.now() - t0);
    }
    const rows = timer.totals();
    const stepMs = times.reduce((a, b) => a + b, 0) / steps;
    const inKernels = rows.reduce((a, r) => a + r.ms, 0) / steps;
    console.log(
      `params ${step.params.toLocaleString("en-US")}; step median ${median(times).toFixed(0)} ms ` +
        `(all: ${times.map((t) => t.toFixed(0)).join(", ")}); loss ${loss.toFixed(4)}`,
    );
    console.log(
      `in kernels ${inKernels.toFixed(0)} ms/step, outside kernels ${
        (stepMs - inKernels).toFixed(0)
      } ms/step ` +
        `(shares below are of the mean step, ${stepMs.toFixed(0)} ms)`,
    );
    console.log(table(rows, steps, stepMs, top));
    console.log(
      `  matrix products by shape (a × b, transposes), slowest ${top}; GFLOP/s = 2·batch·m·k·n / time:`,
    );
    for (const d of timer.details().slice(0, top)) {
      const flop = Number(d.kernel.split(" flop=")[1]) * d.calls;
      console.log(
        `    ${d.kernel.split(" flop=")[0].padEnd(58)} ${(d.ms / steps).toFixed(1).padStart(8)} ms/step ${
          String(Math.round(d.calls / steps)).padStart(4)
        } calls ${(flop / d.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s`,
      );
    }
    step.dispose();
  }
}
