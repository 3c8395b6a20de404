import { assert, assertEquals } from "@std/assert";
import { trainSteps } from "../experiments/cells.ts";
import {
  DOWNSTREAM_BUDGET,
  DOWNSTREAM_SETTINGS,
  downstreamCell,
  type DownstreamRecord,
  downstreamTable,
} from "./downstream.ts";

Deno.test("downstreamCell: full fine-tuning for exactly the budget's steps, scored on test", () => {
  for (const s of DOWNSTREAM_SETTINGS) {
    const cell = downstreamCell(s, 2, "fishdip-t5-mini");
    assertEquals(cell.method, { name: "full" });
    assertEquals(trainSteps(cell), DOWNSTREAM_BUDGET.steps);
    assertEquals(cell.seed, 2);
    assertEquals(cell.evaluate, [{ dataset: s.dataset, split: "test", subsample: s.testSubsample }]);
    assertEquals(cell.padLabels, undefined); // pads counted, as in TANL
  }
  // A subset larger than the budget still stops at the budget (epochs rounded up, steps capped).
  const big = downstreamCell({ dataset: "conll03", fraction: 0.1 }, 1, "x", {
    ...DOWNSTREAM_BUDGET,
    steps: 7,
  });
  assertEquals(trainSteps(big), 7);
});

Deno.test("downstreamTable: mean ± sample std per dataset and init, '-' for metrics a dataset lacks", () => {
  const rec = (init: string, seed: number, f1: number, loss: number): DownstreamRecord => ({
    init,
    seed,
    dataset: "conll03",
    fraction: 0.01,
    steps: 100,
    batch: 8,
    test_subsample: 500,
    metrics: { "conll03/test": { entity_f1: f1, reconstruction_rate: 0.5 } },
    last_losses: [loss, loss],
    seconds: 1,
  });
  const table = downstreamTable([
    rec("random", 2, 0, 1),
    rec("pretrained", 2, 0.2, 0.5),
    rec("pretrained", 1, 0.1, 0.3),
  ])
    .split("\n");
  assertEquals(table.length, 4);
  assertEquals(
    table[2],
    "| conll03 (1%) | 500 | pretrained | 1,2 | 15.0 ± 7.1 | - | 50.0 ± 0.0 | - | 0.40 ± 0.14 |",
  );
  assert(table[3].includes("| random | 2 | 0.0 ± 0.0 |"), table[3]);
});
