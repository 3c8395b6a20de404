import { assert, assertAlmostEquals, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  type Availability,
  datasetAvailability,
  type DatasetName,
  DATASETS,
  nRule,
  pyRound,
} from "./datasets.ts";
import {
  canonicalJson,
  type Cell,
  cellId,
  cellLabel,
  type Entry,
  estimateSeconds,
  estimateWork,
  fnv1a64,
  maskExamples,
  measuredRates,
  NOMINAL_RATES,
  PAPER_EPOCHS,
  parseShard,
  planPreset,
  PRESETS,
  regressingSamples,
  shard,
  TABLES,
  trainExamples,
  trainSteps,
} from "./grid.ts";

/** Availability as on this project's shared data folder: the licensed datasets are missing. */
function sharedAvailability(): Record<DatasetName, Availability> {
  const present = new Set<DatasetName>(["conll03", "conll04", "ade", "fewrel", "fewrel_standin"]);
  const out = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) {
    out[d] = { available: present.has(d), missing: present.has(d) ? [] : DATASETS[d].files };
  }
  return out;
}
function allAvailable(): Record<DatasetName, Availability> {
  const out = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) out[d] = { available: true, missing: [] };
  return out;
}

const base: Cell = {
  dataset: "conll04",
  task: "joint_er",
  fraction: 0.01,
  method: { name: "fishdip", k: 0.01, m: 100, n: "rule" },
  optimizer: { name: "adafactor", lr: 1e-2 },
  seed: 1,
  epochs: 1000,
  batchSize: 32,
  maxInputLength: 256,
  maxOutputLength: 256,
  maxOutputLengthEval: 512,
  decoding: "greedy",
  backbone: "t5-large",
  evaluate: [{ dataset: "conll04", split: "test" }],
};

Deno.test("cellId: stable, key-order and undefined-field independent, value sensitive", () => {
  const id = cellId(base);
  assertEquals(id, cellId(structuredClone(base)));
  assertEquals(id.length, 16);
  // Reordered keys and an explicit undefined optional field give the same id.
  const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as Cell;
  assertEquals(cellId({ ...reordered, init: undefined }), id);
  assertNotEquals(cellId({ ...base, seed: 2 }), id);
  assertNotEquals(cellId({ ...base, method: { name: "fishdip", k: 0.01, m: 50, n: "rule" } }), id);
  assertNotEquals(cellId({ ...base, evaluate: [{ dataset: "conll04", split: "test", subsample: 100 }] }), id);
  // Pinned value: a changed hash would silently orphan every stored result.
  assertEquals(canonicalJson({ b: 1, a: [1, { d: undefined, c: "x" }] }), '{"a":[1,{"c":"x"}],"b":1}');
  assertEquals(fnv1a64(""), "cbf29ce484222325");
  assertEquals(fnv1a64("a"), "af63dc4c8601ec8c");
});

Deno.test("pyRound and the n rule follow the reference's Python", () => {
  assertEquals(pyRound(2.5), 2);
  assertEquals(pyRound(3.5), 4);
  assertEquals(pyRound(9.22), 9);
  assertEquals(pyRound(0.005 * 500), 2); // 2.5 in binary is a tie
  // CoNLL04 1 %: 9 examples, 1 batch -> clamp(0, 3, 25) = 3; CoNLL03 10 %: 1404 -> 44 batches -> 4.
  assertEquals(nRule(9, 32), 3);
  assertEquals(nRule(1404, 32), 4);
  assertEquals(nRule(44800, 32), 25);
  assertEquals(nRule(3, 32), 2); // at most N - 1
  assertEquals(nRule(1, 32), 1);
  assertEquals(regressingSamples(base), 3);
  assertEquals(trainSteps(base), 1000);
});

