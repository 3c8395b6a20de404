import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { DATASETS } from "../data/registry.ts";
import { type Cell, cellId } from "../experiments/cells.ts";
import { loadRecords } from "../experiments/store.ts";
import { parseReproduceArgs, takeBackend } from "./cli.ts";
import { UsageError } from "../config/cli.ts";
import { type CellRunner, runGrid } from "./runner.ts";
import { PRESET_SPECS } from "../experiments/presets.ts";

/** A data folder with (empty) files of the datasets shipped here, so availability matches CI. */
function fakeData(): string {
  const dir = Deno.makeTempDirSync();
  for (const d of ["conll03", "conll04", "ade", "fewrel", "fewrel_standin"] as const) {
    for (const f of DATASETS[d].files) {
      Deno.mkdirSync(`${dir}/${f.slice(0, f.lastIndexOf("/"))}`, { recursive: true });
      Deno.writeTextFileSync(`${dir}/${f}`, "");
    }
  }
  return dir;
}

const fake = (fail?: (c: Cell) => boolean): { runner: CellRunner; calls: Cell[] } => {
  const calls: Cell[] = [];
  const runner: CellRunner = (cell, ctx) => {
    calls.push(cell);
    if (fail?.(cell)) return Promise.reject(new Error("boom"));
    if (cell.init) assert(ctx.initCheckpoint?.endsWith(cell.init), "episode without its meta checkpoint");
    if (cell.saveCheckpoint) {
      Deno.mkdirSync(ctx.checkpointDir, { recursive: true });
      Deno.writeTextFileSync(`${ctx.checkpointDir}/config.json`, "{}");
    }
    const metrics: Record<string, Record<string, number>> = {};
    for (const t of cell.evaluate) {
      metrics[`${t.dataset}/${t.split}`] = { entity_f1: 0.5, relation_f1: 0.25 + cell.seed / 100 };
    }
    return Promise.resolve({
      metrics,
      timings: { train: 0.1, eval: 0.1 },
      masks: cell.method.name === "fishdip"
        ? [{ refresh: 0, step: 0, layer: "shared", selected: 3 }]
        : undefined,
      checkpoint: cell.saveCheckpoint ? ctx.checkpointDir : undefined,
    });
  };
  return { runner, calls };
};

/** The options every runGrid test shares (smoke preset, a fake data folder, a temporary results folder). */
type GridBase = {
  preset: "smoke";
  dataDir: string;
  resultsDir: string;
  backend: string;
  log: (m: string) => void;
};

/** Runs `body` with fresh data and results folders, removed afterwards. */
async function withGrid(body: (base: GridBase, results: string) => Promise<void>) {
  const data = fakeData(), results = Deno.makeTempDirSync();
  try {
    const log = () => {};
    await body({ preset: "smoke", dataDir: data, resultsDir: results, backend: "test", log }, results);
  } finally {
    Deno.removeSync(data, { recursive: true });
    Deno.removeSync(results, { recursive: true });
  }
}

Deno.test("runGrid: resumes after an interruption, records failures, writes the report", async () => {
  await withGrid(async (base, results) => {
    // An interrupted run: 3 cells, no report.
    const a = fake();
    const s1 = await runGrid(a.runner, { ...base, maxCells: 3, noReport: true });
    assertEquals(s1.ran.length, 3);
    const total = s1.plan.cells.length;
    // The rerun skips them; one cell fails and is retried on the next run.
    const failing = s1.plan.cells.slice(3).find((c) => c.method.name === "fishdip")!;
    const b = fake((c) => cellId(c) === cellId(failing));
    const s2 = await runGrid(b.runner, base);
    assertEquals(s2.skipped.length, 3);
    assertEquals(s2.ran.length, total - 4);
    assertEquals(s2.failed.map((f) => f.cellId), [cellId(failing)]);
    assert(Deno.readTextFileSync(`${results}/failures.jsonl`).includes("boom"));
    assertEquals(loadRecords(`${results}/runs`).records.length, total - 1);
    const manifest = JSON.parse(Deno.readTextFileSync(`${results}/smoke/manifest.json`));
    assertEquals(manifest.counts.pending, 1);
    assert(Deno.statSync(`${results}/smoke/tables/lowResource.md`).isFile);
    assert(Deno.statSync(`${results}/smoke/figures/mask_movement.svg`).isFile);
    const c = fake();
    const s3 = await runGrid(c.runner, { ...base, blasThreads: 2, noReport: true });
    assertEquals(c.calls.map(cellId), [cellId(failing)]);
    assertEquals(s3.ran.length, 1);
    const records = loadRecords(`${results}/runs`).records;
    const rec = records[0];
    assertEquals([rec.backend, rec.preset, typeof rec.timings.total], ["test", "smoke", "number"]);
    // The thread count is recorded by the run that knew it: the retried cell, not the first ones.
    assertEquals(rec.blasThreads, undefined);
    assertEquals(records.find((r) => r.cellId === cellId(failing))!.blasThreads, 2);
  });
});

