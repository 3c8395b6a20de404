import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { type Availability, type DatasetName, DATASETS } from "../data/registry.ts";
import { type Cell, cellId } from "../experiments/cells.ts";
import { type Entry, planPreset } from "../experiments/plan.ts";
import type { RunRecord } from "../experiments/store.ts";
import {
  aggregate,
  buildManifest,
  buildTables,
  diagnostics,
  diagnosticsToCsv,
  diagnosticsToMarkdown,
  finalLoss,
  formatSummary,
  layoutTable,
  manifestToMarkdown,
  readMetric,
  summarize,
  tableToCsv,
  tableToHtml,
  tableToMarkdown,
  writeTable,
} from "./tables.ts";

function cell(seed: number, method: "full" | "fishdip" = "fishdip"): Cell {
  return {
    dataset: "conll04",
    task: "joint_er",
    fraction: 0.01,
    method: method === "full" ? { name: "full" } : { name: "fishdip", k: 0.01, m: 10, n: "rule" },
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs: 2,
    batchSize: 8,
    maxInputLength: 256,
    maxOutputLength: 256,
    maxOutputLengthEval: 256,
    decoding: "greedy",
    backbone: "fishdip-t5-mini",
    evaluate: [{ dataset: "conll04", split: "test" }],
  };
}
function rec(c: Cell, f1: number): RunRecord {
  return {
    cellId: cellId(c),
    cell: c,
    metrics: { "conll04/test": { relation_f1: f1 } },
    timings: { train: 1, eval: 1, total: 2 },
    backend: "wasm",
    backbone: c.backbone,
    gitCommit: "abc",
    started: "2026-01-01T00:00:00Z",
    finished: "2026-01-01T00:00:02Z",
  };
}
function entry(row: string, column: string, cells: Cell[], needs: DatasetName[] = []): Entry {
  return {
    table: "lowResource",
    row,
    column,
    key: "conll04/test",
    metric: "relation_f1",
    group: "CoNLL04 relation F1",
    x: 0.01,
    method: cells[0].method.name,
    cells,
    needs,
  };
}

Deno.test("aggregate: numpy mean and population std, checked by hand", () => {
  const a = aggregate([0.5, 0.6, 0.7]);
  assertAlmostEquals(a.mean, 0.6, 1e-15);
  // sqrt(((-0.1)^2 + 0 + 0.1^2) / 3) = sqrt(0.02 / 3)
  assertAlmostEquals(a.std, Math.sqrt(0.02 / 3), 1e-15);
  assertAlmostEquals(a.std, 0.08164965809277261, 1e-15);
  const b = aggregate([0.8, 0.9]);
  assertAlmostEquals(b.mean, 0.85, 1e-15);
  assertAlmostEquals(b.std, 0.05, 1e-15); // population, not sample (0.0707)
  assertEquals(aggregate([0.42]).std, 0);
  assert(Number.isNaN(aggregate([]).mean));
});

