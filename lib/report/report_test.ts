import { TABLES } from "../experiments/plan.ts";
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type Availability, type DatasetName, DATASETS } from "../data/registry.ts";
import { cellId } from "../experiments/cells.ts";
import { planPreset } from "../experiments/plan.ts";
import type { MaskSnapshot, RunRecord } from "../experiments/store.ts";
import { loadReport, pickMaskRecord, writeReport } from "./report.ts";

Deno.test("writeReport: every table, figure and the manifest from a smoke plan", async () => {
  const present = new Set<DatasetName>(["conll03", "conll04", "ade", "fewrel", "fewrel_standin"]);
  const availability = {} as Record<DatasetName, Availability>;
  for (const d of Object.keys(DATASETS) as DatasetName[]) {
    availability[d] = { available: present.has(d), missing: [] };
  }
  const plan = planPreset("smoke", { availability });
  let i = 0;
  const records: RunRecord[] = plan.cells.map((c) => {
    const metrics: Record<string, Record<string, number>> = {};
    for (const t of c.evaluate) {
      metrics[`${t.dataset}/${t.split}`] = { entity_f1: 0.3 + 0.01 * i, relation_f1: 0.1 + 0.01 * i++ };
    }
    const masks: MaskSnapshot[] = c.method.name === "fishdip"
      ? [0, 1, 2].flatMap((r) =>
        ["shared", "encoder.block.0"].map((layer, j) => ({
          refresh: r,
          step: r,
          layer,
          selected: 10 * (r + j + 1),
        }))
      )
      : [];
    return {
      cellId: cellId(c),
      cell: c,
      metrics,
      timings: { train: 1, eval: 1, total: 2 },
      backend: "wasm",
      backbone: c.backbone,
      gitCommit: "abc",
      started: "2026-01-01T00:00:00Z",
      finished: "2026-01-01T00:00:02Z",
      masks: masks.length ? masks : undefined,
    };
  });
  assertEquals(pickMaskRecord(plan, records)?.cell.method.name, "fishdip");
  const dir = Deno.makeTempDirSync();
  try {
    const out = await writeReport(plan, records, { dir, gitCommit: "deadbeef", png: false });
    const names = (ps: string[]) => ps.map((p) => p.slice(p.lastIndexOf("/") + 1));
    for (
      const t of ["lowResource", "fewShot", "peft", "ablationK", "ablationM", "ablationN", "fixedVsDynamic"]
    ) {
      assert(names(out.tables).includes(`${t}.csv`) && names(out.tables).includes(`${t}.md`), t);
    }
    assertEquals(names(out.figures).sort(), [
      "ablationK.svg",
      "ablationM.svg",
      "ablationN.svg",
      "fewShot_bars.svg",
      "fixedVsDynamic_bars.svg",
      "lowResource_bars.svg",
      "lowResource_fractions.svg",
      "mask_movement.svg",
      "peft_bars.svg",
      "sparseMethods_bars.svg",
    ]);
    const md = Deno.readTextFileSync(`${dir}/smoke/tables/README.md`);
    assertStringIncludes(md, "needs ontonotes");
    assertStringIncludes(md, "| CoNLL04 relation F1, 1% |");
    const manifest = JSON.parse(Deno.readTextFileSync(`${dir}/smoke/manifest.json`));
    assertEquals([manifest.preset, manifest.gitCommit, manifest.counts.pending], ["smoke", "deadbeef", 0]);
    assertEquals(manifest.counts.done, plan.cells.length);
    // Every done cell's record, in plan order; a record of a cell outside the plan is left out.
    const raw = Deno.readTextFileSync(`${dir}/raw/smoke-runs.jsonl`).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(raw.map((r) => r.cellId), plan.cells.map(cellId));
    assertEquals(raw[0].metrics, records[0].metrics);
    // A store without record 0 does not erase it: the file's copy is kept, in plan order; a record
    // of a cell outside the plan that only the store has is left out.
    const again = await writeReport(plan, [...records.slice(1), { ...records[0], cellId: "not-in-plan" }], {
      dir,
      png: false,
    });
    assertEquals(again.kept.map((r) => r.cellId), [records[0].cellId]);
    assertEquals(
      Deno.readTextFileSync(`${dir}/raw/smoke-runs.jsonl`).trim().split("\n").map((l) =>
        JSON.parse(l).cellId
      ),
      plan.cells.map(cellId),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadReport: tables and figures straight from a results folder", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const r = loadReport({ preset: "smoke", resultsDir: dir, dataDir: dir }); // nothing there
    assertEquals(r.records, []);
    assertEquals(r.tables.length, TABLES.length);
    assertEquals(r.figures, []); // no numbers, no figures
    assert(r.tables[0].rows.every((row) => row.cells.every((c) => c.startsWith("needs"))));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadReport: records of the committed raw file count where the store lacks them", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const availability = {} as Record<DatasetName, Availability>;
    for (const d of Object.keys(DATASETS) as DatasetName[]) {
      availability[d] = { available: true, missing: [] };
    }
    const plan = planPreset("smoke", { availability, only: ["lowResource"] });
    const cell = plan.cells[0];
    const key = `${cell.evaluate[0].dataset}/${cell.evaluate[0].split}`;
    const record = (f1: number): RunRecord => ({
      cellId: cellId(cell),
      cell,
      metrics: { [key]: { entity_f1: f1, relation_f1: 0 } },
      timings: { train: 1, eval: 1, total: 2 },
      backend: "cpu",
      backbone: cell.backbone,
      gitCommit: "abc",
      started: "2026-01-01T00:00:00Z",
      finished: "2026-01-01T00:00:02Z",
    });
    Deno.mkdirSync(`${dir}/raw`);
    Deno.writeTextFileSync(`${dir}/raw/smoke-runs.jsonl`, JSON.stringify(record(0.42)) + "\n");
    const fromRaw = loadReport({
      preset: "smoke",
      resultsDir: dir,
      dataDir: "/nonexistent",
      only: ["lowResource"],
    });
    assertEquals(fromRaw.records.map((r) => r.cellId), [cellId(cell)]);
    // The store's own record of the same cell wins over the raw file's.
    Deno.mkdirSync(`${dir}/runs`);
    Deno.writeTextFileSync(`${dir}/runs/local.jsonl`, JSON.stringify(record(0.5)) + "\n");
    const fromStore = loadReport({ preset: "smoke", resultsDir: dir, only: ["lowResource"] });
    assertEquals(fromStore.records.length, 1);
    assertEquals(fromStore.records[0].metrics[key].entity_f1, 0.5);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
