import { assertEquals, assertThrows } from "@std/assert";
import type { RunRecord } from "../experiments/store.ts";
import { mergeRawRecords, RawRecordsError, readRawRecords } from "./raw_records.ts";

const record = (id: string, f1: number): RunRecord =>
  ({
    cellId: id,
    cell: { dataset: "conll04" },
    metrics: { "conll04/test": { entity_f1: f1 } },
  }) as unknown as RunRecord;

Deno.test("raw records: the store wins; cells only the file has are kept, in its order", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/quick-runs.jsonl`;
    assertEquals(readRawRecords(path), []); // absent: nothing to keep
    Deno.writeTextFileSync(
      path,
      [record("c", 0.1), record("a", 0.2), record("b", 0.3)].map((r) => JSON.stringify(r) + "\n").join(""),
    );
    const store = new Map([["a", record("a", 0.9)]]);
    const merged = mergeRawRecords(store, path);
    assertEquals(merged.kept.map((r) => r.cellId), ["c", "b"]);
    assertEquals(merged.records.get("a")!.metrics["conll04/test"].entity_f1, 0.9);
    assertEquals([...merged.records.keys()].sort(), ["a", "b", "c"]);
    assertEquals(store.size, 1, "the caller's map is not changed");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("raw records: a file that cannot be read is refused, naming file and line", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/cpu-runs.jsonl`;
    Deno.writeTextFileSync(path, JSON.stringify(record("a", 0.1)) + '\n{"cellId": "b", "met');
    assertThrows(() => readRawRecords(path), RawRecordsError, `${path}:2: not JSON`);
    Deno.writeTextFileSync(path, '{"metrics": {}}\n');
    assertThrows(() => readRawRecords(path), RawRecordsError, `${path}:1: not a run record`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