Deno.test("summaries: done, partial, pending and needs; formatting", () => {
  const entries = [
    entry("CoNLL04 relation F1, 1%", "FISH-DIP", [cell(1), cell(2), cell(3)]),
    entry("CoNLL04 relation F1, 1%", "Full FT", [cell(1, "full"), cell(2, "full")]),
    entry("ACE05 relation F1, 1%", "FISH-DIP", [cell(1)], ["ace2005_joint_er"]),
  ];
  const records = [rec(cell(1), 0.5), rec(cell(2), 0.6), rec(cell(3), 0.7), rec(cell(1, "full"), 0.4)];
  const [done, partial, needs] = summarize(entries, records);
  assertEquals(done.status, "done");
  assertEquals(done.agg!.seeds, [1, 2, 3]);
  assertEquals(formatSummary(done), "60.00 ± 8.16");
  assertEquals(partial.status, "partial");
  assertEquals(formatSummary(partial), "40.00 ± 0.00 (1/2 seeds)");
  assertEquals(formatSummary(needs), "needs ace2005_joint_er");
  assertEquals(summarize([entries[0]], [])[0].status, "pending");
  assertEquals(formatSummary(summarize([entries[0]], [])[0]), "pending");
  // FewRel's relation_f1 may be stored as accuracy.
  assertEquals(
    readMetric(
      { ...records[0], metrics: { "conll04/test": { accuracy: 0.3 } } },
      "conll04/test",
      "relation_f1",
    ),
    0.3,
  );

  const t = layoutTable("lowResource", summarize(entries, records));
  assertEquals(t.columns, ["FISH-DIP", "Full FT"]);
  assertEquals(t.rows.map((r) => r.label), ["CoNLL04 relation F1, 1%", "ACE05 relation F1, 1%"]);
  assertEquals(t.rows[1].cells, ["needs ace2005_joint_er", ""]);
  assertEquals(
    tableToCsv(t),
    '"Dataset, metric, training fraction",FISH-DIP,Full FT\n' +
      '"CoNLL04 relation F1, 1%",60.00 ± 8.16,40.00 ± 0.00 (1/2 seeds)\n' +
      '"ACE05 relation F1, 1%",needs ace2005_joint_er,\n',
  );
  const md = tableToMarkdown(t);
  assertStringIncludes(
    md,
    "| Dataset, metric, training fraction | FISH-DIP | Full FT |\n| --- | ---: | ---: |\n",
  );
  assertStringIncludes(md, "| CoNLL04 relation F1, 1% | 60.00 ± 8.16 | 40.00 ± 0.00 (1/2 seeds) |");
  assertStringIncludes(md, "| ACE05 relation F1, 1% | needs ace2005_joint_er |  |");
  assertStringIncludes(tableToHtml(t), '<td style="text-align:right">60.00 ± 8.16</td>');

  const dir = Deno.makeTempDirSync();
  try {
    const paths = writeTable(t, dir);
    assertEquals(paths, [`${dir}/lowResource.csv`, `${dir}/lowResource.md`, `${dir}/lowResource.long.csv`]);
    assertEquals(Deno.readTextFileSync(paths[0]), tableToCsv(t));
    const long = Deno.readTextFileSync(paths[2]).split("\n");
    assertEquals(long[0], "table,row,column,group,x,method,metric,status,mean,std,n,planned,seeds,needs");
    assertStringIncludes(
      long[1],
      'lowResource,"CoNLL04 relation F1, 1%",FISH-DIP,CoNLL04 relation F1,0.01,fishdip,relation_f1,done,',
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("buildTables and the manifest on a whole preset with 'needs' rows", () => {
  const present = new Set<DatasetName>(["conll03", "conll04", "ade", "fewrel", "fewrel_standin"]);
  const availability = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) {
    availability[d] = { available: present.has(d), missing: [] };
  }
  const plan = planPreset("smoke", { availability });
  const records = plan.cells.slice(0, 3).map((c) => rec(c, 0.5));
  const tables = buildTables(plan, records);
  assertEquals(tables.map((t) => t.name), [
    "lowResource",
    "fewShot",
    "peft",
    "ablationK",
    "ablationM",
    "ablationN",
    "fixedVsDynamic",
    "sparseMethods",
  ]);
  const low = tables[0];
  const onto = low.rows.find((r) => r.label.startsWith("OntoNotes"))!;
  assert(onto.cells.every((c) => c === "needs ontonotes"), onto.cells.join());
  assert(
    low.rows.some((r) => r.label.startsWith("MultiWOZ") && r.cells.every((c) => c === "needs multi_woz")),
  );
  const m = buildManifest(plan, records, "deadbeef");
  assertEquals(m.counts.done + m.counts.pending, plan.cells.length);
  assertEquals(m.counts.needs, plan.blocked.length);
  const done = m.cells.find((c) => c.status === "done")!;
  assertEquals([done.backend, done.gitCommit, done.seconds], ["wasm", "abc", 2]);
  assert(done.tables.length >= 1);
  const md = manifestToMarkdown(m);
  assertStringIncludes(
    md,
    "| cell | id | tables | backbone | status | backend | commit | seconds | finished |",
  );
  // Each dataset's rows name the backbone they started from.
  const c03 = m.cells.find((c) => c.label.startsWith("conll03"))!;
  const c04 = m.cells.find((c) => c.label.startsWith("conll04"))!;
  assertEquals([c03.backbone, c04.backbone], [
    "fishdip-t5-mini-mt-conll04",
    "fishdip-t5-mini-mt-conll03-ade-long",
  ]);
  assertStringIncludes(
    md,
    `| ${c04.cellId} | ${c04.tables.join(" ")} | fishdip-t5-mini-mt-conll03-ade-long |`,
  );
  assertStringIncludes(md, "Backbones ");
});

Deno.test("diagnostics: score, reconstruction and final loss per entry, shared runs once", () => {
  const cells = [cell(1), cell(2), cell(3)];
  const withDiag = (c: Cell, f1: number, recon: number, losses: number[]): RunRecord => ({
    ...rec(c, f1),
    metrics: { "conll04/test": { relation_f1: f1, entity_f1: f1 / 2, reconstruction_rate: recon } },
    losses: losses.map((loss, i) => ({ step: i + 1, loss })).reverse(), // order must not matter
  });
  // 12 steps: the last 10 are steps 3..12.
  const ramp = (base: number) => Array.from({ length: 12 }, (_, i) => (i < 2 ? 100 : base + (i % 2)));
  const records = [withDiag(cells[0], 0.2, 0.5, ramp(1)), withDiag(cells[1], 0.4, 0.3, ramp(3))];
  assertAlmostEquals(finalLoss(records[0])!, 1.5, 1e-12);
  assertEquals(finalLoss(rec(cells[2], 0)), undefined);
  const rel = entry("CoNLL04 relation F1, 1%", "FISH-DIP", cells);
  const ent = { ...entry("CoNLL04 entity F1, 1%", "FISH-DIP", cells), metric: "entity_f1" };
  const blocked = entry("ACE05 relation F1, 1%", "FISH-DIP", [cell(1)], ["ace2005_joint_er"]);
  const none = entry("CoNLL04 relation F1, 5%", "FISH-DIP", [{ ...cell(1), fraction: 0.05 }]);
  const plan = {
    preset: "quick" as const,
    backbone: "b",
    entries: [rel, ent, blocked, none],
    cells,
    blocked: [],
  };
  const d = diagnostics(plan, records);
  assertEquals(d.length, 1); // entity F1 shares relation F1's runs; no data; nothing run
  assertEquals([d[0].row, d[0].n, d[0].planned], ["CoNLL04 relation F1, 1%", 2, 3]);
  assertAlmostEquals(d[0].score!.mean, 0.3, 1e-12);
  assertAlmostEquals(d[0].score!.std, 0.1, 1e-12);
  assertAlmostEquals(d[0].reconstruction!.mean, 0.4, 1e-12);
  assertAlmostEquals(d[0].loss!.mean, 2.5, 1e-12);
  assertAlmostEquals(d[0].loss!.std, 1, 1e-12);
  const md = diagnosticsToMarkdown(d);
  assertStringIncludes(
    md,
    "| CoNLL04 relation F1, 1% | FISH-DIP | 2/3 | 30.0 ± 10.0 | 40.0 ± 10.0 | 2.50 ± 1.00 |",
  );
  assertEquals(diagnosticsToCsv(d).trim().split("\n").length, 2);
});