Deno.test("runGrid: shards run disjoint cells into their own files; --report-only joins them", async () => {
  await withGrid(async (base, results) => {
    const seen: string[] = [];
    for (const i of [1, 2, 3]) {
      const f = fake();
      await runGrid(f.runner, { ...base, shard: { i, n: 3 }, noReport: true });
      seen.push(...f.calls.map(cellId));
    }
    const s = await runGrid(fake().runner, { ...base, reportOnly: true });
    assertEquals(new Set(seen).size, seen.length);
    assertEquals(seen.length, s.plan.cells.length);
    const files = [...Deno.readDirSync(`${results}/runs`)].map((e) => e.name).sort();
    assert(files.every((f) => /^shard-\d-of-3\.jsonl$/.test(f)), files.join());
    const manifest = JSON.parse(Deno.readTextFileSync(`${results}/smoke/manifest.json`));
    assertEquals(manifest.counts.done, s.plan.cells.length);
    await assertRejects(() =>
      runGrid(fake(() => true).runner, { ...base, resultsDir: `${results}/x`, stopOnError: true })
    );
  });
});

Deno.test("runGrid: --shard-pending deals only the cells not yet done, so resumed shards share the work", async () => {
  await withGrid(async (base) => {
    // A first run finished shard 1 of 2: resuming the fixed partition would leave shard 1 idle.
    await runGrid(fake().runner, { ...base, shard: { i: 1, n: 2 }, noReport: true });
    const idle = fake();
    await runGrid(idle.runner, { ...base, shard: { i: 1, n: 2 }, noReport: true });
    assertEquals(idle.calls.length, 0);
    // Started together, as --workers starts them: both read the store before either records a cell.
    const workers = [fake(), fake()];
    await Promise.all(
      workers.map((f, k) =>
        runGrid(f.runner, { ...base, shard: { i: k + 1, n: 2 }, shardPending: true, noReport: true })
      ),
    );
    const seen = workers.map((f) => f.calls.map(cellId));
    assert(seen[0].length > 0 && seen[1].length > 0, `${seen[0].length} and ${seen[1].length} cells`);
    assertEquals(seen[0].filter((id) => seen[1].includes(id)), []);
    const all = await runGrid(fake().runner, { ...base, noReport: true, maxCells: 0 });
    assertEquals(all.skipped.length, all.plan.cells.length);
  });
});

Deno.test("runGrid: a run of one table (--only) still writes the whole preset's manifest and index", async () => {
  await withGrid(async (base, results) => {
    const all = await runGrid(fake().runner, { ...base, noReport: true, maxCells: 0 });
    const s = await runGrid(fake().runner, { ...base, only: ["peft"] });
    assert(
      s.ran.length > 0 && s.ran.length < all.plan.cells.length,
      `${s.ran.length} of ${all.plan.cells.length}`,
    );
    const manifest = JSON.parse(Deno.readTextFileSync(`${results}/smoke/manifest.json`));
    assertEquals(manifest.counts.done, s.ran.length);
    assertEquals(manifest.counts.done + manifest.counts.pending, all.plan.cells.length);
    const index = Deno.readTextFileSync(`${results}/smoke/tables/README.md`);
    assert(index.includes("Low-resource") && index.includes("parameter-efficient"), index.slice(0, 300));
  });
});

Deno.test("runGrid: a meta-training record without its weights here is trained again for its episodes", async () => {
  await withGrid(async (base, results) => {
    const a = fake();
    const s1 = await runGrid(a.runner, { ...base, noReport: true });
    const meta = s1.plan.cells.filter((c) => c.saveCheckpoint);
    const episodes = s1.plan.cells.filter((c) => c.init);
    assert(meta.length > 0 && episodes.length > 0, "the smoke preset has meta cells and episodes");
    // As after copying results/raw/ to another machine: every record, no checkpoints, and the
    // episodes not run yet.
    const file = `${results}/runs/local.jsonl`;
    const ids = new Set(episodes.map(cellId));
    const lines = Deno.readTextFileSync(file).split("\n").filter((l) => l && !ids.has(JSON.parse(l).cellId));
    Deno.writeTextFileSync(file, lines.join("\n") + "\n");
    Deno.removeSync(`${results}/checkpoints`, { recursive: true });
    const b = fake();
    const s2 = await runGrid(b.runner, { ...base, noReport: true });
    assertEquals(s2.failed, []);
    assertEquals(s2.ran.sort(), [...ids].sort());
    // Each meta cell trained once more (before its first episode), and not recorded twice.
    assertEquals(b.calls.filter((c) => c.saveCheckpoint).map(cellId).sort(), meta.map(cellId).sort());
    assertEquals(loadRecords(`${results}/runs`).records.length, s1.plan.cells.length);
    assertEquals(Deno.readTextFileSync(file).trim().split("\n").length, s1.plan.cells.length);
  });
});

