import { assert, assertEquals, assertThrows } from "@std/assert";
import { type Cell, cellId } from "./cells.ts";
import {
  gitCommit,
  loadRecords,
  makeRecord,
  maskSnapshots,
  ResultsStore,
  type RunRecord,
  t5Layer,
} from "./store.ts";

function cell(seed: number): Cell {
  return {
    dataset: "conll04",
    task: "joint_er",
    fraction: 0.01,
    method: { name: "fishdip", k: 0.01, m: 10, n: "rule" },
    optimizer: { name: "adafactor", lr: 1e-2 },
    seed,
    epochs: 2,
    batchSize: 8,
    maxInputLength: 256,
    maxOutputLength: 256,
    maxOutputLengthEval: 256,
    decoding: "greedy",
    backbone: "fishdip-t5-mini",
    evaluate: [{ dataset: "conll04", split: "test", subsample: 8 }],
  };
}

function record(seed: number, f1 = 0.5): RunRecord {
  return makeRecord(cell(seed), {
    metrics: { "conll04/test": { entity_f1: f1, relation_f1: f1 / 2 } },
    timings: { train: 1.5, eval: 0.5, total: 2 },
    backend: "wasm",
    preset: "smoke",
    started: new Date("2026-01-01T00:00:00Z"),
    finished: new Date("2026-01-01T00:00:02Z"),
    gitCommit: "abc",
    masks: [{ refresh: 0, step: 0, layer: "encoder.block.0", selected: 12, total: 100 }],
  });
}

/** Runs `fn` with a fresh temporary folder, silencing console.warn and collecting its lines. */
function withDir(fn: (dir: string, warnings: string[]) => void) {
  const dir = Deno.makeTempDirSync();
  const warn = console.warn, warnings: string[] = [];
  console.warn = (...a: unknown[]) => warnings.push(a.join(" "));
  try {
    fn(dir, warnings);
  } finally {
    console.warn = warn;
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("store: append, isDone, reload round trip", () =>
  withDir((dir) => {
    const store = new ResultsStore(`${dir}/runs`, "shard-1-of-2");
    assertEquals(store.records(), []); // missing folder: empty store
    const r1 = record(1), r2 = record(2, 0.7);
    assert(!store.isDone(r1.cellId));
    store.append(r1);
    store.append(r2);
    assert(store.isDone(r1.cellId));
    assertEquals(r1.cellId, cellId(cell(1)));
    assertEquals([r1.backbone, r1.gitCommit, r1.started, r1.finished], [
      "fishdip-t5-mini",
      "abc",
      "2026-01-01T00:00:00.000Z",
      "2026-01-01T00:00:02.000Z",
    ]);
    const again = new ResultsStore(`${dir}/runs`, "other");
    assertEquals(again.records(), [r1, r2]);
    assertEquals(again.get(r2.cellId)!.metrics["conll04/test"].entity_f1, 0.7);
    // Two writers, one folder: each has its own file, both are read.
    again.append(record(3));
    const files = [...Deno.readDirSync(`${dir}/runs`)].map((e) => e.name).sort();
    assertEquals(files, ["other.jsonl", "shard-1-of-2.jsonl"]);
    assertEquals(new ResultsStore(`${dir}/runs`).load().length, 3);
    // A duplicate record (two shards racing) does not duplicate the cell; the first file wins.
    again.append(record(1, 0.9));
    const all = new ResultsStore(`${dir}/runs`).load();
    assertEquals(all.length, 3);
    assertEquals(all.find((r) => r.cellId === r1.cellId)!.metrics["conll04/test"].entity_f1, 0.9); // other < shard
  }));

Deno.test("store: a truncated last line is skipped with a warning, and the next append is intact", () =>
  withDir((dir, warnings) => {
    const store = new ResultsStore(dir, "local");
    store.append(record(1));
    const full = JSON.stringify(record(2));
    Deno.writeTextFileSync(store.file, full.slice(0, full.length / 2), { append: true }); // killed mid-write
    const loaded = loadRecords(dir);
    assertEquals(loaded.records.length, 1);
    assertEquals(loaded.skipped, ["local.jsonl:2"]);
    assert(warnings.some((w) => w.includes("truncated last line")), warnings.join("\n"));
    // The cell of the cut line is not done, so it runs again; its new line must not fuse.
    const s2 = new ResultsStore(dir, "local");
    assert(!s2.isDone(cellId(cell(2))));
    s2.append(record(2));
    const reread = loadRecords(dir, { quiet: true });
    assertEquals(reread.records.map((r) => r.cell.seed), [1, 2]);
    assertEquals(reread.skipped, ["local.jsonl:2"]); // the old fragment stays, on its own line
  }));

Deno.test("store: a record whose id is not its cell's is refused", () =>
  withDir((dir) => {
    const store = new ResultsStore(dir);
    assertThrows(() => store.append({ ...record(1), cellId: "0000000000000000" }), Error, "not the id");
    assertThrows(() => new ResultsStore(dir, "../evil"));
  }));

Deno.test("gitCommit: a hash in a repository, 'unknown' elsewhere", () => {
  const here = gitCommit(new URL(".", import.meta.url).pathname);
  assert(/^[0-9a-f]{40}(-dirty)?$/.test(here) || here === "unknown", here);
  const tmp = Deno.makeTempDirSync();
  try {
    assertEquals(gitCommit(tmp), "unknown");
  } finally {
    Deno.removeSync(tmp);
  }
});

Deno.test("maskSnapshots: per-layer counts of a mask, layers in data-flow order", () => {
  const p = (size: number, kept: number) => ({ size, kept: new Int32Array(kept) });
  const params = new Map([
    ["decoder.block.0.layer.0.SelfAttention.q.weight", p(100, 5)],
    ["encoder.block.1.layer.1.DenseReluDense.wi.weight", p(200, 7)],
    ["encoder.block.0.layer.0.SelfAttention.q.weight", p(100, 1)],
    ["encoder.block.0.layer.0.layer_norm.weight", p(10, 2)],
    ["shared.weight", p(1000, 3)],
    ["encoder.final_layer_norm.weight", p(10, 0)],
    ["decoder.final_layer_norm.weight", p(10, 1)],
  ]);
  const snaps = maskSnapshots(params, 2, 200);
  assertEquals(snaps.map((s) => [s.layer, s.selected, s.total]), [
    ["shared", 3, 1000],
    ["encoder.block.0", 3, 110],
    ["encoder.block.1", 7, 200],
    ["encoder.final_layer_norm", 0, 10],
    ["decoder.block.0", 5, 100],
    ["decoder.final_layer_norm", 1, 10],
  ]);
  assert(snaps.every((s) => s.refresh === 2 && s.step === 200));
  assertEquals(t5Layer("lm_head.weight"), "lm_head");
});
