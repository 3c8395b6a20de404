import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { MaskSnapshot } from "../experiments/store.ts";
import {
  ablationCurve,
  barsWithSpread,
  composeSvg,
  fractionLines,
  maskHeatmap,
  svgToPng,
  writeFigure,
} from "./plots.ts";
import type { EntrySummary } from "./tables.ts";

function summary(
  row: string,
  column: string,
  method: EntrySummary["method"],
  x: number,
  values: number[],
): EntrySummary {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return {
    table: "lowResource",
    row,
    column,
    group: row.split(",")[0],
    x,
    method,
    metric: "relation_f1",
    status: "done",
    needs: [],
    agg: { mean, std, n: values.length, values, seeds: values.map((_, i) => i + 1) },
    planned: values.length,
  };
}

const S: EntrySummary[] = [
  summary("CoNLL04 relation F1, 1%", "Full FT", "full", 0.01, [0.2, 0.25, 0.3]),
  summary("CoNLL04 relation F1, 1%", "FISH-DIP", "fishdip", 0.01, [0.3, 0.35, 0.4]),
  summary("CoNLL04 relation F1, 5%", "Full FT", "full", 0.05, [0.4, 0.45, 0.5]),
  summary("CoNLL04 relation F1, 5%", "FISH-DIP", "fishdip", 0.05, [0.45, 0.5, 0.55]),
  {
    ...summary("ACE05 relation F1, 1%", "FISH-DIP", "fishdip", 0.01, [0]),
    status: "needs",
    needs: ["ace2005_joint_er"],
    agg: undefined,
  },
];

function count(svg: string, re: RegExp): number {
  return (svg.match(re) ?? []).length;
}

function standalone(svg: string) {
  assert(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), svg.slice(0, 80));
  assert(svg.endsWith("</svg>"));
  assert(!svg.includes("<figure") && !svg.includes("<div"), "HTML inside the SVG");
}

Deno.test("barsWithSpread: one bar per entry, whiskers, seed dots, legend, missing data noted", () => {
  const svg = barsWithSpread(S, { title: "Bars" });
  standalone(svg);
  assertStringIncludes(svg, ">Bars</text>");
  assertStringIncludes(svg, "not shown, data missing: ace2005_joint_er");
  // The barY mark: one <rect> per entry with data, in the methods' colours.
  assertEquals(count(svg, /aria-label="bar"/g), 1);
  const bars = svg.slice(svg.indexOf('aria-label="bar"')).split('aria-label="rule"')[0];
  assertEquals(count(bars, /<rect/g), 4);
  assertEquals(count(bars, /fill="#e15759"/g), 2); // FISH-DIP
  assertEquals(count(bars, /fill="#4e79a7"/g), 2); // Full FT
  assertEquals(count(svg, /<circle/g), 12); // 4 entries x 3 seeds
  assertStringIncludes(svg, 'aria-label="rule"');
  assertStringIncludes(svg, ">Full FT</text>");
  assertStringIncludes(svg, ">FISH-DIP</text>");
});

Deno.test("fractionLines and ablationCurve: lines, dots and error bars", () => {
  const lines = fractionLines(S, { title: "Fractions" });
  standalone(lines);
  assertEquals(count(lines, /aria-label="line"/g), 1);
  assertEquals(count(lines, /<path/g) >= 2, true); // one path per method
  assertStringIncludes(lines, "training data (%)");
  const abl = ablationCurve(S.slice(0, 4).map((s) => ({ ...s, column: "relation F1" })), {
    xLabel: "k (%)",
    log: true,
    percentX: true,
  });
  standalone(abl);
  assertStringIncludes(abl, 'aria-label="line"');
  assertStringIncludes(abl, 'aria-label="dot"');
  assertStringIncludes(abl, "k (%)");
});