Deno.test("parseReproduceArgs", () => {
  assertEquals(parseReproduceArgs([]), { preset: "quick" });
  assertEquals(
    parseReproduceArgs([
      "--preset",
      "cpu",
      "--only=ablationK,peft",
      "--shard",
      "2/4",
      "--shard-pending",
      "--data",
      "d",
      "--max-cells",
      "5",
      "--list",
    ]),
    {
      preset: "cpu",
      only: ["ablationK", "peft"],
      shard: { i: 2, n: 4 },
      shardPending: true,
      dataDir: "d",
      maxCells: 5,
      list: true,
    },
  );
  assertThrows(() => parseReproduceArgs(["--preset", "gpu"]), Error, "unknown preset");
  assertThrows(() => parseReproduceArgs(["--only", "nope"]), Error, "unknown table");
  assertThrows(() => parseReproduceArgs(["--shard"]), Error, "needs a value");
  assertThrows(() => parseReproduceArgs(["--frobnicate"]), Error, "unknown argument");
  assertEquals(parseReproduceArgs(["--workers", "2"]).workers, 2);
  assertThrows(() => parseReproduceArgs(["--workers", "0"]), UsageError, "--workers must be a whole number");
  assertThrows(() => parseReproduceArgs(["--workers", "1.5"]), UsageError, "--workers must be");
  assertThrows(() => parseReproduceArgs(["--max-cells", "-1"]), UsageError, "--max-cells must be");
  assertEquals(parseReproduceArgs(["--max-cells", "0"]).maxCells, 0);
  assertThrows(() => parseReproduceArgs(["--only", ","]), UsageError, "--only needs at least one table");
  assertThrows(() => parseReproduceArgs(["--only="]), UsageError, "--only needs at least one table");
  assertThrows(() => parseReproduceArgs(["--workers=2", "--shard", "1/2"]), Error, "do not combine");
  assertThrows(() => parseReproduceArgs(["--shard-pending"]), Error, "needs --shard");
  assertEquals(parseReproduceArgs(["--steps", "600", "--preset", "cpu"]).steps, 600);
  assertEquals(parseReproduceArgs(["--fractions", "0.01,0.05"]).fractions, [0.01, 0.05]);
  assertThrows(() => parseReproduceArgs(["--fractions", "5"]), UsageError, "not a fraction");
  assertThrows(() => parseReproduceArgs(["--fractions", ","]), UsageError, "at least one fraction");
  assertThrows(() => parseReproduceArgs(["--steps", "0"]), UsageError, "--steps must be");
  assertThrows(
    () => parseReproduceArgs(["--steps", "600", "--preset", "paper"]),
    UsageError,
    "offline presets",
  );
});

Deno.test("takeBackend: the value is taken out; a trailing --backend, or one without a value, is refused", () => {
  assertEquals(takeBackend(["--backend", "cpu", "--list"]), { backend: "cpu", rest: ["--list"] });
  assertEquals(takeBackend(["--backend=wasm"]), { backend: "wasm", rest: [] });
  assertEquals(takeBackend(["--list"]), { backend: undefined, rest: ["--list"] });
  assertThrows(() => takeBackend(["--list", "--backend"]), UsageError, "--backend needs a value");
  assertThrows(() => takeBackend(["--backend", "--list"]), UsageError, "--backend needs a value");
});

Deno.test("runGrid: each preset's report has its own folder: running one never rewrites another's tables", async () => {
  await withGrid(async (base, results) => {
    await runGrid(fake().runner, base);
    // Another preset's committed report beside it.
    Deno.mkdirSync(`${results}/cpu/tables`, { recursive: true });
    Deno.writeTextFileSync(`${results}/cpu/tables/README.md`, "cpu tables");
    await runGrid(fake().runner, { ...base, reportOnly: true });
    assertEquals(Deno.readTextFileSync(`${results}/cpu/tables/README.md`), "cpu tables");
    assert(Deno.statSync(`${results}/smoke/tables/README.md`).isFile);
    assertThrows(() => Deno.statSync(`${results}/tables`), "nothing at the top level");
  });
});

