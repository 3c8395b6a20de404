import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertLessOrEqual } from "@std/assert";
import { initBackend, probeWebGpu } from "../backend/mod.ts";
import { countReadbacks } from "../backend/gpu_readbacks.ts";
import { FishDip, scoreExamples } from "../methods/fishdip.ts";
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
  assertEquals([counts.reads, counts.readSyncs, counts.downloads, counts.maxDownloadBytes], [1, 1, 0, 0]);
  assertEquals([backend.read, backend.readSync], before);
  assertEquals(Object.prototype.hasOwnProperty.call(backend, "read"), false);
});

// A FISH-DIP step and two refreshes on a small random T5 (vocabulary 512, so that lavapipe runs
// it in a few seconds), counting the buffers copied back from the GPU. Like the other webgpu tests
// it runs where an adapter exists; FISHDIP_GPU_TESTS=0 skips it.
const gpuTests = Deno.env.get("FISHDIP_GPU_TESTS") !== "0";
const adapter = gpuTests ? await probeWebGpu() : undefined;
Deno.test({
  name:
    "readbacks on webgpu: a FISH-DIP step reads the loss only; a refresh its scoring batches and small count vectors",
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
    const method = new FishDip<(typeof examples)[number], T5Inputs>({ nBatchSize: 32, refreshEvery: 3 });
    const optimizer = new Adafactor(model.params);
    try {
      // What the scoring pass alone reads (one loss vector per scoring batch).
      let counter = countReadbacks();
      (await scoreExamples(ctx.model, ctx.data, 2 * B, { training: false })).fill(0);
      const scoring = counter.stop();
      counter = countReadbacks();
      await method.prepare(ctx);
      const first = counter.stop();
      const batch = collate(examples.slice(0, B));
      const run = (step: number) => sparseTrainStep({ step, totalSteps: 10, batch, ctx, method, optimizer });
      await run(1); // warm-up
      counter = countReadbacks();
      const r2 = await run(2);
      const step = counter.stop();
      const tensors = tf.memory().numTensors;
      counter = countReadbacks();
      assertEquals(await method.beforeStep(3, ctx), true);
      const refresh = counter.stop();
      // beforeStep already refreshed: run step 3's rest through a step that does not refresh.
      await run(4);
      await run(5);
      assertEquals(tf.memory().numTensors, tensors, "no tensors gained over a refresh and two steps");
      const P = model.params.size, [h0, h1] = method.history;
      console.log(`  step: ${JSON.stringify(step)} (gradNorm ${r2.gradNorm})`);
      console.log(`  scoring pass alone: ${JSON.stringify(scoring)}`);
      for (const [name, c, h] of [["initial mask", first, h0], ["refresh", refresh, h1]] as const) {
        console.log(
          `  ${name} (${P} parameters, n = ${h.selected.length}, ${h.searchRounds} search rounds, ` +
            `kept ${h.kept}): ${JSON.stringify(c)}`,
        );
      }
      // The step reads the loss: one 4-byte download. The gradient norm stays on the GPU.
      assertEquals([step.downloads, step.downloadBytes, step.readSyncs], [1, 4, 0]);
      assert(Number.isNaN(r2.gradNorm) && Number.isFinite(r2.loss));
      // A refresh reads the scoring losses, one count vector per search round, the tie counts and
      // the kept counts (and the overlap with the previous mask): never a parameter-sized buffer.
      for (const [c, h, extra] of [[first, h0, 2], [refresh, h1, 3]] as const) {
        assertEquals(c.readSyncs, 0);
        assert(h.searchRounds !== undefined && h.searchRounds <= 9, `${h.searchRounds} rounds`);
        assertLessOrEqual(c.downloads, scoring.downloads + h.searchRounds + extra);
        assertLessOrEqual(c.maxDownloadBytes, 4 * (P + 64));
      }
      assertEquals(h1.overlapWithPrevious !== undefined, true);
      assertEquals(method.maskStats!.keptCount, h1.kept);
      // A checkpoint's export is the one read of the mask itself (bit-packed, 16 entries a float).
      counter = countReadbacks();
      const sparse = await method.exportMask();
      const exported = counter.stop();
      console.log(`  export for a checkpoint: ${JSON.stringify(exported)}`);
      assertEquals([exported.downloads, sparse!.keptCount], [1, h1.kept]);
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
