import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { initBackend } from "../backend/mod.ts";
import { planPreset } from "../experiments/plan.ts";
import { latestCheckpoint } from "../train/trainer.ts";
import { ignoreWithoutData } from "../../tests/support.ts";
import { candidateLabels, runCell } from "./run_cell.ts";

Deno.test("FewRel ranking: the reference's padded mean, or the sum of real-token losses without learnt pads", () => {
  const ids = [[5, 6, 1], [7, 1]];
  const reference = candidateLabels(ids, { maxOutputLength: 5 });
  assertEquals(reference.labels, [[5, 6, 1, 0, 0], [7, 1, 0, 0, 0]]);
  assertEquals(reference.score([0.4, 0.3]), [0.4, 0.3]);
  const cpu = candidateLabels(ids, { maxOutputLength: 5, padLabels: "longest" });
  assertEquals(cpu.labels, [[5, 6, 1], [7, 1, -100]]);
  // Means over 3 and 2 real tokens: the shorter name no longer wins by its length alone.
  assertEquals(cpu.score([0.5, 0.9]), [1.5, 1.8]);
});

Deno.test("an empty evaluation split is an error naming the dataset's files, not a score of 0", async () => {
  const { evaluationExamples } = await import("./run_cell.ts");
  const { DataFormatError } = await import("../data/mod.ts");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/conll04`);
    for (const split of ["train", "dev", "test"]) {
      await Deno.writeTextFile(`${dir}/conll04/conll04_${split}.json`, "[]");
    }
    const cell = { dataset: "conll04", seed: 1 } as Parameters<typeof evaluationExamples>[1];
    assertThrows(
      () =>
        evaluationExamples({ dataset: "conll04", split: "test" }, cell, {
          dataDir: dir,
          checkpointDir: "",
          log: () => {},
        }),
      DataFormatError,
      "the test split of conll04 has no examples",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "runCell: a resumable cell trained to the end by an earlier process continues to the same result",
  ignore: ignoreWithoutData("conll04/conll04_train.json"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await initBackend("wasm", { quiet: true });
    const plan = planPreset("smoke", { only: ["lowResource", "sparseMethods"], datasets: ["conll04"] });
    const fishdip = plan.cells.find((c) => c.method.name === "fishdip")!;
    const spiel = plan.cells.find((c) => c.method.name === "spiel")!;
    const dir = await Deno.makeTempDir();
    try {
      const ctx = (name: string) => ({
        checkpointDir: `${dir}/weights`,
        trainDir: `${dir}/${name}`,
        log: () => {},
      });
      const first = await runCell(fishdip, ctx("fishdip"), { quiet: true });
      assertEquals(first.resumedFrom, undefined);
      assertEquals(await latestCheckpoint(`${dir}/fishdip`), `${dir}/fishdip/checkpoint-${first.steps}`);
      // A kill between training and evaluation: the next process loads the weights, trains no more.
      const again = await runCell(fishdip, ctx("fishdip"), { quiet: true });
      assertEquals(again.resumedFrom, first.steps);
      assertEquals(again.losses, first.losses);
      assertEquals(again.masks, first.masks);
      assertEquals(again.metrics, first.metrics);
      // Checkpoints that do not fit the cell (saved by code that planned other steps): removed, and
      // the cell starts again, to the same result.
      const state = `${dir}/fishdip/checkpoint-${first.steps}/state.json`;
      await Deno.writeTextFile(
        state,
        JSON.stringify({ ...JSON.parse(await Deno.readTextFile(state)), total: 99 }),
      );
      const said: string[] = [];
      const fresh = await runCell(fishdip, { ...ctx("fishdip"), log: (m) => said.push(m) }, { quiet: true });
      assert(
        said.some((m) => m.startsWith(`cannot continue from ${dir}/fishdip`) && m.includes("99 steps")),
        said.join("\n"),
      );
      assertEquals(fresh.resumedFrom, undefined);
      assertEquals(fresh.metrics, first.metrics);
      // SpIEL keeps state a checkpoint lacks: its cells start again, and write no checkpoints.
      await runCell(spiel, ctx("spiel"), { quiet: true });
      await assertRejects(() => Deno.stat(`${dir}/spiel`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
