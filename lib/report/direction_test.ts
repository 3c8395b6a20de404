import { assertEquals, assertStringIncludes } from "@std/assert";
import type { TableName } from "../experiments/plan.ts";
import type { MethodName } from "../methods/registry.ts";
import { directionToCsv, directionToMarkdown, paperDirection, tallyVerdicts, verdict } from "./direction.ts";
import type { EntrySummary } from "./tables.ts";

function s(
  table: TableName,
  row: string,
  column: string,
  method: MethodName,
  values?: number[],
  needs: string[] = [],
): EntrySummary {
  const mean = values && values.reduce((a, b) => a + b, 0) / values.length;
  const std = values && Math.sqrt(values.reduce((a, v) => a + (v - mean!) ** 2, 0) / values.length);
  return {
    table,
    row,
    column,
    group: row,
    method,
    metric: "entity_f1",
    status: needs.length ? "needs" : values ? "done" : "pending",
    needs,
    agg: values
      ? { mean: mean!, std: std!, n: values.length, values, seeds: values.map((_, i) => i + 1) }
      : undefined,
    planned: values?.length ?? 3,
  };
}

Deno.test("verdict: a difference counts beyond the larger seed spread", () => {
  const a = (mean: number, std: number) => ({ mean, std, n: 2, values: [], seeds: [] });
  assertEquals(verdict(undefined, a(0.1, 0)), "pending");
  assertEquals(verdict(a(0, 0), a(0, 0)), "both zero");
  assertEquals(verdict(a(0.18, 0.02), a(0.2, 0)), "within seed spread"); // exactly the spread
  assertEquals(verdict(a(0.17, 0.02), a(0.2, 0)), "FISH-DIP lower (against the paper)");
  assertEquals(verdict(a(0.3, 0.05), a(0.2, 0.01)), "FISH-DIP higher (as the paper)");
  // Against a method the paper never compared with, no paper direction is claimed.
  assertEquals(verdict(a(0.3, 0.05), a(0.2, 0.01), false), "FISH-DIP higher");
  assertEquals(verdict(a(0.17, 0.02), a(0.2, 0), false), "FISH-DIP lower");
});

Deno.test("paperDirection: methods as columns or as rows; ablations and missing data give nothing", () => {
  const rows = paperDirection([
    // Methods in columns (low-resource): one setting per row.
    s("lowResource", "CoNLL04 entity F1, 1%", "Full FT", "full", [0.1, 0.2]),
    s("lowResource", "CoNLL04 entity F1, 1%", "FISH (fixed mask)", "fish"),
    s("lowResource", "CoNLL04 entity F1, 1%", "FISH-DIP", "fishdip", [0.4, 0.5]),
    s("lowResource", "ACE05 entity F1, 1%", "Full FT", "full", undefined, ["ace2005_joint_er"]),
    s("lowResource", "ACE05 entity F1, 1%", "FISH-DIP", "fishdip", undefined, ["ace2005_joint_er"]),
    // Methods in rows (fixed vs dynamic): one setting per column.
    s("fixedVsDynamic", "Random mask (fixed)", "CoNLL04 5% entity F1", "random", [0.3]),
    s("fixedVsDynamic", "FISH-DIP (dynamic)", "CoNLL04 5% entity F1", "fishdip", [0.1]),
    // An ablation: FISH-DIP variants only.
    s("ablationK", "k = 1%", "CoNLL04 5% entity F1", "fishdip", [0.1]),
    s("ablationK", "k = 5%", "CoNLL04 5% entity F1", "fishdip", [0.2]),
  ]);
  assertEquals(
    rows.map((r) => [r.table, r.setting, r.baseline, r.verdict]),
    [
      ["lowResource", "CoNLL04 entity F1, 1%", "full", "FISH-DIP higher (as the paper)"],
      ["lowResource", "CoNLL04 entity F1, 1%", "fish", "pending"],
      ["fixedVsDynamic", "CoNLL04 5% entity F1", "random", "FISH-DIP lower (against the paper)"],
    ],
  );
  assertEquals(Math.round(rows[0].delta! * 100), 30);
  const t = tallyVerdicts(rows);
  assertEquals([t["FISH-DIP higher (as the paper)"], t.pending, t["FISH-DIP lower (against the paper)"]], [
    1,
    1,
    1,
  ]);
  const md = directionToMarkdown(rows);
  assertStringIncludes(
    md,
    "| lowResource | CoNLL04 entity F1, 1% | Full FT | 15.00 ± 5.00 | 45.00 ± 5.00 | +30.00 |",
  );
  assertStringIncludes(
    md,
    "| fixedVsDynamic | CoNLL04 5% entity F1 | Random mask | 30.00 | 10.00 | -20.00 |",
  );
  assertEquals(directionToCsv(rows).trim().split("\n").length, 4);
});
