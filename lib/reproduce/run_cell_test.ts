import { assertEquals, assertThrows } from "@std/assert";
import { candidateLabels } from "./run_cell.ts";

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
