import { assert, assertEquals, assertThrows } from "@std/assert";
import { allAvailable, sharedAvailability } from "../../tests/experiments.ts";
import { type DatasetName, DATASETS } from "../data/registry.ts";
import { cellId, cellLabel, regressingSamples, trainSteps } from "./cells.ts";
import { type Entry, planPreset, TABLES } from "./plan.ts";
import { PRESET_SPECS, PRESETS, withStepBudget } from "./presets.ts";
import { pathExistsSync, REPO_ROOT } from "../config/paths.ts";

Deno.test("paper preset: reference epochs, batch 32, seeds, lengths, backbone", () => {
  const plan = planPreset("paper", { availability: allAvailable() });
  assertEquals(plan.blocked.length, 0);
  const low = plan.entries.filter((e) => e.table === "lowResource");
  for (const e of low) {
    for (const c of e.cells) {
      assertEquals(c.epochs, DATASETS[c.dataset].paperEpochs![c.fraction!], cellLabel(c));
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

Deno.test("--datasets keeps only those datasets' rows, with the meta-training cells they start from", () => {
  const avail = allAvailable();
  const whole = planPreset("cpu", { availability: avail });
  const part = planPreset("cpu", { availability: avail, datasets: ["conll04", "fewrel"] });
  assert(part.entries.length > 0 && part.entries.length < whole.entries.length);
  for (const c of part.cells) {
    assert(
      ["conll04", "fewrel"].includes(c.dataset) || part.cells.some((d) => d.init === cellId(c)),
      cellLabel(c),
    );
  }
  // Every cell of those rows in the whole plan is in the filtered one, meta-training included.
  const wanted = whole.entries.filter((e) =>
    e.cells.some((c) => c.dataset === "conll04" || c.dataset === "fewrel")
  );
  const ids = new Set(part.cells.map(cellId));
  for (const e of wanted) {
    for (const c of [...(e.requires ?? []), ...e.cells]) assert(ids.has(cellId(c)), cellLabel(c));
  }
  assert(part.cells.some((c) => c.init), "FewRel episodes come with their meta-training");
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

Deno.test("offline presets start each dataset's rows from its offline backbone; --backbone replaces them all", () => {
  for (const preset of ["smoke", "quick", "cpu"] as const) {
    const plan = planPreset(preset, { availability: allAvailable() });
    for (const c of plan.cells) {
      assertEquals(
        c.backbone,
        DATASETS[c.dataset].offlineBackbone ?? PRESET_SPECS[preset].backbone,
        cellLabel(c),
      );
    }
    const used = new Set(plan.cells.map((c) => c.backbone));
    assert(used.has("fishdip-t5-mini-mt-conll04") && used.has("fishdip-t5-mini-mt-conll03-ade-long"), preset);
    const user = planPreset(preset, { availability: allAvailable(), backbone: "t5-small" });
    assertEquals(new Set(user.cells.map((c) => c.backbone)), new Set(["t5-small"]));
    assertEquals(user.backbone, "t5-small");
  }
  for (const c of planPreset("paper", { availability: allAvailable() }).cells) {
    assertEquals(c.backbone, "t5-large");
  }
});

Deno.test("paper preset: FISH-DIP refreshes follow the reference's step counter across a job's seeds", async () => {
  const { FishDip, fishDipSettings } = await import("../methods/fishdip.ts");
  const plan = planPreset("paper", { availability: allAvailable() });
  const entry = plan.entries.find((e) =>
    e.table === "lowResource" && e.method === "fishdip" && e.cells[0].dataset === "conll03" &&
    e.cells[0].fraction === 0.01
  )!;
  const steps = trainSteps(entry.cells[0]);
  assertEquals(steps, 1250); // 250 epochs x ceil(140 / 32)
  assertEquals(
    entry.cells.map((c) => c.method.name === "fishdip" ? c.method.stepOffset : "not fishdip"),
    [undefined, 1250, 2500],
  );

  // Refreshes per seed: 12, then 13 (at steps 50, 150, ..., 1250), then 12.
  const refreshes = entry.cells.map((c) => {
    const m = new FishDip(c.method.name === "fishdip" ? fishDipSettings(c.method) : {});
    let n = 0;
    for (let step = 1; step <= steps; step++) {
      if ((m.config.stepOffset + step) % m.config.refreshEvery === 0) n++;
    }
    return n;
  });
  assertEquals(refreshes, [12, 13, 12]);
  // CPU presets restart the count per run, and keep the reference's n with their batch of 8.
  for (const c of planPreset("cpu", { availability: allAvailable() }).cells) {
    if (c.method.name === "fishdip") {
      assertEquals(c.method.stepOffset, undefined);
      assertEquals(c.method.nBatch, 32);
    }
  }
  // Reference evaluation lengths: inputs cut at max_seq_length_eval (512) where the config sets it.
  assertEquals(entry.cells[0].maxInputLengthEval, 512);
});

Deno.test("withStepBudget: every run's steps and FISH-DIP's m scale together; the report gets its own label", () => {
  const spec = withStepBudget(PRESET_SPECS.cpu, 600);
  assertEquals([spec.label, spec.m, spec.maxSteps, spec.epochs], ["cpu-600steps", 100, 600, { steps: 600 }]);
  assertEquals(spec.mValues, [30, 50, 100, 200, 400]);
  const plan = planPreset(spec, { availability: allAvailable(), only: ["lowResource", "ablationM"] });
  assertEquals(plan.preset, "cpu-600steps");
  assert(plan.cells.length > 0);
  for (const c of plan.cells) {
    assertEquals(c.maxSteps, 600, cellLabel(c));
    if (c.method.name === "fishdip" && c.method.m !== 100) {
      assert(spec.mValues.includes(c.method.m), cellLabel(c));
    }
  }
  // Cells differ from the preset's own, so both budgets can share one store.
  const own = new Set(
    planPreset("cpu", { availability: allAvailable(), only: ["lowResource"] }).cells.map(cellId),
  );
  assert(plan.cells.every((c) => !own.has(cellId(c))));
  assertEquals(withStepBudget(PRESET_SPECS.cpu, 60), PRESET_SPECS.cpu);
  // A short budget never scales m below one step.
  assertEquals(withStepBudget(PRESET_SPECS.quick, 2).m, 1);
  assertThrows(() => withStepBudget(PRESET_SPECS.paper, 600), Error, "reference's epochs");
});

Deno.test("planPreset fractions: only the rows trained on the listed fractions, with the datasets filter", () => {
  const all = planPreset("cpu", { availability: allAvailable(), only: ["lowResource", "fewShot"] });
  const small = planPreset("cpu", {
    availability: allAvailable(),
    only: ["lowResource", "fewShot"],
    fractions: [0.01],
  });
  assert(small.cells.length > 0 && small.cells.length < all.cells.length);
  assert(small.cells.every((c) => c.fraction === 0.01), "no FewRel episode, no 5 or 10 % row");
  assertEquals(small.cells.length, all.cells.filter((c) => c.fraction === 0.01).length);
  const ade = planPreset("cpu", {
    availability: allAvailable(),
    only: ["lowResource"],
    fractions: [0.01],
    datasets: ["ade"],
  });
  assertEquals(new Set(ade.cells.map((c) => `${c.dataset} ${c.fraction}`)), new Set(["ade 0.01"]));
});

Deno.test("planPreset: tables with their own step budget get the cells of `--steps N`, the others keep the preset's", () => {
  const availability = sharedAvailability();
  const spec = { ...PRESET_SPECS.cpu, tableSteps: { lowResource: 600, fixedVsDynamic: 600 } };
  const plan = planPreset(spec, { availability });
  assertEquals(plan.preset, "cpu");
  const ids = (p: { entries: Entry[] }, table: string) =>
    p.entries.filter((e) => e.table === table).map((e) => e.cells.map(cellId));
  const long = planPreset(withStepBudget(PRESET_SPECS.cpu, 600), { availability });
  const own = planPreset(PRESET_SPECS.cpu, { availability });
  for (const table of TABLES) {
    const expected = table === "lowResource" || table === "fixedVsDynamic" ? long : own;
    assertEquals(ids(plan, table), ids(expected, table), table);
  }
  // Report order, and every planned cell is one of the two budgets' cells.
  const order = plan.entries.map((e) => TABLES.indexOf(e.table));
  assertEquals(order, [...order].sort((a, b) => a - b));
  const known = new Set([...long.cells, ...own.cells].map(cellId));
  assert(plan.cells.every((c) => known.has(cellId(c))));
  assertEquals(new Set(plan.cells.map(cellId)).size, plan.cells.length, "each cell once");
  const fishdipOf = (table: string) =>
    plan.entries.find((e) => e.table === table && e.method === "fishdip")!.cells[0];
  assertEquals([trainSteps(fishdipOf("lowResource")), fishdipOf("lowResource").method], [600, {
    name: "fishdip",
    k: 0.01,
    m: 100,
    n: "rule",
    nBatch: 32,
  }]);
  assertEquals(trainSteps(fishdipOf("ablationK")), 60);
  // `--steps N` on such a preset: every table N steps.
  const all300 = planPreset(withStepBudget(spec, 300), { availability, only: ["lowResource", "peft"] });
  assert(all300.cells.every((c) => trainSteps(c) === 300));
  assertEquals(all300.preset, "cpu-300steps");
});

Deno.test("every backbone an offline preset plans with is committed under data/models/", () => {
  // A backbone missing from a fresh clone would make its rows fail (the name is then looked up
  // on the Hugging Face hub), silently in a notebook: check the files themselves.
  for (const preset of ["smoke", "quick", "cpu"] as const) {
    const backbones = new Set(
      planPreset(preset, { availability: allAvailable() }).cells.map((c) => c.backbone),
    );
    for (const name of backbones) {
      for (const file of ["config.json", "model.safetensors", "spiece.model"]) {
        const path = `${REPO_ROOT}/data/models/${name}/${file}`;
        assert(pathExistsSync(path), `${preset}: backbone ${name} lacks ${path}`);
      }
    }
  }
});
