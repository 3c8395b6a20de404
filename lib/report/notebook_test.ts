import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { dataFrameToHtml, inJupyter, show, toDataFrame } from "./notebook.ts";
import type { EntrySummary, Table } from "./tables.ts";

const table: Table = {
  name: "fewShot",
  title: "Few-shot",
  rowHeader: "Setting",
  columns: ["Full FT", "FISH-DIP"],
  rows: [{ label: "5-way 1-shot", cells: ["50.00 ± 1.00", "60.00 ± 2.00"] }],
  notes: ["note"],
  summaries: [
    {
      table: "fewShot",
      row: "5-way 1-shot",
      column: "FISH-DIP",
      group: "5-way",
      x: 1,
      method: "fishdip",
      metric: "relation_f1",
      status: "done",
      needs: [],
      agg: { mean: 0.6, std: 0.02, n: 2, values: [0.58, 0.62], seeds: [1, 2] },
      planned: 2,
    } satisfies EntrySummary,
  ],
};

async function captured(fn: () => Promise<void>): Promise<string> {
  const log = console.log, out: string[] = [];
  console.log = (...a: unknown[]) => out.push(a.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.log = log;
  }
  return out.join("\n");
}

Deno.test("outside the kernel: no Deno.jupyter, show() prints text fallbacks", async () => {
  assertEquals(inJupyter(), false);
  assertStringIncludes(await captured(() => show('<svg xmlns="x"></svg>')), "[figure: SVG, 21 bytes]");
  const md = await captured(() => show(table));
  assertStringIncludes(md, "| 5-way 1-shot | 50.00 ± 1.00 | 60.00 ± 2.00 |");
  assertEquals(await captured(() => show("**bold**")), "**bold**");
});

Deno.test("DataFrames: a table and its raw numbers; HTML rendering; no tensors held", async () => {
  const df = await toDataFrame(table);
  // danfojs brings the full tfjs package, which registers a backend; measure after loading it.
  const tf = await import("@tensorflow/tfjs-core");
  const before = tf.memory().numTensors;
  assertEquals(df.columns, ["Setting", "Full FT", "FISH-DIP"]);
  assertEquals(df.values, [["5-way 1-shot", "50.00 ± 1.00", "60.00 ± 2.00"]]);
  const raw = await toDataFrame(table, { raw: true });
  assertEquals(raw.columns, ["table", "row", "column", "x", "mean", "std", "n", "status"]);
  assertEquals((raw.values[0] as unknown[]).slice(4, 7), [0.6, 0.02, 2]);
  const html = dataFrameToHtml(raw, { digits: 3 });
  assertStringIncludes(html, "<th>mean</th>");
  assertStringIncludes(html, "<td>0.600</td>");
  assertEquals(tf.memory().numTensors, before);
  const printed = await captured(() => show(df));
  assert(printed === "" || printed.includes("Setting")); // danfojs prints through console.log or a table lib
});
