import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { sharedAvailability } from "../../tests/experiments.ts";
import { cellId, trainExamples } from "./cells.ts";
import {
  estimateSeconds,
  estimateWork,
  maskExamples,
  measuredRates,
  NOMINAL_RATES,
  parseShard,
  shard,
} from "./estimate.ts";
import { planPreset } from "./plan.ts";

Deno.test("shard: every cell in exactly one shard, stable, dependants with their meta cell", () => {
  const cells = planPreset("cpu", { availability: sharedAvailability() }).cells;
  for (const n of [1, 3, 7]) {
    const parts = Array.from({ length: n }, (_, i) => shard(cells, i + 1, n));
    const all = parts.flat().map(cellId);
    assertEquals(all.length, cells.length);
    assertEquals(new Set(all).size, cells.length);
    assertEquals(shard(cells, 1, n).map(cellId), parts[0].map(cellId));
    for (const part of parts) {
      const here = new Set(part.map(cellId));
      for (const c of part) if (c.init) assert(here.has(c.init), "episode cell away from its meta cell");
    }
  }
  // Balanced by estimated time: hashing ids gave the cpu preset 86 min against 3.7 h on two shards.
  for (const n of [2, 3, 4]) {
    const loads = Array.from(
      { length: n },
      (_, i) => estimateSeconds(shard(cells, i + 1, n), NOMINAL_RATES)!,
    );
    const biggestGroup = Math.max(
      ...[...Map.groupBy(cells, (c) => c.init ?? cellId(c)).values()].map((g) =>
        estimateSeconds(g, NOMINAL_RATES)!
      ),
    );
    // Greedy longest-first: no shard exceeds the lightest by more than one group.
    assert(Math.max(...loads) - Math.min(...loads) <= biggestGroup, `${n} shards: ${loads.map(Math.round)}`);
    assert(Math.max(...loads) / Math.min(...loads) < 1.1, `${n} shards: ${loads.map(Math.round)}`);
  }
  assertEquals(parseShard("2/4"), { i: 2, n: 4 });
  assertThrows(() => parseShard("5/4"));
  assertThrows(() => parseShard("x"));
});

Deno.test("measuredRates and estimateSeconds: the time of cells at the pace of finished runs", () => {
  const plan = planPreset("smoke", { availability: sharedAvailability() });
  const gen = plan.cells.find((c) => !c.episode && c.method.name === "full" && c.evaluate.length)!;
  const fd = plan.cells.find((c) => !c.episode && c.method.name === "fishdip" && c.evaluate.length)!;
  const epi = plan.cells.find((c) => c.episode)!;
  const [wg, wf, we] = [estimateWork([gen]), estimateWork([fd]), estimateWork([epi])];
  assert(wf.mask > 0 && wg.mask === 0);
  // 2 s per step, 0.5 s per generated sentence, 0.25 s per FewRel candidate, 0.1 s per mask
  // example; a run's training time includes its mask time.
  const runs = [
    { cell: gen, timings: { train: 2 * wg.steps, eval: 0.5 * wg.generated } },
    {
      cell: fd,
      timings: { train: 2 * wf.steps + 0.1 * wf.mask, eval: 0.5 * wf.generated, mask: 0.1 * wf.mask },
    },
    {
      cell: epi,
      timings: { train: 2 * we.steps + 0.1 * we.mask, eval: 0.25 * we.candidates, mask: 0.1 * we.mask },
    },
  ];
  const rates = measuredRates(runs);
  for (const [k, v] of Object.entries({ step: 2, generated: 0.5, candidate: 0.25, mask: 0.1 })) {
    assertAlmostEquals(rates[k as keyof typeof rates]!, v, 1e-12, k);
  }
  const all = estimateWork(plan.cells);
  assertAlmostEquals(
    estimateSeconds(plan.cells, rates)!,
    2 * all.steps + 0.5 * all.generated + 0.25 * all.candidates + 0.1 * all.mask,
    1e-9,
  );
  // Without a finished FewRel run there is no candidate rate: no estimate for cells that need one.
  assertEquals(estimateSeconds([epi], measuredRates(runs.slice(0, 1))), undefined);
  assertEquals(estimateSeconds([gen], measuredRates(runs.slice(0, 1))), 2 * wg.steps + 0.5 * wg.generated);
  // Nor for mask work without a run that timed its mask.
  assertEquals(estimateSeconds([fd], measuredRates(runs.slice(0, 1))), undefined);
});

Deno.test("maskExamples: FISH-DIP scores the subset at every refresh, FISH takes a gradient per example", () => {
  const cpu = planPreset("cpu", { availability: sharedAvailability() });
  const at = (method: string) =>
    cpu.cells.find((c) =>
      c.dataset === "conll03" && c.fraction === 0.01 && c.method.name === method &&
      (c.method.name !== "fishdip" || c.method.m === 10)
    )!;
  // CoNLL-2003 1 %: 140 examples, 60 steps of batch 8, m = 10 (initial mask + 6 refreshes), n = 3.
  assertEquals(trainExamples(at("fishdip")), 140);
  assertEquals(maskExamples(at("fishdip")), 7 * (140 + 3));
  assertEquals(maskExamples(at("fish")), 140 + 140);
  assertEquals(maskExamples(at("full")), 0);
});
