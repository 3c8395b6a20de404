/**
 * T5 speed benchmark: one training step's forward + backward (loss and gradients of every
 * parameter; no optimizer) and greedy decoding, on a randomly initialised model.
 *
 * ```sh
 * deno task bench:t5                                   # t5-mini, wasm, batch 8, src 128, tgt 64
 * deno task bench:t5 --config t5-small --steps 2 --warmup 1
 * deno task bench:t5 --backend webgpu --json
 * ```
 *
 * Shapes follow `../shared/bench/torch_t5_step.py`'s named configs, so `--k 100` runs of that
 * script (its forward and backward phases) are the PyTorch comparison. Numbers taken on a shared
 * machine are indicative only.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { describeBackend, initBackend, parseBackendName } from "../lib/backend/mod.ts";
import { COMPARATOR_SHAPES, parseT5Config, t5ParameterCount } from "../lib/t5/config.ts";
import { createT5, t5Loss, t5ValueAndGrads } from "../lib/t5/model.ts";
import { t5Generate } from "../lib/t5/generate.ts";
import { randomIds } from "../lib/gpu/bench.ts";

/** Named shapes, as in the PyTorch comparator (`tiny` is the fixtures' shape, for smoke runs). */
const SHAPES: Record<string, Readonly<Record<string, number>>> = {
  tiny: { d_model: 64, d_ff: 128, d_kv: 16, num_heads: 4, num_layers: 2 },
  ...COMPARATOR_SHAPES,
};

function parseArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"`);
    const [k, v] = a.slice(2).split("=", 2);
    if (v !== undefined) out[k] = v;
    else if (i + 1 < args.length && !args[i + 1].startsWith("--")) out[k] = args[++i];
    else out[k] = "true";
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const a = parseArgs(Deno.args);
  if (a.help) {
    console.log(
      "deno task bench:t5 [--config tiny|t5-mini|t5-small] [--backend wasm|webgpu|cpu|auto] [--batch 8]\n" +
        "  [--src-len 128] [--tgt-len 64] [--steps 3] [--warmup 1] [--ffn relu|gated-gelu] [--untied]\n" +
        "  [--gen-batch 8] [--gen-max-length 20] [--gen-runs 1] [--no-generate] [--json]",
    );
    return;
  }
  const name = a.config ?? "t5-mini";
  const shape = SHAPES[name];
  if (!shape) throw new Error(`unknown --config "${name}": one of ${Object.keys(SHAPES).join(", ")}`);
  const info = await initBackend(parseBackendName(a.backend ?? "wasm"), { quiet: true });
  const config = parseT5Config({
    ...shape,
    feed_forward_proj: a.ffn ?? "relu",
    tie_word_embeddings: a.untied !== "true",
    dropout_rate: 0,
  });
  const B = Number(a.batch ?? 8), S = Number(a["src-len"] ?? 128), T = Number(a["tgt-len"] ?? 64);
  const steps = Number(a.steps ?? 3), warmup = Number(a.warmup ?? 1);
  const model = createT5(config, { seed: 0 });
  const inputs = {
    inputIds: randomIds(B, S, config.vocab_size, 2),
    labels: randomIds(B, T, config.vocab_size, 3),
  };

  // Forward + backward: the loss and every parameter's gradient, read back to force completion.
  const times: number[] = [];
  let loss = NaN;
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { loss: l, grads } = t5ValueAndGrads(model, () => t5Loss(model, inputs, { training: true }));
    loss = (await l.data())[0];
    // Reading one gradient waits for the backward pass on asynchronous backends (webgpu).
    await grads.get("shared.weight")!.data();
    tf.dispose([l, ...grads.values()]);
    const dt = (performance.now() - t0) / 1000;
    if (i >= warmup) times.push(dt);
  }
  const stepS = median(times);

  // Greedy decoding: a batch of sources, max length (counting the start token) per run.
  let gen:
    | { batch: number; maxLength: number; runs: number; seconds: number; sentencesPerS: number }
    | undefined;
  if (a["no-generate"] !== "true") {
    const gb = Number(a["gen-batch"] ?? 8),
      gl = Number(a["gen-max-length"] ?? 20),
      runs = Number(a["gen-runs"] ?? 1);
    const src = randomIds(gb, S, config.vocab_size, 4);
    await t5Generate(model, src, { maxLength: 3 }); // warm-up (kernels, shaders)
    const t0 = performance.now();
    for (let r = 0; r < runs; r++) await t5Generate(model, src, { maxLength: gl });
    const seconds = (performance.now() - t0) / 1000 / runs;
    gen = { batch: gb, maxLength: gl, runs, seconds, sentencesPerS: gb / seconds };
  }
  model.dispose();

  const result = {
    config: name,
    backend: info.backend,
    adapter: info.adapter,
    params: t5ParameterCount(config),
    batch: B,
    src_len: S,
    tgt_len: T,
    steps,
    warmup,
    step_median_s: stepS,
    step_min_s: Math.min(...times),
    step_max_s: Math.max(...times),
    tokens_per_step: B * (S + T),
    tokens_per_s: (B * (S + T)) / stepS,
    loss,
    generate: gen,
  };
  if (a.json === "true") {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(describeBackend(info));
  console.log(
    `${name} (${(result.params / 1e6).toFixed(1)} M parameters), batch ${B}, src ${S}, tgt ${T}: ` +
      `forward+backward ${stepS.toFixed(3)} s/step median of ${steps} (min ${
        result.step_min_s.toFixed(3)
      }, ` +
      `max ${result.step_max_s.toFixed(3)}), ${result.tokens_per_s.toFixed(0)} tokens/s, loss ${
        loss.toFixed(4)
      }`,
  );
  if (gen) {
    console.log(
      `greedy decoding: ${gen.batch} sources of ${S} tokens, max_length ${gen.maxLength}: ` +
        `${gen.seconds.toFixed(3)} s per batch, ${gen.sentencesPerS.toFixed(2)} sentences/s`,
    );
  }
}

if (import.meta.main) await main();