Deno.test("runGrid: a report from a store that lacks finished cells keeps the raw file's records", async () => {
  await withGrid(async (base, results) => {
    await runGrid(fake().runner, base);
    const raw = `${results}/raw/smoke-runs.jsonl`;
    const before = Deno.readTextFileSync(raw);
    const tables = Deno.readTextFileSync(`${results}/smoke/tables/README.md`);
    // A fresh clone: the committed report without its store.
    Deno.removeSync(`${results}/runs`, { recursive: true });
    const logged: string[] = [];
    const s = await runGrid(fake().runner, { ...base, reportOnly: true, log: (m) => logged.push(m) });
    const n = before.trim().split("\n").length;
    assertEquals(s.reportFiles!.kept.length, n);
    assertEquals(Deno.readTextFileSync(raw), before);
    assertEquals(Deno.readTextFileSync(`${results}/smoke/tables/README.md`), tables);
    assert(logged.some((m) => m.includes(`lacks ${n} finished cell(s)`)), logged.join("\n"));
    // A record of a cell outside the plan (another backbone) stays in the file, said apart.
    const outside = JSON.parse(before.split("\n")[0]);
    outside.cellId = "0000000000000000";
    Deno.writeTextFileSync(raw, before + JSON.stringify(outside) + "\n");
    logged.length = 0;
    await runGrid(fake().runner, { ...base, reportOnly: true, log: (m) => logged.push(m) });
    assertEquals(Deno.readTextFileSync(raw), before + JSON.stringify(outside) + "\n");
    assert(logged.some((m) => m.includes("keeps 1 record(s) of cells outside this plan")), logged.join("\n"));
    Deno.writeTextFileSync(raw, before);
    // A raw file the report cannot read is refused before anything is written.
    Deno.writeTextFileSync(raw, before + "{truncated");
    Deno.removeSync(`${results}/smoke/tables`, { recursive: true });
    await assertRejects(
      () => runGrid(fake().runner, { ...base, reportOnly: true }),
      Error,
      "smoke-runs.jsonl:",
    );
    assertEquals(Deno.readTextFileSync(raw), before + "{truncated");
    assertThrows(() => Deno.statSync(`${results}/smoke/tables`));
  });
});

Deno.test("runGrid: a cell's training checkpoints stay while it fails and go once its record is stored", async () => {
  await withGrid(async (base, results) => {
    const seen = new Map<string, string>();
    let failNext = true;
    const runner: CellRunner = (cell, ctx) => {
      assert(ctx.trainDir !== undefined);
      seen.set(cellId(cell), ctx.trainDir);
      Deno.mkdirSync(`${ctx.trainDir}/checkpoint-5`, { recursive: true });
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error("killed mid-training"));
      }
      return fake().runner(cell, ctx).then((r) => ({ ...r, resumedFrom: 5 }));
    };
    const first = await runGrid(runner, { ...base, maxCells: 1, noReport: true });
    const id = first.failed[0].cellId;
    assertEquals(seen.get(id), `${results}/partial/${id}`);
    assert(Deno.statSync(`${results}/partial/${id}/checkpoint-5`).isDirectory, "kept for the next run");
    // The plan says which cells will continue: a checkpoint counts once its state.json is written.
    const said: string[] = [];
    const list = { ...base, list: true, log: (m: string) => said.push(m) };
    await runGrid(runner, list);
    assert(said.every((m) => !m.includes("continues from")), "no state.json yet: a torn checkpoint");
    Deno.writeTextFileSync(`${results}/partial/${id}/checkpoint-5/state.json`, "{}");
    said.length = 0;
    await runGrid(runner, list);
    assert(said[0].includes("1 of them from a checkpoint"), said[0]);
    assertEquals(said.filter((m) => m.includes(`${id}`) && m.endsWith("(continues from step 5)")).length, 1);
    const second = await runGrid(runner, { ...base, maxCells: 1, noReport: true });
    assertEquals(second.ran, [id]);
    assertThrows(() => Deno.statSync(`${results}/partial/${id}`), Deno.errors.NotFound);
    assertEquals(loadRecords(`${results}/runs`).records[0].resumedFrom, 5);
    // Checkpoints of a cell already recorded (a kill right after its record): removed on the next run.
    Deno.mkdirSync(`${results}/partial/${id}/checkpoint-9`, { recursive: true });
    await runGrid(runner, { ...base, maxCells: 0, noReport: true });
    assertThrows(() => Deno.statSync(`${results}/partial/${id}`), Deno.errors.NotFound);
  });
});