Deno.test("paper preset: reference epochs, batch 32, seeds, lengths, backbone", () => {
  const plan = planPreset("paper", { availability: allAvailable() });
  assertEquals(plan.blocked.length, 0);
  const low = plan.entries.filter((e) => e.table === "lowResource");
  for (const e of low) {
    for (const c of e.cells) {
      assertEquals(c.epochs, PAPER_EPOCHS[c.dataset]![c.fraction!], cellLabel(c));
      assertEquals(c.batchSize, 32);
      assertEquals(c.backbone, "t5-large");
      assertEquals(c.evaluate.every((t) => t.subsample === undefined), true);
      assertEquals(
        c.method.name === "fishdip" ? [c.method.k, c.method.m, c.method.n] : null,
        c.method.name === "fishdip" ? [0.01, 100, "rule"] : null,
      );
    }
    assertEquals(e.cells.map((c) => c.seed), e.cells[0].dataset === "multi_woz" ? [1] : [1, 2, 3]);
  }
  const epochs = (d: DatasetName, f: number) =>
    low.find((e) => e.cells[0].dataset === d && e.cells[0].fraction === f)!.cells[0].epochs;
  assertEquals([epochs("conll03", 0.1), epochs("conll03", 0.05), epochs("conll03", 0.01)], [200, 200, 250]);
  assertEquals([epochs("conll04", 0.01), epochs("conll04", 0.1)], [1000, 800]);
  assertEquals([epochs("conll05_srl", 0.005), epochs("multi_woz", 0.005)], [200, 500]);
  // Generation lengths of config.ini: 512 for conll03/conll04/ace/multiwoz, 256 for ontonotes/SRL.
  const conll03 = low.find((e) => e.cells[0].dataset === "conll03")!.cells[0];
  assertEquals([conll03.maxInputLength, conll03.maxOutputLengthEval], [256, 512]);
  assertEquals(low.find((e) => e.cells[0].dataset === "ontonotes")!.cells[0].maxOutputLengthEval, 256);
  assertEquals(low.find((e) => e.cells[0].dataset === "multi_woz")!.cells[0].maxInputLength, 512);
  // Few-shot: 4 settings x 10 episodes, 1250/250 epochs, meta-training first with one epoch.
  const few = plan.entries.filter((e) => e.table === "fewShot" && e.method === "fishdip");
  assertEquals(few.map((e) => e.row), ["5-way 1-shot", "5-way 5-shot", "10-way 1-shot", "10-way 5-shot"]);
  for (const e of few) {
    assertEquals(e.cells.map((c) => c.seed), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assertEquals(e.cells[0].epochs, e.cells[0].episode!.shots === 1 ? 1250 : 250);
    assertEquals(e.cells[0].episode!.queries, 5);
    const meta = e.requires![0];
    assertEquals([meta.dataset, meta.epochs, meta.saveCheckpoint], ["fewrel_train_wiki", 1, true]);
    assertEquals(e.cells[0].init, cellId(meta));
    // The meta cell precedes its dependants in the run order.
    const ids = plan.cells.map(cellId);
    assert(ids.indexOf(cellId(meta)) < ids.indexOf(cellId(e.cells[0])));
  }
});

Deno.test("every table has all its rows, in every preset", () => {
  for (const p of PRESETS) {
    const plan = planPreset(p, { availability: sharedAvailability() });
    assertEquals(new Set(plan.entries.map((e) => e.table)), new Set(TABLES), p);
    // Every row x column of a table is present exactly once.
    for (const t of TABLES) {
      const es = plan.entries.filter((e) => e.table === t);
      const keys = es.map((e) => `${e.row}|${e.column}`);
      assertEquals(new Set(keys).size, keys.length, `${p} ${t} duplicates`);
      const rows = new Set(es.map((e) => e.row)), cols = new Set(es.map((e) => e.column));
      assertEquals(rows.size * cols.size, es.length, `${p} ${t} is not a full grid`);
    }
  }
  const paper = planPreset("paper", { availability: sharedAvailability() });
  const rows = new Set(paper.entries.filter((e) => e.table === "lowResource").map((e) => e.row));
  for (
    const r of [
      "CoNLL03 entity F1, 1%",
      "OntoNotes entity F1, 10%",
      "CoNLL04 relation F1, 5%",
      "ACE05 entity F1, 1%",
      "CoNLL05 WSJ entity F1, 0.5%",
      "CoNLL05 Brown entity F1, 5%",
      "MultiWOZ 2.1 joint accuracy, 1%",
    ]
  ) assert(rows.has(r), r);
  assertEquals(rows.size, 3 * (1 + 1 + 2 + 2 + 1 + 1 + 1));
  const cols = new Set(paper.entries.filter((e) => e.table === "lowResource").map((e) => e.column));
  assertEquals([...cols], ["Full FT", "FISH (fixed mask)", "FISH-DIP"]);
});

Deno.test("unavailable datasets mark their entries and block their cells", () => {
  const plan = planPreset("cpu", { availability: sharedAvailability() });
  const needs = (row: string) => plan.entries.find((e) => e.row === row)!.needs;
  assertEquals(needs("OntoNotes entity F1, 1%"), ["ontonotes"]);
  assertEquals(needs("ACE05 relation F1, 1%"), ["ace2005_joint_er"]);
  assertEquals(needs("CoNLL05 Brown entity F1, 0.5%"), ["conll05_srl", "conll05_srl_brown"]);
  assertEquals(needs("MultiWOZ 2.1 joint accuracy, 5%"), ["multi_woz"]);
  assertEquals(needs("CoNLL04 relation F1, 1%"), []);
  assertEquals(needs("ADE (extra) relation F1, 1%"), []);
  // No runnable cell touches a missing dataset; every blocked cell says why.
  const missing = new Set(["ontonotes", "ace2005_joint_er", "conll05_srl", "conll05_srl_brown", "multi_woz"]);
  for (const c of plan.cells) assert(!missing.has(c.dataset), cellLabel(c));
  assert(plan.blocked.length > 0);
  for (const b of plan.blocked) assert(b.needs.length > 0);
  // CPU few-shot meta-trains on the stand-in relations, so it runs here; paper's needs train_wiki.
  assertEquals(plan.entries.filter((e) => e.table === "fewShot").every((e) => e.needs.length === 0), true);
  const paper = planPreset("paper", { availability: sharedAvailability() });
  const few = paper.entries.filter((e) => e.table === "fewShot");
  assertEquals(few.every((e) => e.needs.includes("fewrel_train_wiki")), true);
  assertEquals(paper.cells.some((c) => c.dataset === "fewrel"), false);
});

Deno.test("datasetAvailability reads the data folder", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/conll04`);
    for (const f of DATASETS.conll04.files) Deno.writeTextFileSync(`${dir}/${f}`, "[]");
    const a = datasetAvailability(dir);
    assertEquals(a.conll04, { available: true, missing: [] });
    assertEquals(a.ontonotes.available, false);
    assertEquals(a.ontonotes.missing, DATASETS.ontonotes.files);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cells are shared between tables: the ablation's default point is the low-resource run", () => {
  const plan = planPreset("cpu", { availability: sharedAvailability() });
  const ids = (e: Entry) => e.cells.map(cellId).join();
  const low = plan.entries.find((e) =>
    e.table === "lowResource" && e.row === "CoNLL04 relation F1, 5%" && e.method === "fishdip"
  )!;
  const k = plan.entries.find((e) =>
    e.table === "ablationK" && e.row === "k = 1%" && e.metric === "relation_f1"
  )!;
  // The ablations run fewer seeds than the low-resource table; theirs are the same runs.
  assert(k.cells.length > 0);
  for (const id of k.cells.map(cellId)) assert(ids(low).split(",").includes(id), id);
  assertEquals(new Set(plan.cells.map(cellId)).size, plan.cells.length);
});

Deno.test("preset sizes", () => {
  const avail = sharedAvailability();
  const size = (p: (typeof PRESETS)[number]) => planPreset(p, { availability: avail }).cells.length;
  const smoke = size("smoke"), quick = size("quick"), cpu = size("cpu");
  assert(smoke <= 15, `smoke has ${smoke} cells`);
  assert(smoke < quick && quick < cpu, `${smoke} ${quick} ${cpu}`);
  const s = planPreset("smoke", { availability: avail });
  assert(s.cells.every((c) => trainSteps(c) <= 2 && c.evaluate.every((t) => (t.subsample ?? 0) <= 8)));
  // The cpu preset gives every run the same step budget, whatever its subset's size.
  const cpuPlan = planPreset("cpu", { availability: avail });
  assertEquals(new Set(cpuPlan.cells.map(trainSteps)), new Set([60]));
  const only = planPreset("quick", { availability: avail, only: ["ablationK"] });
  assertEquals(new Set(only.entries.map((e) => e.table)), new Set(["ablationK"]));
});

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

Deno.test("ablationN: the value of the reference rule is the default run, not a copy", () => {
  const plan = planPreset("cpu", { availability: sharedAvailability() });
  const row = plan.entries.find((e) =>
    e.table === "ablationN" && e.row === "n = 3 (rule)" && e.metric === "relation_f1"
  )!;
  const low = plan.entries.find((e) =>
    e.table === "lowResource" && e.row === "CoNLL04 relation F1, 5%" && e.method === "fishdip"
  )!;
  assert(row.cells.length > 0);
  for (const id of row.cells.map(cellId)) assert(low.cells.map(cellId).includes(id), id);
  assertEquals(regressingSamples(row.cells[0]), 3);
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