Deno.test("maskHeatmap: one cell per layer x refresh, discrete legend, no canvas", () => {
  const masks: MaskSnapshot[] = [];
  const layers = ["shared", "encoder.block.0", "decoder.block.0"];
  for (let r = 0; r < 4; r++) {
    layers.forEach((layer, i) =>
      masks.push({ refresh: r, step: r * 10, layer, selected: (i + 1) * (r + 1) * 10, total: 1000 })
    );
  }
  const svg = maskHeatmap(masks, { title: "Mask" });
  standalone(svg);
  assertEquals(count(svg, /<rect[^>]*\/?>/g) >= 12, true);
  assertStringIncludes(svg, 'aria-label="cell"');
  assertStringIncludes(svg, ">encoder.block.0</text>");
  assertStringIncludes(svg, ">init</text>");
  assertStringIncludes(svg, ">selected</text>"); // legend title
  assertStringIncludes(svg, "≥ ");
  const dens = maskHeatmap(masks, { density: true });
  assertStringIncludes(dens, "%</text>");
});

Deno.test("PNG: signature, and writeFigure writes both files", async () => {
  const svg = composeSvg(
    '<svg width="100" height="50" viewBox="0 0 100 50"><rect width="10" height="10"/></svg>',
    {
      title: "t",
    },
  );
  const png = await svgToPng(svg, 200);
  assertEquals([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dir = Deno.makeTempDirSync();
  try {
    const paths = await writeFigure("bars", barsWithSpread(S), dir);
    assertEquals(paths, [`${dir}/bars.svg`, `${dir}/bars.png`]);
    assertStringIncludes(Deno.readTextFileSync(paths[0]), 'xmlns="http://www.w3.org/2000/svg"');
    assertEquals([...Deno.readFileSync(paths[1]).slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("barsWithSpread: many groups are laid out horizontally, all bars present", () => {
  const many = Array.from({ length: 8 }, (_, i) => [
    summary(`Dataset ${i}, 1%`, "Full FT", "full", 0.01, [0.2, 0.3]),
    summary(`Dataset ${i}, 1%`, "FISH-DIP", "fishdip", 0.01, [0.3, 0.4]),
  ]).flat();
  const svg = barsWithSpread(many);
  standalone(svg);
  const bars = svg.slice(svg.indexOf('aria-label="bar"')).split('aria-label="rule"')[0];
  assertEquals(count(bars, /<rect/g), 16);
  // Horizontal: a fixed width (vertical panels would need ~8 x 150 px), bars drawn along x.
  assertEquals(Number(/^<svg[^>]* width="([\d.]+)"/.exec(svg)![1]), 720);
  const heights = new Set([...bars.matchAll(/<rect[^>]* height="([\d.]+)"/g)].map((m) => m[1]));
  assertEquals(heights.size, 1); // equal thickness, lengths vary along x
  assertStringIncludes(svg, ">Dataset 7, 1%</text>");
});

Deno.test("figures fit their canvas: a long title widens the figure, long layer names widen the margin", () => {
  const inner = '<svg width="300" height="50" viewBox="0 0 300 50"><rect width="10" height="10"/></svg>';
  const title = "How the FISH-DIP mask moves across layers";
  const subtitle =
    "selected entries per layer at each mask computation; conll03 1% seed 1 (k=0.01, m=10, n=3)";
  const width = (svg: string) => Number(/^<svg[^>]*\swidth="([\d.]+)"/.exec(svg)![1]);
  assertEquals(width(composeSvg(inner, { title: "t" })), 300, "a short title keeps the plot's width");
  assertEquals(width(composeSvg(inner, { title })) >= 9 * title.length, true);
  assertEquals(width(composeSvg(inner, { subtitle })) >= 6.5 * subtitle.length, true);
  const masks: MaskSnapshot[] = ["shared", "decoder.final_layer_norm"].map((layer) => ({
    refresh: 0,
    step: 0,
    layer,
    selected: 5,
    total: 10,
  }));
  const svg = maskHeatmap(masks);
  const cells = svg.slice(svg.indexOf('aria-label="cell"'));
  const cellX = Math.min(...[...cells.matchAll(/<rect [^>]*\bx="([\d.]+)"/g)].map((m) => Number(m[1])));
  assertEquals(cellX >= 6 * "decoder.final_layer_norm".length, true, `cells start at x = ${cellX}`);
});
