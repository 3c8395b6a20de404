import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertLessOrEqual } from "@std/assert";
import { initBackend, probeWebGpu } from "../backend/mod.ts";
import { countReadbacks } from "../backend/gpu_readbacks.ts";
import { FishDip } from "../methods/fishdip.ts";
import { sparseTrainStep } from "../methods/step.ts";
import { t5Trainable } from "../methods/t5_trainable.ts";
import type { MethodContext } from "../methods/types.ts";
import { Adafactor } from "../optim/adafactor.ts";
import { parseT5Config } from "../t5/config.ts";
import { createT5, type T5Inputs } from "../t5/model.ts";
import { randomIds } from "./bench.ts";

Deno.test("countReadbacks on cpu: counts data() and dataSync() once each, and stop() restores the backend", async () => {
  await initBackend("cpu", { quiet: true });
  const backend = tf.backend() as unknown as Record<string, unknown>;
  const before = [backend.read, backend.readSync];
  const counter = countReadbacks();
  const x = tf.tensor1d([1, 2, 3]).square();
  await x.data();
  x.dataSync();
  const counts = counter.stop();
  x.dispose();
  // cpu's read calls readSync: only the outer call counts.
  assertEquals([counts.reads, counts.readSyncs, counts.downloads], [1, 1, 0]);
  assertEquals([backend.read, backend.readSync], before);
  assertEquals(Object.prototype.hasOwnProperty.call(backend, "read"), false);
});

// A FISH-DIP step and a refresh on a small random T5 (vocabulary 512, so that lavapipe runs it in
// a few seconds), counting the buffers copied back from the GPU. Like the other webgpu tests it
// runs where an adapter exists; FISHDIP_GPU_TESTS=0 skips it.
const gpuTests = Deno.env.get("FISHDIP_GPU_TESTS") !== "0";
const adapter = gpuTests ? await probeWebGpu() : undefined;
Deno.test({
  name:
    "readbacks on webgpu: a FISH-DIP training step reads 2 scalars; a refresh one buffer per parameter plus its scoring batches",
  ignore: !adapter,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend("webgpu", { quiet: true });
    const config = parseT5Config({
      d_model: 32,
      d_ff: 64,
      d_kv: 8,
      num_heads: 4,
      num_layers: 2,
      vocab_size: 512,
      dropout_rate: 0,
    });
    const model = createT5(config, { seed: 0 });
    const N = 6, B = 2, S = 12, T = 6;
    const ids = randomIds(N, S, config.vocab_size, 2), labels = randomIds(N, T, config.vocab_size, 3);
    const examples = ids.map((x, i) => ({ ids: x, labels: labels[i] }));
    const collate = (rows: readonly { ids: number[]; labels: number[] }[]): T5Inputs => ({
      inputIds: rows.map((r) => r.ids),
      labels: rows.map((r) => r.labels),
    });
    const ctx: MethodContext<(typeof examples)[number], T5Inputs> = {
      model: t5Trainable(model),
      data: { examples, collate },
      trainBatchSize: B,
    };
    const method = new FishDip<(typeof examples)[number], T5Inputs>({ nBatchSize: 32 });
    const optimizer = new Adafactor(model.params);
    try {
      let counter = countReadbacks();
      await method.prepare(ctx);
      const refresh = counter.stop();
      const batch = collate(examples.slice(0, B));
      await sparseTrainStep({ step: 1, totalSteps: 10, batch, ctx, method, optimizer }); // warm-up
      counter = countReadbacks();
      await sparseTrainStep({ step: 2, totalSteps: 10, batch, ctx, method, optimizer });
      const step = counter.stop();
      const P = model.params.size, n = method.history[0].selected.length;
      console.log(`  step: ${JSON.stringify(step)}`);
      console.log(`  refresh (${P} parameters, ${N} examples scored, n = ${n}): ${JSON.stringify(refresh)}`);
      // The step reads the loss and the gradient norm (sparseTrainStep returns both as numbers):
      // two 4-byte downloads, nothing else.
      assertEquals([step.downloads, step.downloadBytes, step.readSyncs], [2, 8, 0]);
      // The refresh reads the scoring pass's losses (one read per scoring batch; these 6 short
      // examples make one batch), then each parameter's Fisher sum once for the top-k, which runs
      // in JavaScript. The n per-sample gradients themselves stay on the GPU.
      assertEquals(refresh.readSyncs, 0);
      assertEquals(refresh.downloads, P + 1);
      assertLessOrEqual(n, N);
    } finally {
      method.dispose();
      optimizer.dispose();
      model.dispose();
      await initBackend("cpu", { quiet: true });
    }
  },
});
if (!adapter) {
  console.log(
    gpuTests
      ? "webgpu readback test ignored: no WebGPU adapter"
      : "webgpu readback test ignored: FISHDIP_GPU_TESTS=0",
  );
}