Deno.test("runGrid --claim: processes sharing a results folder run every cell once, all of them busy", async () => {
  await withGrid(async (base, results) => {
    const runs: string[][] = [[], []];
    const slow = (w: number): CellRunner => async (cell, ctx) => {
      runs[w].push(cellId(cell));
      // Unequal speeds (the faster takes more); the FewRel meta-training long enough that the
      // other worker reaches its episodes first and has to wait for it.
      await new Promise((r) => setTimeout(r, cell.saveCheckpoint ? 60 : 2 + 3 * w));
      return await fake().runner(cell, ctx);
    };
    const worker = (w: number) =>
      runGrid(slow(w), { ...base, claim: true, claimPollMs: 20, shard: { i: w + 1, n: 2 }, noReport: true });
    const [a, b] = await Promise.all([worker(0), worker(1)]);
    const all = [...runs[0], ...runs[1]];
    assertEquals(all.length, new Set(all).size, "no cell ran twice");
    assertEquals(new Set(all).size, a.plan.cells.length, "every cell ran");
    assert(runs[0].length > 0 && runs[1].length > 0, `both worked: ${runs[0].length} and ${runs[1].length}`);
    assertEquals(a.failed.length + b.failed.length, 0, "FewRel episodes waited for their meta-training");
    assertEquals(loadRecords(`${results}/runs`).records.length, a.plan.cells.length);
    assertEquals([...Deno.readDirSync(`${results}/claims`)].length, 0, "every claim released");
  });
});

Deno.test("runGrid --claim: a live process's claim is left to it, a dead one's is taken over", async () => {
  await withGrid(async (base, results) => {
    const plan = (await runGrid(fake().runner, { ...base, list: true, log: () => {} })).plan;
    const [first, second] = plan.cells.filter((c) => !c.init && !c.saveCheckpoint).map(cellId);
    Deno.mkdirSync(`${results}/claims`, { recursive: true });
    Deno.writeTextFileSync(`${results}/claims/${first}`, `${Deno.pid}:another-run`); // alive
    Deno.writeTextFileSync(`${results}/claims/${second}`, "2147483647:killed-run"); // above any pid_max
    const f = fake();
    await runGrid(f.runner, { ...base, claim: true, noReport: true });
    const ran = f.calls.map(cellId);
    assert(!ran.includes(first), "the live claim's cell is left alone");
    assert(ran.includes(second), "the dead claim's cell is run");
    assertEquals(Deno.readTextFileSync(`${results}/claims/${first}`), `${Deno.pid}:another-run`);
  });
});

Deno.test("runGrid --claim: two workers re-create a meta-training's missing weights once, for all its episodes", async () => {
  await withGrid(async (base, results) => {
    // Four episodes per meta-training, so that both workers reach episodes of the same one.
    const preset = { ...PRESET_SPECS.smoke, episodes: [1, 2, 3, 4] };
    const grid = { ...base, preset, only: ["fewShot" as const], noReport: true };
    const first = await runGrid(fake().runner, grid);
    const meta = first.plan.cells.filter((c) => c.saveCheckpoint).map(cellId);
    const episodes = new Set(first.plan.cells.filter((c) => c.init).map(cellId));
    const file = `${results}/runs/local.jsonl`;
    const kept = Deno.readTextFileSync(file).split("\n").filter((l) =>
      l && !episodes.has(JSON.parse(l).cellId)
    );
    Deno.writeTextFileSync(file, kept.join("\n") + "\n");
    Deno.removeSync(`${results}/checkpoints`, { recursive: true });
    const workers = [fake(), fake()];
    const slow = (w: number): CellRunner => async (cell, ctx) => {
      await new Promise((r) => setTimeout(r, cell.saveCheckpoint ? 40 : 2));
      return await workers[w].runner(cell, ctx);
    };
    const both = await Promise.all(
      [0, 1].map((w) =>
        runGrid(slow(w), { ...grid, claim: true, claimPollMs: 10, shard: { i: w + 1, n: 2 } })
      ),
    );
    assertEquals(both.flatMap((r) => r.failed), []);
    const recreated = workers.flatMap((w) => w.calls).filter((c) => c.saveCheckpoint).map(cellId);
    assertEquals(recreated.sort(), meta.sort(), "each meta cell re-created exactly once");
    assertEquals(both.flatMap((r) => r.ran).sort(), [...episodes].sort());
  });
});
